"""Module-level dataset functions: register a version, read one, set a policy, validate.

``mloop.register_dataset`` converts the data to canonical Parquet on this machine
(``mloop.datasets.parquet``), hashes it, and returns the existing version when the dataset
already holds those bytes. Otherwise it profiles the file, validates it against the
contract given and the dataset's policy, and only when they pass uploads it and creates
the version. ``mloop.get_dataset`` returns a :class:`DatasetVersion` whose file is
downloaded once into ``MLOOP_HOME/cache/datasets/<sha256>.parquet`` and checked against
the digest; inside a run it records the version as an input of the run (lineage).

Reference profile for distribution checks: the profile stored with the newest earlier
version of the dataset (for a registration, its newest version). A first version has no
reference, so its distribution checks are reported as skipped rather than as errors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mloop.client import fluent
from mloop.client.client import Client
from mloop.core.errors import DataContractError, MloopError, NotFoundError, ValidationError
from mloop.core.ids import new_id
from mloop.datasets import schemas as ds
from mloop.datasets.checks import (
    check_alias,
    check_dataset_name,
    check_description,
    check_source,
    parse_dataset_ref,
)
from mloop.tracking.schemas import DatasetInput

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mloop.data import Contract, DatasetProfile, ValidationReport

SOURCE_TYPE = "mloop-dataset"


def _require_data_extra() -> None:
    try:
        import duckdb  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise MloopError(
            "datasets need mloop's data extra (pyarrow, duckdb): pip install 'mloop[data]'"
        ) from exc


# -- the entity ----------------------------------------------------------------------------


class DatasetVersion:
    """A registered dataset version: its metadata, and its data read from a local copy."""

    def __init__(
        self, info: ds.DatasetVersion, client: Client | None = None, *, created: bool = False
    ) -> None:
        self.info = info
        self._client = client or Client()
        self.created = created
        """True when ``register_dataset`` created this version (False: same content
        was already registered)."""

    name = property(lambda self: self.info.name)
    version = property(lambda self: self.info.version)
    digest = property(lambda self: self.info.digest, doc="sha256 of the stored Parquet bytes")
    row_count = property(lambda self: self.info.row_count)
    size = property(lambda self: self.info.size, doc="bytes of the stored Parquet file")
    source = property(lambda self: self.info.source)
    run_id = property(lambda self: self.info.run_id, doc="the run that registered it, if any")
    aliases = property(lambda self: list(self.info.aliases))
    creation_time = property(lambda self: self.info.creation_time)

    @property
    def ref(self) -> str:
        """``name/version``, as ``mloop.get_dataset`` takes it."""
        return f"{self.name}/{self.version}"

    @property
    def schema(self) -> list[dict[str, Any]]:
        """Column name, Arrow type (as text) and nullability, in column order."""
        return [f.model_dump() for f in self.info.dataset_schema]

    @cached_property
    def profile(self) -> DatasetProfile:
        """The profile computed at registration (statistics of every column)."""
        from mloop.data import DatasetProfile

        profile = self.info.profile
        if profile is None:
            profile = self._client.get_dataset_version(self.name, self.version).profile
        return DatasetProfile.from_dict(profile or {})

    @property
    def path(self) -> Path:
        """A local copy of the version's Parquet file (downloaded once, checked by digest)."""
        return cached_file(self._client, self.name, self.version, self.digest)

    def to_arrow(self, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(self.path, columns=columns)

    def to_pandas(self, columns: list[str] | None = None) -> pd.DataFrame:
        return self.to_arrow(columns).to_pandas()

    def validations(self, include_reports: bool = False) -> list[ds.DatasetValidation]:
        """Stored validations of this version, newest first."""
        return list(
            self._client.list_dataset_validations(
                self.name, self.version, include_reports=include_reports, max_results=1000
            )
        )

    def __repr__(self) -> str:
        return (
            f"<DatasetVersion {self.name}/{self.version} rows={self.row_count} "
            f"digest={self.digest[:12]}>"
        )


# -- the local cache -----------------------------------------------------------------------


def _cache_dir(client: Client) -> Path:
    root = client._backend.home / "cache" / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _into_cache(client: Client, staged: Path, digest: str) -> Path:
    target = _cache_dir(client) / f"{digest}.parquet"
    if target.is_file():
        staged.unlink(missing_ok=True)
    else:
        os.replace(staged, target)
    return target


def cached_file(client: Client, name: str, version: int, digest: str) -> Path:
    """The cached Parquet file of a version, downloading and checking it when missing."""
    target = _cache_dir(client) / f"{digest}.parquet"
    if target.is_file():
        return target
    staged = _cache_dir(client) / f".download-{new_id()}.parquet"
    try:
        client.download_dataset_version(name, version, staged)
        actual = _sha256(staged)
        if actual != digest:
            raise MloopError(
                f"the downloaded file of dataset {name!r} version {version} has sha256 "
                f"{actual}, but the registry recorded {digest}; the stored copy is damaged "
                "or was altered"
            )
        return _into_cache(client, staged, digest)
    finally:
        staged.unlink(missing_ok=True)


# -- contracts -----------------------------------------------------------------------------


@dataclass
class _ContractIn:
    contract: Contract
    yaml: str | None
    digest: str
    required: bool  # a failure stops the registration
    origin: str  # "contract" or "policy", for messages


def _load_contract(contract: Any, field: str = "contract") -> tuple[Contract, str | None]:
    """A Contract object, or a YAML file path, as (contract, its YAML text or None)."""
    from mloop.data import Contract, parse_contract

    if isinstance(contract, Contract):
        return contract, None
    if isinstance(contract, str | os.PathLike):
        path = Path(contract)
        if not path.is_file():
            raise NotFoundError(f"{field}: no such contract file: {path}", field=field)
        raw = path.read_bytes()
        parsed = parse_contract(raw, str(path))
        return parsed, raw.decode("utf-8")
    raise ValidationError(
        f"{field} must be a mloop.data.Contract or the path of a YAML contract, "
        f"not a {type(contract).__name__}",
        field=field,
    )


def _contract_text(contract: str | os.PathLike[str], field: str = "contract") -> str:
    """A policy contract given as a YAML file path or as YAML text."""
    looks_like_yaml = isinstance(contract, str) and ("\n" in contract or ":" in contract)
    if looks_like_yaml and not _is_file(str(contract)):  # a path may hold a colon (C:\...)
        return str(contract)
    if not isinstance(contract, str | os.PathLike):
        raise ValidationError(
            f"{field} must be a YAML file path or YAML text (a Python Contract cannot be "
            "stored as a policy; write it in YAML)",
            field=field,
        )
    path = Path(contract)
    if not _is_file(path):
        raise NotFoundError(f"{field}: no such contract file: {path}", field=field)
    return path.read_text(encoding="utf-8")


def _is_file(path: str | os.PathLike[str]) -> bool:
    # YAML text longer than a file name makes the OS refuse the lookup (ENAMETOOLONG).
    try:
        return Path(path).is_file()
    except OSError:
        return False


def _contracts_for(
    client: Client, name: str, contract: Any
) -> tuple[list[_ContractIn], ds.Dataset | None]:
    from mloop.data import parse_contract
    from mloop.datasets.contracts import contract_digest

    out: list[_ContractIn] = []
    try:
        dataset: ds.Dataset | None = client.get_dataset(name)
    except NotFoundError:
        dataset = None
    policy = dataset.policy if dataset is not None else None
    if policy is not None and policy.contract_yaml is not None:
        parsed = parse_contract(policy.contract_yaml, f"policy of {name}")
        out.append(
            _ContractIn(
                parsed, policy.contract_yaml, policy.contract_digest, policy.required, "policy"
            )
        )
    if contract is not None:
        parsed, text = _load_contract(contract)
        digest = contract_digest(parsed)
        if not any(c.digest == digest for c in out):
            out.append(_ContractIn(parsed, text, digest, True, "contract"))
        else:  # the policy's own contract: passing it is required
            for c in out:
                if c.digest == digest:
                    c.required = True
    return out, dataset


def _reference(client: Client, name: str, before: int | None = None) -> DatasetProfile | None:
    """The stored profile of the newest version of ``name`` older than ``before``."""
    from mloop.data import DatasetProfile

    try:
        if before is None:
            info = client.get_dataset_version(name)
        else:
            older = [
                v
                for v in client.list_dataset_versions(name, max_results=1000)
                if v.version < before
            ]
            if not older:
                return None
            info = client.get_dataset_version(name, older[0].version)
    except NotFoundError:
        return None
    return DatasetProfile.from_dict(info.profile) if info.profile else None


def _validate(
    path: Path, spec: _ContractIn, reference: DatasetProfile | None, source: str
) -> ValidationReport:
    from mloop.data import validate
    from mloop.data.checks import DISTRIBUTION_KINDS

    report = validate(path, spec.contract, reference)
    report.source = source
    if reference is None:
        for result in report.checks:
            if result.kind in DISTRIBUTION_KINDS and result.status == "error":
                result.status = "skipped"
                result.message = "no earlier version of the dataset to compare with"
    return report


def _fit_report(report: ValidationReport) -> dict[str, Any]:
    """The report as stored: its dict, with example rows dropped if it is too large."""
    body = report.to_dict()
    if len(json.dumps(body, separators=(",", ":")).encode()) <= ds.MAX_REPORT_BYTES:
        return body
    for check in body["checks"]:
        check["examples"] = check["examples"][:1]
    body["examples_trimmed"] = True
    if len(json.dumps(body, separators=(",", ":")).encode()) > ds.MAX_REPORT_BYTES:
        for check in body["checks"]:
            check["examples"] = []
    return body


def _failure(name: str, report: ValidationReport, origin: str) -> DataContractError:
    problems = "; ".join(f"{c.name}: {c.message}" for c in report.errors[:3])
    more = f" (and {len(report.errors) - 3} more)" if len(report.errors) > 3 else ""
    what = "the dataset's policy contract" if origin == "policy" else "contract"
    return DataContractError(
        f"dataset {name!r}: the data does not meet {what} {report.contract!r} (version "
        f"{report.contract_version}): {problems}{more}. Nothing was stored; "
        "err.report has every check",
        field="data",
        report=report,
    )


# -- registering ---------------------------------------------------------------------------


def _profile(path: Path, source: str) -> DatasetProfile:
    from mloop.data import profile_dataset

    profile = profile_dataset(path)
    if len(profile.to_json(indent=None).encode()) > ds.MAX_PROFILE_BYTES:
        # Full value counts of many categorical columns: keep only their top values.
        profile = profile_dataset(path, max_categories=profile.settings.get("top_k", 10))
        if len(profile.to_json(indent=None).encode()) > ds.MAX_PROFILE_BYTES:
            raise ValidationError(
                f"the dataset's profile is over the limit of {ds.MAX_PROFILE_BYTES} bytes "
                "even without full value counts; the data has too many columns to register "
                "as one dataset",
                field="data",
            )
    profile.source = source
    return profile


def register_dataset(
    name: str,
    data: Any,
    *,
    contract: Contract | str | os.PathLike[str] | None = None,
    alias: str | None = None,
    description: str | None = None,
    source: str | None = None,
) -> DatasetVersion:
    """Register ``data`` as a version of dataset ``name`` and return it.

    ``data``: a pandas or Polars DataFrame, a pyarrow Table, RecordBatchReader or Dataset,
    or a Parquet or CSV path (a file or a directory; local, or a URL such as ``s3://``).
    The same content registered twice gives the same version (``.created`` is False).

    ``contract`` (a ``mloop.data.Contract`` or a YAML path) and the dataset's policy
    (``set_dataset_policy``) are checked before anything is uploaded: when the contract, or
    a required policy, fails, :class:`~mloop.core.errors.DataContractError` is raised (its
    ``report`` has every check) and nothing is stored. Passing validations are stored with
    the version. ``alias`` points an alias at the version; ``description`` sets the
    dataset's description; ``source`` overrides the recorded origin of the data. Inside a
    run, the run is recorded as the version's producer.
    """
    _require_data_extra()
    from mloop.datasets.parquet import write_canonical

    name = check_dataset_name(name)
    alias = check_alias(alias) if alias is not None else None
    if description is not None:
        check_description(description)
    if source is not None:
        check_source(source)
    client = Client()
    specs, dataset = _contracts_for(client, name, contract)
    staged = _cache_dir(client) / f".register-{new_id()}.parquet"
    try:
        written = write_canonical(data, staged)
        origin = source if source is not None else written.source
        check_source(origin[:4096])
        origin = origin[:4096]
        existing = None
        if dataset is not None:
            with contextlib.suppress(NotFoundError):
                existing = client.get_dataset_version_by_digest(name, written.digest)
        if existing is not None:
            return _existing(client, existing, specs, staged, written.digest, alias, origin)
        profile = _profile(staged, origin)
        reference = _reference(client, name) if dataset is not None else None
        validations = []
        for spec in specs:
            report = _validate(staged, spec, reference, origin)
            if not report.passed:
                if spec.required:
                    raise _failure(name, report, spec.origin)
                warnings.warn(
                    f"dataset {name!r}: the data does not meet the policy contract "
                    f"{report.contract!r}; the policy is optional, so the version is "
                    "registered with the failed validation",
                    stacklevel=2,
                )
            validations.append(
                {
                    "contract_digest": spec.digest,
                    "contract_yaml": spec.yaml,
                    "report": _fit_report(report),
                }
            )
        upload = client.upload_dataset_file(name, written.digest, staged)
        run = fluent.active_run()
        result = client.create_dataset_version(
            name,
            upload.upload_id,
            written.digest,
            written.row_count,
            written.schema,
            profile.to_dict(),
            source=origin,
            run_id=run.info.run_id if run is not None else None,
            description=description,
            alias=alias,
            validations=validations,
        )
        _into_cache(client, staged, written.digest)
        return DatasetVersion(result.dataset_version, client, created=result.created)
    finally:
        staged.unlink(missing_ok=True)


def _existing(
    client: Client,
    existing: ds.DatasetVersion,
    specs: list[_ContractIn],
    staged: Path,
    digest: str,
    alias: str | None,
    origin: str,
) -> DatasetVersion:
    """Registering content the dataset already holds: only an explicit contract is checked
    (and its passing validation stored); the alias is moved if asked."""
    explicit = [s for s in specs if s.origin == "contract"]
    if explicit:
        reference = _reference(client, existing.name, before=existing.version)
        for spec in explicit:
            report = _validate(staged, spec, reference, origin)
            if not report.passed:
                raise _failure(existing.name, report, spec.origin)
            client.log_dataset_validation(
                existing.name, existing.version, _fit_report(report), spec.digest, spec.yaml
            )
    if alias is not None:
        client.set_dataset_alias(existing.name, alias, existing.version)
    if explicit or alias is not None:
        existing = client.get_dataset_version(existing.name, existing.version)
    _into_cache(client, staged, digest)
    return DatasetVersion(existing, client, created=False)


# -- reading -------------------------------------------------------------------------------


def resolve_version(client: Client, ref: str) -> ds.DatasetVersion:
    """The version a reference names: ``name``, ``name/3``, ``name/latest`` or
    ``name@alias`` (with its profile)."""
    parsed = parse_dataset_ref(ref)
    if parsed.alias is not None:
        return client.get_dataset_version_by_alias(parsed.name, parsed.alias)
    return client.get_dataset_version(parsed.name, parsed.version)


def get_dataset(ref: str, *, context: str = "training") -> DatasetVersion:
    """A registered dataset version: ``"name"`` (the newest), ``"name/3"`` or
    ``"name@alias"``.

    Inside an active run, the version is recorded as an input of the run (with
    ``context``), which is how the registry knows the data a model was trained on.
    """
    client = Client()
    info = resolve_version(client, ref)
    run = fluent.active_run()
    if run is not None:
        client.log_inputs(
            run.info.run_id,
            [
                DatasetInput(
                    name=info.name,
                    digest=info.digest,
                    source=f"{SOURCE_TYPE}:{info.name}/{info.version}",
                    source_type=SOURCE_TYPE,
                    context=context,
                    dataset_schema=json.dumps([f.model_dump() for f in info.dataset_schema]),
                )
            ],
        )
    return DatasetVersion(info, client)


def set_dataset_policy(
    name: str, contract: str | os.PathLike[str], *, required: bool = True
) -> ds.Dataset:
    """Check every new version of ``name`` against a contract (a YAML file path or YAML
    text). With ``required`` (the default) versions that fail are refused; otherwise the
    failed validation is stored with the version and a warning given."""
    return Client().set_dataset_policy(check_dataset_name(name), _contract_text(contract), required)


def set_dataset_alias(name: str, alias: str, version: int | str) -> None:
    """Point ``alias`` (``golden-test``, ``training``...) at a version; moves are logged."""
    Client().set_dataset_alias(name, alias, version)


def delete_dataset_alias(name: str, alias: str) -> None:
    Client().delete_dataset_alias(name, alias)


def validate_dataset(
    ref: str, contract: Contract | str | os.PathLike[str], *, record: bool = True
) -> ValidationReport:
    """Validate a registered version against a contract and (by default) store the result
    with the version, passed or not. The reference for distribution checks is the newest
    earlier version's profile."""
    _require_data_extra()
    client = Client()
    info = resolve_version(client, ref)
    parsed, text = _load_contract(contract)
    from mloop.datasets.contracts import contract_digest

    spec = _ContractIn(parsed, text, contract_digest(parsed), True, "contract")
    path = cached_file(client, info.name, info.version, info.digest)
    reference = _reference(client, info.name, before=info.version)
    report = _validate(path, spec, reference, f"{info.name}/{info.version}")
    if record:
        client.log_dataset_validation(
            info.name, info.version, _fit_report(report), spec.digest, spec.yaml
        )
    return report
