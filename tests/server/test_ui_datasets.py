"""The dataset pages over HTTP: listing, one dataset, one version, two versions compared;
404s and 400s, escaping, bounded output for hostile profiles, sign-in."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import DATASET_CONTRACT, XSS_NAME, DatasetDemo, log_datasets
from tests.server.test_ui import ESCAPED_XSS, parse

import mloop
from mloop.auth.tokens import create_token
from mloop.server.app import create_app
from mloop.store.runtime import Runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def demo(runtime: Runtime) -> DatasetDemo:
    return log_datasets()


def charts_of(html: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parse(html).json_blocks["dataset-charts"])
    return data


def section(html: str, marker: str, end: str = "</section>") -> str:
    return html.split(marker, 1)[1].split(end, 1)[0]


def card(html: str, dom_id: str) -> str:
    return section(html, f'id="{dom_id}"', "</article>")


def no_raw_script(html: str) -> None:
    """The only script tags are the page's own: none comes from data."""
    assert XSS_NAME not in html
    assert "alert(1)</script>" not in html


# -- /datasets -------------------------------------------------------------------------------


def test_datasets_page_lists_datasets(client: TestClient, demo: DatasetDemo) -> None:
    page = client.get("/datasets")
    assert page.status_code == 200
    row = section(page.text, '<tr data-dataset="transactions">', "</tr>")
    assert 'href="/datasets/transactions"' in row and "card payments" in row
    assert 'href="/datasets/transactions/2">v2</a>' in row
    assert '<td class="num">200</td>' in row  # rows of the latest version
    assert "KiB" in row
    assert 'href="/datasets/transactions/1">@golden → v1</a>' in row
    assert "policy-optional" in row and ">optional<" in row
    assert 'class="badge fail"' in row  # v2 failed the optional policy
    assert 'class="active" aria-current="page">Datasets</a>' in page.text

    found = client.get("/datasets", params={"q": "TRANS"})
    assert '<tr data-dataset="transactions">' in found.text
    none = client.get("/datasets", params={"q": "nothing"})
    assert "No datasets match" in none.text
    assert client.get("/datasets", params={"page_token": "junk"}).status_code == 400


def test_empty_datasets_page_gives_a_hint(client: TestClient) -> None:
    page = client.get("/datasets")
    assert page.status_code == 200
    assert "No datasets yet" in page.text
    assert 'href="/datasets"' in client.get("/").text  # the top navigation


def test_dataset_without_versions(client: TestClient, runtime: Runtime) -> None:
    mloop.set_dataset_policy("planned", DATASET_CONTRACT)  # a policy creates the dataset
    row = section(client.get("/datasets").text, '<tr data-dataset="planned">', "</tr>")
    assert ">none</span>" in row and "policy-required" in row
    page = client.get("/datasets/planned")
    assert page.status_code == 200
    assert "No versions yet" in page.text and "A comparison needs two versions" in page.text
    assert client.get("/datasets/planned/latest").status_code == 404
    assert client.get("/datasets/planned/1").status_code == 404


# -- /datasets/{name} ------------------------------------------------------------------------


def test_dataset_page_shows_versions_policy_and_history(
    client: TestClient, demo: DatasetDemo
) -> None:
    page = client.get("/datasets/transactions")
    assert page.status_code == 200
    text = page.text
    versions = section(text, 'id="versions-table"', "</table>")
    v1 = section(versions, '<tr id="v1">', "</tr>")
    assert f'href="/runs/{demo.producer_run}">prepare</a>' in v1
    assert '<span class="badge alias">@golden</span>' in v1 and 'class="badge pass"' in v1
    v2 = section(versions, '<tr id="v2">', "</tr>")
    assert 'class="badge fail"' in v2 and ">none<" in v2  # no producer run
    assert versions.index('<tr id="v2">') < versions.index('<tr id="v1">')  # newest first

    policy = section(text, 'id="policy"')
    assert "optional" in policy and "<strong>transactions</strong> (version 3)" in policy
    assert '<details class="contract" id="policy-contract">' in policy
    assert "allowed: [DE, FR, US]" in policy  # the contract YAML, escaped in a <pre>

    history = section(text, 'id="alias-history-table"', "</table>")
    assert 'set → <a href="/datasets/transactions/1">v1</a>' in history

    assert 'action="/datasets/transactions/compare" class="compare-form"' in text
    form = section(text, 'id="compare-versions"', "</form>")
    assert '<option value="1" selected>' in form.split('name="b"')[0]
    assert '<option value="2" selected>' in form.split('name="b"')[1]
    assert charts_of(text)["rows"] == {"type": "rows", "versions": [1, 2], "rows": [200, 200]}


