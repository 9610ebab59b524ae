"""The web UI (`gitexp ui`): a Starlette app over the services, and a static exporter.

Its dependencies are the optional extra `gitexp[ui]`; nothing else in gitexp imports this package.
"""
