"""Operations: each API call declared once, then served, called remotely and called embedded.

An :class:`Operation` names a request model, a response model and a handler. The server
turns every operation into a route, the remote client into an HTTP call, the embedded
client into a direct call inside a database transaction. Nothing else is written per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from mloop.core.roles import Role

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


class Message(BaseModel):
    """Base of every request and response model: strict about unknown fields, NaN-safe JSON."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings", populate_by_name=True)


class Empty(Message):
    """A response with nothing to say beyond success."""


@dataclass(frozen=True)
class Operation(Generic[Req, Resp]):
    """One API call.

    ``method`` is GET for reads (the request travels as query parameters) and POST for
    writes (a JSON body). ``handler(ctx, request)`` runs inside one transaction.
    """

    name: str
    method: Literal["GET", "POST"]
    path: str
    request: type[Req]
    response: type[Resp]
    handler: Callable[[Any, Req], Resp]
    role: Role = "reader"
    writes: bool = False
    # A quick operation touches only the metadata database, a few indexed rows. With a
    # small request the server runs it on its event loop instead of handing it to a worker
    # thread, which costs more than the work itself.
    quick: bool = False
    summary: str = ""
    tags: tuple[str, ...] = ()


class OperationSet:
    """The operations of one domain, registered with a decorator next to their handlers."""

    def __init__(self, prefix: str, tag: str) -> None:
        self.prefix = prefix
        self.tag = tag
        self.operations: dict[str, Operation[Any, Any]] = {}

    def get(
        self,
        path: str,
        request: type[Req],
        response: type[Resp],
        *,
        quick: bool = False,
        role: Role = "reader",
    ) -> Callable[[Callable[[Any, Req], Resp]], Callable[[Any, Req], Resp]]:
        """A read. ``quick=True`` for a few indexed reads with a small answer; ``role`` for
        reads that need more than ``reader`` (or other than it: ``review_read``)."""
        return self._register("GET", path, request, response, role, quick=quick)

    def post(
        self,
        path: str,
        request: type[Req],
        response: type[Resp],
        *,
        role: Role = "writer",
        quick: bool = False,
    ) -> Callable[[Callable[[Any, Req], Resp]], Callable[[Any, Req], Resp]]:
        """A POST operation; ``role="reader"`` (or ``"review_read"``) makes it a read (for
        searches with long bodies).

        ``quick=True`` for writes of a few rows of metadata (never artifacts or other I/O).
        """
        return self._register("POST", path, request, response, role, quick=quick)

    def _register(
        self,
        method: Literal["GET", "POST"],
        path: str,
        request: type[Req],
        response: type[Resp],
        role: Role,
        *,
        quick: bool = False,
    ) -> Callable[[Callable[[Any, Req], Resp]], Callable[[Any, Req], Resp]]:
        def decorate(handler: Callable[[Any, Req], Resp]) -> Callable[[Any, Req], Resp]:
            name = handler.__name__
            if name in self.operations:
                raise RuntimeError(f"operation {name} registered twice")
            self.operations[name] = Operation(
                name=name,
                method=method,
                path=f"{self.prefix}{path}",
                request=request,
                response=response,
                handler=handler,
                role=role,
                writes=method == "POST" and role not in ("reader", "review_read"),
                quick=quick,
                summary=(handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else "",
                tags=(self.tag,),
            )
            return handler

        return decorate

    def __getitem__(self, name: str) -> Operation[Any, Any]:
        return self.operations[name]
