"""The monitor pages over HTTP, on windows computed by the real operations from an inference
log written at chosen times (income and the share from the north shift in the last hour):
the list; one monitor's header, drift heat map (shades, links that select a window, pages of
windows), histograms (checked against the logged values), drift, quality, performance once
labelled, fairness, outputs and alert timeline; links both ways with the endpoint, the
dataset version and the alerts; 404s and 400s; escaping of a column named like markup; and
the Run now and Delete buttons under each role."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS, parse
from tests.server.test_ui_links import Page, assert_links_answer

import mloop
from mloop.auth.tokens import create_token
from mloop.monitoring.histograms import reference_edges
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.formatting import number, percent
from mloop.store.eventlog.inference import InferenceLog, InferenceRecord
from mloop.store.runtime import Runtime

HOUR = 3_600_000
T0 = 1_780_000_000_000 - 1_780_000_000_000 % HOUR  # on the hour
ROWS = 240
ENDPOINT = "credit-api"
MONITOR = "credit-drift"
ROLLING = "credit-rolling"
DATASET = "credit-train"
ODD = XSS_NAME  # an input column named like markup


def call(operation: str, /, **fields: Any) -> Any:
    return mloop.Client().call(operation, **fields)


def _frame(rng: np.random.Generator, n: int, *, shift: float = 0.0, north: float = 0.5) -> Any:
    return pd.DataFrame(
        {
            "income": rng.normal(50 + shift, 10, n).round(3),
            "age": rng.integers(18, 30, n).astype(float),
            "region": np.where(rng.random(n) < north, "north", "south"),
            ODD: rng.uniform(0, 1, n).round(4),
        }
    )


@dataclass
class Logged:
    """What :func:`log_monitors` wrote: the frames per hour, the reference, request ids."""

    reference: Any
    hours: dict[int, Any] = field(default_factory=dict)
    ids: dict[int, list[str]] = field(default_factory=dict)


def _approve(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    """The 'model': the probability of approval rises with income."""
    p = 1.0 / (1.0 + np.exp(-(frame["income"].to_numpy() - 50.0) / 5.0))
    return (p > 0.5).astype(int), p


def _log_hour(runtime: Runtime, hour: int, frame: Any) -> list[str]:
    log = InferenceLog(runtime, flush_seconds=3600)
    decisions, p = _approve(frame)
    ids = []
    for i, row in enumerate(frame.to_dict(orient="records")):
        request_id = f"h{hour}-{i}"
        ids.append(request_id)
        log.record(
            InferenceRecord(
                request_id=request_id,
                endpoint=ENDPOINT,
                variant="stable",
                model_name="credit",
                model_version=1,
                inputs=[row],
                outputs={
                    "predictions": [int(decisions[i])],
                    "probabilities": [[1 - float(p[i]), float(p[i])]],
                    "classes": [0, 1],
                },
                confidence=float(max(p[i], 1 - p[i])),
                latency_ms=2.0,
                time=T0 + hour * HOUR + i * 1000,
            )
        )
    log.close()
    return ids


def log_monitors(runtime: Runtime) -> Logged:
    """Endpoint ``credit-api`` with four hours of traffic (hour 3 drifted), labels for hour
    2; dataset ``credit-train`` v1 as the reference of monitor ``credit-drift`` (fairness on
    region, a review threshold), monitor ``credit-rolling`` (the 2 windows before each); an
    alert rule on income's drift; every window computed."""
    rng = np.random.default_rng(11)
    reference = _frame(rng, 1000)
    mloop.register_dataset(DATASET, reference)
    call("create_endpoint", name=ENDPOINT)
    logged = Logged(reference=reference)
    for hour in range(4):
        drifted = hour == 3
        frame = _frame(rng, ROWS, shift=25.0 if drifted else 0.0, north=0.15 if drifted else 0.5)
        logged.hours[hour] = frame
        logged.ids[hour] = _log_hour(runtime, hour, frame)
    InferenceLog(runtime).attach_labels(
        [(rid, int(i % 3 != 0)) for i, rid in enumerate(logged.ids[2])]
    )
    call(
        "create_alert_rule",
        name="income-drift",
        source="monitor",
        metric="drift.column.income.drifted",
        kind="threshold",
        operator=">=",
        threshold=1,
        severity="critical",
        subject={"monitor": MONITOR},
    )
    columns = {"income": "number", "age": "number", "region": "category", ODD: "number"}
    call(
        "create_monitor",
        name=MONITOR,
        endpoint=ENDPOINT,
        reference={"kind": "dataset", "dataset": DATASET},
        columns=columns,
        fairness={"sensitive": ["region"], "min_group_size": 20},
        review_threshold=0.7,
        schedule=False,
        description=f"credit decisions {XSS_NAME}",
    )
    call(
        "create_monitor",
        name=ROLLING,
        endpoint=ENDPOINT,
        reference={"kind": "rolling", "windows": 2},
        columns=columns,
    )
    for name in (MONITOR, ROLLING):
        call("run_monitor", name=name, since=T0, until=T0 + 4 * HOUR)
    return logged


