"""Experiments at a glance over HTTP: the experiment search, the runs table's best values
and min/max columns, the chart view and its JSON, and the comparison page."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME, Demo

import mloop
from mloop.client.entities import Metric
from mloop.server.app import create_app
from mloop.server.ui import experiments as exp_ui
from mloop.server.ui.experiments import default_goal
from mloop.store.runtime import Runtime
from mloop.tracking import summaries
from mloop.tracking.summaries import metric_summaries

ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def demo(runtime: Runtime, populate: Callable[[Any], Demo]) -> Demo:
    return populate(mloop.Client())


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def rows(html: str) -> dict[str, str]:
    """Run id -> the HTML of its row in the runs table."""
    return dict(re.findall(r'<tr data-run-id="(\w+)">(.*?)</tr>', html, re.S))


def best_cells(html: str, col_id: str) -> set[str]:
    """Ids of the runs whose cell in column ``col_id`` is marked best."""
    marked = f'data-id="{col_id}" class="num best'
    return {run_id for run_id, row in rows(html).items() if marked in row}


def cell_text(html: str, run_id: str, col_id: str) -> str:
    found = re.search(
        rf'data-id="{re.escape(col_id)}"[^>]*><span class="cell" title="([^"]*)">([^<]*)</span>',
        rows(html)[run_id],
    )
    assert found, f"no {col_id} cell in the row of {run_id}"
    return found.group(2)


def cell_title(html: str, run_id: str, col_id: str) -> str:
    found = re.search(
        rf'data-id="{re.escape(col_id)}"[^>]*><span class="cell" title="([^"]*)">',
        rows(html)[run_id],
    )
    assert found
    return found.group(1)


def embedded(html: str, dom_id: str = "xchart-data") -> Any:
    found = re.search(rf'<script type="application/json" id="{dom_id}">(.*?)</script>', html)
    assert found, f"no JSON block {dom_id}"
    return json.loads(found.group(1))


def href(html: str, dom_id: str) -> str:
    found = re.search(rf'<a href="([^"]+)"[^>]*id="{dom_id}"', html) or re.search(
        rf'id="{dom_id}"[^>]*href="([^"]+)"', html
    )
    assert found, f"no link {dom_id}"
    return found.group(1).replace("&amp;", "&")


# -- the experiment list's search -------------------------------------------------------------


def test_experiment_search_filters_by_name_on_the_server(client: TestClient, demo: Demo) -> None:
    mloop.Client().create_experiment("nlp-sentiment")
    page = client.get("/", params={"q": "VIS"})
    assert page.status_code == 200
    assert 'name="q"' in page.text and 'value="VIS"' in page.text
    assert ">vision</a>" in page.text
    assert "nlp-sentiment" not in page.text
    everything = client.get("/")
    assert "nlp-sentiment" in everything.text and ">vision</a>" in everything.text
    total = everything.text.count('<td class="mono">')
    assert f'id="search-count">1 of {total}</span>' in page.text


def test_experiment_search_without_a_match_says_so_and_escapes(
    client: TestClient, demo: Demo
) -> None:
    page = client.get("/", params={"q": XSS_NAME})
    assert page.status_code == 200
    assert 'id="no-match"' in page.text
    assert XSS_NAME not in page.text
    assert ESCAPED_XSS in page.text
    assert client.get("/", params={"q": "x" * 300}).status_code == 400


# -- best values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "goal"),
    [
        ("loss", "min"),
        ("val_loss", "min"),
        ("valLoss", "min"),
        ("train/error_rate", "min"),
        ("rmse", "min"),
        ("latency_ms", "min"),
        ("acc", "max"),
        ("f1", "max"),
        ("auc", "max"),
        ("throughput", "max"),
        ("precision@10", "max"),
    ],
)
def test_default_goal_reads_the_key(key: str, goal: str) -> None:
    assert default_goal(key) == goal


def test_best_value_per_metric_column_follows_the_goal(client: TestClient, demo: Demo) -> None:
    url = f"/experiments/{demo.experiment_id}"
    page = client.get(url).text
    # acc: highest is best (bigger, 0.85); loss: lowest is best (the third run, 1/32).
    assert best_cells(page, "metric:acc") == {demo.runs["bigger"]}
    assert best_cells(page, "metric:loss") == {demo.runs[XSS_NAME]}
    # One finite value (the NaN of "weird") singles nothing out.
    assert best_cells(page, "metric:weird") == set()
    assert '<span class="sr-only"> (best)</span>' in page
    # The loss header's marker flips the goal through the URL.
    flip = re.search(r'data-id="metric:loss".*?<a class="goal goal-min" href="([^"]+)"', page, re.S)
    assert flip is not None
    flipped_url = flip.group(1).replace("&amp;", "&")
    assert "best=max%3Aloss" in flipped_url
    flipped = client.get(flipped_url).text
    assert best_cells(flipped, "metric:loss") == {demo.runs["baseline"]}
    assert best_cells(flipped, "metric:acc") == {demo.runs["bigger"]}
    # Flipping back leaves no override in the URL.
    back = re.search(
        r'data-id="metric:loss".*?<a class="goal goal-max" href="([^"]+)"', flipped, re.S
    )
    assert back is not None and "best=" not in back.group(1)
    lowest_acc = client.get(url, params={"best": "min:acc"}).text
    assert best_cells(lowest_acc, "metric:acc") == {demo.runs[XSS_NAME]}


def test_sorting_and_filtering_keep_the_goals(client: TestClient, demo: Demo) -> None:
    url = f"/experiments/{demo.experiment_id}"
    page = client.get(url, params=[("best", "min:acc"), ("minmax", "1")]).text
    sort = re.search(r'href="([^"]+order_by=metrics.acc[^"]*)"', page)
    assert sort is not None and "best=min%3Aacc" in sort.group(1) and "minmax=1" in sort.group(1)
    # The filter form carries them as hidden fields.
    form = page[
        page.index('id="filter-form"') : page.index("</form>", page.index('id="filter-form"'))
    ]
    assert '<input type="hidden" name="best" value="min:acc">' in form
    assert '<input type="hidden" name="minmax" value="1">' in form


@pytest.mark.parametrize(
    "params",
    [
        {"best": "acc"},
        {"best": "up:acc"},
        {"best": "max:"},
        {"minmax": "yes"},
        [("best", f"max:k{i}") for i in range(201)],
    ],
)
def test_bad_table_settings_are_400_pages(client: TestClient, demo: Demo, params: Any) -> None:
    page = client.get(f"/experiments/{demo.experiment_id}", params=params)
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]


# -- min / max ----------------------------------------------------------------------------------


def test_min_max_columns_show_each_metrics_whole_history(client: TestClient, demo: Demo) -> None:
    url = f"/experiments/{demo.experiment_id}"
    plain = client.get(url).text
    assert 'data-id="metric-min:loss"' not in plain
    assert href(plain, "minmax-toggle").endswith("minmax=1")
    # Latest, min, max and the number of values are in the latest value's tooltip anyway.
    baseline = demo.runs["baseline"]
    assert cell_title(plain, baseline, "metric:loss") == (
        "latest 0.0333333 · min 0.0333333 · max 1 · 30 values"
    )
    page = client.get(url, params={"minmax": "1"}).text
    assert cell_text(page, baseline, "metric-min:loss") == "0.0333333"
    assert cell_text(page, baseline, "metric-max:loss") == "1"
    assert cell_text(page, demo.runs["bigger"], "metric-max:loss") == "0.5"
    # NaN only: no min or max, and no best.
    assert cell_text(page, baseline, "metric-min:weird") == ""
    assert "min - · max - · 1 value" in cell_title(page, baseline, "metric:weird")
    # Lowest loss max is best for a lower-is-better metric.
    assert best_cells(page, "metric-max:loss") == {demo.runs[XSS_NAME]}
    # Min and max follow their metric in the column chooser (one checkbox per metric).
    assert page.count('<input type="checkbox" data-col="metric:loss"') == 1
    assert len(re.findall(r'<th data-col="metric:loss"', page)) == 3
    assert "Hide min / max" in page


def test_metric_summaries_skip_nan_and_infinities(runtime: Runtime) -> None:
    client = mloop.Client()
    exp = client.create_experiment("summaries")
    run_id = client.create_run(exp).info.run_id
    values = [float("nan"), 3.0, float("inf"), -2.5, float("-inf"), 7.0]
    client.log_batch(
        run_id,
        metrics=[
            Metric(key="m", value=v, step=i, timestamp=1_700_000_000_000 + i)
            for i, v in enumerate(values)
        ],
    )
    client.log_batch(
        run_id, metrics=[Metric(key="m", value=9.5, step=10, timestamp=1_700_000_000_100)]
    )
    client.log_batch(
        run_id, metrics=[Metric(key="only_nan", value=float("nan"), timestamp=1_700_000_000_000)]
    )
    other = client.create_run(exp).info.run_id
    client.log_batch(other, metrics=[Metric(key="m", value=1.0, timestamp=1_700_000_000_000)])
    found = runtime.run(lambda ctx: metric_summaries(ctx, [run_id, other, "f" * 32]), write=False)
    assert set(found) == {run_id, other}
    assert found[run_id]["m"] == summaries.MetricSummary(count=7, min_value=-2.5, max_value=9.5)
    assert found[run_id]["only_nan"] == summaries.MetricSummary(1, None, None)
    assert found[other]["m"].count == 1


def test_metric_summaries_read_runs_in_batches(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = mloop.Client()
    exp = client.create_experiment("batches")
    ids = []
    for i in range(3):
        run_id = client.create_run(exp).info.run_id
        client.log_batch(
            run_id, metrics=[Metric(key="m", value=float(i), timestamp=1_700_000_000_000)]
        )
        ids.append(run_id)
    monkeypatch.setattr(summaries, "_BATCH", 2)
    found = runtime.run(lambda ctx: metric_summaries(ctx, ids), write=False)
    assert [found[i]["m"].max_value for i in ids] == [0.0, 1.0, 2.0]


# -- tabs ---------------------------------------------------------------------------------------


def test_tabs_carry_the_filter_and_order_between_views(client: TestClient, demo: Demo) -> None:
    params = {"filter": "metrics.acc > 0.5", "order_by": "metrics.acc DESC"}
    table = client.get(f"/experiments/{demo.experiment_id}", params=params).text
    charts_url = href(table, "tab-charts")
    assert charts_url.startswith(f"/experiments/{demo.experiment_id}/charts?")
    charts = client.get(charts_url)
    assert charts.status_code == 200
    assert {r["label"] for r in embedded(charts.text)["runs"]} == {"baseline", "bigger"}
    back = href(charts.text, "tab-runs")
    assert sorted(re.findall(r'<a href="/runs/\w+">([^<]*)</a>', client.get(back).text)) == [
        "baseline",
        "bigger",
    ]


# -- the chart view -----------------------------------------------------------------------------


def test_chart_view_embeds_runs_keys_and_one_metrics_curves(client: TestClient, demo: Demo) -> None:
    page = client.get(f"/experiments/{demo.experiment_id}/charts")
    assert page.status_code == 200
    assert "/static/experiment_charts.js" in page.text
    data = embedded(page.text)
    # loss and acc are on three runs each (a tie, broken alphabetically), weird on one.
    assert data["metrics"] == ["acc", "loss", "weird"]
    assert data["metric"] == "acc"
    assert data["params"] == ["lr", "model"]
    assert data["axes"] == ["lr", "model"] and data["param"] == "lr"
    by_label = {r["label"]: r for r in data["runs"]}
    assert set(by_label) == {"baseline", "bigger", XSS_NAME, "fold-1"}
    assert by_label["bigger"]["params"] == {"lr": "0.01", "model": "cnn"}
    assert by_label["bigger"]["metrics"]["acc"] == pytest.approx(0.85)
    assert by_label["baseline"]["metrics"]["weird"] is None  # NaN travels as null
    assert by_label["bigger"]["url"] == f"/runs/{demo.runs['bigger']}"
    assert data["curves"]["key"] == "acc"
    assert {s["label"] for s in data["curves"]["series"]} == {"baseline", "bigger", XSS_NAME}
    assert data["more"] is False
    # The selects list every key with the chosen ones selected.
    assert '<option value="acc" selected>acc</option>' in page.text
    assert '<option value="lr" selected>lr</option>' in page.text
    # The run named like a script tag is data, never markup.
    assert XSS_NAME not in page.text


def test_chart_view_metric_param_and_sort_key(client: TestClient, demo: Demo) -> None:
    url = f"/experiments/{demo.experiment_id}/charts"
    sorted_by_loss = embedded(client.get(url, params={"order_by": "metrics.loss ASC"}).text)
    assert sorted_by_loss["metric"] == "loss"
    chosen = client.get(url, params={"metric": "weird", "param": "model"}).text
    data = embedded(chosen)
    assert data["metric"] == "weird" and data["param"] == "model"
    assert [s["label"] for s in data["curves"]["series"]] == ["baseline"]
    assert data["curves"]["series"][0]["values"] == [None]
    unknown = client.get(url, params={"metric": "nope", "param": "nope"})
    assert unknown.status_code == 200
    data = embedded(unknown.text)
    assert data["metric"] == "acc" and data["param"] == "lr"
    assert "no run shown here has the metric &#39;nope&#39;" in unknown.text


def test_chart_view_errors(client: TestClient, demo: Demo) -> None:
    url = f"/experiments/{demo.experiment_id}/charts"
    bad = client.get(url, params={"filter": "metrics.acc >> 1"})
    assert bad.status_code == 400
    assert 'id="filter-error"' in bad.text and "position" in bad.text
    assert client.get("/experiments/999/charts").status_code == 404
    assert client.get("/experiments/abc/charts").status_code == 404
    assert client.get(url, params={"metric": "m" * 300}).status_code == 400
    none = client.get(url, params={"filter": "params.model = 'none'"})
    assert none.status_code == 200 and 'id="no-runs"' in none.text


def test_chart_view_draws_the_first_runs_and_says_so(
    client: TestClient, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exp_ui, "MAX_VIEW_RUNS", 2)
    page = client.get(
        f"/experiments/{demo.experiment_id}/charts", params={"order_by": "metrics.acc DESC"}
    )
    data = embedded(page.text)
    assert [r["label"] for r in data["runs"]] == ["bigger", "baseline"]
    assert data["more"] is True and data["limit"] == 2
    assert "the first 2 in the table" in page.text


def test_chart_data_route_answers_json(client: TestClient, demo: Demo) -> None:
    page = client.get(
        f"/experiments/{demo.experiment_id}/charts", params={"filter": "params.model = 'cnn'"}
    ).text
    base = re.search(r'data-url="([^"]+)"', page)
    assert base is not None
    url = base.group(1).replace("&amp;", "&")
    answer = client.get(url + "&metric=loss")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    data = answer.json()
    assert data["metric"] == "loss"
    assert sorted(s["label"] for s in data["curves"]["series"]) == ["baseline", "bigger"]
    baseline = next(s for s in data["curves"]["series"] if s["label"] == "baseline")
    assert baseline["steps"] == list(range(30))
    assert math.isclose(baseline["values"][-1], 1 / 30)
    assert data["runs"][0]["params"]["model"] == "cnn"


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/experiments/{id}/charts/data?filter=metrics.acc%20%3E%3E%201", 400, "filter"),
        ("/experiments/{id}/charts/data?order_by=metrics.acc%20sideways", 400, "order_by"),
        ("/experiments/999/charts/data", 404, "experiment_id"),
        ("/experiments/abc/charts/data", 404, "experiment_id"),
    ],
)
def test_chart_data_errors_are_json(
    client: TestClient, demo: Demo, url: str, status: int, field: str
) -> None:
    answer = client.get(url.replace("{id}", demo.experiment_id))
    assert answer.status_code == status
    body = answer.json()
    assert body["error"]["field"] == field
    assert body["error"]["message"]


# -- compare ------------------------------------------------------------------------------------


def test_compare_removes_repeated_ids(client: TestClient, demo: Demo) -> None:
    a, b = demo.runs["baseline"], demo.runs["bigger"]
    page = client.get("/compare", params=[("runs", f"{a},{a},{b}"), ("runs", b), ("runs", a)])
    assert page.status_code == 200
    assert "<h1>Compare 2 runs</h1>" in page.text
    header = re.search(
        r'<table class="data compare" id="compare-runs">\s*<thead>(.*?)</thead>', page.text, re.S
    )
    assert header is not None
    assert header.group(1).count("/runs/") == 2
    one = client.get("/compare", params={"runs": f"{a},{a}"})
    assert "<h1>Compare 1 run</h1>" in one.text
    assert 'id="compare-one"' in one.text


def test_compare_metric_values_align_with_their_headers(client: TestClient, demo: Demo) -> None:
    a, b = demo.runs["baseline"], demo.runs["bigger"]
    page = client.get(f"/compare?runs={a},{b}").text
    table = page[page.index('id="metrics-diff"') :]
    table = table[: table.index("</table>")]
    head = re.findall(r'<th scope="col"( class="num")?>', table)
    # The first header names the rows; every run's header is aligned as its numbers are.
    assert head[0] == "" and head[1:] == [' class="num"', ' class="num"']
    cells = re.findall(r"<td([^>]*)>", table)
    assert cells and all('class="num"' in c for c in cells)


@pytest.mark.parametrize(
    ("query", "status", "text"),
    [
        ("runs=" + "f" * 32, 404, "does not exist"),
        ("runs=%3Cscript%3E", 404, "does not exist"),
        ("runs=", 400, "choose at least one run"),
    ],
)
def test_compare_bad_ids_are_clear_4xx_pages(
    client: TestClient, demo: Demo, query: str, status: int, text: str
) -> None:
    page = client.get(f"/compare?{query}")
    assert page.status_code == status
    assert "text/html" in page.headers["content-type"]
    assert text in page.text
    assert "<script>" not in page.text.split("</footer>")[0]
