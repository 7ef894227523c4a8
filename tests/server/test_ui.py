"""The web UI over HTTP: every page, escaping, errors, assets and sign-in."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME, Demo

import mloop
from mloop.auth.tokens import create_token
from mloop.server.app import create_app
from mloop.store.runtime import Runtime

ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


class _Links(HTMLParser):
    """Collects src/href attributes and the JSON data blocks of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.json_blocks: dict[str, str] = {}
        self._json_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "action"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag == "script" and found.get("type") == "application/json":
            self._json_id = found.get("id") or ""

    def handle_data(self, data: str) -> None:
        if self._json_id is not None:
            self.json_blocks[self._json_id] = self.json_blocks.get(self._json_id, "") + data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._json_id = None


def parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def chart_data(html: str) -> list[dict[str, Any]]:
    charts: list[dict[str, Any]] = json.loads(parse(html).json_blocks["chart-data"])
    return charts


def row_names(html: str) -> list[str]:
    """Run names in the runs table, in order."""
    return re.findall(
        r'<td data-col="attr:run_name" class="name">\s*<a href="/runs/\w+">([^<]*)</a>', html
    )


@pytest.fixture
def demo(runtime: Runtime, populate: Callable[[Any], Demo]) -> Demo:
    return populate(mloop.Client())


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


# -- experiments ---------------------------------------------------------------------------


def test_experiments_page_lists_experiments_with_run_counts(client: TestClient, demo: Demo) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert f'href="/experiments/{demo.experiment_id}">vision</a>' in page.text
    row = page.text.split(f'href="/experiments/{demo.experiment_id}"')[1].split("</tr>")[0]
    assert '<td class="num">4</td>' in row  # three runs and a child
    assert 'href="/models"' in page.text and "Experiments" in page.text


def test_empty_store_shows_a_hint(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "No experiments yet" in page.text


def test_runs_table_shows_runs_and_columns(client: TestClient, demo: Demo) -> None:
    page = client.get(f"/experiments/{demo.experiment_id}")
    assert page.status_code == 200
    assert set(row_names(page.text)) == {"baseline", "bigger", ESCAPED_XSS, "fold-1"}
    for col in ("metric:loss", "metric:acc", "param:lr", "param:model", "tag:owner"):
        assert f'data-col="{col}"' in page.text
    assert 'data-col="tag:owner" data-default="off"' in page.text  # tags start hidden
    assert 'data-col="metric:acc" data-default="on"' in page.text


def test_filter_uses_the_search_language(client: TestClient, demo: Demo) -> None:
    page = client.get(f"/experiments/{demo.experiment_id}", params={"filter": "metrics.acc > 0.8"})
    assert page.status_code == 200
    assert row_names(page.text) == ["bigger"]
    assert 'value="metrics.acc &gt; 0.8"' in page.text
    page = client.get(
        f"/experiments/{demo.experiment_id}",
        params={"filter": "params.model = 'cnn' and tags.stage = 'dev'"},
    )
    assert sorted(row_names(page.text)) == ["baseline", "bigger"]
    page = client.get(
        f"/experiments/{demo.experiment_id}", params={"filter": "params.model = 'none'"}
    )
    assert "No runs match this filter" in page.text


def test_bad_filter_is_a_400_with_the_message(client: TestClient, demo: Demo) -> None:
    page = client.get(f"/experiments/{demo.experiment_id}", params={"filter": "metrics.acc >> 1"})
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert 'id="filter-error"' in page.text
    assert "position" in page.text  # the parser's message names where the problem is
    assert 'value="metrics.acc &gt;&gt; 1"' in page.text  # the filter stays in the box to fix


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"order_by": "metrics.nope DESC sideways"}, 400),
        ({"page_token": "not-a-token"}, 400),
        ({"max_results": "lots"}, 400),
        ({"max_results": "0"}, 400),
        ({"filter": "x" * 20_000}, 400),
    ],
)
def test_bad_query_params_are_400_not_500(
    client: TestClient, demo: Demo, params: dict[str, str], expected: int
) -> None:
    page = client.get(f"/experiments/{demo.experiment_id}", params=params)
    assert page.status_code == expected
    assert "text/html" in page.headers["content-type"]