@pytest.fixture
def logged(runtime: Runtime) -> Logged:
    return log_monitors(runtime)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def page(client: TestClient, url: str) -> tuple[str, Page]:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.text[:500])
    assert XSS_NAME not in answer.text  # escaped everywhere, JSON blocks included
    found = Page()
    found.feed(answer.text)
    return answer.text, found


def block(html: str, dom_id: str) -> Any:
    return json.loads(parse(html).json_blocks[dom_id])


def section(html: str, dom_id: str) -> str:
    """A top-level section of the page, up to the next one."""
    return html.split(f'<section id="{dom_id}">', 1)[1].split("\n<section id=", 1)[0]


def row_of(html: str, table: str, attr: str, value: str) -> str:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    match = re.search(rf'<tr[^>]*{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', body, re.S)
    assert match, (table, value)
    return match.group(1)


def window_of(start: int) -> Any:
    return call("get_monitor_window", name=MONITOR, start=start)


# -- the list -------------------------------------------------------------------------------


def test_list_shows_each_monitor_with_its_last_window_drift_and_alerts(
    client: TestClient, logged: Logged
) -> None:
    html, found = page(client, links.monitors())
    assert 'class="active" aria-current="page">Monitors<' in html
    row = row_of(html, "monitors", "data-monitor", MONITOR)
    assert found.hrefs("monitor", name=MONITOR) == [MONITOR]
    assert found.hrefs("endpoint", name=ENDPOINT) == [ENDPOINT, ENDPOINT]
    # The reference named no version: the monitor pinned the one it read.
    assert found.hrefs("dataset_version", name=DATASET, version=1) == [f"{DATASET} v1"]
    assert "1 hour" in row and "on demand" in row and ESCAPED_XSS in row
    last = window_of(T0 + 3 * HOUR)
    assert found.hrefs("monitor", name=MONITOR, window=T0 + 3 * HOUR)
    assert percent(last.metrics["drift.share"]) in row and ">drift</span>" in row
    # One open alert, linked to the alerts page filtered to the monitor.
    assert found.hrefs("alerts", status="open", subject=f"monitor={MONITOR}") == ["1"]
    rolling = row_of(html, "monitors", "data-monitor", ROLLING)
    assert "the 2 windows before each window" in rolling and "on demand" not in rolling
    assert_links_answer(client, found)


def test_list_filters_by_endpoint_and_says_how_to_start(
    client: TestClient, runtime: Runtime
) -> None:
    html, _ = page(client, links.monitors())
    assert "No monitors yet" in html and "create_monitor" in html
    html, found = page(client, links.monitors(endpoint="no-such-endpoint"))
    assert "No monitors watch endpoint no-such-endpoint" in html
    assert found.hrefs("endpoint", name="no-such-endpoint")


# -- one monitor: header and heat map -----------------------------------------------------