def test_alias_history_partial_links_models_by_default() -> None:
    from mloop.registry.schemas import AliasHistoryEntry
    from mloop.server.ui.core import make_environment

    entry = AliasHistoryEntry(
        name="churn", alias="champion", from_version=1, to_version=2, actor="ana", timestamp=1
    )
    html = make_environment().get_template("_alias_history.html").render(history=[entry])
    assert '<a href="/models/churn/versions/2">v2</a>' in html


# -- /datasets/{name}/{version} --------------------------------------------------------------


def test_version_page_shows_summary_lineage_and_profile(
    client: TestClient, demo: DatasetDemo
) -> None:
    page = client.get("/datasets/transactions/1")
    assert page.status_code == 200
    text = page.text
    summary = section(text, 'id="summary"')
    assert "pandas DataFrame (200 rows)" in summary
    assert f'<a href="/runs/{demo.producer_run}" id="producer-run">prepare</a>' in summary
    digest = mloop.Client().get_dataset_version("transactions", 1).digest
    assert digest in summary
    lineage = section(text, 'id="lineage"')
    assert f'href="/runs/{demo.reader_run}">train</a>' in lineage
    assert "training" in lineage  # the context the run read it in

    schema = section(text, 'id="schema-table"', "</table>")
    for name in ("id", "amount", "country", "score", "when", "note", ESCAPED_XSS):
        assert f">{name}</a>" in schema
    assert "timestamp[us]" in schema

    amount = card(text, "col-1")
    assert 'data-column="amount"' in amount and ">mean</th>" in amount and ">p50</th>" in amount
    assert 'data-chart-id="col-1"' in amount
    assert "No histogram for dates" in card(text, "col-4")  # when: temporal

    charts = charts_of(text)
    hist = charts["col-1"]
    assert hist["type"] == "hist" and len(hist["edges"]) == len(hist["counts"]) + 1
    assert sum(hist["counts"]) == 200
    country = charts["col-2"]
    assert country["type"] == "bars" and country["complete"] is True
    assert [b["label"] for b in country["bars"]] == ["DE", "FR", "US"]
    assert math.isclose(sum(b["share"] for b in country["bars"]), 1.0)
    note = charts["col-5"]
    assert XSS_NAME in {b["label"] for b in note["bars"]}  # data in JSON, not markup
    assert "col-4" not in charts
    no_raw_script(text)

    validation = section(text, 'id="validations"')
    assert 'class="badge pass"' in validation and "transactions" in validation
    assert "id.unique" in validation and "Failing examples" not in validation


def test_version_page_shows_failed_checks_with_example_rows(
    client: TestClient, demo: DatasetDemo
) -> None:
    text = client.get("/datasets/transactions/2").text
    validation = section(text, 'id="validations"')
    assert 'class="badge fail"' in validation
    rows = re.findall(r'<tr class="check check-(\w+)">(.*?)</tr>', validation, flags=re.S)
    statuses = {re.search(r'<td class="mono">([^<]*)</td>', body).group(1): s for s, body in rows}  # type: ignore[union-attr]
    assert statuses["amount.min"] == "failed" and statuses["country.allowed"] == "failed"
    assert statuses["id.unique"] == "passed"
    assert [s for s, _ in rows][:2] == ["failed", "failed"]  # failures first
    amount_min = validation.split("amount.min", 1)[1]
    assert ">3</td>" in amount_min.split("</tr>")[0]  # failing count
    examples = amount_min.split('class="data compact examples-table"', 1)[1].split("</table>")[0]
    assert '<th class="mono failing-col">amount</th>' in examples
    assert ">-1</td>" in examples and ">-2.5</td>" in examples and ">-3</td>" in examples
    assert "allowed: [DE, FR, US]" in validation  # the contract's YAML
    assert DATASET_CONTRACT.splitlines()[0] in validation
    no_raw_script(text)


