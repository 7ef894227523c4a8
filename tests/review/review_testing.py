"""Calling the review domain's operations as a named reviewer, in one transaction each."""

from __future__ import annotations

from typing import Any

import pydantic

from mloop.core.validation import from_pydantic
from mloop.domains import find_operation
from mloop.store.runtime import Runtime


def call(runtime: Runtime, operation: str, /, actor: str = "lead", **fields: Any) -> Any:
    """Run ``operation`` as ``actor``, the way the server does (request checked first)."""
    op = find_operation(operation)
    try:
        request = op.request(**fields)
    except pydantic.ValidationError as exc:
        raise from_pydantic(exc) from None
    return runtime.run(lambda ctx: op.handler(ctx, request), write=op.writes, actor=actor)


def make_queue(runtime: Runtime, name: str = "loans", **spec: Any) -> Any:
    spec.setdefault("choices", ["approve", "reject"])
    return call(runtime, "create_review_queue", name=name, **spec)


def add_cases(runtime: Runtime, queue: str, n: int, **fields: Any) -> list[int]:
    items = [
        {
            "request_id": f"r{i}",
            "payload": {"inputs": [{"income": 1000 + i}]},
            "prediction": "approve",
            "confidence": 0.5 + i / (2 * n),
            **fields,
        }
        for i in range(n)
    ]
    return list(call(runtime, "add_review_items", queue=queue, items=items).ids)


def take(runtime: Runtime, queue: str, who: str) -> Any:
    """``next_review_item`` as ``who``: the Claimed answer (its item None when nothing is left)."""
    return call(runtime, "next_review_item", actor=who, queue=queue)


def answer(runtime: Runtime, item_id: int, who: str, label: Any = None, **fields: Any) -> Any:
    """``submit_review_answer`` as ``who``: the Submitted answer."""
    return call(runtime, "submit_review_answer", actor=who, id=item_id, label=label, **fields)
