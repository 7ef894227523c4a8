"""Built-in batch scoring on the local executor: outputs, partitions, lineage, bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mloop
import mloop.sklearn
from mloop.core.errors import NotFoundError, ValidationError
from mloop.pipelines import (
    LocalExecutor,
    PipelineFailed,
    batch_score,
    batch_score_run,
    get_run,
    list_runs,
    scoring,
)
from mloop.pipelines.scoring import PHASES, _model, read_rows, scoring_modules
from mloop.pipelines.scoring_plan import row_ranges

pytestmark = pytest.mark.usefixtures("settings")


def _frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {"id": [f"c{i}" for i in range(n)], "x1": x1, "x2": x2, "y": (x1 + x2 > 0).astype(int)}
    )


def _train(frame: pd.DataFrame, *, signature: bool = True, pickle: bool = False) -> object:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame[["x1", "x2"]], frame["y"])
    with mloop.start_run():
        mloop.sklearn.log_model(
            model,
            "model",
            input_example=frame[["x1", "x2"]].head(3) if signature else None,
            registered_model_name="churn",
            serialization="pickle" if pickle else "skops",
            trusted=pickle,
        )
    return model


def test_scores_every_row_in_order_with_lineage(sdk: str, local: LocalExecutor) -> None:
    frame = _frame()
    mloop.register_dataset("customers", frame)
    model = _train(frame)
    mloop.set_alias("churn", "champion", 1)

    version = batch_score(
        "models:/churn@champion",
        "customers",
        output="churn-scores",
        partitions=3,
        keep=["id"],
        executor=local,
    )
    assert (version.name, version.version, version.row_count) == ("churn-scores", 1, 300)
    scored = version.to_pandas()
    assert list(scored.columns) == ["row", "id", "prediction"]
    assert scored["row"].tolist() == list(range(300))
    assert scored["id"].tolist() == frame["id"].tolist()
    expected = model.predict(frame[["x1", "x2"]])  # type: ignore[attr-defined]
    assert np.array_equal(scored["prediction"].to_numpy(), expected)

    # lineage: the output's producer is the pipeline's run, which read the input version and
    # names the model version it scored with (pinned: the alias resolved to version 1)
    client = mloop.Client()
    run = client.get_run(version.run_id)
    assert run.data.tags["mloop.scoring.model"] == "models:/churn/1"
    assert run.data.tags["mloop.scoring.dataset"] == "customers/1"
    assert run.data.tags["mloop.scoring.output"] == "churn-scores/1"
    assert run.data.metrics["rows_scored"] == 300.0
    # where the time went: worker seconds per partition phase, and the register step's own
    timed = (*PHASES, "cpu", "register")
    assert {f"scoring_{p}_s" for p in timed} <= set(run.data.metrics)
    assert all(run.data.metrics[f"scoring_{p}_s"] >= 0 for p in timed)
    assert run.data.metrics["scoring_read_s"] > 0 and run.data.metrics["scoring_cpu_s"] > 0
    detail = get_run(int(run.data.tags["mloop.pipeline.run"]))
    assert detail.pipeline == "batch_score" and detail.status == "succeeded"
    assert [(d.name, d.version, d.context) for d in detail.datasets] == [
        ("customers", 1, "scoring")
    ]
    assert [s.node for s in detail.steps] == [
        "plan_scoring",
        "score_partition",
        "score_partition_2",
        "score_partition_3",
        "register_scores",
    ]
    assert detail.steps[1].log_tail.startswith("partition 0: rows 0-100, imports ")
    assert detail.steps[3].log_tail.startswith("partition 2: rows 200-300, ")
    lineage = client.get_dataset_lineage("customers", 1)
    assert [r.run_id for r in lineage.read_by] == [version.run_id]


def test_partitions_follow_row_groups_and_read_only_their_rows(tmp_path: Path) -> None:
    assert row_ranges(10, [4, 4, 2], 2) == [[0, 8], [8, 10]]  # on row-group boundaries
    assert row_ranges(10, [10], 3) == [[0, 3], [3, 6], [6, 10]]  # one group: even rows
    assert row_ranges(0, [], 1) == [[0, 0]]
    ranges = row_ranges(1000, [100] * 10, 4)
    assert ranges[0][0] == 0 and ranges[-1][1] == 1000
    assert all(a[1] == b[0] and a[1] % 100 == 0 for a, b in itertools.pairwise(ranges))

    path = tmp_path / "rows.parquet"
    table = pa.table({"a": np.arange(1000), "b": np.arange(1000) * 2.0, "c": ["x"] * 1000})
    pq.write_table(table, path, row_group_size=128)
    part = read_rows(path, 250, 700, ["b", "a"])
    assert part.column_names == ["b", "a"]
    assert part.column("a").to_pylist() == list(range(250, 700))
    assert read_rows(path, 5, 5, ["a"]).num_rows == 0


def test_the_model_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = _frame(40)
    _train(frame)
    _train(frame.assign(y=1 - frame["y"]))  # version 2: another model
    client = mloop.Client()
    plans = [
        {
            "model": f"models:/churn/{v}",
            "model_digest": client.get_model_version("churn", v).sha256,
            "trusted": False,
        }
        for v in (1, 2)
    ]
    monkeypatch.setattr(scoring, "_MODELS", scoring.OrderedDict())
    monkeypatch.setattr(scoring, "MODELS_KEPT", 1)
    first = _model(plans[0])
    assert _model(plans[0]) is first
    # a long-lived worker keeps only the latest MODELS_KEPT models
    second = _model(plans[1])
    assert second is not first and list(scoring._MODELS.values()) == [second]
    assert _model(plans[0]) is not first  # loaded again


def test_the_local_executor_is_preloaded_with_the_model_library() -> None:
    assert "skops.io" in scoring_modules("sklearn") and "sklearn" in scoring_modules("sklearn")
    assert "lightgbm" in scoring_modules("lightgbm")
    assert scoring_modules("pyfunc") == scoring_modules(None)
    assert "sklearn" not in scoring_modules("pyfunc")
    frame = _frame(60)
    mloop.register_dataset("customers", frame)
    model = _train(frame)
    # executor="local": batch_score starts its own pool, preloaded, and stops it after
    version = batch_score(
        "models:/churn/1", "customers", output="scores", partitions=2, executor="local", workers=1
    )
    expected = model.predict(frame[["x1", "x2"]])  # type: ignore[attr-defined]
    assert np.array_equal(version.to_pandas()["prediction"].to_numpy(), expected)
    run = get_run(list_runs()[0].id)
    assert run.params["partitions"] == 2
    assert all("imports" in s.log_tail for s in run.steps if s.step == "score_partition")


def test_bad_input_is_refused_naming_the_field() -> None:
    frame = _frame(20)
    mloop.register_dataset("customers", frame)
    _train(frame)

    def refused(field: str, kind: type[Exception] = ValidationError, **overrides: object) -> str:
        call: dict[str, object] = {
            "model": "models:/churn/1",
            "dataset": "customers/1",
            "output": "scores",
        }
        call.update(overrides)
        with pytest.raises(kind) as info:
            batch_score_run(**call, executor="local", workers=1)  # type: ignore[arg-type]
        assert getattr(info.value, "field", None) == field
        return str(info.value)

    refused("model", NotFoundError, model="models:/absent/1")
    refused("model", NotFoundError, model="models:/churn/9")
    refused("model", model="churn")
    refused("dataset", NotFoundError, dataset="absent")
    refused("dataset", NotFoundError, dataset="customers/4")
    refused("output", output="bad name!")
    refused("partitions", partitions=0)
    refused("partitions", partitions=5000)
    assert "20 rows" in refused("partitions", partitions=21)
    assert "'x9'" in refused("columns", columns=["x1", "x9"])
    refused("columns", columns="x1")
    refused("keep", keep=["nope"])
    refused("keep", keep=["row"])
    refused("trusted", trusted="yes")
    assert list_runs() == []  # no pipeline run started


def test_a_model_without_signature_needs_columns(local: LocalExecutor) -> None:
    frame = _frame(50)
    mloop.register_dataset("customers", frame)
    _train(frame, signature=False)
    with pytest.raises(ValidationError) as info:
        batch_score("models:/churn/1", "customers", output="scores", executor=local)
    assert info.value.field == "columns"
    version = batch_score(
        "models:/churn/1",
        "customers",
        output="scores",
        partitions=2,
        columns=["x1", "x2"],
        executor=local,
    )
    assert version.row_count == 50


def test_an_untrusted_pickled_model_fails_the_run_and_registers_nothing(
    local: LocalExecutor,
) -> None:
    frame = _frame(30)
    mloop.register_dataset("customers", frame)
    _train(frame, pickle=True)
    run = batch_score_run(
        "models:/churn/1", "customers", output="scores", partitions=2, executor=local
    )
    assert run.status == "failed"
    assert "trusted" in run.error
    assert run.steps["register_scores"].status == "skipped"
    with pytest.raises(NotFoundError):
        mloop.Client().get_dataset("scores")
    with pytest.raises(PipelineFailed):
        batch_score("models:/churn/1", "customers", output="scores", executor=local)
    trusted = batch_score(
        "models:/churn/1", "customers", output="scores", executor=local, trusted=True
    )
    assert trusted.row_count == 30
