"""MLflow 3 logged models in the web UI over HTTP: an experiment's logged models (filters,
the chosen metric's column and bars, sorting), one logged model (metrics, curves, runs that
read or produced it, registered versions, files and their downloads), the run page and the
model-version page linking to them, and bad input (unknown and malformed ids, hostile text).

Everything is created through MLflow's REST API, as the stock client sends it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME

from mloop.server.app import create_app
from mloop.server.ui.logged_model_views import registered_versions
from mloop.server.ui.logged_models import bar_chart, sort_targets
from mloop.store.runtime import Runtime

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MLMODEL = b"flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{API}{path}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _model(client: TestClient, experiment_id: str, name: str, **extra: Any) -> str:
    body = {"experiment_id": experiment_id, "name": name, **extra}
    return str(_post(client, "/logged-models", body)["model"]["info"]["model_id"])


def _finalize(client: TestClient, model_id: str, status: str = "LOGGED_MODEL_READY") -> None:
    response = client.patch(f"{API}/logged-models/{model_id}", json={"status": status})
    assert response.status_code == 200, response.text


def _metric(
    client: TestClient, run_id: str, model_id: str, key: str, value: float, step: int = 0
) -> None:
    metric = {
        "key": key,
        "value": value,
        "timestamp": 1_700_000_000_000 + step,
        "step": step,
        "model_id": model_id,
        "dataset_name": "eval",
        "dataset_digest": "abc123",
    }
    _post(client, "/runs/log-batch", {"run_id": run_id, "metrics": [metric]})


class Zoo:
    """An experiment with a run that logs two models (one ready, one failed), a model of
    its own with a file, and a second run that reads one model and produces another."""

    def __init__(self, client: TestClient) -> None:
        self.experiment_id = _post(client, "/experiments/create", {"name": "zoo"})["experiment_id"]
        run = _post(
            client, "/runs/create", {"experiment_id": self.experiment_id, "run_name": "trainer"}
        )["run"]["info"]
        self.run_id = run["run_id"]
        self.good = _model(client, self.experiment_id, "good", source_run_id=self.run_id)
        self.bad = _model(client, self.experiment_id, "bad", source_run_id=self.run_id)
        self.loose = _model(
            client,
            self.experiment_id,
            "loose",
            params=[{"key": "alpha", "value": "0.5"}],
            tags=[{"key": "team", "value": "risk"}],
        )
        # A model of its own keeps its files in its own folder, uploaded through the proxy.
        info = _post(client, "/logged-models/search", {"experiment_ids": [self.experiment_id]})
        loose = next(m for m in info["models"] if m["info"]["model_id"] == self.loose)
        root = loose["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
        upload = client.put(f"{ARTIFACTS}/{root}/MLmodel", content=MLMODEL)
        assert upload.status_code == 200, upload.text
        _finalize(client, self.good)
        _finalize(client, self.bad, "LOGGED_MODEL_UPLOAD_FAILED")
        _finalize(client, self.loose)
        for step, value in enumerate([0.6, 0.7, 0.9]):
            _metric(client, self.run_id, self.good, "auc", value, step)
        _metric(client, self.run_id, self.bad, "auc", 0.4)
        _metric(client, self.run_id, self.loose, "auc", 0.8)
        _metric(client, self.run_id, self.loose, "rmse", 1.5)
        reader = _post(
            client, "/runs/create", {"experiment_id": self.experiment_id, "run_name": "scorer"}
        )["run"]["info"]
        self.reader_id = reader["run_id"]
        _post(
            client,
            "/runs/log-inputs",
            {"run_id": self.reader_id, "models": [{"model_id": self.good}]},
        )
        _post(
            client,
            "/runs/outputs",
            {"run_id": self.reader_id, "models": [{"model_id": self.loose, "step": 3}]},
        )


@pytest.fixture
def zoo(client: TestClient) -> Zoo:
    return Zoo(client)


def _rows(html: str) -> list[str]:
    """Model ids of the list's table rows, in order."""
    return re.findall(r'<tr data-model-id="(m-[0-9a-f]{32})">', html)


def _list(client: TestClient, zoo: Zoo, **query: str) -> Any:
    return client.get(f"/experiments/{zoo.experiment_id}/logged-models", params=query)


