"""Experiment tracking through the SDK, embedded and remote."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

import mloop
from mloop.core.errors import ConflictError, NotFoundError, ValidationError


def test_fluent_run_lifecycle(sdk: str) -> None:
    mloop.set_experiment("churn")
    with mloop.start_run(run_name="first", tags={"team": "risk"}) as run:
        mloop.log_param("model", "lgbm")
        mloop.log_params({"lr": 0.1, "depth": 6})
        for step in range(5):
            mloop.log_metric("loss", 1.0 / (step + 1), step=step)
        mloop.log_metrics({"auc": 0.91, "f1": 0.8})
        mloop.set_tag("stage", "dev")
    stored = mloop.Client().get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.end_time is not None and stored.info.end_time >= stored.info.start_time
    assert stored.info.run_name == "first"
    assert stored.data.params == {"model": "lgbm", "lr": "0.1", "depth": "6"}
    assert stored.data.metrics["loss"] == pytest.approx(0.2)
    assert stored.data.metrics["auc"] == pytest.approx(0.91)
    assert stored.data.tags["team"] == "risk" and stored.data.tags["stage"] == "dev"
    assert "mloop.source.entry_point" in stored.data.tags
    history = mloop.Client().get_metric_history(run.info.run_id, "loss")
    assert [p.step for p in history] == [0, 1, 2, 3, 4]


def test_failed_run_is_marked_failed(sdk: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), mloop.start_run() as run:
        raise RuntimeError("boom")
    assert mloop.Client().get_run(run.info.run_id).info.status == "FAILED"


def test_nested_runs_record_parent(sdk: str) -> None:
    with mloop.start_run() as parent:
        with mloop.start_run(nested=True) as child:
            pass
        with pytest.raises(ValidationError, match="already active"):
            mloop.start_run()
    stored = mloop.Client().get_run(child.info.run_id)
    assert stored.info.parent_run_id == parent.info.run_id


def test_create_run_with_a_chosen_id(sdk: str) -> None:
    client = mloop.Client()
    run_id = "0123456789abcdef0123456789abcdef"
    run = client.create_run(run_name="kept", run_id=run_id, start_time=1000)
    assert run.info.run_id == run_id
    stored = client.get_run(run_id)
    assert (stored.info.run_name, stored.info.start_time) == ("kept", 1000)
    assert stored.info.artifact_uri.endswith(f"/{run_id}/artifacts")
    with pytest.raises(ConflictError, match="already exists") as info:
        client.create_run(run_id=run_id)
    assert info.value.field == "run_id"
    for bad in ("0123456789ABCDEF0123456789ABCDEF", "abc", "g" * 32, "0" * 33):
        with pytest.raises(ValidationError, match="32 lowercase hexadecimal") as info:
            client.create_run(run_id=bad)
        assert info.value.field == "run_id"
    assert len(client.search_runs().runs) == 1


def test_resume_run_by_id(sdk: str) -> None:
    with mloop.start_run() as run:
        mloop.log_metric("x", 1.0, step=0)
    with mloop.start_run(run_id=run.info.run_id):
        mloop.log_metric("x", 2.0, step=1)
    client = mloop.Client()
    assert [p.value for p in client.get_metric_history(run.info.run_id, "x")] == [1.0, 2.0]
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_params_are_immutable(sdk: str) -> None:
    with mloop.start_run():
        mloop.log_param("lr", 0.1)
        mloop.log_param("lr", 0.1)  # the same value again is fine
        with pytest.raises(ConflictError, match="immutable") as info:
            mloop.log_param("lr", 0.2)
        assert info.value.field == "params.lr"


def test_nan_and_infinity_are_stored_faithfully(sdk: str) -> None:
    with mloop.start_run() as run:
        mloop.log_metric("a", float("nan"), step=0)
        mloop.log_metric("b", float("inf"), step=0)
        mloop.log_metric("c", float("-inf"), step=0)
    client = mloop.Client()
    metrics = client.get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["a"])
    assert metrics["b"] == math.inf and metrics["c"] == -math.inf
    assert math.isnan(client.get_metric_history(run.info.run_id, "a")[0].value)


def test_latest_metric_is_highest_step(sdk: str) -> None:
    client = mloop.Client()
    run = client.create_run()
    client.log_batch(
        run.info.run_id,
        metrics=[mloop.Metric("m", 5.0, 100, 3), mloop.Metric("m", 9.0, 200, 1)],
    )
    assert client.get_run(run.info.run_id).data.metrics["m"] == 5.0
    assert len(client.get_metric_history(run.info.run_id, "m")) == 2


def test_batch_is_all_or_nothing(sdk: str) -> None:
    client = mloop.Client()
    run = client.create_run()
    client.log_param(run.info.run_id, "p", "1")
    with pytest.raises(ConflictError, match="params are immutable"):
        client.log_batch(
            run.info.run_id,
            metrics=[mloop.Metric("ok", 1.0, 1, 0)],
            params=[mloop.Param("p", "2")],
        )
    assert client.get_run(run.info.run_id).data.metrics == {}


@pytest.mark.parametrize(
    "key",
    ["", "a" * 300, "../etc", "/abs", "semi;colon", "new\nline", "tab\t"],
)
def test_bad_metric_keys_are_refused(sdk: str, key: str) -> None:
    client = mloop.Client()
    run = client.create_run()
    with pytest.raises(ValidationError) as info:
        client.log_batch(run.info.run_id, metrics=[mloop.Metric(key, 1.0, 1, 0)])
    assert info.value.field == "metric_columns.keys[0]"


def test_unknown_ids_raise_not_found(sdk: str) -> None:
    client = mloop.Client()
    with pytest.raises(NotFoundError) as info:
        client.get_run("0" * 32)
    assert info.value.field == "run_id"
    with pytest.raises(NotFoundError, match="experiment 999 does not exist"):
        client.get_experiment("999")
    with pytest.raises(NotFoundError, match="experiment 'nope' does not exist"):
        client.get_experiment_by_name("nope")
    with pytest.raises(ValidationError, match="experiment_id must be a string of digits"):
        client.get_experiment("abc")
    # Ids past the 32-bit id column (PostgreSQL's INTEGER) name no experiment: not found,
    # and a search over one matches nothing, as for any unknown id.
    huge = "39999125039834071"
    with pytest.raises(NotFoundError, match=f"experiment {huge} does not exist"):
        client.get_experiment(huge)
    with pytest.raises(NotFoundError, match=f"experiment {huge} does not exist"):
        client.create_run(huge)
    assert client.search_runs([huge, str(2**31)]).runs == []


def test_experiment_names(sdk: str) -> None:
    client = mloop.Client()
    exp_id = client.create_experiment("weird name: ünïcødé / 1")
    assert client.get_experiment(exp_id).name == "weird name: ünïcødé / 1"
    with pytest.raises(ConflictError, match="already exists"):
        client.create_experiment("weird name: ünïcødé / 1")
    for bad in ["", " padded ", "x" * 300, "ctrl\x00char"]:
        with pytest.raises(ValidationError) as info:
            client.create_experiment(bad)
        assert info.value.field == "name"


def test_a_declared_location_is_kept_and_never_empty(sdk: str) -> None:
    client = mloop.Client()
    exp_id = client.call(
        "create_experiment", name="declared", declared_location="s3://bucket/prefix"
    ).experiment_id
    assert client.get_experiment(exp_id).declared_location == "s3://bucket/prefix"
    for bad in ["", "x" * 3000, "nul\x00"]:
        with pytest.raises(ValidationError) as info:
            client.call("create_experiment", name="other", declared_location=bad)
        assert info.value.field == "declared_location"
    assert [e.name for e in client.list_experiments()].count("other") == 0


def test_deleted_experiment_and_run(sdk: str) -> None:
    client = mloop.Client()
    exp_id = client.create_experiment("temp")
    run = client.create_run(exp_id)
    client.delete_run(run.info.run_id)
    assert client.search_runs([exp_id]).runs == []
    assert len(client.search_runs([exp_id], view="deleted").runs) == 1
    with pytest.raises(ValidationError, match="deleted"):
        client.log_param(run.info.run_id, "a", "b")
    client.restore_run(run.info.run_id)
    client.log_param(run.info.run_id, "a", "b")
    client.delete_experiment(exp_id)
    assert exp_id not in [e.experiment_id for e in client.list_experiments()]
    with pytest.raises(ValidationError, match="deleted"):
        client.create_run(exp_id)
    client.restore_experiment(exp_id)
    assert exp_id in [e.experiment_id for e in client.list_experiments()]


def test_search_filter_order_and_pagination(sdk: str) -> None:
    client = mloop.Client()
    exp_id = client.create_experiment("search")
    for i in range(25):
        run = client.create_run(
            exp_id, run_name=f"r{i}", tags={"team": "risk" if i % 2 else "growth"}
        )
        client.log_batch(
            run.info.run_id,
            metrics=[mloop.Metric("auc", i / 25, 1, 0)],
            params=[mloop.Param("model", "lgbm" if i % 3 == 0 else "rf")],
        )
    page = client.search_runs(
        [exp_id],
        "metrics.auc > 0.3 and params.model = 'lgbm' and tags.team = 'risk'",
        ["metrics.auc DESC"],
    )
    names = [r.info.run_name for r in page.runs]
    assert names == ["r21", "r15", "r9"]
    seen = []
    token = None
    while True:
        page = client.search_runs(
            [exp_id], order_by=["metrics.auc"], max_results=10, page_token=token
        )
        seen += [r.info.run_name for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"r{i}" for i in range(25)]
    with pytest.raises(ValidationError) as info:
        client.search_runs([exp_id], "metrics.auc >")
    assert info.value.field == "filter"
    with pytest.raises(ValidationError, match="page_token is malformed"):
        client.search_runs([exp_id], page_token="not-a-token")


def test_fluent_search_runs_by_experiment_name(sdk: str) -> None:
    mloop.set_experiment("fluent-search")
    for i in range(3):
        with mloop.start_run():
            mloop.log_metric("auc", i / 10)
    runs = mloop.search_runs(["fluent-search"], "metrics.auc >= 0.1", ["metrics.auc DESC"])
    assert [r.data.metrics["auc"] for r in runs] == [0.2, 0.1]


def test_inputs_are_recorded_once(sdk: str) -> None:
    with mloop.start_run() as run:
        mloop.log_input("churn-train", "abc123", source="s3://bucket/train.parquet")
        mloop.log_input("churn-train", "abc123", source="s3://bucket/train.parquet")
    inputs = mloop.Client().get_run(run.info.run_id).inputs
    assert [(d.name, d.digest, d.context) for d in inputs] == [
        ("churn-train", "abc123", "training")
    ]


def test_artifacts_files_and_directories(sdk: str, tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text("hello")
    tree = tmp_path / "tree"
    (tree / "nested").mkdir(parents=True)
    (tree / "a.json").write_text("{}")
    (tree / "nested" / "b.bin").write_bytes(bytes(range(256)) * 100)
    with mloop.start_run() as run:
        mloop.log_artifact(tmp_path / "report.txt")
        mloop.log_artifacts(tree, artifact_path="data")
    client = mloop.Client()
    top = {f.path: f for f in client.list_artifacts(run.info.run_id)}
    assert top["data"].is_dir and top["report.txt"].size == 5
    assert top["report.txt"].sha256 == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    nested = client.list_artifacts(run.info.run_id, "data/nested")
    assert [f.path for f in nested] == ["data/nested/b.bin"]
    out = client.download_artifacts(run.info.run_id, "data", tmp_path / "out")
    assert (out / "nested" / "b.bin").read_bytes() == bytes(range(256)) * 100
    single = client.download_artifacts(run.info.run_id, "report.txt", tmp_path / "one")
    assert single.read_text() == "hello"
    with pytest.raises(NotFoundError, match=r"has no artifact 'missing\.txt'"):
        client.download_artifacts(run.info.run_id, "missing.txt", tmp_path / "none")


def test_log_text_and_dict(sdk: str, tmp_path: Path) -> None:
    with mloop.start_run() as run:
        mloop.log_text("# notes", "notes/summary.md")
        mloop.log_dict({"layers": [64, 32], "lr": 0.1}, "config.json")
        mloop.log_dict({"seed": 7}, "conf/params.yaml")
        with pytest.raises(ValidationError, match="JSON"):
            mloop.log_dict({"bad": float("nan")}, "nan.json")
        with pytest.raises(ValidationError, match="artifact_file"):
            mloop.log_text("x", "dir/")
        with pytest.raises(ValidationError, match=r"'\.\./escape\.txt' must not contain '\.\.'"):
            mloop.log_text("x", "../escape.txt")
    out = mloop.Client().download_artifacts(run.info.run_id, "", tmp_path / "out")
    assert (out / "notes" / "summary.md").read_text() == "# notes"
    assert json.loads((out / "config.json").read_text()) == {"layers": [64, 32], "lr": 0.1}
    assert (out / "conf" / "params.yaml").read_text() == "seed: 7\n"
    assert not (out / "nan.json").exists()


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b", "back\\slash"])
def test_artifact_paths_cannot_escape(sdk: str, tmp_path: Path, path: str) -> None:
    (tmp_path / "f.txt").write_text("x")
    client = mloop.Client()
    run = client.create_run()
    with pytest.raises(ValidationError, match=r"^artifact_path .*must (not contain|be relative)"):
        client.log_artifact(run.info.run_id, tmp_path / "f.txt", artifact_path=path)
    with pytest.raises(ValidationError, match=r"^path .*must (not contain|be relative)"):
        client.list_artifacts(run.info.run_id, path)


def test_symlinks_in_artifact_dirs_are_refused(sdk: str, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link").symlink_to("/etc/passwd")
    with mloop.start_run(), pytest.raises(ValidationError, match="symbolic link"):
        mloop.log_artifacts(tree)


def test_concurrent_writers_lose_nothing(sdk: str) -> None:
    client = mloop.Client()
    run = client.create_run()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(20):
                client.log_batch(
                    run.info.run_id,
                    metrics=[mloop.Metric(f"w{worker}", float(i), 1, i)],
                    params=[mloop.Param(f"p{worker}-{i}", "v")],
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = client.get_run(run.info.run_id)
    assert len(stored.data.params) == 80
    for w in range(4):
        assert len(client.get_metric_history(run.info.run_id, f"w{w}")) == 20


def test_long_param_and_tag_values_are_stored_and_searchable(sdk: str) -> None:
    import secrets

    client = mloop.Client()
    exp_id = client.create_experiment("long-values")
    shared = secrets.token_hex(150)  # 300 characters: longer than the indexed prefix
    long_a, long_b = shared + "a" * 5000, shared + "b" * 5000
    run_a = client.create_run(exp_id)
    run_b = client.create_run(exp_id)
    client.log_batch(run_a.info.run_id, params=[mloop.Param("blob", long_a)])
    client.log_batch(run_b.info.run_id, params=[mloop.Param("blob", long_b)])
    client.set_tag(run_a.info.run_id, "note", secrets.token_hex(4000))
    assert client.get_run(run_a.info.run_id).data.params["blob"] == long_a
    found = client.search_runs([exp_id], f"params.blob = '{long_b}'").runs
    assert [r.info.run_id for r in found] == [run_b.info.run_id]
    found = client.search_runs([exp_id], f"params.blob IN ('{long_a}', 'other')").runs
    assert [r.info.run_id for r in found] == [run_a.info.run_id]


def test_metric_history_is_paged_never_truncated(sdk: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A history longer than one page comes back whole from the SDK, and a single page
    says that more follows (issue 11: it used to stop at 100,000 values without a word)."""
    from mloop.client.entities import Metric
    from mloop.tracking import ingest

    monkeypatch.setattr(ingest, "MAX_HISTORY_PAGE", 10, raising=False)
    client = mloop.Client()
    run_id = client.create_run().info.run_id
    # Logged out of order, in two batches: pages follow (step, timestamp), not arrival.
    client.log_batch(run_id, metrics=[Metric("m", float(i), 1000 + i, i) for i in range(25, 5, -1)])
    client.log_batch(run_id, metrics=[Metric("m", float(i), 1000 + i, i) for i in range(6)])

    history = client.get_metric_history(run_id, "m")
    assert [p.step for p in history] == list(range(26))

    first = client.call("get_metric_history", run_id=run_id, key="m", max_results=4)
    assert [p.step for p in first.metrics] == [0, 1, 2, 3]
    assert first.next_page_token, "a partial history must say that more follows"
    rest = client.call(
        "get_metric_history", run_id=run_id, key="m", page_token=first.next_page_token
    )
    assert [p.step for p in rest.metrics] == list(range(4, 14))  # capped at the page size
    assert rest.next_page_token
    big = client.call(
        "get_metric_history",
        run_id=run_id,
        key="m",
        max_results=100,
        page_token=rest.next_page_token,
    )
    assert [p.step for p in big.metrics] == list(range(14, 24))  # max_results is capped too
    last = client.call("get_metric_history", run_id=run_id, key="m", page_token=big.next_page_token)
    assert [p.step for p in last.metrics] == [24, 25]
    assert last.next_page_token is None

    with pytest.raises(ValidationError, match="page_token") as info:
        client.call("get_metric_history", run_id=run_id, key="m", page_token="not-a-token")
    assert info.value.field == "page_token"


