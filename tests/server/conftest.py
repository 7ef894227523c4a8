"""Fixtures of the server tests: sample tracking data and a headless Chromium for UI tests."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("MLOOP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MLOOP_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
XSS_NAME = "<script>alert(1)</script>"


@dataclass
class Demo:
    """Ids of what :func:`populate` logged."""

    experiment_id: str
    runs: dict[str, str] = field(default_factory=dict)  # run name -> run id


def _log_demo(client: Any, tmp_path: Path) -> Demo:
    from mloop.client.entities import Metric, Param, RunTag

    exp_id = client.create_experiment("vision", tags={"team": "cv"})
    demo = Demo(experiment_id=exp_id)
    specs = [
        ("baseline", {"lr": "0.1", "model": "cnn"}, 0.70),
        ("bigger", {"lr": "0.01", "model": "cnn"}, 0.85),
        (XSS_NAME, {"lr": "0.5", "model": "<b>mlp</b>"}, 0.40),
    ]
    for i, (name, params, acc) in enumerate(specs):
        run = client.create_run(
            exp_id,
            run_name=name,
            tags={
                "mloop.source.git.commit": f"{i}" * 40,
                "mloop.source.git.dirty": "false",
                "mloop.source.entry_point": "train.py",
                "owner": "ana",
            },
            start_time=1_700_000_000_000 + i * 60_000,
        )
        run_id = run.info.run_id
        metrics = [
            Metric(
                key="loss",
                value=1.0 / (step + 1 + i),
                step=step,
                timestamp=1_700_000_000_000 + step,
            )
            for step in range(30)
        ]
        metrics.append(Metric(key="acc", value=acc, step=29, timestamp=1_700_000_000_100))
        if i == 0:
            metrics.append(
                Metric(key="weird", value=float("nan"), step=0, timestamp=1_700_000_000_000)
            )
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag("stage", "dev")],
        )
        client.set_terminated(run_id, "FINISHED", end_time=1_700_000_000_000 + i * 60_000 + 90_000)
        demo.runs[name] = run_id

    child = client.create_run(exp_id, run_name="fold-1", parent_run_id=demo.runs["baseline"])
    demo.runs["fold-1"] = child.info.run_id

    folder = tmp_path / "artifacts-src"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "readme.txt").write_text("hello <b>world</b>\n")
    (folder / "model.bin").write_bytes(bytes(range(256)) * 4)
    client.log_artifacts(demo.runs["baseline"], folder)
    _log_models(client, demo, tmp_path)
    return demo


def _log_models(client: Any, demo: Demo, tmp_path: Path) -> None:
    """Model ``churn``: v1 from baseline, v2 from bigger; champion moved v1 -> v2."""
    model_dir = tmp_path / "model-src"
    model_dir.mkdir()
    meta = {"flavor": "sklearn", "serialization": "skops", "data": "model.skops"}
    (model_dir / "mloop-model.json").write_text(json.dumps(meta))
    (model_dir / "model.skops").write_bytes(b"not really a model")
    client.create_registered_model("churn", description=f"predicts churn {XSS_NAME}")
    for run_name in ("baseline", "bigger"):
        run_id = demo.runs[run_name]
        client.log_artifacts(run_id, model_dir, artifact_path="model")
        client.create_model_version("churn", f"runs:/{run_id}/model", tags={"team": "cv"})
    client.set_alias("churn", "champion", 1)
    client.set_alias("churn", "challenger", 1)
    client.set_alias("churn", "champion", 2)
    client.create_registered_model("empty-model")


@pytest.fixture
def populate(tmp_path: Path) -> Callable[[Any], Demo]:
    """A function that logs a small sample experiment through an SDK client."""

    def run(client: Any) -> Demo:
        return _log_demo(client, tmp_path)

    return run


# -- headless Chromium ---------------------------------------------------------------------


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what}, and CI=true requires the browser tests to run")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module, driven by the system chromedriver.

    Giving Selenium the driver and browser paths keeps Selenium Manager from downloading
    anything. Missing Chromium skips the tests locally and fails them in CI.
    """
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not chromium or not Path(CHROMEDRIVER).exists():
        _missing(f"Chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER}) is missing")
    options = Options()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.binary_location = str(chromium)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


# -- datasets --------------------------------------------------------------------------------

DATASET_CONTRACT = """\
contract: transactions
version: 3
columns:
  id: {type: int, nullable: false, unique: true}
  amount: {type: float, min: 0}
  country: {type: string, allowed: [DE, FR, US]}
"""


@dataclass
class DatasetDemo:
    """What :func:`log_datasets` registered: dataset ``transactions`` v1 and v2."""

    producer_run: str
    reader_run: str