def test_version_aliases_and_latest_redirect(client: TestClient, demo: DatasetDemo) -> None:
    for ref, target in (
        ("golden", "/datasets/transactions/1"),
        ("latest", "/datasets/transactions/2"),
    ):
        response = client.get(f"/datasets/transactions/{ref}", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == target


# -- /datasets/{name}/compare ----------------------------------------------------------------


def test_compare_page_lists_changes_psi_and_overlays(client: TestClient, demo: DatasetDemo) -> None:
    page = client.get("/datasets/transactions/compare", params={"a": 1, "b": 2})
    assert page.status_code == 200
    text = page.text
    summary = section(text, 'id="column-summary-table"', "</table>")
    pattern = r'data-column="([^"]*)">.*?<span class="badge col-[\w-]+">([^<]*)</span>'
    rows = dict(re.findall(pattern, summary, flags=re.S))
    assert rows == {
        "id": "same",
        "amount": "changed",
        "country": "changed",
        "score": "type changed",
        "when": "same",
        ESCAPED_XSS: "same",
        "discount": "added",
        "note": "removed",
    }
    amount_row = section(summary, 'data-column="amount"', "</tr>")
    assert "psi-large" in amount_row
    psi = float(re.search(r'class="badge psi psi-\w+"[^>]*>≈?([\d.]+)<', amount_row).group(1))  # type: ignore[union-attr]
    assert psi > 0.25
    assert "psi-low" in section(summary, 'data-column="id"', "</tr>")
    assert "int64 → double" in section(summary, 'data-column="score"', "</tr>")

    amount = card(text, "cmp-1")
    mean_row = re.search(r'<tr class="(\w+)"><th scope="row">mean</th>(.*?)</tr>', amount)
    assert mean_row is not None and mean_row.group(1) == "diff"
    assert re.search(r'<td class="num delta">\+[\d.]+ \(\+[\d.]+%\)</td>', mean_row.group(2))
    assert '<tr class="same"><th scope="row">rows</th>' in amount

    charts = charts_of(text)
    overlay = charts["cmp-1"]
    assert overlay["type"] == "hist-overlay"
    assert len(overlay["shares"]) == 2 and len(overlay["edges"]) == len(overlay["shares"][0]) + 1
    for shares in overlay["shares"]:
        assert math.isclose(sum(shares), 1.0)
    bars = charts["cmp-2"]
    assert bars["type"] == "bars-overlay"
    labels = {b["label"]: b["shares"] for b in bars["bars"]}
    assert labels["US"][1] == 0.0 and labels["XX"][0] == 0.0 and labels["XX"][1] > 0.2
    assert charts["cmp-6"]["type"] == "hist"  # discount: only in v2, its own histogram
    assert charts["cmp-7"]["type"] == "bars"  # note: only in v1
    assert 'data-series="b"' in card(text, "cmp-6") and 'data-series="a"' in card(text, "cmp-7")
    versions = section(text, 'id="compare-versions-table"', "</table>")
    assert (
        '<tr class="diff"><th scope="row">Latest validation</th><td>passed</td><td>failed</td>'
        in versions
    )
    no_raw_script(text)

    same = client.get("/datasets/transactions/compare", params={"a": 2, "b": 2})
    assert same.status_code == 200
    assert "col-same" in same.text and "col-changed" not in same.text


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"a": "1"}, 400, "b is missing"),
        ({"a": "x", "b": "1"}, 400, "a must be a version number"),
        ({"a": "1", "b": "9"}, 404, "version 9"),
        ({"a": "1", "b": "2", "page": "0"}, 400, "page"),
        ({"a": "1", "b": "2", "page": "7"}, 404, "no page 7"),
    ],
)
def test_compare_errors(
    client: TestClient, demo: DatasetDemo, params: dict[str, str], status: int, message: str
) -> None:
    page = client.get("/datasets/transactions/compare", params=params)
    assert page.status_code == status
    assert "text/html" in page.headers["content-type"]
    assert message in page.text


