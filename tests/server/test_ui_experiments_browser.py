"""Experiments at a glance in headless Chromium: the runs table's sticky name column and
best values, the chart view (curves, scatter, parallel coordinates) drawn inside its cards,
the experiment search, and the comparison's alignment.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import XSS_NAME

import mloop
from mloop.client.entities import Metric, Param

pytestmark = pytest.mark.browser

WAIT_SECONDS = 15
LONG_NAME = ("resnet50_finetune_lr0.001_bs256_wd1e4_cosine_warmup500_" * 5)[:250]
EMOJI_NAME = "训练运行 🚀 émoji-run ✅"
WIDE_PARAMS = 60


class Sweep:
    """What :func:`log_sweep` logged: the experiment id and run ids by name."""

    def __init__(self, experiment_id: str, runs: dict[str, str]) -> None:
        self.experiment_id = experiment_id
        self.runs = runs


def log_sweep(client: Any) -> Sweep:
    """Experiment ``sweep``: eight runs over lr (numeric) and optimizer (a category), with
    ``loss`` curves and a final ``acc``; one run named with 250 characters, one with emoji,
    one named like a script tag, and one with 60 more params (a table wider than the window).
    """
    exp_id = client.create_experiment("sweep")
    names = ["adam-1", "adam-2", "sgd-1", "sgd-2", "sgd-3", LONG_NAME, EMOJI_NAME, XSS_NAME]
    start = int(time.time() * 1000) - 3_600_000
    runs = {}
    for i, name in enumerate(names):
        began = start + i * 300_000
        run_id = client.create_run(exp_id, run_name=name, start_time=began).info.run_id
        lr = 10.0 ** -(1 + i % 4)
        params = {"lr": str(lr), "optimizer": "adam" if i < 2 or i == 6 else "sgd"}
        if i == 2:
            params.update({f"p_{k:02d}_{'x' * 12}": f"value-{k}" for k in range(WIDE_PARAMS)})
        metrics = [
            Metric(key="loss", value=1.0 / (s + 1) + i / 100, step=s, timestamp=began + s * 1000)
            for s in range(20)
        ]
        metrics.append(Metric(key="acc", value=0.5 + i / 20, step=19, timestamp=began + 19_000))
        client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
        client.set_terminated(run_id, "FINISHED", end_time=began + 20_000)
        runs[name] = run_id
    return Sweep(exp_id, runs)


@pytest.fixture
def sweep(server: ServerHandle) -> tuple[ServerHandle, Sweep]:
    return server, log_sweep(mloop.Client(server.url))


def wait(browser: Any) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException])


def visit(browser: Any, url: str, shot: str) -> None:
    browser.get(url)
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
    folder = os.environ.get("MLOOP_UI_SCREENSHOTS")
    if folder:
        browser.save_screenshot(str(Path(folder) / f"ui-{shot}.png"))


def shoot(browser: Any, shot: str) -> None:
    folder = os.environ.get("MLOOP_UI_SCREENSHOTS")
    if folder:
        browser.save_screenshot(str(Path(folder) / f"ui-{shot}.png"))


def console_errors(browser: Any) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def page_fits(browser: Any) -> bool:
    """Whether the page is no wider than the window (tables scroll inside their frame)."""
    return bool(
        browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;"
        )
    )


# Elements of a card that must lie inside it: its title, canvases, legend box, axis
# labels, SVG, notes and readouts. A scrolling legend's rows may extend below its box.
OUTSIDE_CARD = """
const card = arguments[0];
const box = card.getBoundingClientRect();
const parts = card.querySelectorAll(
  'h3, canvas, .u-legend, .u-axis, svg.pc, .chart-note, .xchart-readout, .pc-key, details');
