"""Embedding vectors in OpenAI's two wire encodings."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence


def encode_vector(vector: Sequence[float], encoding_format: str | None) -> list[float] | str:
    """OpenAI's ``base64`` format is little-endian float32s; ``float`` (default) a list."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return list(vector)
