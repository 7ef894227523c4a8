"""Behavioural tests of a model (CheckList's three kinds), defined in Python:

- :class:`Invariance`: changing ``column`` to each of ``values`` leaves every row's
  prediction unchanged (scores within ``tolerance``);
- :class:`Directional`: adding ``delta`` to ``column`` moves every row's score in
  ``direction`` ("up" or "down");
- :class:`MinimumFunctionality`: given rows get the expected predictions.

A row's *score* is the probability of the last class for a classifier with
``predict_proba`` (the positive class of a 0/1 model), else its prediction.
:func:`test_model` runs a list of checks on a registered model version and records the
results on a run (experiment ``evals``); ``mloop test models`` is its command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mloop.core.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from mloop.client.client import Client
    from mloop.models.loading import LoadedModel


def _frame(rows: Any, field_name: str) -> pd.DataFrame:
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if len(frame) == 0:
        raise ValidationError(f"{field_name} has no rows", field=field_name)
    return frame.reset_index(drop=True)


def _inputs(model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """The columns the model reads (its signature's, or scikit-learn's feature names):
    a check's rows may carry more, such as the column an invariance changes."""
    from mloop.evals.loading import feature_columns

    columns = feature_columns(model, frame, set())
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the check's rows lack the model's column {missing[0]!r}", field="rows"
        )
    return frame[columns]


def _labels(model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(_inputs(model, frame))).reshape(-1)


def _score(model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    inputs = _inputs(model, frame)
    try:
        proba = np.asarray(model.predict_proba(inputs), dtype=np.float64)
        return proba[:, -1]
    except AttributeError:
        return np.asarray(model.predict(inputs), dtype=np.float64).reshape(-1)


@dataclass
class CheckResult:
    name: str
    kind: str
    passed: bool
    rows: int
    failures: int
    detail: str = ""


@dataclass
class Invariance:
    """Predictions do not change when ``column`` takes each of ``values``."""

    name: str
    rows: Any
    column: str
    values: Sequence[Any]
    tolerance: float = 0.0

    def run(self, model: LoadedModel) -> CheckResult:
        frame = _frame(self.rows, f"{self.name}.rows")
        if not self.values:
            raise ValidationError(f"{self.name}: values is empty", field="values")
        base_labels = _labels(model, frame)
        base = _score(model, frame)
        changed = np.zeros(len(frame), dtype=bool)
        for value in self.values:
            other = frame.copy()
            other[self.column] = value
            labels = _labels(model, other)
            changed |= labels != base_labels
            changed |= np.abs(_score(model, other) - base) > self.tolerance
        bad = int(changed.sum())
        detail = f"rows {np.flatnonzero(changed)[:10].tolist()} changed" if bad else ""
        return CheckResult(self.name, "invariance", bad == 0, len(frame), bad, detail)


@dataclass
class Directional:
    """Adding ``delta`` to ``column`` moves every row's score ``direction``."""

    name: str
    rows: Any
    column: str
    delta: float
    direction: Literal["up", "down"]

    def run(self, model: LoadedModel) -> CheckResult:
        if self.direction not in ("up", "down"):
            raise ValidationError(
                f"{self.name}: direction must be 'up' or 'down', got {self.direction!r}",
                field="direction",
            )
        frame = _frame(self.rows, f"{self.name}.rows")
        base = _score(model, frame)
        other = frame.copy()
        other[self.column] = other[self.column] + self.delta
        moved = _score(model, other) - base
        wrong = moved <= 0 if self.direction == "up" else moved >= 0
        bad = int(wrong.sum())
        detail = f"rows {np.flatnonzero(wrong)[:10].tolist()} did not move {self.direction}"
        return CheckResult(
            self.name, "directional", bad == 0, len(frame), bad, detail if bad else ""
        )


@dataclass
class MinimumFunctionality:
    """Each of ``rows`` gets the prediction in ``expected``."""

    name: str
    rows: Any
    expected: Sequence[Any] = field(default_factory=list)

    def run(self, model: LoadedModel) -> CheckResult:
        frame = _frame(self.rows, f"{self.name}.rows")
        if len(self.expected) != len(frame):
            raise ValidationError(
                f"{self.name}: {len(self.expected)} expected labels for {len(frame)} rows",
                field="expected",
            )
        got = _labels(model, frame)
        wrong = [
            i for i, (a, b) in enumerate(zip(got.tolist(), self.expected, strict=True)) if a != b
        ]
        detail = f"rows {wrong[:10]}: got {[got[i] for i in wrong[:10]]}" if wrong else ""
        return CheckResult(
            self.name, "minimum_functionality", not wrong, len(frame), len(wrong), detail
        )


Check = Invariance | Directional | MinimumFunctionality


@dataclass
class BehaviourReport:
    model: str
    run_id: str
    results: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def load_checks(reference: str) -> list[Check]:
    """The list ``module:NAME`` names (``mloop test models --checks``)."""
    import importlib

    module_name, _, name = reference.partition(":")
    if not module_name or not name:
        raise ValidationError(f"checks {reference!r} must be module:NAME", field="checks")
    try:
        checks = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(
            f"checks {reference!r} cannot be loaded: {exc}", field="checks"
        ) from None
    checks = list(checks)
    for i, check in enumerate(checks):
        if not isinstance(check, Invariance | Directional | MinimumFunctionality):
            raise ValidationError(
                f"checks[{i}] is a {type(check).__name__}, not a behavioural check",
                field="checks",
            )
    return checks


def test_model(
    model: str,
    checks: Sequence[Check],
    *,
    trusted: bool | Sequence[str] = False,
    client: Client | None = None,
) -> BehaviourReport:
    """Run behavioural ``checks`` on ``model`` (``models:/name/7``) and record them on a
    run: a metric per check (1 passed, 0 failed) and the failures as tag text."""
    from mloop.client.entities import Metric, Param
    from mloop.evals.loading import load_version, resolve_model
    from mloop.evals.sdk import _client, _experiment, _metric_key

    if not checks:
        raise ValidationError("checks is empty", field="checks")
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValidationError("two checks have the same name", field="checks")
    client = _client(client)
    version = resolve_model(client, model, "model")
    loaded, _ = load_version(client, version, trusted)
    results = [check.run(loaded) for check in checks]
    run = client.create_run(
        _experiment(client),
        run_name=f"behaviour {version.name}/{version.version}",
        tags={
            "mloop.evals.kind": "behaviour",
            "mloop.evals.model": version.name,
            "mloop.evals.model_version": str(version.version),
        },
    )
    run_id = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(_metric_key(f"behaviour/{r.name}"), float(r.passed)) for r in results],
        params=[Param("model", f"models:/{version.name}/{version.version}")],
    )
    for r in results:
        if not r.passed:
            client.set_tag(run_id, _metric_key(f"behaviour.failure/{r.name}"), r.detail[:4000])
    client.set_terminated(run_id, "FINISHED" if all(r.passed for r in results) else "FAILED")
    return BehaviourReport(f"models:/{version.name}/{version.version}", run_id, results)


test_model.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
