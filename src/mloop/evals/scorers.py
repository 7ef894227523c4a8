"""Custom metrics: plain functions ``(y_true, y_pred) -> float`` marked with ``@scorer``.

A suite names a scorer by ``module:function`` (in ``scorers``, and then as a metric,
guard or primary). The module is imported where the suite runs, never on the server, and
nothing is pickled. Scorers are "higher is better" unless marked
``@scorer(greater_is_better=False)``; ``needs_proba=True`` passes the class
probabilities (one column per label, in sorted label order) instead of the labels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar, overload

from mloop.core.errors import ValidationError
from mloop.evals.names import check_scorer_ref

F = TypeVar("F", bound=Callable[..., Any])


@overload
def scorer(fn: F, /) -> F: ...
@overload
def scorer(*, greater_is_better: bool = True, needs_proba: bool = False) -> Callable[[F], F]: ...


def scorer(fn: Any = None, /, *, greater_is_better: bool = True, needs_proba: bool = False) -> Any:
    """Mark ``fn(y_true, y_pred) -> float`` as a suite metric (``@scorer`` or
    ``@scorer(greater_is_better=False)``)."""

    def mark(function: F) -> F:
        if not callable(function):
            raise ValidationError("@scorer decorates a function", field="scorer")
        function.greater_is_better = bool(greater_is_better)  # type: ignore[attr-defined]
        function.needs_proba = bool(needs_proba)  # type: ignore[attr-defined]
        function.reference = f"{function.__module__}:{function.__qualname__}"  # type: ignore[attr-defined]
        return function

    return mark(fn) if fn is not None else mark


def load_scorer(reference: str, field: str = "scorers") -> Callable[..., Any]:
    """Import ``module:function`` and check that it is a ``@scorer``."""
    check_scorer_ref(reference, field)
    module_name, _, name = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            f"{field}: cannot import module {module_name!r} of scorer {reference!r}: {exc}",
            field=field,
        ) from None
    function = getattr(module, name, None)
    if function is None or not hasattr(function, "greater_is_better"):
        raise ValidationError(
            f"{field}: {reference!r} is not a function marked @mloop.evals.scorer",
            field=field,
        )
    return function
