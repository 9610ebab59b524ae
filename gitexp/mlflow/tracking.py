"""`mlflow.tracking`'s names: `from gitexp.mlflow.tracking import MlflowClient`."""

from gitexp.mlflow.client import MlflowClient

__all__ = ["MlflowClient"]