const out = [];
for (const el of parts) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 ||
      r.bottom > box.bottom + 1) {
    const name = typeof el.className === 'string' ? el.className : el.className.baseVal;
    out.push(el.tagName + '.' + name);
  }
}
return out;
"""


def outside_card(browser: Any, card: Any) -> list[str]:
    return list(browser.execute_script(OUTSIDE_CARD, card))


# -- runs table -------------------------------------------------------------------------------


def test_run_name_stays_in_view_when_the_table_scrolls(
    browser: Any, sweep: tuple[ServerHandle, Sweep]
) -> None:
    from selenium.webdriver.common.by import By

    server, data = sweep
    browser.get_log("browser")
    visit(browser, f"{server.url}/experiments/{data.experiment_id}", "runs-sticky")
    wrap = browser.find_element(By.CSS_SELECTOR, ".table-wrap")
    sizes = browser.execute_script(
        "return [arguments[0].scrollWidth, arguments[0].clientWidth];", wrap
    )
    assert sizes[0] > sizes[1] + 500, "60 params make the table wider than its frame"
    assert page_fits(browser)
    where = """
      const row = document.querySelector('#runs-table tbody tr');
      const name = row.querySelector('td.name'), select = row.querySelector('td.select');
      const param = row.querySelector('td[data-col="param:optimizer"]');
      const n = name.getBoundingClientRect(), s = select.getBoundingClientRect();
      const hit = document.elementFromPoint(n.left + 10, n.top + n.height / 2);
      return {name: n.left, nameRight: n.right, select: s.left, selectRight: s.right,
              param: param.getBoundingClientRect().left, onTop: name.contains(hit)};
    """
    before = browser.execute_script(where)
    browser.execute_script("arguments[0].scrollLeft = 900;", wrap)
    after = browser.execute_script(where)
    shoot(browser, "runs-sticky-scrolled")
    assert after["param"] < before["param"] - 500  # the other columns moved
    assert abs(after["name"] - before["name"]) < 1  # the name did not
    assert abs(after["select"] - before["select"]) < 1
    assert after["onTop"], "the scrolled cells pass under the name, not over it"
    assert after["selectRight"] <= after["name"] + 1  # the two sticky cells do not overlap
    # A 250-character name is cut, not a 250-character-wide column.
    assert before["nameRight"] - before["name"] < 360
    assert console_errors(browser) == []


def test_best_values_are_marked_and_flip(browser: Any, sweep: tuple[ServerHandle, Sweep]) -> None:
    from selenium.webdriver.common.by import By

    server, data = sweep
    visit(browser, f"{server.url}/experiments/{data.experiment_id}", "runs-best")
    best = """
      return Array.from(document.querySelectorAll('#runs-table td.best[data-id="' +
        arguments[0] + '"]'), td => [td.closest('tr').dataset.runId,
        getComputedStyle(td).backgroundColor]);
    """
    acc = browser.execute_script(best, "metric:acc")
    loss = browser.execute_script(best, "metric:loss")
    assert [run for run, _ in acc] == [data.runs[XSS_NAME]]  # highest acc: the last run
    assert [run for run, _ in loss] == [data.runs["adam-1"]]  # lowest loss: the first
    assert acc[0][1] == "rgb(218, 251, 225)"
    browser.find_element(By.CSS_SELECTOR, 'th[data-id="metric:loss"] a.goal').click()
    wait(browser).until(lambda b: "best=max%3Aloss" in b.current_url)
    loss = browser.execute_script(best, "metric:loss")
    assert [run for run, _ in loss] == [data.runs[XSS_NAME]]
    browser.find_element(By.ID, "minmax-toggle").click()
    wait(browser).until(lambda b: "minmax=1" in b.current_url)
    assert browser.find_element(By.CSS_SELECTOR, 'th[data-id="metric-min:loss"]').is_displayed()
    assert "best=max%3Aloss" in browser.current_url  # the goal survives the toggle
    assert console_errors(browser) == []


def test_experiment_search_box(browser: Any, sweep: tuple[ServerHandle, Sweep]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    server, _data = sweep
    mloop.Client(server.url).create_experiment("other-team")
    visit(browser, f"{server.url}/", "experiments-search")
    browser.find_element(By.ID, "q").send_keys("SWE", Keys.ENTER)
    wait(browser).until(lambda b: "q=SWE" in b.current_url)
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#experiments td a")]
    assert names == ["sweep"]
    assert console_errors(browser) == []


# -- chart view -------------------------------------------------------------------------------


def test_chart_view_draws_curves_scatter_and_parallel_coordinates(
    browser: Any, sweep: tuple[ServerHandle, Sweep]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    server, data = sweep
    browser.get_log("browser")
    url = f"{server.url}/experiments/{data.experiment_id}/charts?order_by=metrics.loss%20ASC"
    visit(browser, url, "experiment-charts")
    drawn = (
        "return [document.querySelectorAll('#xchart-curves .uplot canvas').length,"
        " document.querySelectorAll('#xchart-scatter .uplot canvas').length,"
        " document.querySelectorAll('#xchart-parallel svg.pc path.pc-line').length];"
    )
    wait(browser).until(lambda b: b.execute_script(drawn) == [1, 1, 8])
    shoot(browser, "experiment-charts")

    # Curves: one line per run, the long name cut inside the legend.
    labels = browser.execute_script(
        "return Array.from(document.querySelectorAll('#xchart-curves .u-legend .u-series"
        " .u-label'), e => e.textContent).slice(1);"
    )
    assert sorted(labels) == sorted(data.runs)
    assert "loss" in browser.find_element(By.ID, "xchart-curves-title").text

    # Parallel coordinates: lr, optimizer and the metric; hovering a line names its run.
    axes = browser.execute_script(
        "return Array.from(document.querySelectorAll('#xchart-parallel .pc-name title'),"
        " e => e.textContent);"
    )
    assert axes[-1] == "loss" and {"lr", "optimizer"} <= set(axes)
    readout = browser.execute_script(
        "const p = document.querySelector('#xchart-parallel path[data-run=\"' + arguments[0]"
        " + '\"]'); p.dispatchEvent(new MouseEvent('mouseenter'));"
        " return document.querySelector('#xchart-parallel .xchart-readout').textContent;",
        data.runs[EMOJI_NAME],
    )
    assert readout.startswith(EMOJI_NAME) and "optimizer: adam" in readout

    # Scatter: lr spans decades, so it starts on a log scale; every point is drawn on
    # either scale, those sharing the highest lr included.
    assert browser.find_element(By.ID, "xchart-logx").is_selected()
    drawn_points = (
        "const u = document.getElementById('xchart-scatter')._uplot;"
        " return [u.series[0].idxs, u.data[0].length];"
    )
    for _scale in ("log", "linear"):
        idxs, count = browser.execute_script(drawn_points)
        assert count == 8 and idxs == [0, 7]
        browser.find_element(By.ID, "xchart-logx").click()

    # The cursor on a point lists the runs at that param value, as links.
    Select(browser.find_element(By.ID, "xchart-param")).select_by_value("optimizer")
    wait(browser).until(lambda b: "optimizer" in b.find_element(By.ID, "xchart-scatter-title").text)
    links = browser.execute_script(
        "const card = document.getElementById('xchart-scatter'); const u = card._uplot;"
        " u.setCursor({left: u.valToPos(0, 'x'), top: 10});"
        " return Array.from(card.querySelectorAll('.xchart-readout a'), a => a.textContent);"
    )
    assert sorted(links) == sorted(["adam-1", "adam-2", EMOJI_NAME])  # category 0: adam
    assert "param=optimizer" in browser.current_url

    # Another metric loads from the JSON route; the address follows.
    Select(browser.find_element(By.ID, "xchart-metric")).select_by_value("acc")
    wait(browser).until(lambda b: "metric=acc" in b.current_url)
    wait(browser).until(
        lambda b: b.find_element(By.ID, "xchart-curves-title").text.startswith("acc")
    )
    wait(browser).until(lambda b: b.execute_script(drawn) == [1, 1, 8])
    axes = browser.execute_script(
        "return Array.from(document.querySelectorAll('#xchart-parallel .pc-name title'),"
        " e => e.textContent);"
    )
    assert axes[-1] == "acc"

    # Unticking an axis redraws with one fewer.
    browser.find_element(By.CSS_SELECTOR, "#xchart-axes summary").click()
    browser.find_element(By.CSS_SELECTOR, '#xchart-parallel input[value="lr"]').click()
    count = "return document.querySelectorAll('#xchart-parallel .pc-axis').length;"
    wait(browser).until(lambda b: b.execute_script(count) == len(axes) - 1)

    # Every title, legend, axis and readout stays inside its card; the page fits the window.
    for card in browser.find_elements(By.CSS_SELECTOR, ".xchart"):
        assert outside_card(browser, card) == [], card.get_attribute("id")
    assert page_fits(browser)
    assert XSS_NAME in labels  # shown as text (run as a script, it would have alerted)
    assert console_errors(browser) == []


def test_chart_view_keeps_its_charts_in_their_cards_on_a_narrow_window(
    browser: Any, sweep: tuple[ServerHandle, Sweep]
) -> None:
    from selenium.webdriver.common.by import By

    server, data = sweep
    browser.set_window_size(700, 1000)
    try:
        visit(browser, f"{server.url}/experiments/{data.experiment_id}/charts", "charts-narrow")
        wait(browser).until(
            lambda b: (
                b.execute_script(
                    "return document.querySelectorAll('#xcharts .uplot canvas').length;"
                )
                == 2
            )
        )
        for card in browser.find_elements(By.CSS_SELECTOR, ".xchart"):
            assert outside_card(browser, card) == [], card.get_attribute("id")
        assert page_fits(browser)
        # The runs table scrolls inside its frame; nothing in a cell beyond the window's
        # edge (the best values' hidden "(best)" included) widens the page.
        url = f"{server.url}/experiments/{data.experiment_id}?minmax=1&best=min:acc"
        visit(browser, url, "runs-narrow")
        right = browser.execute_script(
            "return Math.max(...Array.from(document.querySelectorAll('td.best'),"
            " td => td.getBoundingClientRect().right));"
        )
        assert right > 700
        assert page_fits(browser)
    finally:
        browser.set_window_size(1400, 1000)


# -- compare ----------------------------------------------------------------------------------


def test_compare_aligns_metric_values_and_drops_repeated_ids(
    browser: Any, sweep: tuple[ServerHandle, Sweep]
) -> None:
    from selenium.webdriver.common.by import By

    server, data = sweep
    a, b = data.runs["adam-1"], data.runs["sgd-1"]
    visit(browser, f"{server.url}/compare?runs={a},{a},{b}&runs={b}", "compare-aligned")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Compare 2 runs"
    edges = browser.execute_script(
        """
        const table = document.getElementById('metrics-diff');
        const right = el => {
          const range = document.createRange();
          range.selectNodeContents(el);
          return range.getBoundingClientRect().right;
        };
        const heads = Array.from(table.querySelectorAll('thead th')).slice(1).map(right);
        const cells = Array.from(table.querySelector('tbody tr').querySelectorAll('td'))
          .map(right);
        return [heads, cells];
        """
    )
    heads, cells = edges
    assert len(heads) == len(cells) == 2
    for head, value in zip(heads, cells, strict=True):
        assert abs(head - value) < 2, (heads, cells)  # text ends at the same edge
    assert console_errors(browser) == []


def test_chart_view_of_runs_without_metrics_or_params(browser: Any, server: ServerHandle) -> None:
    from selenium.webdriver.common.by import By

    client = mloop.Client(server.url)
    exp = client.create_experiment("bare")
    client.set_terminated(client.create_run(exp, run_name="nothing-logged").info.run_id, "FINISHED")
    browser.get_log("browser")
    visit(browser, f"{server.url}/experiments/{exp}/charts", "charts-bare")
    wait(browser).until(
        lambda b: (
            "No run shown here has a metric"
            in b.find_element(By.CSS_SELECTOR, "#xchart-curves .chart-canvas").text
        )
    )
    assert "No run has both" in browser.find_element(By.ID, "xchart-scatter").text
    assert "No params or metrics" in browser.find_element(By.ID, "xchart-parallel").text
    assert console_errors(browser) == []