def test_header_links_the_endpoint_and_the_reference_dataset_version(
    client: TestClient, logged: Logged
) -> None:
    html, found = page(client, links.monitor(MONITOR))
    header = html.split('id="monitor-header"', 1)[1].split("</table>", 1)[0]
    assert found.hrefs("endpoint", name=ENDPOINT) == [ENDPOINT]
    # The monitor named no version: the one read at creation is linked.
    assert found.hrefs("dataset_version", name=DATASET, version=1) == [f"{DATASET} v1"]
    assert "1000 rows" in header and "1 hour, aligned to UTC" in header
    assert "on demand only" in header and "4 columns watched" in header
    assert ESCAPED_XSS in html  # the description


def test_heat_map_has_a_cell_per_column_and_window_that_selects_it(
    client: TestClient, logged: Logged
) -> None:
    html, found = page(client, links.monitor(MONITOR))
    heat = html.split('id="heat-map"', 1)[1].split("</table>", 1)[0]
    starts = [T0 + h * HOUR for h in range(4)]
    assert re.findall(r'<th scope="col" class="mo-heat-window[^"]*" data-window="(\d+)"', heat) == [
        str(s) for s in starts
    ]
    columns = re.findall(r'<tr data-column="([^"]*)">', heat)
    assert columns == ["income", "age", "region", ESCAPED_XSS]
    for index, column in enumerate(["income", "age", "region", ODD]):
        for start in starts:
            # Every cell links to its window, at the column's histogram.
            url = links.monitor(MONITOR, window=start) + f"#column-{index}"
            assert url.replace("&", "&amp;") in heat, (column, start)
    for start in starts:
        report = window_of(start)
        for column in report.report["drift"]["columns"]:
            name = column["column"]
            escaped = name.replace("<", "&lt;").replace(">", "&gt;")
            cells = re.search(rf'<tr data-column="{re.escape(escaped)}">(.*?)</tr>', heat, re.S)
            assert cells
            cell = re.search(rf'<td class="mo-cell ([^"]*)" data-window="{start}">', cells.group(1))
            assert cell, (name, start)
            classes = cell.group(1).split()
            level = int(next(c for c in classes if c.startswith("lv"))[2:])
            assert ("drifted" in classes) == column["drifted"] == (level >= 3), (name, start)
    # Income drifted in hour 3 only; age never did.
    assert window_of(starts[3]).metrics["drift.column.income.drifted"] == 1.0
    assert all(window_of(s).metrics["drift.column.age.drifted"] == 0.0 for s in starts)
    # The newest window is selected by default; the drifted share heads each window.
    assert f'mo-heat-window selected" data-window="{starts[3]}"' in heat
    share = round(window_of(starts[3]).metrics["drift.share"] * 100)
    assert re.search(rf'data-window="{starts[3]}"><a [^>]*>{share}</a>', heat)
    assert_links_answer(client, found)


def test_a_window_is_selected_by_its_start(client: TestClient, logged: Logged) -> None:
    html, _ = page(client, links.monitor(MONITOR, window=T0 + HOUR))
    heat = html.split('id="heat-map"', 1)[1].split("</table>", 1)[0]
    assert f'mo-heat-window selected" data-window="{T0 + HOUR}"' in heat
    assert f'data-ms="{T0 + HOUR}"' in section(html, "window")
    assert f'id="window-rows">{ROWS}<' in html


def test_the_heat_map_pages_through_many_windows(client: TestClient, logged: Logged) -> None:
    call("run_monitor", name=ROLLING, since=T0 - 60 * HOUR, until=T0)  # 60 empty windows
    html, found = page(client, links.monitor(ROLLING))
    heat = html.split('id="heat-map"', 1)[1].split("</table>", 1)[0]
    shown = [int(s) for s in re.findall(r'class="mo-heat-window[^"]*" data-window="(\d+)"', heat)]
    assert len(shown) == 48 and shown[-1] == T0 + 3 * HOUR and shown[0] == T0 - 44 * HOUR
    assert "page 1 of 2" in html and 'id="newer-windows"' not in html
    older = links.monitor(ROLLING, window=T0 - 45 * HOUR)
    assert found.links[older + "#heatmap"] == ["« Older windows"]
    html, found = page(client, older)
    heat = html.split('id="heat-map"', 1)[1].split("</table>", 1)[0]
    shown = [int(s) for s in re.findall(r'class="mo-heat-window[^"]*" data-window="(\d+)"', heat)]
    assert shown == [T0 - h * HOUR for h in range(60, 44, -1)]
    newer = links.monitor(ROLLING, window=T0 - 44 * HOUR) + "#heatmap"
    assert "page 2 of 2" in html and found.links[newer] == ["Newer windows »"]
    assert 'id="window-status">empty<' in html and 'id="no-histograms"' in html


