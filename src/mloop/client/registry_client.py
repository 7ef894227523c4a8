"""Explicit-object registry API (like ``mlflow.MlflowClient``'s model registry methods)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from mloop.client.operations import BaseClient
from mloop.core.validation import from_pydantic
from mloop.domains import find_file_route
from mloop.registry import schemas as rs
from mloop.store.artifacts import clean_relative_path

T = TypeVar("T")


class PagedList(list[T]):
    """One page of results: a list, plus the token that fetches the next page (or None)."""

    def __init__(self, items: list[T], next_page_token: str | None) -> None:
        super().__init__(items)
        self.next_page_token = next_page_token

    @property
    def token(self) -> str | None:
        """MLflow's name for :attr:`next_page_token`."""
        return self.next_page_token


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (tags or {}).items()}


class RegistryClient(BaseClient):
    """Registered models, versions and aliases. A part of :class:`mloop.Client`."""

    # -- registered models ------------------------------------------------------------------

    def create_registered_model(
        self, name: str, description: str | None = None, tags: Mapping[str, Any] | None = None
    ) -> rs.RegisteredModel:
        return self.call(
            "create_registered_model", name=name, description=description, tags=_tags(tags)
        )

    def get_registered_model(self, name: str) -> rs.RegisteredModel:
        """The model with its tags, aliases (alias to version) and latest version."""
        return self.call("get_registered_model", name=name)

    def list_registered_models(
        self,
        name_contains: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> PagedList[rs.RegisteredModel]:
        """One page of models ordered by name; its ``next_page_token`` fetches the next."""
        page = self.call(
            "list_registered_models",
            name_contains=name_contains,
            max_results=max_results,
            page_token=page_token,
        )
        return PagedList(list(page.registered_models), page.next_page_token)

    def update_registered_model(self, name: str, description: str) -> rs.RegisteredModel:
        return self.call("update_registered_model", name=name, description=description)

    def delete_registered_model(self, name: str) -> None:
        """Delete a model with its versions and files (the alias history is kept)."""
        self.call("delete_registered_model", name=name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        self.call("set_registered_model_tag", name=name, key=key, value=str(value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.call("delete_registered_model_tag", name=name, key=key)

    # -- model versions ---------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> rs.ModelVersion:
        """Register ``runs:/<run_id>/<path>`` as the model's next version (files are copied)."""
        return self.call(
            "create_model_version",
            name=name,
            source=source,
            run_id=run_id,
            description=description,
            tags=_tags(tags),
        )

    def get_model_version(self, name: str, version: int | str) -> rs.ModelVersion:
        return self.call("get_model_version", name=name, version=version)

    def list_model_versions(
        self, name: str, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[rs.ModelVersion]:
        """One page of a model's versions, newest first."""
        page = self.call(
            "list_model_versions", name=name, max_results=max_results, page_token=page_token
        )
        return PagedList(list(page.model_versions), page.next_page_token)

    def update_model_version(
        self, name: str, version: int | str, description: str
    ) -> rs.ModelVersion:
        return self.call(
            "update_model_version", name=name, version=version, description=description
        )

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version; aliases pointing to it are removed and the removal is logged."""
        self.call("delete_model_version", name=name, version=version)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        self.call("set_model_version_tag", name=name, version=version, key=key, value=str(value))

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self.call("delete_model_version_tag", name=name, version=version, key=key)

    def list_model_version_files(self, name: str, version: int | str) -> list[str]:
        """Paths of a version's files, relative to the model directory."""
        return list(self.call("list_model_version_files", name=name, version=version).files)

    def download_model_version(
        self, name: str, version: int | str, dst_path: str | Path | None = None
    ) -> Path:
        """Copy a version's files into a local directory (a new temporary one by default)."""
        try:
            number = rs.ModelVersionRef(name=name, version=version).version
        except pydantic.ValidationError as exc:
            raise from_pydantic(exc) from None
        dest = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="mloop-model-"))
        dest.mkdir(parents=True, exist_ok=True)
        for listed in self.list_model_version_files(name, number):
            # Never trust a listed path to stay inside dest.
            rel = clean_relative_path(str(listed), "files")
            params = {"name": name, "version": number, "path": rel}
            self._backend.download(find_file_route("download_model_file"), params, dest / rel)
        return dest

    # -- aliases ----------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` at ``version`` (creating or moving it); the move is logged."""
        self.call("set_alias", name=name, alias=alias, version=version)

    def delete_alias(self, name: str, alias: str) -> None:
        self.call("delete_alias", name=name, alias=alias)

    def get_model_version_by_alias(self, name: str, alias: str) -> rs.ModelVersion:
        return self.call("get_model_version_by_alias", name=name, alias=alias)

    def get_alias_history(
        self, name: str, alias: str | None = None, max_results: int = 1000
    ) -> list[rs.AliasHistoryEntry]:
        """Alias changes of a model (or one alias), oldest first: who, when, from, to."""
        result = self.call("get_alias_history", name=name, alias=alias, max_results=max_results)
        return list(result.entries)
