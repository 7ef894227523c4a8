"""Layout under real data, in headless Chromium: every kind of page, filled with a 250-character
run name, a 500-character param value, unicode and emoji names and a 100-param run, stays
inside the window at 1400 and 800 px; no text is squeezed to a character per line; text cut
with an ellipsis has its full text on hover; chart legends and titles stay in their cards.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ServerHandle
from tests.server.conftest import LONG_RUN_NAME, LongNames
from tests.server.test_ui_browser import console_errors, wait

from mloop.server.ui.links import link_to

pytestmark = pytest.mark.browser

WIDTHS = (1400, 800)

# The checks run in the page (a list of problems, each naming the element at fault).
LAYOUT_PROBLEMS = (Path(__file__).parent / "layout_problems.js").read_text()


def pages(names: LongNames) -> dict[str, str]:
    """Every kind of page, each showing some of the long and unicode names."""
    runs = [names.long_run, names.unicode_run, names.wide_run]
    return {
        "experiments": link_to("experiments"),
        "experiment": link_to("experiment", experiment_id=names.experiment_id),
        "run-long": link_to("run", run_id=names.long_run),
        "run-unicode": link_to("run", run_id=names.unicode_run),
        "run-wide": link_to("run", run_id=names.wide_run),
        "artifacts": link_to("artifacts", run_id=names.long_run),
        "compare": link_to("compare_runs") + "?" + "&".join(f"runs={r}" for r in runs),
        "models": link_to("models"),
        "model": link_to("model", name=names.model),
        "model-version": link_to("model_version", name=names.model, version=1),
        "datasets": link_to("datasets"),
        "dataset": link_to("dataset", name=names.dataset),
        "dataset-version": link_to("dataset_version", name=names.dataset, version=1),
        "prompts": link_to("prompts"),
        "prompt": link_to("prompt", name=names.prompt),
        "prompt-version": link_to("prompt_version", name=names.prompt, version=1),
        "gateway": link_to("gateway") + "?window=30d",
        "gateway-calls": link_to("gateway_calls"),
        "gateway-call": link_to("gateway_call", call_id="long0001"),
    }


def look(browser: Any, url: str, shot: str) -> list[str]:
    """Open ``url`` and return its layout problems, once its charts are drawn."""
    browser.get(url)
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")
    assert browser.execute_script("return document.title") != "Not found · mloop", url
    folder = os.environ.get("MLOOP_UI_SCREENSHOTS")
    if folder:
        browser.save_screenshot(str(Path(folder) / f"layout-{shot}.png"))
    return list(browser.execute_script(LAYOUT_PROBLEMS))


@pytest.mark.parametrize("width", WIDTHS)
def test_long_and_unicode_names_fit_every_page(
    browser: Any, long_names: LongNames, remote: ServerHandle, width: int
) -> None:
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")  # drop messages from earlier tests
        found = {
            name: problems
            for name, path in pages(long_names).items()
            if (problems := look(browser, remote.url + path, f"{name}-{width}"))
        }
        report = "\n".join(f"{name}: {problem}" for name, ps in found.items() for problem in ps)
        assert not found, report
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(1400, 1000)


def test_cut_names_show_in_full_on_hover(
    browser: Any, long_names: LongNames, remote: ServerHandle
) -> None:
    """The 250-character name is cut in the runs table and in chart legends; its title holds
    all of it, also on a legend drawn after the page loaded (the log-scale toggle redraws)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    cut = "return arguments[0].scrollWidth > arguments[0].clientWidth;"
    look(browser, remote.url + link_to("experiment", experiment_id=long_names.experiment_id), "x")
    link = browser.find_element(
        By.CSS_SELECTOR, f'#runs-table tr[data-run-id="{long_names.long_run}"] td.name a'
    )
    assert browser.execute_script(cut, link)
    assert link.get_dom_attribute("title") == LONG_RUN_NAME

    look(browser, remote.url + link_to("run", run_id=long_names.long_run), "run-legend")
    browser.find_element(By.CSS_SELECTOR, ".chart-log").click()  # new charts, new legends
    label = wait(browser).until(
        lambda b: b.find_element(
            By.CSS_SELECTOR, ".chart .u-legend .u-series:nth-child(2) .u-label"
        )
    )
    assert browser.execute_script(cut, label)
    assert label.get_dom_attribute("title") is None
    ActionChains(browser).move_to_element(label).perform()
    wait(browser).until(lambda b: label.get_dom_attribute("title") == LONG_RUN_NAME)