# -- one window -----------------------------------------------------------------------------


def _expected_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Shares per bin (edges[i], edges[i+1]], the first closed, of ``values``."""
    counts = [((values > a) & (values <= b)).sum() for a, b in itertools.pairwise(edges)]
    counts[0] += (values == edges[0]).sum()
    return [c / len(values) for c in counts]


def test_histograms_compare_the_window_with_the_reference(
    client: TestClient, logged: Logged
) -> None:
    html, _ = page(client, links.monitor(MONITOR, window=T0 + 3 * HOUR))
    histograms = {h["column"]: h for h in block(html, "monitor-histograms")}
    assert list(histograms) == ["income", "age", "region", ODD]
    reference = logged.reference
    window = logged.hours[3]
    income = histograms["income"]
    assert income["kind"] == "numeric" and income["drifted"] and income["anchor"] == "column-0"
    ref_values = reference["income"].to_numpy()
    edges = [float(e) for e in np.linspace(ref_values.min(), ref_values.max(), 21)]
    inner = [b for b in income["bins"] if b["kind"] == "bin"]
    assert len(inner) == 20
    assert [b["low"] for b in inner] == pytest.approx(edges[:-1])
    assert [b["reference"] for b in inner] == pytest.approx(_expected_shares(ref_values, edges))
    cur = window["income"].to_numpy()
    within = _expected_shares(cur[(cur >= edges[0]) & (cur <= edges[-1])], edges)
    inside = ((cur >= edges[0]) & (cur <= edges[-1])).mean()
    assert [b["current"] for b in inner] == pytest.approx([s * inside for s in within])
    above = next(b for b in income["bins"] if b["kind"] == "above")
    assert above["current"] == pytest.approx((cur > edges[-1]).mean())  # shifted past the max
    assert sum(b["current"] for b in income["bins"]) == pytest.approx(1.0)
    # Ages are few whole numbers: one bin per year.
    ages = histograms["age"]["bins"]
    assert [b["label"] for b in ages] == [str(a) for a in range(18, 30)]
    assert ages[0]["reference"] == pytest.approx((reference["age"] == 18).mean())
    region = {b["label"]: b for b in histograms["region"]["bins"]}
    assert region["north"]["current"] == pytest.approx((window["region"] == "north").mean())
    assert region["south"]["reference"] == pytest.approx((reference["region"] == "south").mean())
    assert 'id="column-3"' in html and f'title="{ESCAPED_XSS}"' in section(html, "histograms")


def test_drift_table_shows_method_statistic_p_value_threshold_and_effect(
    client: TestClient, logged: Logged
) -> None:
    html, _ = page(client, links.monitor(MONITOR, window=T0 + 3 * HOUR))
    report = window_of(T0 + 3 * HOUR).report
    income = next(c for c in report["drift"]["columns"] if c["column"] == "income")
    row = row_of(html, "drift-table", "data-column", "income")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert income["method"] in cells[1]
    assert cells[2] == number(income["statistic"])
    p = income["adjusted_p_value"] if income["adjusted_p_value"] is not None else income["p_value"]
    assert cells[3].startswith(number(p))
    assert cells[4] == number(income["threshold"])
    assert "drifted" in cells[5]
    assert "↑" in cells[6] and number(income["effect"]["size"]) in cells[6]
    assert income["effect"]["unit"] in cells[6]
    assert cells[7] == f"{income['reference_count']} / {income['current_count']}"
    assert "no drift" in row_of(html, "drift-table", "data-column", "age")
    assert row_of(html, "drift-table", "data-column", ESCAPED_XSS)


def test_quality_table_shows_missing_new_categories_and_out_of_range(
    client: TestClient, logged: Logged
) -> None:
    html, _ = page(client, links.monitor(MONITOR, window=T0 + 3 * HOUR))
    metrics = window_of(T0 + 3 * HOUR).metrics
    income = row_of(html, "quality-table", "data-column", "income")
    assert percent(metrics["quality.out_of_range.income"]) in income
    assert percent(metrics["quality.missing.income"]) in income
    region = row_of(html, "quality-table", "data-column", "region")
    assert percent(metrics["quality.new_categories.region"]) in region


def test_performance_appears_once_labels_arrive(client: TestClient, logged: Logged) -> None:
    html, _ = page(client, links.monitor(MONITOR, window=T0 + 2 * HOUR))
    metrics = window_of(T0 + 2 * HOUR).metrics
    assert f"{ROWS} labelled rows" in html
    row = row_of(html, "performance-table", "data-metric", "accuracy")
    assert number(metrics["performance.accuracy"]) in row
    charts = {c["id"]: c for c in block(html, "monitor-charts")["charts"]}
    assert block(html, "monitor-charts")["times"] == [(T0 + h * HOUR) // 1000 for h in range(4)]
    (measured,) = charts["performance.accuracy"]["series"]  # no estimator: no reference labels
    assert measured["label"] == "measured"  # with its bootstrap interval as a band
    assert measured["low"][2] <= measured["values"][2] <= measured["high"][2]
    assert measured["values"] == [None, None, pytest.approx(metrics["performance.accuracy"]), None]
    assert charts["volume.rows"]["series"][0]["values"] == [ROWS] * 4
    html, _ = page(client, links.monitor(MONITOR, window=T0 + HOUR))
    assert 'id="no-labels"' in html


def test_estimates_before_labels_are_drawn_with_their_band(
    client: TestClient, logged: Logged
) -> None:
    # A reference window with labels calibrates an estimator: the other windows get the
    # performance it expects from their confidence, with a band.
    call(
        "create_monitor",
        name="credit-window",
        endpoint=ENDPOINT,
        reference={"kind": "window", "since": T0 + 2 * HOUR, "until": T0 + 3 * HOUR},
        columns={"income": "number", "region": "category"},
        schedule=False,
    )
    call("run_monitor", name="credit-window", since=T0, until=T0 + 4 * HOUR)
    html, _ = page(client, links.monitor("credit-window", window=T0 + HOUR))
    report = call("get_monitor_window", name="credit-window", start=T0 + HOUR).report
    estimated = report["estimated_performance"]["metrics"]["accuracy"]
    charts = {c["id"]: c for c in block(html, "monitor-charts")["charts"]}
    series = {s["label"]: s for s in charts["performance.accuracy"]["series"]}
    assert series["estimated"]["dash"] and series["estimated"]["values"][1] == pytest.approx(
        estimated["value"]
    )
    assert series["estimated"]["low"][1] == pytest.approx(estimated["low"])
    assert series["estimated"]["high"][1] == pytest.approx(estimated["high"])
    assert series["measured"]["values"][1] is None  # hour 1 has no labels
    row = row_of(html, "performance-table", "data-metric", "accuracy")
    assert f"[{number(estimated['low'])}, {number(estimated['high'])}]" in row
    assert "intervals as bands" in html


def test_fairness_shows_selection_rates_by_group_and_the_four_fifths_rule(
    client: TestClient, logged: Logged
) -> None:
    html, _ = page(client, links.monitor(MONITOR, window=T0 + 3 * HOUR))
    window = window_of(T0 + 3 * HOUR)
    (audit,) = window.report["fairness"]["attributes"]
    card = html.split('data-attribute="region"', 1)[1].split('<div class="card', 1)[0]
    for group in ("north", "south"):
        rate = window.metrics[f"fairness.region.{group}.selection_rate"]
        assert number(rate) in row_of(card, "fairness-0", "data-group", group)
    verdict = "fails" if audit["passes_four_fifths"] is False else "passes"
    assert f"{verdict} the four-fifths rule" in card
    (chart,) = block(html, "monitor-fairness")
    rates = {b["label"]: b["value"] for b in chart["bars"]}
    assert chart["line"] == pytest.approx(0.8 * max(rates.values()))
    assert {b["label"] for b in chart["bars"] if b["flagged"]} == {
        str(g) for g in audit["four_fifths_violations"]
    }


def test_outputs_show_confidence_and_predicted_labels(client: TestClient, logged: Logged) -> None:
    html, _ = page(client, links.monitor(MONITOR, window=T0 + HOUR))
    outputs = block(html, "monitor-outputs")
    window = window_of(T0 + HOUR)
    assert sum(outputs["confidence"]["counts"]) == ROWS
    assert outputs["confidence"]["threshold"] == 0.7
    assert percent(window.metrics["output.review_share"]) in html
    shares = {p["label"]: p["share"] for p in outputs["predictions"]}
    assert shares["1"] == pytest.approx(window.metrics["output.prediction.1.share"])


# -- alerts, both ways ------------------------------------------------------------------------


def test_alert_timeline_links_the_alert_and_the_window_that_fired_it(
    client: TestClient, logged: Logged
) -> None:
    (alert,) = call("list_alerts").alerts
    assert alert.window_start == T0 + 3 * HOUR
    html, found = page(client, links.monitor(MONITOR, window=T0))
    row = row_of(html, "alert-timeline", "data-alert", str(alert.id))
    assert "critical" in row and "income-drift" in row
    assert found.hrefs("alert", alert_id=alert.id) == ["1", f"#{alert.id}"]  # heat map, table
    window_link = links.monitor(MONITOR, window=alert.window_start) + "#window"
    assert window_link in found.links
    heat = html.split('id="heat-map"', 1)[1].split("</table>", 1)[0]
    assert re.search(rf'data-window="{T0 + 3 * HOUR}"><a href="/alerts/{alert.id}"', heat)
    # The alert's own page links back here, in the form the page honours.
    _, alert_page = page(client, links.alert(alert.id))
    assert alert.links["window"] == links.monitor(MONITOR, window=T0 + 3 * HOUR)
    assert alert.links["window"] in alert_page.links
    assert links.monitor(MONITOR) in alert_page.links  # the subject
    html, _ = page(client, alert.links["window"])
    assert f'mo-heat-window selected" data-window="{T0 + 3 * HOUR}"' in html
    assert "No alerts raised by this monitor" in page(client, links.monitor(ROLLING))[0]


def test_endpoint_page_lists_its_monitors_and_they_link_back(
    client: TestClient, logged: Logged
) -> None:
    html, found = page(client, links.endpoint(ENDPOINT))
    monitors = section(html, "monitors")
    assert found.hrefs("monitor", name=MONITOR) == [MONITOR]
    assert found.hrefs("monitor", name=ROLLING) == [ROLLING]
    assert found.hrefs("monitor", name=MONITOR, window=T0 + 3 * HOUR)  # its last window
    assert found.hrefs("monitors", endpoint=ENDPOINT) == ["These monitors"]
    assert "1 hour" in monitors and "on demand" in monitors
    _, back = page(client, links.monitor(MONITOR))
    assert back.hrefs("endpoint", name=ENDPOINT) == [ENDPOINT]
    html, _ = page(client, links.monitors(endpoint=ENDPOINT))
    assert f'data-monitor="{MONITOR}"' in html and f'data-monitor="{ROLLING}"' in html


def test_endpoint_without_monitors_says_how_to_add_one(client: TestClient, logged: Logged) -> None:
    call("create_endpoint", name="idle")
    html, _ = page(client, links.endpoint("idle"))
    assert 'id="no-monitors"' in html


def test_a_window_without_a_reference_yet(client: TestClient, logged: Logged) -> None:
    # The first window of a rolling reference has nothing before it to compare with.
    html, _ = page(client, links.monitor(ROLLING, window=T0))
    assert "No reference yet" in html and 'id="no-histograms"' in html
    assert "it has no reference yet" in html
    html, _ = page(client, links.monitor(ROLLING, window=T0 + 2 * HOUR))
    histograms = block(html, "monitor-histograms")
    assert {h["column"] for h in histograms} >= {"income", "prediction", "confidence"}


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/monitors/no-such-monitor", 404),
        ("/monitors/bad%20name!", 404),
        (f"/monitors/{MONITOR}?window=123", 404),
        (f"/monitors/{MONITOR}?window={T0 + 30 * HOUR}", 404),
        (f"/monitors/{MONITOR}?window=yesterday", 400),
        ("/monitors?page_token=garbage", 400),
        ("/monitors?endpoint=bad%20name!", 404),
    ],
)
def test_bad_names_and_parameters_are_html_pages(
    client: TestClient, logged: Logged, url: str, status: int
) -> None:
    answer = client.get(url, headers={"accept": "text/html"})
    assert answer.status_code == status, answer.text[:300]
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>" in answer.text and "Traceback" not in answer.text


def test_hostile_column_names_are_escaped(client: TestClient, logged: Logged) -> None:
    answer = client.get(links.monitor(MONITOR, window=T0 + 3 * HOUR))
    assert XSS_NAME not in answer.text
    assert answer.text.count(ESCAPED_XSS) >= 5  # heat map, histogram, drift, quality, title
    # In the JSON blocks, "<" is written as \u003c: a block cannot end its own script tag.
    histograms = parse(answer.text).json_blocks["monitor-histograms"]
    assert "\\u003cscript\\u003e" in histograms


# -- the buttons -------------------------------------------------------------------------------


@pytest.fixture
def tokens(runtime: Runtime, logged: Logged) -> dict[str, str]:
    return {
        role: runtime.run(partial(create_token, name=f"mo-{role}", role=role), write=True)
        for role in ("reader", "writer", "admin")
    }


def _windows() -> list[int]:
    return [w.start for w in call("list_monitor_windows", name=MONITOR).windows]


def test_without_authentication_both_buttons_are_offered(
    client: TestClient, logged: Logged
) -> None:
    html, _ = page(client, links.monitor(MONITOR))
    assert 'id="run-button"' in html and 'id="delete-button"' in html
    answer = client.post(links.monitor_run(MONITOR), follow_redirects=False)
    assert answer.status_code == 303
    newest = max(_windows())
    assert newest > T0 + 3 * HOUR  # the last closed window, now
    assert answer.headers["location"] == links.monitor(MONITOR, window=newest) + "#window"
    html, _ = page(client, answer.headers["location"])
    assert 'id="window-status">empty<' in html and 'id="window-rows">0<' in html


def test_buttons_follow_the_roles(runtime: Runtime, tokens: dict[str, str]) -> None:
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        web.cookies.set("mloop_token", tokens["reader"])
        html, _ = page(web, links.monitor(MONITOR))
        assert 'id="run-button"' not in html and 'id="delete-button"' not in html
        assert "needs the writer role" in html
        for url in (links.monitor_run(MONITOR), links.monitor_delete(MONITOR)):
            answer = web.post(url, data={"confirm": MONITOR})
            assert answer.status_code == 403, url
            assert answer.headers["content-type"].startswith("text/html")
        assert len(_windows()) == 4

        web.cookies.set("mloop_token", tokens["writer"])
        html, _ = page(web, links.monitor(MONITOR))
        assert 'id="run-button"' in html and 'id="delete-button"' not in html
        answer = web.post(
            links.monitor_run(MONITOR), headers={"origin": "https://elsewhere.example"}
        )
        assert answer.status_code == 403 and len(_windows()) == 4
        answer = web.post(links.monitor_run(MONITOR), follow_redirects=False)
        assert answer.status_code == 303 and len(_windows()) == 5
        assert web.post(links.monitor_delete(MONITOR), data={"confirm": MONITOR}).status_code == 403

        web.cookies.set("mloop_token", tokens["admin"])
        html, _ = page(web, links.monitor(MONITOR))
        assert 'id="delete-button"' in html and "5 computed windows" in html
        answer = web.post(links.monitor_delete(MONITOR), data={"confirm": "credit"})
        assert answer.status_code == 400 and "type the monitor" in answer.text
        assert len(_windows()) == 5
        answer = web.post(
            links.monitor_delete(MONITOR),
            data={"confirm": MONITOR},
            headers={"origin": "https://elsewhere.example"},
        )
        assert answer.status_code == 403
        answer = web.post(
            links.monitor_delete(MONITOR), data={"confirm": MONITOR}, follow_redirects=False
        )
        assert answer.status_code == 303 and answer.headers["location"] == links.monitors()
        assert web.get(links.monitor(MONITOR)).status_code == 404
        html, _ = page(web, links.monitors())
        assert f'data-monitor="{MONITOR}"' not in html and f'data-monitor="{ROLLING}"' in html
        # Its alert stays in the history.
        assert len(call("list_alerts").alerts) == 1


def test_pages_and_buttons_need_a_token_when_auth_is_on(
    runtime: Runtime, tokens: dict[str, str]
) -> None:
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        for url in (links.monitors(), links.monitor(MONITOR)):
            answer = web.get(url, follow_redirects=False)
            assert answer.status_code == 303 and "/login" in answer.headers["location"]
        answer = web.post(links.monitor_run(MONITOR), follow_redirects=False)
        assert answer.status_code == 303 and "/login" in answer.headers["location"]
        assert len(_windows()) == 4


# -- the views' arithmetic ----------------------------------------------------------------------


def test_levels_read_p_values_and_distances_the_right_way_round() -> None:
    from mloop.server.ui.monitor_views import drift_level, drift_strength

    test = {"tested": True, "method": "ks", "threshold": 0.05, "drifted": False}
    assert drift_strength({**test, "p_value": 0.5, "adjusted_p_value": None}) == pytest.approx(0.1)
    assert drift_level({**test, "p_value": 0.5, "adjusted_p_value": None}) == 0
    assert drift_level({**test, "p_value": 0.9, "adjusted_p_value": 0.06}) == 2  # adjusted
    assert drift_level({**test, "drifted": True, "adjusted_p_value": 0.01}) == 4
    assert drift_level({**test, "drifted": True, "adjusted_p_value": 0.001}) == 5
    distance = {"tested": True, "method": "wasserstein", "threshold": 0.1}
    assert drift_level({**distance, "statistic": 0.06, "drifted": False}) == 1
    assert drift_level({**distance, "statistic": 1.5, "drifted": True}) == 5
    assert drift_level({**distance, "statistic": "inf", "drifted": True}) == 5
    assert drift_level({"tested": False, "reason": "no values"}) == -1


def test_charts_over_time_draw_intervals_as_bands_when_there_are_some() -> None:
    from mloop.monitoring.schemas import WindowReport
    from mloop.server.ui.monitor_views import over_time

    def report(start: int, metric: dict[str, Any] | None) -> WindowReport:
        perf = None if metric is None else {"metrics": {"accuracy": metric}, "n_labelled": 9}
        return WindowReport(
            monitor="m",
            start=start,
            end=start + HOUR,
            status="ok",
            rows=9,
            metrics={"volume.rows": 9.0},
            computed_at=start,
            report={} if perf is None else {"performance": perf},
        )

    charts = over_time(
        [
            report(T0, {"value": 0.8, "low": 0.7, "high": 0.9}),
            report(T0 + HOUR, None),
            report(T0 + 2 * HOUR, {"value": 0.6, "low": 0.5, "high": float("nan")}),
        ],
        3600,
    )
    accuracy, rows = charts["charts"]
    (measured,) = accuracy["series"]
    assert measured["values"] == [0.8, None, 0.6]
    assert measured["low"] == [0.7, None, 0.5] and measured["high"] == [0.9, None, None]
    assert rows["id"] == "volume.rows" and rows["series"][0]["low"] is None
    (unbanded,) = over_time([report(T0, {"value": 0.8})], 3600)["charts"][0]["series"]
    assert unbanded["low"] is None and unbanded["high"] is None


def test_reference_edges_cover_the_reference() -> None:
    from mloop.monitoring import drift

    summary = drift.summarize(pd.DataFrame({"x": [1.5, 2.0, 9.5]}))
    edges = reference_edges(summary.columns["x"], bins=4)  # type: ignore[arg-type]
    assert edges == [1.5, 3.5, 5.5, 7.5, 9.5]
