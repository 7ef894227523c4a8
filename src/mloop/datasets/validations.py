"""Contract validations stored against dataset versions.

A validation is what ``mloop.data.validate`` reported (``ValidationReport.to_dict()``: every
check, failing counts and example rows), with the contract's name, version and digest and,
when the contract came from YAML, its text. Validations run where the data is (the SDK);
the server checks that what it stores is well formed.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select

from mloop.core.errors import NotFoundError, ValidationError
from mloop.core.timeutil import now_ms
from mloop.datasets import tables as t
from mloop.datasets.checks import check_digest, decode_page_token, encode_page_token
from mloop.datasets.common import (
    load_dataset_row,
    load_version_row,
    validation_message,
)
from mloop.datasets.ops import operations
from mloop.datasets.schemas import (
    MAX_REPORT_BYTES,
    DatasetValidation,
    DatasetValidationId,
    DatasetValidationList,
    ListDatasetValidations,
    RecordDatasetValidation,
    ValidationIn,
)
from mloop.store.context import Context


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{field} must be a count, got {str(value)[:40]!r}", field=field)
    return value


def check_validation(v: ValidationIn, field: str = "validation") -> dict[str, Any]:
    """The row values of a validation the client sent, after checking its report."""
    report = v.report
    digest = check_digest(v.contract_digest, f"{field}.contract_digest")
    contract = report.get("contract")
    version = report.get("contract_version")
    if not isinstance(contract, str) or not contract or len(contract) > 256:
        raise ValidationError(
            f"{field}.report.contract must be the contract's name (1 to 256 characters)",
            field=f"{field}.report.contract",
        )
    if isinstance(version, bool) or not isinstance(version, int | str) or len(str(version)) > 256:
        raise ValidationError(
            f"{field}.report.contract_version must be a number or text",
            field=f"{field}.report.contract_version",
        )
    passed = report.get("passed")
    if not isinstance(passed, bool):
        raise ValidationError(
            f"{field}.report.passed must be true or false", field=f"{field}.report.passed"
        )
    summary = report.get("summary")
    checks = report.get("checks")
    if not isinstance(summary, dict) or not isinstance(checks, list):
        raise ValidationError(
            f"{field}.report is not a validation report: it needs 'summary' and 'checks' "
            "(send ValidationReport.to_dict())",
            field=f"{field}.report",
        )
    errors = _int(summary.get("errors"), f"{field}.report.summary.errors")
    warnings = _int(summary.get("warnings"), f"{field}.report.summary.warnings")
    if passed != (errors == 0):
        raise ValidationError(
            f"{field}.report says passed={passed} with {errors} errors; the two disagree",
            field=f"{field}.report.passed",
        )
    text = json.dumps(report, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) > MAX_REPORT_BYTES:
        raise ValidationError(
            f"{field}.report is {len(text.encode())} bytes of JSON; the limit is "
            f"{MAX_REPORT_BYTES}. Validate with fewer examples (examples=...)",
            field=f"{field}.report",
        )
    if v.contract_yaml is not None:
        from mloop.datasets.contracts import parse_policy_contract

        _, actual = parse_policy_contract(v.contract_yaml, f"{field}.contract_yaml")
        if actual != digest:
            raise ValidationError(
                f"{field}.contract_digest is {digest}, but the contract_yaml sent with it has "
                f"digest {actual}",
                field=f"{field}.contract_digest",
            )
    return {
        "contract_name": contract,
        "contract_version": str(version),
        "contract_digest": digest,
        "contract_yaml": v.contract_yaml,
        "passed": passed,
        "errors": errors,
        "warnings": warnings,
        "report_json": text,
    }


def insert_validation(ctx: Context, name: str, version: int, values: dict[str, Any]) -> int:
    result = ctx.conn.execute(
        insert(t.dataset_validations).values(
            name=name,
            version=version,
            created_by=ctx.actor[:256],
            created_time=now_ms(),
            **values,
        )
    )
    key = result.inserted_primary_key
    return int(key[0]) if key else 0


def _load(ctx: Context, validation_id: int) -> Any:
    row = ctx.conn.execute(
        select(t.dataset_validations).where(t.dataset_validations.c.id == validation_id)
    ).first()
    if row is None:
        raise NotFoundError(f"validation {validation_id} does not exist", field="id")
    return row


@operations.post("/validations/create", RecordDatasetValidation, DatasetValidation)
def record_dataset_validation(ctx: Context, req: RecordDatasetValidation) -> DatasetValidation:
    """Store the result of validating a dataset version against a contract."""
    name = load_dataset_row(ctx, req.name).name
    load_version_row(ctx, name, req.version)
    values = check_validation(req.validation)
    validation_id = insert_validation(ctx, name, req.version, values)
    return validation_message(_load(ctx, validation_id), report=True)


@operations.get("/validations/list", ListDatasetValidations, DatasetValidationList)
def list_dataset_validations(ctx: Context, req: ListDatasetValidations) -> DatasetValidationList:
    """Validations of a dataset or of one version, newest first."""
    load_dataset_row(ctx, req.name)
    v = t.dataset_validations
    query = select(v).where(v.c.name == req.name)
    if req.version is not None:
        load_version_row(ctx, req.name, req.version)
        query = query.where(v.c.version == req.version)
    offset = decode_page_token(req.page_token)
    rows = list(
        ctx.conn.execute(query.order_by(v.c.id.desc()).limit(req.max_results + 1).offset(offset))
    )
    token = encode_page_token(offset + req.max_results) if len(rows) > req.max_results else None
    return DatasetValidationList(
        validations=[
            validation_message(r, report=req.include_reports) for r in rows[: req.max_results]
        ],
        next_page_token=token,
    )


@operations.get("/validations/get", DatasetValidationId, DatasetValidation)
def get_dataset_validation(ctx: Context, req: DatasetValidationId) -> DatasetValidation:
    """One validation with its full report and, when known, the contract's YAML."""
    return validation_message(_load(ctx, req.id), report=True)


def latest_passing_validation(ctx: Context, name: str, version: int) -> Any:
    """The newest passing validation of a version (its row), or None."""
    v = t.dataset_validations
    return ctx.conn.execute(
        select(v)
        .where(v.c.name == name, v.c.version == version, v.c.passed.is_(True))
        .order_by(v.c.id.desc())
        .limit(1)
    ).first()