def test_log_artifacts_uploads_nothing_when_the_tree_has_a_symlink(
    sdk: str, tmp_path: Path
) -> None:
    """The whole tree is checked before the first upload: all or nothing (issue 11)."""
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "model.txt").write_text("weights")
    (tree / "b.txt").write_text("notes")
    (tree / "z").mkdir()
    (tree / "z" / "link").symlink_to(tree / "b.txt")  # reached after the files above
    client = mloop.Client()
    run_id = client.create_run().info.run_id
    with pytest.raises(ValidationError, match="symbolic link") as info:
        client.log_artifacts(run_id, tree)
    assert info.value.field == "local_dir" and "z/link" in str(info.value)
    assert client.list_artifacts(run_id) == []


def test_artifact_listings_do_not_reveal_server_paths(sdk: str, tmp_path: Path) -> None:
    """``root_uri`` is the run's store-relative artifact URI, as in its run info, never the
    server's absolute path (issue 11)."""
    (tmp_path / "f.txt").write_text("x")
    client = mloop.Client()
    run = client.create_run()
    client.log_artifact(run.info.run_id, tmp_path / "f.txt", artifact_path="d")
    for op in ("list_artifacts", "walk_artifacts"):
        listing = client.call(op, run_id=run.info.run_id, path="d")
        assert listing.root_uri == run.info.artifact_uri, op
        assert not listing.root_uri.startswith("/"), op
        assert [f.path for f in listing.files] == ["d/f.txt"], op
