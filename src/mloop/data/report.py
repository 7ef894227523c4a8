"""Validation reports: one result per check, readable as text, JSON or JUnit XML.

A check's ``status`` is

- ``passed``;
- ``failed``: the data breaks it (``failing_count`` rows, or a dataset-level value out of
  bounds);
- ``error``: it could not be evaluated (a column it needs is missing, its SQL does not bind,
  a custom check raised, no reference profile was given...);
- ``skipped``: not evaluated because an earlier check already reports the cause (the column
  is missing, or has the wrong type, and that check failed).

``report.passed`` is False exactly when a check of severity ``error`` failed or errored;
warnings never fail a report.

In JUnit XML every check is a ``testcase`` (classname ``<contract>.<kind>``). Failed
error-severity checks get ``<failure>``, errored ones ``<error>``, skipped ones
``<skipped>``. A failed or errored **warn**-severity check is a passing testcase whose
``<system-out>`` starts with ``WARNING:``, so CI shows it without failing the build,
matching ``report.passed``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop.data.checks import Severity

Status = Literal["passed", "failed", "error", "skipped"]

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class CheckResult:
    """The outcome of one check."""

    name: str
    kind: str
    columns: list[str]
    severity: Severity
    status: Status
    message: str
    description: str = ""
    failing_count: int | None = None
    failing_share: float | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True unless the check failed or could not be evaluated."""
        return self.status in ("passed", "skipped")

    @property
    def column(self) -> str | None:
        """The column of a single-column check."""
        return self.columns[0] if len(self.columns) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "column": self.column,
            "columns": list(self.columns),
            "severity": self.severity,
            "status": self.status,
            "passed": self.passed,
            "failing_count": self.failing_count,
            "failing_share": self.failing_share,
            "message": self.message,
            "description": self.description,
            "observed": self.observed,
            "examples": self.examples,
        }


@dataclass
class ValidationReport:
    """All check results of one validation."""

    contract: str
    contract_version: int | str
    source: str
    row_count: int | None
    checks: list[CheckResult]
    started_at: str = ""
    duration_s: float = 0.0
    reference: str | None = None

    @property
    def passed(self) -> bool:
        """False exactly when an error-severity check failed or could not be evaluated."""
        return not self.errors

    @property
    def errors(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "warn"]

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def summary(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        for result in self.checks:
            counts[result.status] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "contract_version": self.contract_version,
            "source": self.source,
            "reference": self.reference,
            "passed": self.passed,
            "row_count": self.row_count,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "summary": {
                **self.summary(),
                "errors": len(self.errors),
                "warnings": len(self.warnings),
            },
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)

    def to_text(self) -> str:
        """A readable listing: one line per check, failures with their first examples."""
        verdict = "PASSED" if self.passed else "FAILED"
        errors, warnings = len(self.errors), len(self.warnings)
        lines = [
            f"contract {self.contract} (version {self.contract_version}) on {self.source}: "
            f"{verdict} ({errors} {'error' if errors == 1 else 'errors'}, "
            f"{warnings} {'warning' if warnings == 1 else 'warnings'})",
            f"{self.row_count if self.row_count is not None else '?'} rows, "
            f"{len(self.checks)} checks: "
            + ", ".join(f"{n} {k}" for k, n in self.summary().items() if n),
        ]
        width = max((len(c.name) for c in self.checks), default=10)
        for c in self.checks:
            label = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}[
                c.status
            ]
            if c.status in ("failed", "error") and c.severity == "warn":
                label = "WARN"
            lines.append(f"  {label:<5} {c.name:<{width}}  {c.message}")
            for example in c.examples[:3]:
                lines.append(f"          {json.dumps(example, ensure_ascii=False)[:200]}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_junit_xml(self) -> str:
        """The report as a JUnit XML document (one testsuite, one testcase per check)."""
        counts = self.summary()
        failures = sum(1 for c in self.checks if c.status == "failed" and c.severity == "error")
        errors = sum(1 for c in self.checks if c.status == "error" and c.severity == "error")
        root = ET.Element("testsuites")
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _xml(f"contract {self.contract}"),
                "tests": str(len(self.checks)),
                "failures": str(failures),
                "errors": str(errors),
                "skipped": str(counts["skipped"]),
                "time": f"{self.duration_s:.3f}",
                "timestamp": self.started_at,
            },
        )
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("contract_version", self.contract_version),
            ("source", self.source),
            ("row_count", self.row_count),
            ("reference", self.reference),
        ):
            if value is not None:
                ET.SubElement(props, "property", {"name": key, "value": _xml(str(value))})
        for c in self.checks:
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": _xml(f"{self.contract}.{c.kind}"), "name": _xml(c.name), "time": "0"},
            )
            detail = _detail(c)
            if c.status == "skipped":
                ET.SubElement(case, "skipped", {"message": _xml(c.message)})
            elif c.status in ("failed", "error") and c.severity == "error":
                tag = "failure" if c.status == "failed" else "error"
                node = ET.SubElement(case, tag, {"message": _xml(c.message), "type": c.kind})
                node.text = _xml(detail)
            elif c.status in ("failed", "error"):
                out = ET.SubElement(case, "system-out")
                out.text = _xml(f"WARNING: {c.message}\n{detail}")
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _detail(c: CheckResult) -> str:
    parts = [c.description] if c.description else []
    if c.failing_count is not None:
        share = f" ({c.failing_share:.4%})" if c.failing_share is not None else ""
        parts.append(f"failing rows: {c.failing_count}{share}")
    if c.observed:
        parts.append("observed: " + json.dumps(c.observed, ensure_ascii=False))
    for example in c.examples:
        parts.append("example: " + json.dumps(example, ensure_ascii=False))
    return "\n".join(parts)


def _xml(text: str) -> str:
    """Text without the characters XML 1.0 cannot hold."""
    return _XML_INVALID.sub("\ufffd", text)