def log_datasets() -> DatasetDemo:
    """Dataset ``transactions`` through the SDK (embedded or remote, as configured).

    v1 (200 rows, inside a run, alias ``golden``) passes the optional policy; a second run
    reads it. v2 shifts ``amount`` (a few values below 0), adds country ``XX``, drops
    ``note``, adds ``discount`` and turns ``score`` from integers into floats: it is
    registered with a failed validation and failing example rows. One column's name and
    one category are script tags.
    """
    import warnings

    import numpy as np
    import pandas as pd

    import mloop

    rng = np.random.default_rng(7)
    n = 200
    v1 = pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64"),
            "amount": rng.normal(50, 10, n).round(2),
            "country": rng.choice(["DE", "FR", "US"], n, p=[0.5, 0.3, 0.2]),
            "score": rng.integers(0, 10, n),
            "when": pd.date_range("2024-01-01", periods=n, freq="h"),
            "note": rng.choice(["ok", XSS_NAME], n),
            XSS_NAME: rng.uniform(0, 1, n),
        }
    )
    mloop.set_dataset_policy("transactions", DATASET_CONTRACT, required=False)
    with mloop.start_run(run_name="prepare") as producer:
        mloop.register_dataset("transactions", v1, alias="golden", description="card payments")
    with mloop.start_run(run_name="train") as reader:
        mloop.get_dataset("transactions@golden")
    v2 = v1.drop(columns=["note"]).copy()
    v2["amount"] = (rng.normal(80, 20, n) - 5).round(2)
    v2.loc[:2, "amount"] = [-1.0, -2.5, -3.0]
    v2["country"] = rng.choice(["DE", "FR", "XX"], n, p=[0.3, 0.3, 0.4])
    v2["score"] = v2["score"].astype("float64") / 2
    v2["discount"] = rng.uniform(0, 5, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the optional policy fails: a warning, by design
        mloop.register_dataset("transactions", v2)
    return DatasetDemo(producer_run=producer.info.run_id, reader_run=reader.info.run_id)


# -- long names and unicode ----------------------------------------------------------------

# Real names are long and unbroken: a run named after its whole configuration, a param that
# holds a file list. None of these contains a space, so a browser can only break them where
# the stylesheet allows it.
LONG_RUN_NAME = ("resnet50_finetune_lr0.001_bs256_wd1e4_cosine_warmup500_" * 5)[:250]
LONG_PARAM_VALUE = ",".join(f"/data/shards/part-{i:05d}.parquet" for i in range(20))[:500]
LONG_PARAM_KEY = ("model/encoder/layers/0/attention/" * 8)[:160]
LONG_ASSET_NAME = ("customer_churn_gradient_boosted_trees_with_calibrated_scores_" * 4)[:200]
UNICODE_EXPERIMENT = "Détection d’anomalies 异常检测 🚀🔥 experiment"  # noqa: RUF001 (a typographic apostrophe)
UNICODE_RUN = "训练运行 🚀 émoji-run ✅ Überprüfung"
UNICODE_TEXT = "Modèle de churn — 客户流失 📉 ñandú 🦤"
WIDE_PARAMS = 100


@dataclass
class LongNames:
    """What :func:`log_long_names` stored: ids and names of the pages to look at."""

    experiment_id: str
    long_run: str
    unicode_run: str
    wide_run: str
    model: str
    dataset: str
    prompt: str


def log_long_names(client: Any, runtime: Any, tmp_path: Path) -> LongNames:
    """Objects with the names that break layouts, through the SDK and the domains.

    An experiment with a unicode and emoji name; a run with a 250-character name, a
    500-character param value and a 160-character param key; a run with a unicode and emoji
    name; a run with 100 params (and so 100 param columns); a model, a dataset and a prompt
    with 200-character names (asset names are ASCII by rule) and unicode descriptions,
    columns and tags; gateway calls on a long route. ``client`` talks to the server, and
    the SDK's module functions must too (the ``remote`` fixture): they register datasets.
    """
    import time
    import warnings

    import numpy as np
    import pandas as pd

    import mloop
    from mloop.client.entities import Metric, Param
    from mloop.llm.calls.log import CallRecord, insert_calls
    from mloop.prompts.schemas import CreatePromptVersion
    from mloop.prompts.versions import create_prompt_version

    exp_id = client.create_experiment(UNICODE_EXPERIMENT, tags={"équipe": UNICODE_TEXT})

    def run(name: str, params: dict[str, str], n_metrics: int = 2) -> str:
        run_id: str = client.create_run(exp_id, run_name=name).info.run_id
        metrics = [
            Metric(key=f"loss_{m}", value=1.0 / (s + 1 + m), step=s, timestamp=1_700_000_000_000)
            for m in range(n_metrics)
            for s in range(5)
        ]
        client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
        client.set_terminated(run_id, "FINISHED")
        return run_id

    long_run = run(
        LONG_RUN_NAME, {"shards": LONG_PARAM_VALUE, "lr": "0.001", LONG_PARAM_KEY: "dropout"}
    )
    unicode_run = run(UNICODE_RUN, {"modèle": UNICODE_TEXT, "lr": "0.01"})
    wide_params = {
        f"feature_{i:03d}_{'weight' if i % 2 else 'bias'}": f"{i / 7:.6f}"
        for i in range(WIDE_PARAMS)
    }
    wide_run = run(f"wide-{WIDE_PARAMS}-params", wide_params, n_metrics=6)

    # A model registered from the long-named run, its signature 100 columns wide.
    model_dir = tmp_path / "long-model-src"
    model_dir.mkdir()
    columns = [{"name": f"{UNICODE_RUN} {i}", "dtype": "float64"} for i in range(WIDE_PARAMS)]
    columns.append({"name": LONG_RUN_NAME, "dtype": "object"})
    meta = {
        "flavor": "sklearn",
        "serialization": "skops",
        "data": "model.skops",
        "signature": {"inputs": {"type": "dataframe", "columns": columns}},
    }
    (model_dir / "mloop-model.json").write_text(json.dumps(meta))
    (model_dir / "model.skops").write_bytes(b"not really a model")
    client.log_artifacts(long_run, model_dir, artifact_path="model")
    client.create_registered_model(
        LONG_ASSET_NAME, description=UNICODE_TEXT, tags={"描述": LONG_PARAM_VALUE}
    )
    client.create_model_version(
        LONG_ASSET_NAME,
        f"runs:/{long_run}/model",
        tags={"modèle": UNICODE_TEXT, "shards": LONG_PARAM_VALUE},
        description=LONG_PARAM_VALUE,
    )
    client.set_alias(LONG_ASSET_NAME, "champion_" + "x" * 60, 1)

    # A dataset whose column names and values are long and unicode, read by the long run.
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {
            LONG_RUN_NAME: rng.normal(0, 1, n),
            UNICODE_RUN: rng.choice([UNICODE_TEXT, LONG_PARAM_VALUE, "ok"], n),
            "📈 score": rng.integers(0, 5, n),
        }
    )
    contract = (
        "contract: long_names\nversion: 1\ncolumns:\n"
        f"  {json.dumps(LONG_RUN_NAME)}: {{type: float, min: 10}}\n"
    )
    contract_file = tmp_path / "long-contract.yaml"  # as text, over 255 bytes reads as a path
    contract_file.write_text(contract)
    mloop.set_dataset_policy(LONG_ASSET_NAME, contract_file, required=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the optional contract fails, by design
        with mloop.start_run(run_id=long_run):
            mloop.register_dataset(LONG_ASSET_NAME, frame, description=UNICODE_TEXT)

    # A prompt with a long name and long unicode text.
    runtime.run(
        lambda ctx: create_prompt_version(
            ctx,
            CreatePromptVersion(
                name=LONG_ASSET_NAME,
                messages=[
                    {"role": "system", "content": f"{UNICODE_TEXT} {LONG_PARAM_VALUE}"},
                    {"role": "user", "content": "{{ question }}"},
                ],
                variables={"question": {"type": "string", "description": UNICODE_TEXT}},
                description=LONG_PARAM_VALUE,
            ),
        ),
        write=True,
        actor=UNICODE_RUN,
    )

    # Gateway calls on a long route by a unicode token.
    now = int(time.time() * 1000)
    records = [
        CallRecord(
            id=f"long{i:04d}",
            time=now - i * 3_600_000,
            endpoint="chat",
            requested_model=LONG_ASSET_NAME,
            route=LONG_ASSET_NAME if i % 2 else UNICODE_RUN,
            provider="sim",
            model=LONG_RUN_NAME[:120],
            token_name=UNICODE_TEXT,
            status="ok",
            http_status=200,
            latency_ms=100.0 + i,
            cost_usd=0.01,
            cache="miss",
            input_tokens=10,
            output_tokens=5,
        )
        for i in range(12)
    ]
    runtime.run(lambda ctx: insert_calls(ctx, records), write=True)
    return LongNames(
        experiment_id=exp_id,
        long_run=long_run,
        unicode_run=unicode_run,
        wide_run=wide_run,
        model=LONG_ASSET_NAME,
        dataset=LONG_ASSET_NAME,
        prompt=LONG_ASSET_NAME,
    )


@pytest.fixture
def long_names(remote: Any, tmp_path: Path) -> LongNames:
    """The ``remote`` test server holding :func:`log_long_names`' objects."""
    import mloop

    return log_long_names(mloop.Client(remote.url), remote.runtime, tmp_path)