def _href(html: str, dom_id: str) -> str:
    found = re.search(rf'<a href="([^"]+)"[^>]*id="{dom_id}"', html)
    assert found, f"no link {dom_id}"
    return found.group(1).replace("&amp;", "&")


# -- the list ------------------------------------------------------------------------------


def test_the_list_shows_each_model_with_status_run_metric_and_bars(
    client: TestClient, zoo: Zoo
) -> None:
    response = _list(client, zoo)
    assert response.status_code == 200
    html = response.text
    assert set(_rows(html)) == {zoo.good, zoo.bad, zoo.loose}
    assert 'id="tab-logged-models" class="active"' in html
    # The metric most models have is the column: auc, its newest value per model.
    assert '<option value="auc" selected>' in html
    row = re.search(rf'data-model-id="{zoo.good}">(.*?)</tr>', html, re.S)
    assert row
    assert ">0.9<" in row.group(1)  # the newest of 0.6, 0.7, 0.9
    assert 'class="badge pass">ready<' in row.group(1)
    assert f'href="/runs/{zoo.run_id}">trainer</a>' in row.group(1)
    bad_row = re.search(rf'data-model-id="{zoo.bad}">(.*?)</tr>', html, re.S)
    assert bad_row and 'class="badge fail">upload failed<' in bad_row.group(1)
    loose_row = re.search(rf'data-model-id="{zoo.loose}">(.*?)</tr>', html, re.S)
    assert loose_row and ">none<" in loose_row.group(1)
    # One bar per model with the metric, each a link to its model's page.
    bars = re.findall(r'<a href="/logged-models/(m-[0-9a-f]{32})" class="bar-link">', html)
    assert set(bars) == {zoo.good, zoo.bad, zoo.loose}
    widths = [float(w) for w in re.findall(r'<rect class="bar" [^>]*width="([\d.]+)"', html)]
    assert len(widths) == 3 and max(widths) > min(widths) > 0


def test_the_experiment_page_links_to_its_logged_models(client: TestClient, zoo: Zoo) -> None:
    html = client.get(f"/experiments/{zoo.experiment_id}").text
    assert _href(html, "tab-logged-models") == f"/experiments/{zoo.experiment_id}/logged-models"


def test_sorting_by_the_metric_both_ways_and_models_without_it_last(
    client: TestClient, zoo: Zoo
) -> None:
    assert _rows(_list(client, zoo, sort="-metric").text) == [zoo.good, zoo.loose, zoo.bad]
    assert _rows(_list(client, zoo, sort="metric").text) == [zoo.bad, zoo.loose, zoo.good]
    # rmse: only the loose model has it; the others follow it whichever the direction.
    for sort in ("metric", "-metric"):
        html = _list(client, zoo, metric="rmse", sort=sort).text
        assert _rows(html)[0] == zoo.loose
        assert '<option value="rmse" selected>' in html
    assert _rows(_list(client, zoo, sort="name").text) == [zoo.bad, zoo.good, zoo.loose]
    html = _list(client, zoo, sort="metric").text
    assert _href(html, "sort-metric").endswith("sort=-metric")
    assert sort_targets("-created") == {"name": "name", "created": "created", "metric": "-metric"}


def test_filters_by_name_and_status(client: TestClient, zoo: Zoo) -> None:
    # Name contains, ignoring case; newest first.
    assert _rows(_list(client, zoo, name="OO").text) == [zoo.loose, zoo.good]
    assert _rows(_list(client, zoo, status="failed").text) == [zoo.bad]
    assert set(_rows(_list(client, zoo, status="ready").text)) == {zoo.good, zoo.loose}
    # % and _ are matched as themselves, not as LIKE wildcards.
    html = _list(client, zoo, name="%").text
    assert _rows(html) == [] and 'id="no-logged-models"' in html


def test_hostile_filter_text_is_escaped_and_bad_choices_are_400(
    client: TestClient, zoo: Zoo
) -> None:
    html = _list(client, zoo, name=XSS_NAME).text
    assert XSS_NAME not in html and ESCAPED_XSS in html
    response = _list(client, zoo, metric=XSS_NAME)
    assert response.status_code == 200
    assert XSS_NAME not in response.text and 'id="metric-note"' in response.text
    for query in ({"status": "done"}, {"sort": "-size"}, {"status": XSS_NAME}):
        response = _list(client, zoo, **query)
        assert response.status_code == 400, query
        assert "text/html" in response.headers["content-type"]
        assert XSS_NAME not in response.text


