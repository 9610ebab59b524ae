"""The model registry: versions and stages as annotated Git tags named by GTO's conventions."""
