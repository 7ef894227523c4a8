"""MLflow 3 logged models in headless Chromium: the list's bars and the model page's metric
curves are drawn, inside their cards, with no console errors, and both pages stay inside
the window at 1400 and 800 px with a 250-character and an emoji model name.

Set ``MLOOP_UI_SCREENSHOTS=/some/dir`` to keep a screenshot of each page visited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import ServerHandle
from tests.server.test_ui_browser import console_errors, wait
from tests.server.test_ui_experiments_browser import outside_card, visit

from mloop.server.ui.links import link_to

pytestmark = pytest.mark.browser

API = "/api/2.0/mlflow"
LONG_NAME = ("gradient_boosted_churn_model_with_calibrated_probabilities_" * 5)[:250]
EMOJI_NAME = "模型 🚀 émoji-model ✅"
LAYOUT_PROBLEMS = (Path(__file__).parent / "layout_problems.js").read_text()


def _post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}{API}{path}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _log(url: str) -> tuple[str, str]:
    """An experiment with three ready models, ``auc`` over 20 steps on the long-named one;
    its id and the long-named model's id."""
    exp = _post(url, "/experiments/create", {"name": "browser-models"})["experiment_id"]
    run_id = _post(url, "/runs/create", {"experiment_id": exp, "run_name": "trainer"})["run"][
        "info"
    ]["run_id"]
    ids = []
    for i, name in enumerate([LONG_NAME, EMOJI_NAME, "small"]):
        body = {"experiment_id": exp, "name": name, "source_run_id": run_id}
        model_id = _post(url, "/logged-models", body)["model"]["info"]["model_id"]
        httpx.patch(f"{url}{API}/logged-models/{model_id}", json={"status": "LOGGED_MODEL_READY"})
        steps = range(20) if i == 0 else [0]
        metrics = [
            {
                "key": "auc",
                "value": 0.5 + 0.02 * s + 0.1 * i,
                "timestamp": 1_700_000_000_000 + s,
                "step": s,
                "model_id": model_id,
            }
            for s in steps
        ]
        _post(url, "/runs/log-batch", {"run_id": run_id, "metrics": metrics})
        ids.append(model_id)
    return exp, ids[0]


@pytest.mark.parametrize("width", (1400, 800))
def test_logged_model_pages_draw_their_charts_and_fit(
    browser: Any, server: ServerHandle, width: int
) -> None:
    from selenium.webdriver.common.by import By

    experiment_id, model_id = _log(server.url)
    browser.set_window_size(width, 1000)
    try:
        browser.get_log("browser")  # drop messages from earlier tests
        visit(
            browser,
            server.url + link_to("logged_models", experiment_id=experiment_id),
            f"logged-models-{width}",
        )
        assert browser.execute_script("return document.title").startswith("Logged models")
        bars = browser.execute_script(
            "return Array.from(document.querySelectorAll('#metric-bars-chart rect.bar'),"
            " r => r.getBoundingClientRect().width);"
        )
        assert len(bars) == 3 and min(bars) > 0 and max(bars) > min(bars)
        card = browser.find_element(By.ID, "metric-bars")
        chart = browser.find_element(By.ID, "metric-bars-chart")
        inner, outer = chart.rect, card.rect
        assert inner["x"] >= outer["x"] - 1
        assert inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
        assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []

        visit(
            browser,
            server.url + link_to("logged_model", model_id=model_id),
            f"logged-model-{width}",
        )
        wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, "#chart-0 canvas"))
        canvas = browser.find_element(By.CSS_SELECTOR, "#chart-0 canvas")
        assert canvas.size["width"] > 200 and canvas.size["height"] > 100
        assert outside_card(browser, browser.find_element(By.ID, "chart-0")) == []
        assert list(browser.execute_script(LAYOUT_PROBLEMS)) == []
        assert console_errors(browser) == []
    finally:
        browser.set_window_size(1400, 1000)