@pytest.mark.parametrize(
    "url",
    [
        "/datasets/nope",
        "/datasets/bad%20name!",
        "/datasets/%3Cscript%3E",
        "/datasets/transactions/9",
        "/datasets/transactions/0",
        "/datasets/transactions/nope",
        "/datasets/transactions/v%3Cb%3E",
        "/datasets/transactions/1?page=9",
        "/datasets/nope/1",
        "/datasets/nope/compare?a=1&b=2",
    ],
)
def test_unknown_datasets_and_versions_are_404(
    client: TestClient, demo: DatasetDemo, url: str
) -> None:
    page = client.get(url)
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "<script>" not in page.text.replace('<script src="/static/app.js', "")


def test_dataset_pages_use_no_external_urls(client: TestClient, demo: DatasetDemo) -> None:
    for url in (
        "/datasets",
        "/datasets/transactions",
        "/datasets/transactions/1",
        "/datasets/transactions/compare?a=1&b=2",
    ):
        page = client.get(url)
        links = parse(page.text).urls
        assert "/static/datasets.js?v=" in " ".join(links) or url == "/datasets"
        for link in links:
            assert not link.lower().startswith(("http://", "https://", "//")), (url, link)
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/datasets.js").status_code == 200


# -- hostile and huge profiles ---------------------------------------------------------------


def _register_raw(tmp_path: Path, name: str, frame: pd.DataFrame, profile: dict[str, Any]) -> None:
    """A version whose profile is whatever a client sends (the server checks only its outline)."""
    from mloop.datasets.parquet import write_canonical

    written = write_canonical(frame, tmp_path / f"{name}.parquet")
    client = mloop.Client()
    upload = client.upload_dataset_file(name, written.digest, written.path)
    client.create_dataset_version(
        name, upload.upload_id, written.digest, len(frame), written.schema, profile
    )