def test_unknown_and_malformed_experiments_are_the_ui_404(client: TestClient) -> None:
    for path in ("/experiments/999999/logged-models", "/experiments/abc/logged-models"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]


def test_an_experiment_without_logged_models_says_so(client: TestClient) -> None:
    exp = _post(client, "/experiments/create", {"name": "empty"})["experiment_id"]
    html = client.get(f"/experiments/{exp}/logged-models").text
    assert 'id="no-logged-models"' in html and "initialize_logged_model" in html


# -- one model ---------------------------------------------------------------------------------


def _charts(html: str) -> list[dict[str, Any]]:
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html)
    return json.loads(found.group(1)) if found else []


def test_a_run_model_page_shows_metrics_curve_runs_and_its_run_artifacts(
    client: TestClient, zoo: Zoo
) -> None:
    response = client.get(f"/logged-models/{zoo.good}")
    assert response.status_code == 200
    html = response.text
    assert 'id="model-status">ready<' in html
    assert _href(html, "source-run") == f"/runs/{zoo.run_id}"
    # auc has three values: a chart over steps, one series for the run and dataset.
    charts = _charts(html)
    assert [c["key"] for c in charts] == ["auc"]
    (series,) = charts[0]["series"]
    assert series["steps"] == [0, 1, 2] and series["values"] == [0.6, 0.7, 0.9]
    assert "dataset eval" in series["label"]
    assert '<tr data-key="auc">' in html and ">0.9<" in html
    # The run that read it, and its files: the run's artifact browser at the model's folder.
    runs = re.search(r'<table class="data compact" id="model-runs">(.*?)</table>', html, re.S)
    assert runs and f'href="/runs/{zoo.reader_id}">scorer</a>' in runs.group(1)
    assert "read it" in runs.group(1)
    assert _href(html, "model-files") == f"/runs/{zoo.run_id}/artifacts?path=good"


def test_a_model_of_its_own_lists_its_files_with_downloads(client: TestClient, zoo: Zoo) -> None:
    html = client.get(f"/logged-models/{zoo.loose}").text
    assert "logged on its own" in html
    assert re.search(r"<th scope=\"row\">alpha</th><td class=\"value\">0.5</td>", html)
    assert re.search(r"<th scope=\"row\">team</th><td class=\"value\">risk</td>", html)
    # Single values: a table, no chart.
    assert _charts(html) == [] and '<tr data-key="rmse">' in html
    assert "produced it" in html and ">3<" in html
    link = f"/logged-models/{zoo.loose}/files?path=MLmodel"
    assert f'href="{link}"' in html
    download = client.get(link)
    assert download.status_code == 200
    assert download.content == MLMODEL
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert client.get(f"/logged-models/{zoo.loose}/files?path=nope").status_code == 404
    assert client.get(f"/logged-models/{zoo.loose}/files?path=../x").status_code in (400, 404)


def test_registered_versions_link_both_ways(client: TestClient, zoo: Zoo) -> None:
    _post(client, "/registered-models/create", {"name": "churn"})
    _post(
        client,
        "/model-versions/create",
        {"name": "churn", "source": f"models:/{zoo.good}", "model_id": zoo.good},
    )
    html = client.get(f"/logged-models/{zoo.good}").text
    assert 'href="/models/churn/versions/1" class="registered-version">churn v1<' in html
    listed = _list(client, zoo).text
    assert 'href="/models/churn/versions/1" class="registered-version"' in listed
    # No file was uploaded for it: the version page still opens, says so and links back.
    response = client.get("/models/churn/versions/1")
    assert response.status_code == 200
    assert _href(response.text, "source-logged-model") == f"/logged-models/{zoo.good}"
    assert 'id="no-files-note"' in response.text
    # The model of its own has a file: its version holds a copy, and links back too.
    _post(
        client,
        "/model-versions/create",
        {"name": "churn", "source": f"models:/{zoo.loose}", "model_id": zoo.loose},
    )
    response = client.get("/models/churn/versions/2")
    assert _href(response.text, "source-logged-model") == f"/logged-models/{zoo.loose}"
    assert ">MLmodel</a>" in response.text


