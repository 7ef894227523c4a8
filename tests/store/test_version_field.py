"""The version number field every versioned asset's messages share."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from mloop.store.versions import Version


class _Message(BaseModel):
    version: Version


@pytest.mark.parametrize(("raw", "version"), [(3, 3), ("12", 12), (4.0, 4), ("5.0", 5)])
def test_integers_their_digits_and_whole_floats_are_versions(raw: object, version: int) -> None:
    assert _Message(version=raw).version == version


@pytest.mark.parametrize("raw", [0, -1, True, 2.5, "2.5", "abc", "", "1234567890", None])
def test_anything_else_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError, match="version"):
        _Message(version=raw)