def test_huge_and_malformed_profiles_are_bounded(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    frame = pd.DataFrame({f"c{i}": [1.0, 2.0] for i in range(250)})
    columns: list[dict[str, Any]] = [
        {"name": f"c{i}", "type": "double", "kind": "numeric", "count": 2, "null_count": 0}
        for i in range(250)
    ]
    edges = [float(i) for i in range(5001)]
    columns[0].update(histogram={"edges": edges, "counts": [1] * 5000}, mean=2.5, std=1)
    columns[1].update(
        kind="categorical",
        top=[[f"{XSS_NAME}{i}", 100_000 - i] for i in range(50_000)],
        categories=None,
    )
    columns[2].update(histogram="junk", quantiles=[1, 2], top="x", min={"a": 1}, count=-3)
    columns[3].update(histogram={"edges": [0, 1], "counts": [1, 2, 3]}, distinct=True)
    columns[4].update(histogram={"edges": [3.0, 3.0], "counts": [2]})  # a constant column
    columns[5].update(kind="categorical", top=[[True, 1], [None, 1], [[1, 2], 1]])
    profile = {"format_version": 1, "row_count": 2, "columns": columns}
    _register_raw(tmp_path, "wide", frame, profile)

    page = client.get("/datasets/wide/1")
    assert page.status_code == 200
    text = page.text
    assert text.count('class="card column-card"') == 100  # one page of columns
    charts = charts_of(text)
    assert len(charts["col-0"]["counts"]) == 100  # 5000 bins merged
    assert sum(charts["col-0"]["counts"]) == 5000
    assert len(charts["col-1"]["bars"]) == 15 and charts["col-1"]["complete"] is False
    assert "col-2" not in charts and "col-3" not in charts  # malformed: no chart, no error
    assert charts["col-4"]["edges"][0] < 3.0 < charts["col-4"]["edges"][1]
    assert [b["label"] for b in charts["col-5"]["bars"]] == ["true", "null", "[1, 2]"]
    no_raw_script(text)

    last = client.get("/datasets/wide/1", params={"page": 3})
    assert last.text.count('class="card column-card"') == 50 and 'id="col-249"' in last.text

    # Compared with a version whose every column differs; nothing breaks.
    other = pd.DataFrame({f"c{i}": [5.0, 6.0] for i in range(0, 250, 2)})
    other_cols: list[dict[str, Any]] = [
        {
            "name": f"c{i}",
            "type": "double",
            "kind": "numeric",
            "count": 2,
            "null_count": 0,
            "histogram": {"edges": [5.0, 5.5, 6.0], "counts": [1, 1]},
        }
        for i in range(0, 250, 2)
    ]
    _register_raw(
        tmp_path, "wide", other, {"format_version": 1, "row_count": 2, "columns": other_cols}
    )
    compare = client.get("/datasets/wide/compare", params={"a": 1, "b": 2})
    assert compare.status_code == 200
    assert compare.text.count("badge col-removed") >= 1
    assert "125 removed" in compare.text
    no_raw_script(compare.text)
    assert (
        client.get("/datasets/wide/compare", params={"a": 1, "b": 2, "page": 3}).status_code == 200
    )


# -- helpers ---------------------------------------------------------------------------------


def test_psi_from_profiles_matches_the_engine() -> None:
    from mloop.data import (
        Contract,
        Distribution,
        population_stability_index,
        profile_dataset,
        validate,
    )
    from mloop.server.ui import profiles

    # One formula: the UI calls mloop.data's, it keeps no copy.
    assert profiles.population_stability_index is population_stability_index
    rng = np.random.default_rng(3)
    a = pd.DataFrame({"x": rng.normal(50, 10, 5000), "c": rng.choice(list("abcde"), 5000)})
    b = pd.DataFrame({"x": rng.normal(60, 12, 5000), "c": rng.choice(list("abcdf"), 5000)})
    pa, pb = profile_dataset(a), profile_dataset(b)
    contract = Contract(
        name="d", distribution=[Distribution("x", psi_max=100), Distribution("c", psi_max=100)]
    )
    engine = {r.column: r.observed["psi"] for r in validate(b, contract, pa).checks}
    for column, tolerance in (("x", 0.05), ("c", 1e-12)):
        ours, approximate = profiles.column_psi(
            profiles.column_view(pa.column(column).to_dict(), 0),
            profiles.column_view(pb.column(column).to_dict(), 0),
        )
        assert ours is not None and not approximate
        assert math.isclose(ours, engine[column], rel_tol=tolerance), column


def test_profiles_import_without_duckdb_or_pyarrow() -> None:
    # The server may run without the data extra; the dataset pages still compare profiles.
    code = (
        "import sys\n"
        "sys.modules['duckdb'] = None\n"
        "sys.modules['pyarrow'] = None\n"
        "from mloop.server.ui import datasets, profiles\n"
        "assert profiles.population_stability_index([1, 2, 3], [1, 2, 3]) == 0.0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_rebin_keeps_the_total() -> None:
    from mloop.server.ui.profiles import Histogram, merge_bins, rebin

    hist = Histogram(edges=[0.0, 1.0, 2.0, 4.0], counts=[2.0, 4.0, 8.0])
    assert rebin(hist, [0.0, 2.0, 4.0], clamp=False) == [6.0, 8.0]
    assert rebin(hist, [1.0, 3.0], clamp=True) == [14.0]  # outside mass in the edge bins
    assert rebin(hist, [1.0, 3.0], clamp=False) == [8.0]
    assert rebin(Histogram(edges=[2.0, 2.0], counts=[5.0]), [0.0, 2.0, 4.0], clamp=False) == [
        5.0,
        0.0,
    ]
    merged = merge_bins(Histogram(edges=[float(i) for i in range(11)], counts=[1.0] * 10), 3)
    assert merged.counts == [4.0, 4.0, 2.0] and merged.edges == [0.0, 4.0, 8.0, 10.0]


# -- sign-in ---------------------------------------------------------------------------------


def test_dataset_pages_need_a_token_when_auth_is_on(runtime: Runtime, demo: DatasetDemo) -> None:
    token = runtime.run(lambda ctx: create_token(ctx, "ui-reader", "reader"), write=True)
    with TestClient(create_app(runtime, auth_enabled=True)) as auth_client:
        urls = (
            "/datasets",
            "/datasets/transactions",
            "/datasets/transactions/1",
            "/datasets/transactions/compare?a=1&b=2",
        )
        for url in urls:
            response = auth_client.get(url, follow_redirects=False)
            assert response.status_code == 303, url
            assert response.headers["location"].startswith("/login?next=%2Fdatasets"), url
        login = auth_client.post(
            "/login", data={"token": token, "next": "/datasets"}, follow_redirects=False
        )
        assert login.status_code == 303 and "mloop_token=" in login.headers["set-cookie"]
        for url in urls:  # the cookie opens every page
            assert auth_client.get(url).status_code == 200, url
        assert "ui-reader" in auth_client.get("/datasets").text
