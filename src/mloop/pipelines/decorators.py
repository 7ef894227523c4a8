"""``@step`` and ``@pipeline``: plain Python functions made into pipeline parts.

A step called inside a pipeline being traced does not run: it adds a node to the graph and
returns a :class:`~mloop.pipelines.graph.Handle` for its output (see
:mod:`mloop.pipelines.graph`). Called anywhere else it is the plain function, so steps stay
testable on their own.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable
from typing import Any, Literal, overload

from mloop.core.errors import ValidationError
from mloop.core.naming import check_asset_name

CacheMode = bool | Literal["trusted"]


def _reference(fn: Callable[..., Any]) -> str:
    """``module:qualname``, by which worker processes import the step."""
    if "<locals>" in fn.__qualname__:
        raise ValidationError(
            f"{fn.__qualname__} is defined inside a function; steps and pipelines must be "
            "module-level functions so worker processes can import them",
            field="fn",
        )
    return f"{fn.__module__}:{fn.__qualname__}"


def _source_digest(fn: Callable[..., Any]) -> str:
    """sha256 of the function's source (its bytecode when the source is not available), so
    an edited step misses the cache."""
    try:
        data = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        data = fn.__code__.co_code
    return hashlib.sha256(data).hexdigest()


class Step:
    """A function that runs as one unit of a pipeline, with retries, a timeout and a cache."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        retries: int = 0,
        timeout_s: float | None = None,
        cache: CacheMode = True,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise ValidationError("retries must be a whole number from 0 to 100", field="retries")
        if timeout_s is not None and (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int | float)
            or not 0 < timeout_s <= 7 * 86_400
        ):
            raise ValidationError(
                "timeout_s must be a number of seconds above 0 (at most a week)",
                field="timeout_s",
            )
        if cache not in (True, False, "trusted"):
            raise ValidationError("cache must be True, False or 'trusted'", field="cache")
        self.fn = fn
        self.name = check_asset_name(name or fn.__name__, "name", what="step name")
        self.ref = _reference(fn)
        self.retries = retries
        self.timeout_s = float(timeout_s) if timeout_s is not None else None
        self.cache: CacheMode = cache
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def source_digest(self) -> str:
        return _source_digest(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from mloop.pipelines.graph import current_tracer

        tracer = current_tracer()
        if tracer is None:
            return self.fn(*args, **kwargs)
        return tracer.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<step {self.name} ({self.ref})>"


class Pipeline:
    """A function whose body wires steps together; its typed parameters are the pipeline's
    params."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None) -> None:
        self.fn = fn
        self.name = check_asset_name(name or fn.__name__, "name", what="pipeline name")
        self.ref = _reference(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, **params: Any) -> Any:
        """Run the pipeline on the local executor and return its outputs (raises
        :class:`~mloop.pipelines.driver.PipelineFailed` if a step failed)."""
        from mloop.pipelines.driver import run_pipeline

        return run_pipeline(self, params).result()

    def __repr__(self) -> str:
        return f"<pipeline {self.name} ({self.ref})>"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...
@overload
def step(
    *,
    name: str | None = None,
    retries: int = 0,
    timeout_s: float | None = None,
    cache: CacheMode = True,
) -> Callable[[Callable[..., Any]], Step]: ...
def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    timeout_s: float | None = None,
    cache: CacheMode = True,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step.

    - ``retries``: attempts after the first when it raises or times out;
    - ``timeout_s``: an attempt running longer is killed (its worker process ends);
    - ``cache``: reuse the output of an earlier run with the same code and inputs. Only
      outputs stored in formats that load without running code are cached (JSON values,
      NumPy arrays, pandas DataFrames and Arrow tables); ``"trusted"`` also caches other
      objects with pickle, which you accept to load back.
    """

    def wrap(f: Callable[..., Any]) -> Step:
        return Step(f, name=name, retries=retries, timeout_s=timeout_s, cache=cache)

    return wrap(fn) if fn is not None else wrap


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...
@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...
def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline: calling its steps inside it builds the step graph."""

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, name=name)

    return wrap(fn) if fn is not None else wrap