def test_order_by_header_links_sort_the_table(client: TestClient, demo: Demo) -> None:
    url = f"/experiments/{demo.experiment_id}"
    page = client.get(url, params={"order_by": "metrics.acc DESC"})
    # Highest acc first; the child run without the metric sorts last.
    assert row_names(page.text) == ["bigger", "baseline", ESCAPED_XSS, "fold-1"]
    assert "acc ▼" in page.text
    # The acc header now flips the direction.
    assert "order_by=metrics.acc+ASC" in page.text
    page = client.get(url, params={"order_by": "attributes.run_name ASC"})
    names = row_names(page.text)
    assert names == sorted(names, key=lambda n: n.replace("&lt;", "<"))


def test_pagination_follows_page_tokens(client: TestClient, demo: Demo) -> None:
    url = f"/experiments/{demo.experiment_id}"
    first = client.get(url, params={"max_results": "3", "order_by": "attributes.run_name ASC"})
    assert len(row_names(first.text)) == 3
    link = re.search(r'href="([^"]+)" id="next-page"', first.text)
    assert link is not None
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert len(row_names(second.text)) == 1
    assert set(row_names(first.text)).isdisjoint(row_names(second.text))
    assert 'id="next-page"' not in second.text


def test_unknown_experiment_is_404(client: TestClient, demo: Demo) -> None:
    for url in ("/experiments/987654", "/experiments/not-a-number"):
        page = client.get(url)
        assert page.status_code == 404, url
        assert "text/html" in page.headers["content-type"]
        assert "does not exist" in page.text


# -- runs ------------------------------------------------------------------------------------


def test_run_page_shows_everything(client: TestClient, demo: Demo) -> None:
    run_id = demo.runs["baseline"]
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>baseline" in text
    assert "FINISHED" in text and "1m 30s" in text  # status and duration
    assert "0" * 40 in text and "train.py" in text  # source commit and entry point
    assert '>lr</th><td class="value">0.1</td>' in text
    assert '>stage</th><td class="value">dev</td>' in text
    assert f'href="/runs/{demo.runs["fold-1"]}">fold-1</a>' in text  # child run
    assert f'href="/experiments/{demo.experiment_id}">vision</a>' in text
    assert "NaN" in text  # the NaN metric's latest value
    assert 'href="/runs/' + run_id + '/artifacts?path=notes"' in text
    assert '<script src="/static/uPlot.iife.min.js' in text


def test_run_page_embeds_full_metric_histories_as_json(client: TestClient, demo: Demo) -> None:
    page = client.get(f"/runs/{demo.runs['baseline']}")
    charts = {c["key"]: c for c in chart_data(page.text)}
    assert sorted(charts) == ["acc", "loss", "weird"]
    (loss,) = charts["loss"]["series"]
    assert loss["label"] == "baseline"
    assert loss["steps"] == list(range(30))
    assert loss["values"][0] == pytest.approx(1.0)
    assert charts["weird"]["series"][0]["values"] == [None]  # NaN travels as null


def test_child_run_links_its_parent(client: TestClient, demo: Demo) -> None:
    page = client.get(f"/runs/{demo.runs['fold-1']}")
    assert f'href="/runs/{demo.runs["baseline"]}">baseline</a>' in page.text
    assert "No metrics logged." in page.text


def test_unknown_run_is_404(client: TestClient, demo: Demo) -> None:
    for url in ("/runs/" + "f" * 32, "/runs/not-an-id!", "/runs/" + "a" * 40 + "/artifacts"):
        page = client.get(url)
        assert page.status_code == 404, url
        assert "text/html" in page.headers["content-type"]


def test_user_content_is_escaped_everywhere(client: TestClient, demo: Demo) -> None:
    xss_id = demo.runs[XSS_NAME]
    urls = [
        f"/experiments/{demo.experiment_id}",
        f"/runs/{xss_id}",
        f"/compare?runs={demo.runs['baseline']},{xss_id}",
    ]
    for url in urls:
        text = client.get(url).text
        assert XSS_NAME not in text, url
        assert "<b>mlp</b>" not in text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, url
    charts = chart_data(client.get(f"/runs/{xss_id}").text)
    assert charts[0]["series"][0]["label"] == XSS_NAME  # intact once parsed, inert in the page


# -- compare ---------------------------------------------------------------------------------