def test_the_run_page_links_the_models_it_logged_read_and_produced(
    client: TestClient, zoo: Zoo
) -> None:
    trainer = client.get(f"/runs/{zoo.run_id}").text
    section = re.search(r'id="run-logged-models">(.*?)</table>', trainer, re.S)
    assert section
    assert f'href="/logged-models/{zoo.good}" class="logged-model-link">good<' in section.group(1)
    assert f'href="/logged-models/{zoo.bad}"' in section.group(1)
    scorer = client.get(f"/runs/{zoo.reader_id}").text
    section = re.search(r'id="run-logged-models">(.*?)</table>', scorer, re.S)
    assert section
    assert "read it" in section.group(1) and "produced it at step 3" in section.group(1)
    assert f'href="/logged-models/{zoo.loose}"' in section.group(1)


def test_a_run_without_logged_models_has_no_section(client: TestClient) -> None:
    exp = _post(client, "/experiments/create", {"name": "plain"})["experiment_id"]
    run_id = _post(client, "/runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
    html = client.get(f"/runs/{run_id}").text
    assert 'id="run-logged-models"' not in html


def test_unknown_malformed_and_deleted_models(client: TestClient, zoo: Zoo) -> None:
    for model_id in ("m-" + "0" * 32, "m-xyz", "../etc", "m-" + "A" * 32):
        response = client.get(f"/logged-models/{model_id}")
        assert response.status_code == 404, model_id
        assert "text/html" in response.headers["content-type"]
        assert client.get(f"/logged-models/{model_id}/files?path=a").status_code == 404
    # A deleted model keeps its page (runs still link to it), marked deleted, off the list.
    assert client.delete(f"{API}/logged-models/{zoo.bad}").status_code == 200
    html = client.get(f"/logged-models/{zoo.bad}").text
    assert '<span class="badge warn">deleted</span>' in html
    assert zoo.bad not in _rows(_list(client, zoo).text)


def test_hostile_names_and_tags_are_escaped(client: TestClient, zoo: Zoo) -> None:
    evil = _model(
        client,
        zoo.experiment_id,
        "evil-model",
        tags=[{"key": "note", "value": XSS_NAME}],
        params=[{"key": XSS_NAME, "value": XSS_NAME}],
    )
    client.patch(
        f"{API}/logged-models/{evil}/tags",
        json={"tags": [{"key": "mlflow.modelVersions", "value": "not json"}]},
    )
    html = client.get(f"/logged-models/{evil}").text
    assert XSS_NAME not in html and ESCAPED_XSS in html
    assert "Not registered" in html


# -- helpers -----------------------------------------------------------------------------------


def test_registered_versions_read_only_well_formed_entries() -> None:
    tag = json.dumps(
        [
            {"name": "a", "version": "2"},
            {"name": "b", "version": 3},
            {"name": "c", "version": True},
            {"name": "d", "version": "x"},
            {"version": 1},
            "e",
        ]
    )
    assert registered_versions({"mlflow.modelVersions": tag}) == [("a", 2), ("b", 3)]
    assert registered_versions({"mlflow.modelVersions": "{"}) == []
    assert registered_versions({"mlflow.modelVersions": '{"a": 1}'}) == []
    assert registered_versions({}) == []


def test_bars_span_negative_values_from_a_zero_line() -> None:
    models = [
        {"model_id": "m-1", "name": "up", "value": 2.0},
        {"model_id": "m-2", "name": "down", "value": -1.0},
        {"model_id": "m-3", "name": "none", "value": None},
        {"model_id": "m-4", "name": "inf", "value": float("inf")},
    ]
    chart = bar_chart(models, "gain")
    assert chart is not None
    up, down = chart["bars"]
    assert down["x"] < chart["zero"] <= up["x"]
    assert up["width"] == pytest.approx(2 * down["width"], rel=0.01)
    assert bar_chart([{"model_id": "m", "name": "n", "value": None}], "gain") is None
