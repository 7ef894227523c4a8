"""Step outputs in formats that load without running code, and their digests.

A cached output is stored as JSON (None, bools, numbers, strings, lists and dicts with
string keys), a NumPy ``.npy`` (never with pickled objects), or Parquet (pandas DataFrames,
Arrow tables). Any other object is cached only by a step marked ``cache="trusted"``, with
pickle, and loaded back only for such a step. The digest of the stored bytes is what
downstream steps' cache keys use.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
from dataclasses import dataclass
from typing import Any

from mloop.core.errors import ValidationError

_JSON_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Encoded:
    format: str  # json | npy | pandas | arrow | pickle
    data: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.format.encode() + b"\0" + self.data).hexdigest()


def _is_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` survives a JSON round trip unchanged (no tuples, no non-string
    keys, no NaN or infinity)."""
    if depth > 100:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, _JSON_SCALARS):
        return True
    if type(value) is list:
        return all(_is_json(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def encode(value: Any, *, trusted: bool = False) -> Encoded | None:
    """``value`` in a safe stored format, or None when it has none (and is not trusted)."""
    if type(value) in (bool, int, float, str, list, dict, type(None)) and _is_json(value):
        return Encoded("json", _json_bytes(value))
    kind = type(value)
    module = kind.__module__.split(".")[0]
    if module == "numpy" and kind.__name__ == "ndarray" and not value.dtype.hasobject:
        import numpy as np

        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return Encoded("npy", buffer.getvalue())
    if module == "pandas" and kind.__name__ == "DataFrame":
        buffer = io.BytesIO()
        try:
            value.to_parquet(buffer, index=True)
        except (ValueError, TypeError, ImportError):
            pass  # columns Parquet cannot hold (objects): fall through to trusted
        else:
            return Encoded("pandas", buffer.getvalue())
    if module == "pyarrow" and kind.__name__ == "Table":
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(value, buffer)
        return Encoded("arrow", buffer.getvalue())
    if trusted:
        try:
            return Encoded("pickle", pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # an object pickle cannot hold (a lock, a generator)
            return None
    return None


def decode(encoded: Encoded, *, trusted: bool = False) -> Any:
    """The value ``encoded`` holds; pickle only for a trusted step."""
    data = encoded.data
    if encoded.format == "json":
        return json.loads(data)
    if encoded.format == "npy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if encoded.format == "pandas":
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))
    if encoded.format == "arrow":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data))
    if encoded.format == "pickle":
        if not trusted:
            raise ValidationError(
                "a pickled step output is loaded only for a step marked cache='trusted'",
                field="cache",
            )
        return pickle.loads(data)  # the step's author marked its outputs trusted
    raise ValidationError(f"unknown stored output format {encoded.format!r}", field="format")


def literal_digest(value: Any) -> str | None:
    """The digest of a literal step input (a param or a constant in the pipeline's code),
    None when it has no safe stored form (then the step is not cached)."""
    found = encode(value)
    return found.digest if found is not None else None


def cache_key(step_ref: str, source_digest: str, inputs: Any) -> str:
    """sha256 over the step's identity, its source and its inputs' digests (a JSON tree)."""
    return hashlib.sha256(
        _json_bytes({"step": step_ref, "source": source_digest, "inputs": inputs})
    ).hexdigest()
