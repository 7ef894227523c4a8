"""Tracing a pipeline function into a step graph.

While a pipeline function runs under :func:`trace`, each step it calls becomes a
:class:`Node` and returns a :class:`Handle` standing for the step's future output. Handles
passed to other steps (directly, indexed, or inside lists and dicts) are the graph's edges;
a Python loop over steps is a fan-out. Nothing runs until an executor runs the graph, so a
pipeline may not branch on a step's output: a handle refuses ``bool``, ``len`` and
iteration with an error saying so.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    from mloop.pipelines.decorators import Pipeline, Step

MAX_NODES = 10_000

_tracer: contextvars.ContextVar[Tracer | None] = contextvars.ContextVar(
    "mloop_pipeline_tracer", default=None
)


def current_tracer() -> Tracer | None:
    return _tracer.get()


class Handle:
    """The output of a step that has not run yet (or a part of it: ``handle[0]``)."""

    __slots__ = ("node", "path")

    def __init__(self, node: str, path: tuple[Any, ...] = ()) -> None:
        self.node = node
        self.path = path

    def __getitem__(self, key: Any) -> Handle:
        return Handle(self.node, (*self.path, key))

    def _refuse(self, what: str) -> ValidationError:
        return ValidationError(
            f"the output of step {self.node!r} is known only when the step runs, so the "
            f"pipeline function cannot {what} it; pass it to another step instead",
            field="pipeline",
        )

    def __bool__(self) -> bool:
        raise self._refuse("test")

    def __len__(self) -> int:
        raise self._refuse("take the length of")

    def __iter__(self) -> Iterator[Any]:
        raise self._refuse("iterate over")

    def __repr__(self) -> str:
        suffix = "".join(f"[{p!r}]" for p in self.path)
        return f"<output of {self.node}{suffix}>"


@dataclass
class Node:
    """One call of a step in the graph."""

    id: str
    step: Step
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    upstream: list[str] = field(default_factory=list)


@dataclass
class Graph:
    """The traced pipeline: nodes in call order (a topological order) and its output."""

    nodes: dict[str, Node]
    output: Any

    def downstream(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {node: [] for node in self.nodes}
        for node in self.nodes.values():
            for up in node.upstream:
                found[up].append(node.id)
        return found

    def describe(self) -> dict[str, Any]:
        """The graph as JSON (stored with the run and drawn by the UI)."""
        return {
            "nodes": [
                {
                    "id": n.id,
                    "step": n.step.name,
                    "ref": n.step.ref,
                    "upstream": n.upstream,
                    "retries": n.step.retries,
                    "timeout_s": n.step.timeout_s,
                    "cache": n.step.cache,
                }
                for n in self.nodes.values()
            ]
        }


def walk(value: Any, on_handle: Callable[[Handle], Any]) -> Any:
    """``value`` with every handle inside it (in lists, tuples and dicts) replaced by
    ``on_handle(handle)``."""
    if isinstance(value, Handle):
        return on_handle(value)
    if isinstance(value, list):
        return [walk(v, on_handle) for v in value]
    if isinstance(value, tuple):
        return tuple(walk(v, on_handle) for v in value)
    if isinstance(value, dict):
        return {k: walk(v, on_handle) for k, v in value.items()}
    return value


def handles_in(value: Any) -> list[Handle]:
    found: list[Handle] = []

    def collect(h: Handle) -> Handle:
        found.append(h)
        return h

    walk(value, collect)
    return found


def select(value: Any, path: tuple[Any, ...], node: str) -> Any:
    """The part ``path`` of a step's output (``handle[0]["x"]``)."""
    for key in path:
        try:
            value = value[key]
        except (LookupError, TypeError) as exc:
            raise ValidationError(
                f"the output of step {node!r} has no item {key!r} ({type(exc).__name__})",
                field="pipeline",
            ) from None
    return value


class Tracer:
    """Collects the nodes of one pipeline trace."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._counts: dict[str, int] = {}

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Handle:
        if len(self.nodes) >= MAX_NODES:
            raise ValidationError(
                f"a pipeline may call at most {MAX_NODES} steps", field="pipeline"
            )
        count = self._counts.get(step.name, 0) + 1
        self._counts[step.name] = count
        node_id = step.name if count == 1 else f"{step.name}_{count}"
        upstream: list[str] = []
        for handle in handles_in((args, kwargs)):
            if handle.node not in self.nodes:
                raise ValidationError(
                    f"step {step.name!r} was given the output of {handle.node!r}, which is not "
                    "a step of this pipeline run",
                    field="pipeline",
                )
            if handle.node not in upstream:
                upstream.append(handle.node)
        self.nodes[node_id] = Node(node_id, step, args, kwargs, upstream)
        return Handle(node_id)


def trace(pipeline: Pipeline, params: dict[str, Any]) -> Graph:
    """Run the pipeline function with ``params``, recording the steps it calls."""
    if _tracer.get() is not None:
        raise ValidationError(
            "a pipeline cannot be called while another pipeline is being traced; call its "
            "steps instead",
            field="pipeline",
        )
    tracer = Tracer()
    token = _tracer.set(tracer)
    try:
        output = pipeline.fn(**params)
    finally:
        _tracer.reset(token)
    if not tracer.nodes:
        raise ValidationError(f"pipeline {pipeline.name!r} calls no step", field="pipeline")
    return Graph(nodes=tracer.nodes, output=output)