def test_compare_overlays_runs_and_diffs_params(client: TestClient, demo: Demo) -> None:
    a, b = demo.runs["baseline"], demo.runs["bigger"]
    page = client.get(f"/compare?runs={a},{b}")
    assert page.status_code == 200
    charts = {c["key"]: c for c in chart_data(page.text)}
    assert [s["label"] for s in charts["loss"]["series"]] == ["baseline", "bigger"]
    assert [s["label"] for s in charts["weird"]["series"]] == ["baseline"]
    assert '<tr class="diff"><th scope="row">lr</th><td>0.1</td><td>0.01</td></tr>' in page.text
    assert '<tr class="same"><th scope="row">model</th><td>cnn</td><td>cnn</td></tr>' in page.text
    # The repeated-parameter form (a plain HTML form submit) works too.
    again = client.get("/compare", params=[("runs", a), ("runs", b)])
    assert chart_data(again.text) == chart_data(page.text)


def test_compare_errors(client: TestClient, demo: Demo) -> None:
    assert client.get("/compare").status_code == 400
    assert client.get("/compare?runs=,").status_code == 400
    missing = client.get(f"/compare?runs={demo.runs['baseline']},{'e' * 32}")
    assert missing.status_code == 404
    assert "does not exist" in missing.text
    too_many = ",".join(f"{i:032x}" for i in range(30))
    assert client.get(f"/compare?runs={too_many}").status_code == 400


# -- artifacts ---------------------------------------------------------------------------------


def test_artifact_browser_lists_previews_and_downloads(client: TestClient, demo: Demo) -> None:
    run_id = demo.runs["baseline"]
    root = client.get(f"/runs/{run_id}/artifacts")
    assert root.status_code == 200
    assert ">notes/</a>" in root.text and ">model.bin</a>" in root.text
    assert "1.0 KiB" in root.text  # model.bin is 1024 bytes

    folder = client.get(f"/runs/{run_id}/artifacts", params={"path": "notes"})
    assert ">readme.txt</a>" in folder.text

    text_file = client.get(f"/runs/{run_id}/artifacts", params={"path": "notes/readme.txt"})
    assert text_file.status_code == 200
    assert "hello &lt;b&gt;world&lt;/b&gt;" in text_file.text
    assert re.search(r"[0-9a-f]{64}", text_file.text)  # sha256 shown in full

    binary = client.get(f"/runs/{run_id}/artifacts", params={"path": "model.bin"})
    assert 'id="no-preview"' in binary.text and "binary" in binary.text

    download = client.get(f"/runs/{run_id}/artifacts/download", params={"path": "model.bin"})
    assert download.status_code == 200
    assert download.content == bytes(range(256)) * 4
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    ("path", "status"),
    [("../../etc/passwd", 400), ("/etc/passwd", 400), ("nope.txt", 404), ("notes/nope", 404)],
)
def test_artifact_paths_are_checked(client: TestClient, demo: Demo, path: str, status: int) -> None:
    run_id = demo.runs["baseline"]
    assert client.get(f"/runs/{run_id}/artifacts", params={"path": path}).status_code == status
    download = client.get(f"/runs/{run_id}/artifacts/download", params={"path": path})
    assert download.status_code == status


def test_a_non_ascii_artifact_name_downloads_with_an_ascii_fallback(
    client: TestClient, demo: Demo, tmp_path: Path
) -> None:

    run_id = demo.runs["baseline"]
    source = tmp_path / "résumé-ü.txt"
    source.write_text("bonjour")
    mloop.Client().log_artifact(run_id, str(source))
    download = client.get(f"/runs/{run_id}/artifacts/download", params={"path": source.name})
    assert download.status_code == 200 and download.content == b"bonjour"
    header = download.headers["content-disposition"]
    assert 'filename="r_sum_-_.txt"' in header  # Latin-1 headers: ASCII only here
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9-%C3%BC.txt" in header


def test_download_without_path_is_400(client: TestClient, demo: Demo) -> None:
    assert client.get(f"/runs/{demo.runs['baseline']}/artifacts/download").status_code == 400


# -- assets and headers ------------------------------------------------------------------------


def test_pages_use_no_external_urls_and_send_a_strict_csp(client: TestClient, demo: Demo) -> None:
    urls = [
        "/",
        f"/experiments/{demo.experiment_id}",
        f"/runs/{demo.runs['baseline']}",
        f"/runs/{demo.runs['baseline']}/artifacts",
        f"/compare?runs={demo.runs['baseline']},{demo.runs['bigger']}",
        "/runs/" + "f" * 32,
        "/models",
        "/models/churn",
        "/models/churn/versions/2",
    ]
    for url in urls:
        page = client.get(url)
        links = parse(page.text).urls
        assert links, url
        for link in links:
            assert not link.lower().startswith(("http://", "https://", "//")), (url, link)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "asset", ["app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE.txt"]
)
def test_static_assets_ship_in_the_package(client: TestClient, asset: str) -> None:
    response = client.get(f"/static/{asset}")
    assert response.status_code == 200
    assert len(response.content) > 100


