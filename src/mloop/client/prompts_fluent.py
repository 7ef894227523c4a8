"""Module-level prompt functions: register a version, fetch one, move a label.

``mloop.get_prompt("support-reply@production")`` returns a :class:`Prompt` whose
:meth:`Prompt.render` runs on this machine (the same sandboxed renderer the server uses),
so rendering does not call the server. Fetched versions are cached per process: a
numbered reference (``name:3``) for good, since versions are immutable; a label or a bare
name for ``cache_ttl`` seconds (60 by default), so a moved label is seen within a minute.
"""

from __future__ import annotations

from typing import Any

from mloop.client.client import Client
from mloop.prompts import schemas as ps
from mloop.prompts.cache import VersionCache
from mloop.prompts.checks import PromptRef, parse_prompt_ref
from mloop.prompts.render import RenderedPrompt, render_version

DEFAULT_CACHE_TTL = 60.0

_cache: VersionCache[tuple[str, str], ps.PromptVersion] = VersionCache()


class Prompt:
    """A fetched prompt version; :meth:`render` turns variables into messages."""

    def __init__(self, info: ps.PromptVersion, *, created: bool | None = None) -> None:
        self.info = info
        self.created = created

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def digest(self) -> str:
        return self.info.digest

    @property
    def labels(self) -> list[str]:
        return list(self.info.labels)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.info.params)

    @property
    def variables(self) -> dict[str, ps.PromptVariable]:
        return dict(self.info.variables)

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self.info.output_schema

    def render(self, **variables: Any) -> RenderedPrompt:
        """The messages (OpenAI chat format) and model parameters for these variables.

        Variables are checked against their declared types; a missing required, unknown or
        mistyped variable raises ValidationError naming it.
        """
        return render_version(self.info, variables)

    def __repr__(self) -> str:
        return f"Prompt({self.name!r}, version={self.version}, labels={self.labels})"


def clear_prompt_cache() -> None:
    """Forget every fetched version (the next ``get_prompt`` asks the server)."""
    _cache.clear()


def _fetch(client: Client, ref: PromptRef) -> ps.PromptVersion:
    if ref.label is not None:
        return client.get_prompt_version_by_label(ref.name, ref.label)
    return client.get_prompt_version(ref.name, ref.version)


def get_prompt(ref: str, *, cache_ttl: float = DEFAULT_CACHE_TTL) -> Prompt:
    """A registered prompt version: ``"name"`` (the newest), ``"name:3"`` or
    ``"name@production"``. ``cache_ttl=0`` always asks the server."""
    parsed = parse_prompt_ref(ref)
    client = Client()
    key = (client.tracking_uri, str(parsed))
    return Prompt(_cache.get_or_fetch(key, parsed, cache_ttl, lambda: _fetch(client, parsed)))


def register_prompt(
    name: str,
    *,
    messages: list[dict[str, str]] | None = None,
    text: str | None = None,
    variables: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    description: str = "",
    label: str | None = None,
) -> Prompt:
    """Register a chat (``messages``) or text (``text``) template as the prompt's next
    version; unchanged content returns the existing version (``.created`` is False)."""
    registered = Client().create_prompt_version(
        name,
        messages=messages,
        text=text,
        variables=variables,
        params=params,
        output_schema=output_schema,
        description=description,
        label=label,
    )
    return Prompt(registered.prompt_version, created=registered.created)


def set_prompt_label(name: str, label: str, version: int | str) -> Prompt:
    """Point ``label`` (``production``, ``staging``...) at a version; moves are logged."""
    return Prompt(Client().set_prompt_label(name, label, version))
