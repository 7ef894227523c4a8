"""The evals SDK (``import mloop.evals``): register suites, run them, gate candidates.

Computation happens in the caller's process, where the models and data are read through
the SDK (like MLflow's ``mlflow.models.evaluate``), so every function works embedded and
against a server; ``client`` picks the store (default: the tracking URI in effect).
Running a suite is a tracked run in the experiment ``evals``: its metrics, the suite's
params, tags naming the suite and model version, and the dataset version as its input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.core.errors import NotFoundError, ValidationError
from mloop.evals.schemas import (
    GateDecision,
    ModelRef,
    SuiteSpec,
    SuiteVersion,
)

if TYPE_CHECKING:
    import pandas as pd

    from mloop.client.client import Client
    from mloop.evals.evaluation import Evaluation
    from mloop.registry.schemas import ModelVersion

EXPERIMENT = "evals"
Trusted = bool | Sequence[str]


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    from mloop.client.client import Client

    return Client()


def register_suite(
    name: str,
    *,
    dataset: str,
    target: str,
    task: str,
    primary: str,
    client: Client | None = None,
    **spec: Any,
) -> SuiteVersion:
    """Register an evaluation suite (fields: :class:`~mloop.evals.schemas.SuiteSpec`).

    ``dataset`` (``name/3``, ``name@alias`` or ``name``) is pinned to one version. The
    same spec registered again returns the same version (``.created`` False); a changed
    spec, or an alias that moved, is the next version.
    """
    from mloop.evals.suites import check_spec

    fields = {"name": name, "dataset": dataset, "target": target, "task": task}
    fields.update(primary=primary, **spec)
    try:
        request = SuiteSpec(**fields)
    except Exception as exc:  # pydantic's error becomes mloop's, naming the field
        from pydantic import ValidationError as PydanticError

        from mloop.core.validation import from_pydantic

        if isinstance(exc, PydanticError):
            raise from_pydantic(exc) from None
        raise
    check_spec(request)
    for i, ref in enumerate(request.scorers):  # importable here, where the suite runs
        from mloop.evals.scorers import load_scorer

        load_scorer(ref, f"scorers[{i}]")
    return _client(client).call("register_eval_suite", **request.model_dump())


def _suite_ref(suite: str | SuiteVersion) -> tuple[str, int | None]:
    if isinstance(suite, SuiteVersion):
        return suite.name, suite.version
    if not isinstance(suite, str) or not suite:
        raise ValidationError("suite must be a suite name or name/version", field="suite")
    name, _, version = suite.partition("/")
    if not version:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise ValidationError(
            f"suite {suite!r}: the part after '/' must be a version number", field="suite"
        )
    return name, int(version)


def get_suite(suite: str | SuiteVersion, *, client: Client | None = None) -> SuiteVersion:
    """A suite version: ``"name"`` (the newest) or ``"name/3"``."""
    name, version = _suite_ref(suite)
    return _client(client).call("get_eval_suite", name=name, version=version)


def list_suites(*, client: Client | None = None) -> list[Any]:
    return list(_client(client).call("list_eval_suites", max_results=1000).suites)


def delete_suite(name: str, *, client: Client | None = None) -> None:
    """Delete a suite and its versions (admin); gate decisions made with it stay."""
    _client(client).call("delete_eval_suite", name=name)


@dataclass
class SuiteResult:
    """A model's results on a suite, logged as the run ``run_id``."""

    suite: SuiteVersion
    model: ModelRef
    run_id: str
    n_rows: int
    metrics: dict[str, float | None]
    slices: list[dict[str, Any]]
    fairness: list[dict[str, Any]]
    latency_p95_ms: float | None
    size_mb: float
    evaluation: Evaluation | None = field(default=None, repr=False)


@dataclass
class _Loaded:
    suite: SuiteVersion
    frame: pd.DataFrame


def _load_suite(client: Client, suite: str | SuiteVersion) -> _Loaded:
    from mloop.evals.loading import load_rows

    found = suite if isinstance(suite, SuiteVersion) else get_suite(suite, client=client)
    frame = load_rows(client, found.dataset_name, found.dataset_version, found.dataset_digest)
    return _Loaded(found, frame)


def _evaluate(
    client: Client, loaded: _Loaded, version: ModelVersion, trusted: Trusted
) -> SuiteResult:
    from mloop.evals.evaluation import evaluate
    from mloop.evals.loading import feature_columns, load_version

    spec = loaded.suite.spec
    model, size_mb = load_version(client, version, trusted)
    features = feature_columns(
        model,
        loaded.frame,
        {spec.target, *([spec.group] if spec.group else [])},
        fallback=spec.features,
    )
    evaluation = evaluate(model, size_mb, loaded.frame, spec, features)
    ref = ModelRef(name=version.name, version=version.version)
    run_id = _log_run(client, loaded.suite, ref, evaluation)
    return SuiteResult(
        suite=loaded.suite,
        model=ref,
        run_id=run_id,
        n_rows=len(loaded.frame),
        metrics=evaluation.metrics,
        slices=[vars(s).copy() for s in evaluation.slices],
        fairness=[vars(f).copy() for f in evaluation.fairness],
        latency_p95_ms=evaluation.latency_p95_ms,
        size_mb=size_mb,
        evaluation=evaluation,
    )


def _experiment(client: Client) -> str:
    try:
        return client.get_experiment_by_name(EXPERIMENT).experiment_id
    except NotFoundError:
        try:
            return client.create_experiment(EXPERIMENT)
        except Exception:  # a concurrent caller created it first
            return client.get_experiment_by_name(EXPERIMENT).experiment_id


