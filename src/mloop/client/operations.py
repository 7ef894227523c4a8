"""Finding any domain's operation by name, for ``Client.call``."""

from __future__ import annotations

import functools
from typing import Any

from mloop.core.errors import ValidationError
from mloop.core.operations import Operation


@functools.cache
def find_operation(name: str) -> Operation[Any, Any]:
    """The operation called ``name`` in any domain."""
    import mloop.registry
    import mloop.tracking

    for op_set in (mloop.tracking.operations, mloop.registry.operations):
        if name in op_set.operations:
            return op_set.operations[name]
    raise ValidationError(f"there is no operation named {name!r}", field="operation")
