"""Explicit-object prompts API: a method for every operation of the prompts domain."""

from __future__ import annotations

from typing import Any

from mloop.client.operations import BaseClient
from mloop.client.registry_client import PagedList
from mloop.prompts import schemas as ps
from mloop.prompts.content import canonical_json


class PromptsClient(BaseClient):
    """Prompts, their versions, labels, reviews and approval policies. A part of
    :class:`mloop.Client`; ``mloop.register_prompt`` and ``mloop.get_prompt`` are the
    convenient way in."""

    # -- prompts ----------------------------------------------------------------------------

    def get_prompt(self, name: str) -> ps.Prompt:
        """The prompt with its labels, newest version and approval policy."""
        return self.call("get_prompt", name=name)

    def list_prompts(
        self,
        name_contains: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> PagedList[ps.Prompt]:
        """One page of prompts ordered by name; its ``next_page_token`` fetches the next."""
        page = self.call(
            "list_prompts",
            name_contains=name_contains,
            max_results=max_results,
            page_token=page_token,
        )
        return PagedList(list(page.prompts), page.next_page_token)

    def set_prompt_policy(self, name: str, require_approval_for: list[str]) -> ps.Prompt:
        """Only versions with an approved review may get these labels (``["production"]``)."""
        return self.call(
            "set_prompt_policy", name=name, require_approval_for=list(require_approval_for)
        )

    # -- versions ---------------------------------------------------------------------------

    def create_prompt_version(
        self,
        name: str,
        *,
        messages: list[dict[str, str]] | None = None,
        text: str | None = None,
        variables: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        description: str = "",
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        source_path: str | None = None,
        label: str | None = None,
    ) -> ps.RegisteredPromptVersion:
        """Register the content as the next version, or find the version that holds it."""
        # JSON on the wire would carry NaN as a string: refuse it here, as the server does.
        canonical_json(ps.PromptContent(params=params or {}, output_schema=output_schema))
        return self.call(
            "create_prompt_version",
            name=name,
            messages=messages,
            text=text,
            variables=variables or {},
            params=params or {},
            output_schema=output_schema,
            description=description,
            git_commit=git_commit,
            git_dirty=git_dirty,
            source_path=source_path,
            label=label,
        )

    def get_prompt_version(self, name: str, version: int | str | None = None) -> ps.PromptVersion:
        """One version (the newest without ``version``)."""
        return self.call("get_prompt_version", name=name, version=version)

    def get_prompt_version_by_label(self, name: str, label: str) -> ps.PromptVersion:
        return self.call("get_prompt_version_by_label", name=name, label=label)

    def list_prompt_versions(
        self, name: str, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[ps.PromptVersion]:
        """One page of a prompt's versions, newest first."""
        page = self.call(
            "list_prompt_versions", name=name, max_results=max_results, page_token=page_token
        )
        return PagedList(list(page.prompt_versions), page.next_page_token)

    def diff_prompt_versions(self, name: str, a: int | str, b: int | str) -> ps.PromptDiff:
        """What changed from version ``a`` to ``b``: template diff and changed fields."""
        return self.call("diff_prompt_versions", name=name, a=a, b=b)

    def render_prompt(
        self, ref: str, variables: dict[str, Any] | None = None
    ) -> ps.RenderedPromptMessage:
        """Render ``name``, ``name:3`` or ``name@label`` on the server."""
        return self.call("render_prompt", ref=ref, variables=variables or {})

    # -- labels -----------------------------------------------------------------------------

    def set_prompt_label(self, name: str, label: str, version: int | str) -> ps.PromptVersion:
        """Point ``label`` at a version; refused if the policy needs an approval first."""
        return self.call("set_prompt_label", name=name, label=label, version=version)

    def delete_prompt_label(self, name: str, label: str) -> None:
        self.call("delete_prompt_label", name=name, label=label)

    def get_prompt_label_history(
        self, name: str, label: str | None = None
    ) -> list[ps.PromptLabelHistoryEntry]:
        """Every label move of a prompt (or one label), oldest first."""
        return list(self.call("get_prompt_label_history", name=name, label=label).entries)

    # -- reviews ----------------------------------------------------------------------------

    def review_prompt_version(
        self, name: str, version: int | str, decision: str = "approved", comment: str = ""
    ) -> ps.PromptReview:
        """Approve (or reject) a version as the caller."""
        return self.call(
            "review_prompt_version", name=name, version=version, decision=decision, comment=comment
        )

    def list_prompt_reviews(
        self, name: str, version: int | str | None = None
    ) -> list[ps.PromptReview]:
        return list(self.call("list_prompt_reviews", name=name, version=version).reviews)