# -- authentication ----------------------------------------------------------------------------


@pytest.fixture
def auth_client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, auth_enabled=True)) as test_client:
        yield test_client


def _token(runtime: Runtime, role: str = "reader") -> str:
    return runtime.run(lambda ctx: create_token(ctx, f"ui-{role}", role), write=True)


def test_pages_redirect_to_login_when_auth_is_on(auth_client: TestClient) -> None:
    for url in ("/", "/experiments/1?filter=x", "/runs/" + "a" * 32, "/compare?runs=a"):
        response = auth_client.get(url, follow_redirects=False)
        assert response.status_code == 303, url
        assert response.headers["location"].startswith("/login?next=%2F"), url
    login = auth_client.get("/login?next=/experiments/1")
    assert login.status_code == 200
    assert 'name="token"' in login.text and 'value="/experiments/1"' in login.text


def test_login_sets_a_strict_httponly_cookie(auth_client: TestClient, runtime: Runtime) -> None:
    token = _token(runtime)
    response = auth_client.post(
        "/login", data={"token": token, "next": "/experiments/1"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/experiments/1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"mloop_token={token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = auth_client.get("/")
    assert page.status_code == 200
    assert "ui-reader" in page.text and "Sign out" in page.text

    out = auth_client.post("/logout", follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert auth_client.get("/", follow_redirects=False).status_code == 303


def test_login_refuses_bad_tokens_and_foreign_redirects(
    auth_client: TestClient, runtime: Runtime
) -> None:
    bad = auth_client.post("/login", data={"token": "mlp_wrong", "next": "/"})
    assert bad.status_code == 401
    assert "unknown or revoked" in bad.text
    assert "set-cookie" not in bad.headers
    empty = auth_client.post("/login", data={"token": ""})
    assert empty.status_code == 400
    token = _token(runtime)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil"):
        ok = auth_client.post(
            "/login", data={"token": token, "next": target}, follow_redirects=False
        )
        assert ok.headers["location"] == "/", target
    foreign = auth_client.post(
        "/login",
        data={"token": token},
        headers={"Origin": "http://evil.example"},
        follow_redirects=False,
    )
    assert foreign.status_code == 403


def test_bearer_header_also_opens_pages(auth_client: TestClient, runtime: Runtime) -> None:
    token = _token(runtime)
    page = auth_client.get("/", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200


def test_without_auth_there_is_no_login(client: TestClient) -> None:
    response = client.get("/login?next=/experiments/1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/experiments/1"
    assert "Sign out" not in client.get("/").text


# -- registry ------------------------------------------------------------------------------------


def test_models_page_lists_models_with_latest_version_and_aliases(
    client: TestClient, demo: Demo
) -> None:
    page = client.get("/models")
    assert page.status_code == 200
    row = page.text.split('<tr data-model="churn">')[1].split("</tr>")[0]
    assert 'href="/models/churn/versions/2">v2</a>' in row
    assert "@champion → v2" in row and "@challenger → v1" in row
    assert "predicts churn &lt;script&gt;" in row
    assert '<tr data-model="empty-model">' in page.text
    found = client.get("/models", params={"q": "EMPTY"})
    assert '<tr data-model="empty-model">' in found.text and "churn" not in found.text
    assert client.get("/models", params={"page_token": "junk"}).status_code == 400


def test_model_page_shows_versions_and_alias_history(client: TestClient, demo: Demo) -> None:
    page = client.get("/models/churn")
    assert page.status_code == 200
    text = page.text
    versions = text.split('id="versions-table"')[1].split("</table>")[0]
    v2 = versions.split('<tr id="v2">')[1].split("</tr>")[0]
    assert f'href="/runs/{demo.runs["bigger"]}">bigger</a>' in v2
    assert "sklearn" in v2 and '<span class="badge alias">@champion</span>' in v2
    assert "0.85" in v2  # the run's acc at registration
    v1 = versions.split('<tr id="v1">')[1].split("</tr>")[0]
    assert '<span class="badge alias">@challenger</span>' in v1
    history = text.split('id="alias-history-table"')[1].split("</table>")[0]
    changes = re.findall(r'<td class="change">(.*?)</td>', history, flags=re.S)
    # Newest first: champion moved 1 -> 2, challenger set to 1, champion set to 1.
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in changes] == [
        "v1 → v2",
        "set → v1",
        "set → v1",
    ]
    assert history.count("@champion") == 2 and history.count("@challenger") == 1


def test_model_version_page(client: TestClient, demo: Demo) -> None:
    page = client.get("/models/churn/versions/1")
    assert page.status_code == 200
    assert f"runs:/{demo.runs['baseline']}/model" in page.text
    assert "model.skops" in page.text and "mloop-model.json" in page.text
    assert '>team</th><td class="value">cv</td>' in page.text


@pytest.mark.parametrize(
    "url",
    ["/models/nope", "/models/bad%20name!", "/models/churn/versions/9", "/models/churn/versions/x"],
)
def test_unknown_models_and_versions_are_404(client: TestClient, demo: Demo, url: str) -> None:
    page = client.get(url)
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]


def test_empty_registry(client: TestClient) -> None:
    page = client.get("/models")
    assert page.status_code == 200
    assert "No registered models yet" in page.text


# -- helpers ---------------------------------------------------------------------------------------


def test_thinning_keeps_spikes_and_the_last_point() -> None:
    from mloop.server.ui.charts import thin
    from mloop.tracking.schemas import MetricPoint

    points = [MetricPoint(key="m", value=float(i % 7), step=i, timestamp=i) for i in range(50_000)]
    points[12_345] = MetricPoint(key="m", value=1e9, step=12_345, timestamp=12_345)
    points[30_000] = MetricPoint(key="m", value=float("nan"), step=30_000, timestamp=30_000)
    kept = thin(points, limit=3000)
    assert len(kept) <= 3100
    assert [p.step for p in kept] == sorted(p.step for p in kept)
    assert any(p.value == 1e9 for p in kept)
    assert kept[-1].step == 49_999
    short = points[:10]
    assert thin(short, limit=3000) == short


def test_formatting_helpers() -> None:
    from mloop.server.ui.formatting import duration, filesize, json_safe, number, quote_key

    assert number(float("nan")) == "NaN" and number(float("-inf")) == "-inf"
    assert number(3.0) == "3" and number(0.123456789) == "0.123457" and number(None) == ""
    assert duration(0, 90_000) == "1m 30s" and duration(0, 500) == "500 ms"
    assert duration(0, None) == "" and duration(10, 5) == ""
    assert filesize(1024) == "1.0 KiB" and filesize(12) == "12 B"
    assert json_safe({"a": [1.0, float("nan"), float("inf")]}) == {"a": [1.0, None, None]}
    assert quote_key("metrics", "val_loss") == "metrics.val_loss"
    assert quote_key("params", 'my "odd" key') == 'params."my ""odd"" key"'


def test_header_links_quote_keys_with_spaces(client: TestClient, runtime: Runtime) -> None:
    from mloop.client.entities import Metric

    sdk = mloop.Client()
    exp = sdk.create_experiment("quoted")
    for value in (0.3, 0.9):
        run = sdk.create_run(exp, run_name=f"r{value}")
        sdk.log_batch(run.info.run_id, metrics=[Metric(key="val loss", value=value, timestamp=1)])
    page = client.get(f"/experiments/{exp}")
    link = re.search(r'<th data-col="metric:val loss"[^>]*>\s*<a href="([^"]+)"', page.text)
    assert link is not None
    sorted_page = client.get(link.group(1).replace("&amp;", "&"))
    assert sorted_page.status_code == 200
    assert row_names(sorted_page.text) == ["r0.9", "r0.3"]


def test_source_card_reads_mloop_and_mlflow_tags() -> None:
    from mloop.server.ui.runs import _source_rows

    mlflow_tags = {"mlflow.source.git.commit": "abc", "mlflow.source.name": "train.py"}
    assert _source_rows(mlflow_tags) == [("Git commit", "abc"), ("Entry point", "train.py")]
    both = {"mloop.source.git.commit": "ours", "mlflow.source.git.commit": "theirs"}
    assert _source_rows(both) == [("Git commit", "ours")]
    assert _source_rows({}) == []
