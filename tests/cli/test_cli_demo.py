"""``mloop demo`` end to end, into a fresh store."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.cli_helpers import Cli

import mloop


def test_demo_end_to_end(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "demo"
    result = cli.ok("demo", "--home", str(home))
    assert str(home) in result.stdout
    assert "mloop server" in result.stdout and "http://127.0.0.1:5000" in result.stdout

    client = mloop.Client(home)
    champion = client.get_model_version_by_alias("demo-classifier", "champion")
    challenger = client.get_model_version_by_alias("demo-classifier", "challenger")
    assert champion.version != challenger.version

    experiment = client.get_experiment_by_name("demo-breast-cancer")
    runs = client.search_runs([experiment.experiment_id], max_results=100).runs
    by_name = {r.info.run_name: r for r in runs}
    assert {"sgd-logistic", "gradient-boosting", "random-forest"} <= set(by_name)
    assert all(r.info.status == "FINISHED" for r in runs)
    by_id = {r.info.run_id: r for r in runs}
    best_auc = max(r.data.metrics["val_auc"] for r in runs)
    assert by_id[champion.run_id].data.metrics["val_auc"] == best_auc

    sgd = by_name["sgd-logistic"].info.run_id
    assert len(client.get_metric_history(sgd, "val_loss")) == 30
    gb = by_name["gradient-boosting"].info.run_id
    assert [p.step for p in client.get_metric_history(gb, "val_auc")][:3] == [1, 2, 3]
    files = {f.path for f in client.call("walk_artifacts", run_id=sgd, path="").files}
    assert {"evaluation/confusion_matrix.csv", "features.json"} <= files

    # The data step: one version under its contract; the corrupted batch was refused.
    versions = client.list_dataset_versions("breast-cancer")
    assert [v.version for v in versions] == [1] and versions[0].row_count == 569
    assert "A corrupted batch was refused" in result.stdout
    assert "worst radius.present" in result.stdout and "mean area.min" in result.stdout
    validations = client.list_dataset_validations("breast-cancer", 1)
    assert [v.passed for v in validations] == [True]
    readers = {r.run_id for r in client.get_dataset_lineage("breast-cancer", 1).read_by}
    assert set(by_id) <= readers  # every training run read the registered version
    assert champion.training_data[0]["name"] == "breast-cancer"
    assert champion.training_data[0]["contract_name"] == "breast-cancer-features"

    # The MLflow-client step (mlflow is a test dependency): an ordinary run with an MLflow model.
    logged = by_name["mlflow-client-logreg"]
    assert logged.data.params["client"] == "mlflow" and "val_auc" in logged.data.metrics
    model_files = client.call("walk_artifacts", run_id=logged.info.run_id, path="model").files
    assert "model/MLmodel" in {f.path for f in model_files}
    assert "logged by the stock mlflow" in result.stdout
    assert "search_logged_models" in result.stdout

    # The LLM step: a simulated provider that says so, two prompt versions, the call log.
    assert "SIMULATED provider" in result.stdout
    assert client.get_prompt_version_by_label("support-reply", "production").version == 1
    assert client.get_prompt_version_by_label("support-reply", "staging").version == 2
    import sqlalchemy as sa

    from mloop.llm.calls.tables import llm_calls

    engine = sa.create_engine(f"sqlite:///{home / 'mloop.db'}")
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(llm_calls)).mappings()]
    engine.dispose()
    assert len(rows) == 9  # eight requests and one stream
    assert {r["cache"] for r in rows} >= {"miss", "exact"}
    assert any(r["fallbacks"] == 1 and r["provider"] == "backup" for r in rows)
    blocked = [r for r in rows if r["status"] == "blocked"]
    assert len(blocked) == 1 and blocked[0]["error_code"] == "GUARDRAIL_BLOCKED"
    redacted = [
        r
        for r in rows
        if "pii" in r["guardrails_json"] and '"triggered":true' in r["guardrails_json"]
    ]
    assert redacted and "4242 4242" not in (redacted[0]["request_json"] or "")
    assert "injection: block" in result.stdout and "pii: redact" in result.stdout

    # The serving step: the challenger's canary advanced and was promoted by mloop, the broken
    # candidate was rolled back by mloop on a health rule, all in the endpoint's history.
    events = client.call("list_deployment_events", endpoint="tumour-check").events
    trail = [(e.kind, e.actor) for e in reversed(events)]
    assert trail[:2] == [("deploy", trail[0][1]), ("deploy", trail[0][1])]
    assert ("advance", "mloop") in trail and ("promote", "mloop") in trail
    assert trail[-1] == ("rollback", "mloop") and "health rule" in events[0].reason
    live = client.call("endpoint_status", name="tumour-check").deployment
    assert [(v.model, v.version) for v in live.variants] == [
        ("demo-classifier", challenger.version)
    ]
    assert "rolled back by itself" in result.stdout

    # The monitoring step: income drifted in the hours after the shock and only then; the
    # bias audit and both alert rules flagged it.
    windows = client.call("list_monitor_windows", name="loan-approval-hourly").windows
    by_hour = sorted(windows, key=lambda w: w.start)[:6]  # the seventh is continuous training's
    assert [w.metrics["drift.column.income.drifted"] for w in by_hour] == [0, 0, 0, 1, 1, 1]
    assert all(w.metrics["drift.column.age.drifted"] == 0 for w in by_hour)
    ratios = [w.metrics["fairness.region.demographic_parity_ratio"] for w in by_hour]
    assert min(ratios[:3]) >= 0.8 > max(ratios[3:])
    assert by_hour[0].metrics["performance.labelled"] > 0
    alerts = {a.rule: a for a in client.call("list_alerts").alerts}
    assert {"loan-input-drift", "loan-four-fifths"} <= set(alerts)
    assert alerts["loan-input-drift"].window_start == by_hour[3].start
    assert "Alerts raised" in result.stdout
    # The training data's contract, checked per hour: incomes under its minimum rise with
    # the shock, and the contract's rule fires from then on.
    below = [w.metrics["quality.contract.check.income.min.share"] for w in by_hour]
    assert max(below[:3]) < 0.02 < min(below[3:])
    assert alerts["loan-contract"].window_start == by_hour[3].start

    # The continuous-training step: the seventh hour's debt-ratio drift alert fired the
    # policy's trigger; its candidate passed the gate, rolled out by canary and became
    # champion with nobody acting; a worse candidate was stopped at the gate.
    seventh = sorted(windows, key=lambda w: w.start)[6]
    assert seventh.metrics["drift.column.debt_ratio.drifted"] == 1
    fired = client.call("list_trigger_events", trigger="loan-drift-retrains").events
    assert [e.outcome for e in fired] == ["fired"]
    runs = client.call("list_policy_runs", policy="loan-zero-touch").runs
    assert sorted((r.state, r.gate_outcome) for r in runs) == [
        ("promoted", "passed"),
        ("stopped_at_gate", "failed"),
    ]
    promoted = next(r for r in runs if r.state == "promoted")
    champion_now = client.get_model_version_by_alias("demo-loans", "champion")
    assert int(champion_now.version) == promoted.candidate_version
    moves = client.call("get_alias_history", name="demo-loans", alias="champion").entries
    assert moves[-1].actor == "policy:loan-zero-touch"
    chain = client.call("get_model_timeline", model="demo-loans", version=2).chain
    assert chain and "stopped_at_gate" in result.stdout

    # The features step: the fraud model trained on a point-in-time training set saved
    # with its lineage, served by entity keys with online features, no skew.
    training = client.call("get_dataset_version", name="fraud-training")
    assert training.source.startswith("mloop-features:")
    fraud = client.get_model_version("demo-fraud", "1")
    assert fraud.tags["mloop.feature_service"] == "fraud"
    assert "Skew check: 0.0% of 200" in result.stdout

    # The LLM step's calls, read back by a monitor of the route's call log.
    # (The step may straddle the turn of an hour: its calls are then in two windows.)
    windows = client.call("list_monitor_windows", name="support-assistant-calls").windows
    counted = [w.metrics for w in windows if w.rows]
    assert sum(m["gateway.calls"] for m in counted) == 9
    assert sum(m["gateway.blocked_rate"] * m["gateway.calls"] for m in counted) == 1
    assert "Monitor support-assistant-calls" in result.stdout


def test_demo_says_when_mlflow_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from mloop.cli.demo._run import run_demo
    from mloop.cli.demo._steps import STEPS

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    steps = tuple(s for s in STEPS if s.name in ("data", "mlflow_client"))
    ctx = run_demo(tmp_path / "demo", steps=steps)
    assert ctx.runs == []
    assert any("pip install 'mloop[mlflow]'" in note for note in ctx.notes)


def test_demo_refuses_a_used_directory(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    result = cli("demo", "--home", str(tmp_path))
    assert result.exit_code == 1
    assert "not an empty directory" in result.stderr


def test_demo_scores_match_scikit_learn() -> None:
    import numpy as np
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    from mloop.cli.demo._training import scores as _scores

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    proba = np.clip(np.round(rng.random(300) * 0.6 + y * 0.3, 2), 0.01, 0.99)  # with ties
    scores = _scores(y, proba)
    assert scores["auc"] == pytest.approx(roc_auc_score(y, proba))
    assert scores["loss"] == pytest.approx(log_loss(y, proba))
    assert scores["accuracy"] == pytest.approx(accuracy_score(y, proba >= 0.5))
