"""The shared version-number field of the versioned-asset messages."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from mloop.datasets import schemas as datasets_schemas
from mloop.prompts import schemas as prompts_schemas
from mloop.registry import schemas as registry_schemas
from mloop.store.versions import Version


class _Ref(BaseModel):
    version: Version


@pytest.mark.parametrize(("given", "expected"), [(1, 1), ("7", 7), (999_999_999, 999_999_999)])
def test_accepts_positive_integers_and_their_digits(given: object, expected: int) -> None:
    assert _Ref(version=given).version == expected


@pytest.mark.parametrize("given", [0, -1, True, "x", "-1", "1234567890", 1_000_000_000, 1.5])
def test_refuses_anything_else(given: object) -> None:
    with pytest.raises(ValidationError, match="version"):
        _Ref(version=given)


def test_every_domain_schemas_module_offers_the_one_version() -> None:
    assert datasets_schemas.Version is Version
    assert registry_schemas.Version is Version
    assert prompts_schemas.Version is Version
