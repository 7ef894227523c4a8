"""Explicit-object datasets API: a method for every operation of the datasets domain."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydantic

from mloop.client.operations import BaseClient
from mloop.client.registry_client import PagedList
from mloop.core.validation import from_pydantic
from mloop.datasets import schemas as ds
from mloop.domains import find_file_route


class DatasetsClient(BaseClient):
    """Registered datasets, their versions, aliases, policies, validations and lineage.
    A part of :class:`mloop.Client`; ``mloop.register_dataset`` and ``mloop.get_dataset``
    are the convenient way in."""

    # -- datasets ---------------------------------------------------------------------------

    def get_dataset(self, name: str) -> ds.Dataset:
        """The dataset with its aliases, newest version and policy."""
        return self.call("get_dataset", name=name)

    def list_datasets(
        self,
        name_contains: str | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> PagedList[ds.Dataset]:
        """One page of datasets ordered by name; its ``next_page_token`` fetches the next."""
        page = self.call(
            "list_datasets",
            name_contains=name_contains,
            max_results=max_results,
            page_token=page_token,
        )
        return PagedList(list(page.datasets), page.next_page_token)

    def update_dataset(self, name: str, description: str) -> ds.Dataset:
        return self.call("update_dataset", name=name, description=description)

    def set_dataset_policy(
        self, name: str, contract_yaml: str, required: bool = True
    ) -> ds.Dataset:
        """Check every new version against the contract in ``contract_yaml`` (YAML text);
        with ``required``, refuse versions that fail it."""
        return self.call(
            "set_dataset_policy", name=name, contract_yaml=contract_yaml, required=required
        )

    def delete_dataset_policy(self, name: str) -> ds.Dataset:
        return self.call("delete_dataset_policy", name=name)

    # -- versions ---------------------------------------------------------------------------

    def get_dataset_version(
        self, name: str, version: int | str | None = None, include_profile: bool = True
    ) -> ds.DatasetVersion:
        """One version (the newest without ``version``), with its profile by default."""
        return self.call(
            "get_dataset_version", name=name, version=version, include_profile=include_profile
        )

    def get_dataset_version_by_alias(
        self, name: str, alias: str, include_profile: bool = True
    ) -> ds.DatasetVersion:
        return self.call(
            "get_dataset_version_by_alias",
            name=name,
            alias=alias,
            include_profile=include_profile,
        )

    def get_dataset_version_by_digest(self, name: str, digest: str) -> ds.DatasetVersion:
        """The version of ``name`` whose Parquet bytes have this sha256."""
        return self.call("get_dataset_version_by_digest", name=name, digest=digest)

    def list_dataset_versions(
        self, name: str, max_results: int = 100, page_token: str | None = None
    ) -> PagedList[ds.DatasetVersion]:
        """One page of a dataset's versions, newest first (without profiles)."""
        page = self.call(
            "list_dataset_versions", name=name, max_results=max_results, page_token=page_token
        )
        return PagedList(list(page.dataset_versions), page.next_page_token)

    def delete_dataset_version(self, name: str, version: int | str) -> None:
        """Delete a version's file; aliases pointing to it are removed (and logged)."""
        self.call("delete_dataset_version", name=name, version=version)

    def upload_dataset_file(
        self, name: str, digest: str, local_file: str | Path
    ) -> ds.DatasetUpload:
        """Send a canonical Parquet file (see ``mloop.datasets.parquet``) for a new version;
        the server refuses it unless its sha256 is ``digest``."""
        upload: ds.DatasetUpload = self._backend.upload(
            find_file_route("upload_dataset_file"),
            {"name": name, "digest": digest},
            Path(local_file),
        )
        return upload

    def create_dataset_version(
        self,
        name: str,
        upload_id: str,
        digest: str,
        row_count: int,
        dataset_schema: Sequence[dict[str, Any]],
        profile: dict[str, Any],
        source: str | None = None,
        run_id: str | None = None,
        description: str | None = None,
        alias: str | None = None,
        validations: Sequence[dict[str, Any]] = (),
    ) -> ds.RegisteredDatasetVersion:
        """Make an uploaded file the dataset's next version (low level: use
        ``mloop.register_dataset``, which converts, profiles, validates and uploads)."""
        return self.call(
            "create_dataset_version",
            name=name,
            upload_id=upload_id,
            digest=digest,
            row_count=row_count,
            dataset_schema=list(dataset_schema),
            profile=profile,
            source=source,
            run_id=run_id,
            description=description,
            alias=alias,
            validations=list(validations),
        )

    def download_dataset_version(
        self, name: str, version: int | str, dst_path: str | Path | None = None
    ) -> Path:
        """Copy a version's Parquet file to ``dst_path`` (a file; by default
        ``data.parquet`` in a new temporary directory)."""
        try:
            number = ds.DatasetVersionRef(name=name, version=version).version
        except pydantic.ValidationError as exc:
            raise from_pydantic(exc) from None
        dest = (
            Path(dst_path)
            if dst_path
            else Path(tempfile.mkdtemp(prefix="mloop-dataset-")) / "data.parquet"
        )
        dest.parent.mkdir(parents=True, exist_ok=True)
        return self._backend.download(
            find_file_route("download_dataset_file"), {"name": name, "version": number}, dest
        )

    # -- aliases ----------------------------------------------------------------------------

    def set_dataset_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` at ``version`` (creating or moving it); the move is logged."""
        self.call("set_dataset_alias", name=name, alias=alias, version=version)

    def delete_dataset_alias(self, name: str, alias: str) -> None:
        self.call("delete_dataset_alias", name=name, alias=alias)

    def get_dataset_alias_history(
        self, name: str, alias: str | None = None, max_results: int = 1000
    ) -> list[ds.DatasetAliasHistoryEntry]:
        """Alias changes of a dataset (or one alias), oldest first: who, when, from, to."""
        result = self.call(
            "get_dataset_alias_history", name=name, alias=alias, max_results=max_results
        )
        return list(result.entries)

    # -- validations and lineage ------------------------------------------------------------

    def log_dataset_validation(
        self,
        name: str,
        version: int | str,
        report: dict[str, Any],
        contract_digest: str,
        contract_yaml: str | None = None,
    ) -> ds.DatasetValidation:
        """Store a validation (``ValidationReport.to_dict()``) against a version; see
        ``mloop.validate_dataset`` for running one."""
        return self.call(
            "record_dataset_validation",
            name=name,
            version=version,
            validation={
                "contract_digest": contract_digest,
                "contract_yaml": contract_yaml,
                "report": report,
            },
        )

    def list_dataset_validations(
        self,
        name: str,
        version: int | str | None = None,
        include_reports: bool = False,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> PagedList[ds.DatasetValidation]:
        """Validations of a dataset (or one version), newest first."""
        page = self.call(
            "list_dataset_validations",
            name=name,
            version=version,
            include_reports=include_reports,
            max_results=max_results,
            page_token=page_token,
        )
        return PagedList(list(page.validations), page.next_page_token)

    def get_dataset_validation(self, validation_id: int) -> ds.DatasetValidation:
        """One validation with its full report (checks, failing counts, example rows)."""
        return self.call("get_dataset_validation", id=validation_id)

    def get_dataset_lineage(
        self, name: str, version: int | str, max_results: int = 1000
    ) -> ds.DatasetLineage:
        """The run that registered the version and the runs that read it."""
        return self.call("get_dataset_lineage", name=name, version=version, max_results=max_results)
