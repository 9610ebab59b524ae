"""MLflow's exception (`mlflow.exceptions.MlflowException`), as gitexp.mlflow raises it.

It is also a `GitexpError`, so `except gitexp.GitexpError` still catches it.
"""

from __future__ import annotations

from gitexp.errors import GitexpError


class MlflowException(GitexpError):
    """An error with MLflow's `error_code` (e.g. RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE)."""

    def __init__(self, message: str, error_code: str = "INTERNAL_ERROR", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.error_code = error_code

    @classmethod
    def from_gitexp(cls, exc: GitexpError) -> "MlflowException":
        name = type(exc).__name__
        code = {"RunNotFound": "RESOURCE_DOES_NOT_EXIST", "ExperimentNotFound": "RESOURCE_DOES_NOT_EXIST",
                "ExperimentExists": "RESOURCE_ALREADY_EXISTS", "InvalidName": "INVALID_PARAMETER_VALUE",
                "InvalidValue": "INVALID_PARAMETER_VALUE", "ParamConflict": "INVALID_PARAMETER_VALUE",
                "FilterSyntaxError": "INVALID_PARAMETER_VALUE", "AmbiguousRun": "INVALID_PARAMETER_VALUE",
                }.get(name, "INTERNAL_ERROR")
        return cls(exc.message, code, exc.hint)
