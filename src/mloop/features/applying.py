"""Registering definitions from Python: ``mloop.features.apply(...)``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from mloop.features.definitions import AnyDefinition
from mloop.features.repo import apply_request, load_repo
from mloop.features.schemas import ApplyResult


def apply(
    definitions: Iterable[AnyDefinition] | str | os.PathLike[str],
    *,
    prune: bool = False,
    dry_run: bool = False,
    force: bool = False,
    client: Any = None,
) -> ApplyResult:
    """Register ``definitions`` (objects, or a feature repository folder) and return the
    plan. ``prune`` removes registered definitions that are not given; ``dry_run`` only
    plans; ``force`` applies changes that break a feature service a deployed model uses."""
    import mloop

    if isinstance(definitions, str | os.PathLike):
        definitions = load_repo(definitions)
    request = apply_request(definitions, remove=prune, dry_run=dry_run, force=force)
    if prune or force:  # removing and breaking are the admin's
        operation, body = "apply_definitions_as_admin", request.model_dump()
    else:
        operation, body = "apply_definitions", request.model_dump(exclude={"remove", "force"})
    found: ApplyResult = (client or mloop.Client()).call(operation, **body)
    return found