def _log_run(client: Client, suite: SuiteVersion, model: ModelRef, result: Evaluation) -> str:
    from mloop.client.entities import Metric, Param, RunTag
    from mloop.tracking.schemas import DatasetInput

    run = client.create_run(
        _experiment(client),
        run_name=f"eval {suite.name}/{suite.version} {model.name}/{model.version}"[:256],
        tags={
            "mloop.evals.suite": suite.name,
            "mloop.evals.suite_version": str(suite.version),
            "mloop.evals.model": model.name,
            "mloop.evals.model_version": str(model.version),
        },
    )
    run_id = run.info.run_id
    values: dict[str, float | None] = dict(result.metrics)
    for piece in result.slices:
        values[f"slice/{piece.name}/{piece.metric}"] = piece.value
    for rule in result.fairness:
        values[f"fairness/{rule.column}/{rule.metric}"] = rule.value
    values["latency_p95_ms"] = result.latency_p95_ms
    values["size_mb"] = result.size_mb
    metrics = [Metric(_metric_key(k), v) for k, v in values.items() if v is not None]
    params = [
        Param("suite", f"{suite.name}/{suite.version}"),
        Param("model", f"models:/{model.name}/{model.version}"),
        Param("dataset", f"{suite.dataset_name}/{suite.dataset_version}"),
        Param("task", suite.spec.task),
        Param("primary", suite.spec.primary),
        Param("rows", str(result.outputs.n_rows)),
    ]
    try:
        client.log_batch(
            run_id, metrics=metrics, params=params, tags=[RunTag("mloop.source", "evals")]
        )
        client.log_inputs(
            run_id,
            [
                DatasetInput(
                    name=suite.dataset_name,
                    digest=suite.dataset_digest,
                    source=f"mloop-dataset:{suite.dataset_name}/{suite.dataset_version}",
                    source_type="mloop-dataset",
                    context="evaluation",
                )
            ],
        )
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def _metric_key(name: str) -> str:
    """Metric keys allow letters, digits and ``_ - . / : space``; ``@`` becomes ``_at_``."""
    import re

    key = name.replace("@", "_at_").replace("=", " = ")
    return re.sub(r"[^\w\-./: ]", "_", key)[:250]


def run_suite(
    model: str,
    suite: str | SuiteVersion,
    *,
    trusted: Trusted = False,
    client: Client | None = None,
) -> SuiteResult:
    """Evaluate ``model`` (``models:/name/7``, ``models:/name@alias``) on a suite (``"name"``
    for its newest version, or ``"name/3"``) as a tracked run.

    ``trusted`` is :func:`mloop.load_model`'s: models whose loading would run code load
    only when trusted.
    """
    from mloop.evals.loading import resolve_model

    client = _client(client)
    version = resolve_model(client, model, "model")
    return _evaluate(client, _load_suite(client, suite), version, trusted)


def gate(
    candidate: str,
    champion: str | None,
    suite: str | SuiteVersion,
    *,
    trusted: Trusted = False,
    client: Client | None = None,
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``champion`` (see :mod:`mloop.evals.gating`
    for the rule), run both on the suite as tracked runs, and store the decision.

    ``champion`` None, or an alias that points nowhere yet, means there is no champion:
    outcome ``no_champion`` when the fairness and budget checks pass. The decision is
    returned whether it passed or not (``.passed``); it is shown at ``/gates/{id}``.
    """
    from mloop.evals.gating import decide
    from mloop.evals.loading import resolve_model

    client = _client(client)
    cand_version = resolve_model(client, candidate, "candidate")
    champ_version = _champion(client, champion)
    loaded = _load_suite(client, suite)
    cand = _evaluate(client, loaded, cand_version, trusted)
    same = champ_version is not None and (
        (champ_version.name, champ_version.version) == (cand_version.name, cand_version.version)
    )
    champ = None
    if champ_version is not None and not same:
        champ = _evaluate(client, loaded, champ_version, trusted)
    assert cand.evaluation is not None
    fields = decide(
        loaded.suite.spec,
        cand.evaluation,
        champ.evaluation if champ is not None else None,
        same_version=same,
    )
    champion_ref = (
        ModelRef(name=champ_version.name, version=champ_version.version)
        if champ_version is not None
        else None
    )
    payload = {
        "suite": loaded.suite.name,
        "suite_version": loaded.suite.version,
        "candidate": cand.model.model_dump(),
        "champion": champion_ref.model_dump() if champion_ref is not None else None,
        "candidate_run_id": cand.run_id,
        "champion_run_id": champ.run_id if champ is not None else None,
        "n_rows": cand.n_rows,
        **{k: _dump(v) for k, v in fields.items()},
    }
    return client.call("record_gate_decision", **payload)


def _dump(value: Any) -> Any:
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if hasattr(value, "model_dump"):
        return json.loads(value.model_dump_json())
    return value


def _champion(client: Client, champion: str | None) -> ModelVersion | None:
    """The champion's version; None when there is none or its alias is not set yet."""
    from mloop.evals.loading import resolve_model
    from mloop.models.uris import parse_models_uri

    if champion is None:
        return None
    parsed = parse_models_uri(champion, "champion")
    try:
        return resolve_model(client, champion, "champion")
    except NotFoundError:
        if parsed.alias is None:
            raise
        client.get_registered_model(parsed.name)  # an unknown model is still an error
        return None


def get_gate_decision(decision_id: int, *, client: Client | None = None) -> GateDecision:
    return _client(client).call("get_gate_decision", id=decision_id)


def list_gate_decisions(
    *,
    model: str | None = None,
    suite: str | None = None,
    max_results: int = 100,
    client: Client | None = None,
) -> list[GateDecision]:
    """Gate decisions, newest first, about ``model`` (candidate or champion) or a suite."""
    found = _client(client).call(
        "list_gate_decisions", model=model, suite=suite, max_results=max_results
    )
    return list(found.decisions)
