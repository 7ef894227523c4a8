"""``mloop import mlflow``: stores written by the stock mlflow client, copied into mloop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest
from mlflow.tracking._tracking_service import utils as mlflow_tracking_utils
from tests.cli.cli_helpers import Cli
from tests.conftest import ServerHandle, free_port

import mloop
from mloop.compat.mlflow.importer import IMPORT_TAG, import_mlflow, resolve_source
from mloop.core.config import Settings
from mloop.core.errors import MloopError, NotFoundError, ValidationError

BUILDER = Path(__file__).with_name("mlflow_source.py")
T0 = 1_700_000_000_000
MODEL = "churn-model"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """MLflow file and SQLite stores with the same content, written in a subprocess."""
    root = tmp_path_factory.mktemp("mlflow-sources")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOOP_"))}
    done = subprocess.run(
        [sys.executable, str(BUILDER), str(root)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((root / "manifest.json").read_text())
    return {
        "file": {"uri": str(root / "mlruns"), "ids": manifest["file"]},
        "sqlite": {"uri": f"sqlite:///{root / 'mlflow.db'}", "ids": manifest["sqlite"]},
        "root": root,
    }


@pytest.fixture
def cli(settings: Settings) -> Cli:
    return Cli()


def _import(cli: Cli, source: str, *extra: str) -> dict[str, Any]:
    result = cli.ok("import", "mlflow", "--from", source, "--json", *extra)
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _skips(summary: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(s["kind"], s["item"], s["reason"]) for s in summary["skipped"]}


def _history(client: mloop.Client, run_id: str, key: str) -> list[tuple[int, int, float]]:
    return [(p.step, p.timestamp, p.value) for p in client.get_metric_history(run_id, key)]


def _assert_tracking(ids: dict[str, str]) -> None:
    """Experiments and runs arrived whole: ids, names, params, histories, tags, times."""
    client = mloop.Client()
    churn = client.get_experiment_by_name("churn")
    assert churn.tags["team"] == "risk"
    parent = client.get_run(ids["search"])
    assert parent.info.experiment_id == churn.experiment_id
    assert parent.info.run_name == "search" and parent.info.status == "FINISHED"
    assert parent.data.params == {"grid": "small"}
    assert parent.data.tags["team"] == "risk"
    assert parent.data.metrics == {"best_loss": 0.25}
    for i in range(2):
        trial = client.get_run(ids[f"trial-{i}"])
        assert trial.info.run_name == f"trial-{i}"
        assert trial.info.parent_run_id == ids["search"]
        assert trial.data.tags["mlflow.parentRunId"] == ids["search"]
        assert trial.data.params == {"lr": str(0.1 * (i + 1)), "depth": "3"}
        expected = [(s, T0 + s * 1000, pytest.approx(1.0 / (s + 1 + i))) for s in range(5)]
        assert _history(client, ids[f"trial-{i}"], "loss") == expected
        assert trial.info.end_time is not None and trial.info.end_time >= trial.info.start_time
    crashed = client.get_run(ids["crashed"])
    assert crashed.info.status == "FAILED"
    assert (crashed.info.start_time, crashed.info.end_time) == (T0, T0 + 60_000)
    assert _history(client, ids["crashed"], "rows") == [(0, T0 + 5, 10.0)]
    assert crashed.data.tags[IMPORT_TAG] == "mlflow"
    with pytest.raises(NotFoundError, match=f"run {ids['discarded']} does not exist"):
        client.get_run(ids["discarded"])
    with pytest.raises(NotFoundError, match=f"run {ids['in-gone']} does not exist"):
        client.get_run(ids["in-gone"])
    with pytest.raises(NotFoundError, match="experiment 'gone' does not exist"):
        client.get_experiment_by_name("gone")


def _assert_artifacts(ids: dict[str, str], tmp_path: Path) -> None:
    client = mloop.Client()
    files = {f.path: f.size for f in client.call("walk_artifacts", run_id=ids["report"]).files}
    assert files == {"report.txt": 9, "data/top.json": 12, "data/nested/deep.csv": 8}
    out = client.download_artifacts(ids["report"], "data", tmp_path / "out")
    assert (out / "nested" / "deep.csv").read_text() == "a,b\n1,2\n"
    (dataset,) = client.get_run(ids["report"]).inputs
    assert (dataset.name, dataset.context) == ("train-set", "training")
    assert dataset.digest


def _assert_registry(ids: dict[str, str]) -> None:
    """Versions 1 and 2 (with their files, description, tags) and the champion alias."""
    client = mloop.Client()
    model = client.get_registered_model(MODEL)
    assert model.description == "predicts churn"
    assert model.tags["owner"] == "risk-team"
    assert model.aliases == {"champion": 2}
    versions = {v.version: v for v in client.list_model_versions(MODEL)}
    assert sorted(versions) == [1, 2]
    assert versions[1].run_id == ids["model-1"] and versions[2].run_id == ids["model-2"]
    assert versions[1].source == f"runs:/{ids['model-1']}/model"
    assert versions[1].description == "first try"
    assert versions[2].tags["validated"] == "yes"
    assert versions[1].tags[IMPORT_TAG] == f"mlflow:{MODEL}/1"
    assert "MLmodel" in client.list_model_version_files(MODEL, 2)
    # MLflow 3 keeps a logged model outside the run; the import puts it into the run's files.
    run_files = {f.path for f in client.list_artifacts(ids["model-2"], "model")}
    assert "model/MLmodel" in run_files
    # MLflow 2 registered a directory among the run's artifacts by its storage URI.
    (legacy,) = client.list_model_versions("legacy-model")
    assert legacy.source == f"runs:/{ids['legacy']}/clf"
    assert "model.skops" in client.list_model_version_files("legacy-model", 1)
    champion = mloop.load_model(f"models:/{MODEL}@champion")
    assert list(champion.predict(np.array([[0.0, 1.0], [5.0, 0.0]]))) == [0, 1]


def _expected_skips(ids: dict[str, str]) -> set[tuple[str, str, str]]:
    """What every import of the test stores skips, and why."""
    return {
        ("experiments", "gone", "deleted experiment"),
        ("runs", ids["discarded"], "deleted run"),
        (
            "model versions",
            f"{MODEL}/3",
            f"source run {ids['discarded']} was not imported (deleted or missing)",
        ),
        ("aliases", f"{MODEL}@old", "version 3 was not imported"),
    }


def test_import_mlruns_directory(
    cli: Cli, sources: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sources["file"]["ids"]
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    # A tracking URI left behind by other code in the process (restored after the test).
    monkeypatch.setattr(mlflow_tracking_utils, "_tracking_uri", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    summary = _import(cli, sources["file"]["uri"])
    # MLflow's registry used the importer's URI, not these, and wrote nothing here.
    assert mlflow.get_tracking_uri() == "http://127.0.0.1:9"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert list((tmp_path / "cwd").iterdir()) == []
    assert summary["failed"] == []
    copied = summary["copied"]
    assert copied["experiments"] == 3  # churn, other and MLflow's Default
    assert copied["runs"] == 8  # all but the deleted run and the run in the deleted experiment
    assert copied["metric values"] == 5 + 5 + 1 + 1
    assert copied["artifact files"] == 3 + 5  # the report's files and a logged model directory
    assert copied["logged models"] == 2
    assert (copied["registered models"], copied["model versions"], copied["aliases"]) == (2, 3, 1)
    assert _skips(summary) == _expected_skips(ids)
    assert summary["model_versions"] == [
        {"name": MODEL, "mlflow_version": 1, "mloop_version": 1},
        {"name": MODEL, "mlflow_version": 2, "mloop_version": 2},
        {"name": "legacy-model", "mlflow_version": 1, "mloop_version": 1},
    ]
    _assert_tracking(ids)
    _assert_artifacts(ids, tmp_path)
    _assert_registry(ids)


def test_second_import_copies_nothing(cli: Cli, sources: dict[str, Any]) -> None:
    source, ids = sources["file"]["uri"], sources["file"]["ids"]
    _import(cli, source)
    client = mloop.Client()
    before = {r.info.run_id: r for r in client.search_all_runs()}

    again = _import(cli, source)
    assert again["failed"] == [] and set(again["copied"].values()) == {0}
    already = {
        (s["kind"], s["item"]) for s in again["skipped"] if s["reason"] == "already imported"
    }
    runs_skipped = {item for kind, item in already if kind == "runs"}
    assert runs_skipped == set(before)
    assert {("experiments", "churn"), ("registered models", MODEL)} <= already
    assert {("model versions", f"{MODEL}/1"), ("aliases", f"{MODEL}@champion")} <= already
    assert _skips(again) - {(k, i, "already imported") for k, i in already} == _expected_skips(ids)
    assert {r.info.run_id for r in client.search_all_runs()} == set(before)
    assert len(_history(client, ids["trial-0"], "loss")) == 5
    assert sorted(v.version for v in client.list_model_versions(MODEL)) == [1, 2]

    table = cli.ok("import", "mlflow", "--from", source).stdout
    assert "already imported" in table and "deleted run" in table


def test_interrupted_run_is_completed_without_duplicates(cli: Cli, sources: dict[str, Any]) -> None:
    source, ids = sources["file"]["uri"], sources["file"]["ids"]
    _import(cli, source)
    client = mloop.Client()
    client.delete_tag(ids["trial-1"], IMPORT_TAG)  # as if the import stopped inside this run

    summary = _import(cli, source)
    assert summary["copied"]["runs"] == 1
    assert len(_history(client, ids["trial-1"], "loss")) == 5
    assert client.get_run(ids["trial-1"]).data.tags[IMPORT_TAG] == "mlflow"


def test_include_deleted(cli: Cli, sources: dict[str, Any]) -> None:
    ids = sources["file"]["ids"]
    summary = _import(cli, sources["file"]["uri"], "--include-deleted")
    assert summary["failed"] == []
    assert summary["copied"]["runs"] == 10 and summary["copied"]["model versions"] == 4
    client = mloop.Client()
    assert client.get_run(ids["discarded"]).info.lifecycle_stage == "deleted"
    assert client.get_run(ids["in-gone"]).info.lifecycle_stage == "deleted"
    assert client.get_experiment_by_name("gone").lifecycle_stage == "deleted"
    assert client.get_registered_model(MODEL).aliases == {"champion": 2, "old": 3}


def test_import_sqlite_store(cli: Cli, sources: dict[str, Any], tmp_path: Path) -> None:
    ids = sources["sqlite"]["ids"]
    summary = _import(cli, sources["sqlite"]["uri"])
    assert summary["failed"] == []
    assert _skips(summary) == _expected_skips(ids)
    _assert_tracking(ids)
    _assert_artifacts(ids, tmp_path)
    _assert_registry(ids)


def test_import_into_a_server(remote: ServerHandle, sources: dict[str, Any]) -> None:
    ids = sources["file"]["ids"]
    result = Cli().ok("import", "mlflow", "--from", "file:" + sources["file"]["uri"], "--json")
    assert json.loads(result.stdout)["copied"]["runs"] == 8
    _assert_tracking(ids)
    _assert_registry(ids)


def test_bad_sources_are_refused(cli: Cli, tmp_path: Path) -> None:
    missing = cli("import", "mlflow", "--from", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1
    assert "does not exist" in missing.stderr and "Traceback" not in missing.output

    (tmp_path / "project" / "mlruns" / "0").mkdir(parents=True)
    (tmp_path / "project" / "mlruns" / "0" / "meta.yaml").write_text("name: Default\n")
    not_mlruns = cli("import", "mlflow", "--from", str(tmp_path / "project"))
    assert not_mlruns.exit_code == 1
    assert "not an MLflow mlruns directory" in not_mlruns.stderr
    assert "did you mean" in not_mlruns.stderr

    no_db = cli("import", "mlflow", "--from", f"sqlite:///{tmp_path / 'none.db'}")
    assert no_db.exit_code == 1 and "no MLflow database" in no_db.stderr
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "other.db").write_bytes(b"")
    other = cli("import", "mlflow", "--from", f"sqlite:///{tmp_path / 'other.db'}")
    assert other.exit_code == 1 and "is not an MLflow database" in other.stderr
    assert (tmp_path / "other.db").read_bytes() == b""

    assert cli("import", "mlflow").exit_code == 2  # --from is required


def test_unreachable_server(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = cli("import", "mlflow", "--from", f"http://127.0.0.1:{free_port()}")
    assert result.exit_code == 1
    assert "could not read MLflow at http://127.0.0.1:" in result.stderr
    assert "run the import again" in result.stderr and "Traceback" not in result.output


def test_resolve_source(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "meta.yaml").write_text("name: Default\n")
    assert resolve_source(str(tmp_path)) == tmp_path.resolve().as_uri()
    assert resolve_source(tmp_path.as_uri()) == tmp_path.resolve().as_uri()
    assert resolve_source("http://mlflow.local:5000/") == "http://mlflow.local:5000"
    assert resolve_source("postgresql://u@db/mlflow") == "postgresql://u@db/mlflow"
    with pytest.raises(
        ValidationError, match="--from must name an MLflow tracking URI or directory"
    ):
        resolve_source("  ")


def test_without_mlflow_installed(
    settings: Settings, sources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("mlflow", "mlflow.tracking"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    with pytest.raises(MloopError, match=r"pip install 'mloop\[mlflow\]'"):
        import_mlflow(mloop.Client(), sources["file"]["uri"])


def test_import_from_an_http_tracking_server(
    server: ServerHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mloop's own server speaks MLflow's REST API: import from it into another store."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    source = mloop.Client()
    experiment_id = source.create_experiment("served", tags={"team": "risk"})
    run = source.create_run(experiment_id, run_name="fit", start_time=T0)
    run_id = run.info.run_id
    source.log_batch(
        run_id, metrics=[mloop.Metric("loss", 1.0 / (s + 1), T0 + s, s) for s in range(3)]
    )
    source.log_param(run_id, "lr", "0.1")
    (tmp_path / "notes.txt").write_text("served\n")
    source.log_artifact(run_id, tmp_path / "notes.txt", artifact_path="docs")
    source.set_terminated(run_id, "FINISHED", end_time=T0 + 10)

    target = mloop.Client(tracking_uri=tmp_path / "target-home")
    summary = import_mlflow(target, server.url)
    assert summary.failed == []
    copied = target.get_run(run_id)
    assert copied.info.run_name == "fit" and copied.info.status == "FINISHED"
    assert (copied.info.start_time, copied.info.end_time) == (T0, T0 + 10)
    assert copied.data.params == {"lr": "0.1"}
    assert _history(target, run_id, "loss") == [(s, T0 + s, 1.0 / (s + 1)) for s in range(3)]
    assert [f.path for f in target.call("walk_artifacts", run_id=run_id).files] == [
        "docs/notes.txt"
    ]
    assert target.get_experiment_by_name("served").tags["team"] == "risk"
