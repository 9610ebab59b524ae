"""Datasets for `log_input` (MLflow's `mlflow.data`): `from_pandas`, `from_numpy`.

A dataset is recorded with its name, an 8-character digest of its content, its source
(where it came from: a path or URL, or the code that made it) and its schema.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field

from gitexp.errors import InvalidValue

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

_DTYPES = {"int64": "long", "int32": "integer", "float64": "double", "float32": "float", "bool": "boolean",
           "object": "string", "string": "string"}


@dataclass
class Dataset:
    """A dataset to log with `log_input` (also what MLflow's `Dataset` objects are read as)."""

    name: str
    digest: str
    source_type: str
    source: dict[str, Any]
    schema: dict[str, Any] | None = None
    profile: dict[str, Any] | None = field(default=None)
    targets: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": self.digest, "source_type": self.source_type, "source": self.source,
                "schema": self.schema, "profile": self.profile, **({"targets": self.targets} if self.targets else {})}


def _source(source: Any) -> tuple[str, dict[str, Any]]:
    if source is None:  # MLflow's CodeDatasetSource: the code that made it
        return "code", {"tags": {"mlflow.source.name": sys.argv[0] if sys.argv else "", "mlflow.source.type": "LOCAL"}}
    text = str(source)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    kinds = {"http": "http", "https": "http", "s3": "s3", "gs": "gcs", "hf": "hugging_face"}
    kind = kinds.get(scheme, scheme or "local")
    return kind, {"uri": text}


def from_pandas(df: Any, source: Any = None, targets: str | None = None, name: str | None = None,
                digest: str | None = None) -> Dataset:
    """A dataset of a pandas DataFrame (schema from its dtypes; profile: rows and elements)."""
    import pandas as pd

    if targets is not None and targets not in df.columns:
        raise InvalidValue(f"targets column {targets!r} is not in the DataFrame")
    digest = digest or hashlib.md5(pd.util.hash_pandas_object(df, index=False).values.tobytes()
                                   + ",".join(map(str, df.columns)).encode()).hexdigest()[:8]
    schema = {"mlflow_colspec": [{"type": _DTYPES.get(str(t), str(t)), "name": str(c), "required": True}
                                 for c, t in df.dtypes.items()]}
    kind, src = _source(source)
    return Dataset(name or "dataset", digest, kind, src, schema,
                   {"num_rows": int(len(df)), "num_elements": int(df.size)}, targets)


def from_numpy(features: Any, source: Any = None, targets: Any = None, name: str | None = None,
               digest: str | None = None) -> Dataset:
    """A dataset of a numpy array (schema: dtype and shape)."""
    import numpy as np

    arr = np.ascontiguousarray(features)
    h = hashlib.md5(arr.tobytes() + str(arr.shape).encode())
    schema: dict[str, Any] = {"mlflow_tensorspec": {"features": json.dumps(
        {"type": "tensor", "tensor-spec": {"dtype": str(arr.dtype), "shape": [-1, *arr.shape[1:]]}})}}
    if targets is not None:
        t = np.ascontiguousarray(targets)
        h.update(t.tobytes())
        schema["mlflow_tensorspec"]["targets"] = json.dumps(
            {"type": "tensor", "tensor-spec": {"dtype": str(t.dtype), "shape": [-1, *t.shape[1:]]}})
    kind, src = _source(source)
    return Dataset(name or "dataset", digest or h.hexdigest()[:8], kind, src, schema,
                   {"features_shape": list(arr.shape), "features_size": int(arr.size)})


def as_dataset(obj: Any) -> Dataset:
    """A Dataset from ours, from a real MLflow Dataset, or from a DataFrame / numpy array."""
    if isinstance(obj, Dataset):
        return obj
    if hasattr(obj, "digest") and hasattr(obj, "name") and hasattr(obj, "source"):  # an MLflow Dataset
        source = obj.source
        src = source.to_dict() if hasattr(source, "to_dict") else _loads(source)
        kind = getattr(source, "_get_source_type", lambda: getattr(obj, "source_type", "unknown"))()
        schema: Any = getattr(obj, "schema", None)
        schema = schema.to_dict() if hasattr(schema, "to_dict") else _loads(schema)
        profile = getattr(obj, "profile", None)
        return Dataset(str(obj.name), str(obj.digest), str(kind), src if isinstance(src, dict) else {"uri": str(src)},
                       schema if isinstance(schema, dict) or schema is None else {"schema": str(schema)},
                       profile if isinstance(profile, dict) else _loads(profile))
    if hasattr(obj, "dtypes") and hasattr(obj, "columns"):
        return from_pandas(obj)
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return from_numpy(obj)
    raise InvalidValue(f"log_input takes a dataset (gitexp.mlflow.data.from_pandas/from_numpy), "
                       f"a DataFrame or a numpy array, not {type(obj).__name__}")


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
