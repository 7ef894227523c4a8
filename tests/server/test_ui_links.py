"""The loop linked in the UI: a run page lists the model versions registered from it and
links its dataset inputs; a model version page shows its training data, signature table,
files and source run; a dataset version page lists the runs that read it and the model
versions trained on it; versions of one model compare side by side. Every object these
pages name is a link (checked by parsing the HTML), and every link they hold answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME

import mloop
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.signatures import compare_signatures, schema_table, signature_tables
from mloop.store.runtime import Runtime

CONTRACT = """\
contract: lx-contract
version: 2
columns:
  id: {type: int, nullable: false, unique: true}
  amount: {type: float, min: 0}
"""
DATASET = "lx-data"
MODEL = "lx-model"
PREP = "prep ✨ données"
TRAIN_2 = "train-2 🚀 " + "long-name-" * 20
ODD_FILE = "<img src=x onerror=alert(1)> ü.txt"  # a model file name that is markup
ODD_COLUMN = "<b>fee</b> & tax"  # a signature column name that is markup
SIGNATURE_1 = {
    "inputs": {
        "type": "dataframe",
        "columns": [{"name": "amount", "dtype": "float64"}, {"name": ODD_COLUMN, "dtype": "int64"}],
    },
    "outputs": {"type": "ndarray", "dtype": "int64", "shape": [-1]},
}
SIGNATURE_2 = {
    "inputs": {
        "type": "dataframe",
        "columns": [
            {"name": "amount", "dtype": "float32"},
            {"name": ODD_COLUMN, "dtype": "int64"},
            {"name": "country", "dtype": "object"},
        ],
    },
    "outputs": {"type": "ndarray", "dtype": "int64", "shape": [-1]},
}


@dataclass
class Loop:
    """What :func:`log_loop` made: ids of its runs by name."""

    runs: dict[str, str]
    experiment_id: str


def _model_dir(tmp_path: Path, folder: str, signature: dict[str, Any]) -> Path:
    path = tmp_path / folder
    (path / "extra").mkdir(parents=True)
    meta = {
        "flavor": "sklearn",
        "serialization": "skops",
        "data": "model.skops",
        "signature": signature,
    }
    (path / "mloop-model.json").write_text(json.dumps(meta))
    (path / "model.skops").write_bytes(b"not really a model")
    (path / "extra" / ODD_FILE).write_text("notes")
    return path


def log_loop(tmp_path: Path) -> Loop:
    """Dataset ``lx-data`` v1 (passes the policy's contract) and v2; model ``lx-model`` v1
    trained on v1 by the run named :data:`XSS_NAME`, v2 on v1 and v2 by a child run with a
    long unicode name; a parent run with two children. Through the configured SDK."""
    import pandas as pd

    experiment = mloop.set_experiment("lineage ünïcode 🧪")
    mloop.set_dataset_policy(DATASET, CONTRACT, required=False)
    runs: dict[str, str] = {}
    v1 = pd.DataFrame({"id": range(20), "amount": [float(i) for i in range(20)]})
    with mloop.start_run(run_name=PREP) as run:
        mloop.register_dataset(DATASET, v1, alias="golden")
        runs[PREP] = run.info.run_id
    with mloop.start_run(run_name=XSS_NAME) as run:
        mloop.get_dataset(f"{DATASET}/1")
        mloop.log_params({"lr": "0.1", "depth": "3"})
        mloop.log_metric("auc", 0.8)
        mloop.log_artifacts(str(_model_dir(tmp_path, "m1", SIGNATURE_1)), "model")
        runs[XSS_NAME] = run.info.run_id
    mloop.register_model(f"runs:/{runs[XSS_NAME]}/model", MODEL)
    mloop.register_dataset(DATASET, v1.assign(amount=v1["amount"] + 1))
    with mloop.start_run(run_name="parent") as parent:
        runs["parent"] = parent.info.run_id
        with mloop.start_run(run_name=TRAIN_2, nested=True) as run:
            mloop.get_dataset(f"{DATASET}/1")
            mloop.get_dataset(f"{DATASET}/2", context="evaluation")
            mloop.log_params({"lr": "0.05", "depth": "3"})
            mloop.log_metric("auc", 0.9)
            mloop.log_artifacts(str(_model_dir(tmp_path, "m2", SIGNATURE_2)), "model")
            runs[TRAIN_2] = run.info.run_id
        with mloop.start_run(run_name="sibling", nested=True) as run:
            runs["sibling"] = run.info.run_id
    mloop.register_model(f"runs:/{runs[TRAIN_2]}/model", MODEL)
    mloop.Client().set_alias(MODEL, "champion", 1)
    return Loop(runs=runs, experiment_id=experiment.experiment_id)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def loop(runtime: Runtime, tmp_path: Path) -> Loop:
    return log_loop(tmp_path)


# -- reading a page ----------------------------------------------------------------------------

# Text in these elements is the page's own title or code to copy, not a reference to an object.
EXEMPT = {"title", "h1", "code", "pre", "script", "option", "legend"}


class Page(HTMLParser):
    """A page's links (href -> texts) and every text that is outside a link."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, list[str]] = {}
        self.loose: list[str] = []
        self._stack: list[str] = []
        self._href: str | None = None
        self._text: list[str] = []
        self._crumbs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a":
            self._href, self._text = found.get("href") or "", []
        if tag == "nav" and "crumbs" in (found.get("class") or ""):
            self._crumbs += 1
        if tag not in ("br", "input", "img", "link", "meta"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.setdefault(self._href, []).append("".join(self._text).strip())
            self._href = None
        if tag == "nav" and self._crumbs and "nav" in self._stack:
            self._crumbs -= 1
        while self._stack:
            if self._stack.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        elif data.strip() and not self._crumbs and not EXEMPT & set(self._stack):
            self.loose.append(data.strip())

    def hrefs(self, kind: str, **ids: Any) -> list[str]:
        """The texts of the links to one object (none when the page has no such link)."""
        return self.links.get(links.link_to(kind, **ids), [])


def read(client: TestClient, url: str) -> Page:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.text[:500])
    assert XSS_NAME not in answer.text and ODD_FILE not in answer.text  # escaped everywhere
    page = Page()
    page.feed(answer.text)
    return page


def assert_named_only_in_links(page: Page, names: list[str]) -> None:
    """None of ``names`` (objects other than the page's own) appears outside a link."""
    for text in page.loose:
        for name in names:
            assert name not in text, f"{name!r} is named but not linked in {text!r}"


def assert_links_answer(client: TestClient, page: Page) -> None:
    """Every link of the page to this server answers 200 (anchors and downloads included)."""
    for href in page.links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        answer = client.get(href.split("#", 1)[0])
        assert answer.status_code == 200, (href, answer.status_code)


def run_names(loop: Loop, *but: str) -> list[str]:
    return [name for name in loop.runs if name not in but and name not in ("parent", "sibling")]


# -- run page ----------------------------------------------------------------------------------


def test_run_page_links_its_model_versions_inputs_and_compare(
    client: TestClient, loop: Loop
) -> None:
    run_id = loop.runs[TRAIN_2]
    page = read(client, links.run(run_id))
    assert page.hrefs("model_version", name=MODEL, version=2) == [f"{MODEL} v2"]
    assert page.hrefs("dataset_version", name=DATASET, version=1) == [f"{DATASET} v1"]
    assert page.hrefs("dataset_version", name=DATASET, version=2) == [f"{DATASET} v2"]
    assert page.hrefs("run", run_id=loop.runs["parent"]) == ["parent"]
    assert page.hrefs("compare_runs", runs=[run_id]) == ["Compare"]
    assert page.hrefs("compare_runs", runs=[run_id, loop.runs["sibling"]]) == [
        "Compare with its sibling runs (1)"
    ]
    assert_named_only_in_links(page, [f"{MODEL} v", f"{DATASET} v", PREP, XSS_NAME])
    assert_links_answer(client, page)

    parent = read(client, links.run(loop.runs["parent"]))
    children = [loop.runs["parent"], loop.runs[TRAIN_2], loop.runs["sibling"]]
    (label,) = [
        text[0]
        for href, text in parent.links.items()
        if href.startswith("/compare?") and set(href.split("=", 1)[1].split(",")) == set(children)
    ]
    assert label == "Compare with its child runs (2)"
    assert "Model versions registered from this run" in client.get(links.run(loop.runs[PREP])).text


def test_run_page_leaves_inputs_of_other_tools_as_text(client: TestClient, loop: Loop) -> None:
    from mloop.tracking.schemas import DatasetInput

    run_id = loop.runs["sibling"]
    mloop.Client().log_inputs(run_id, [DatasetInput(name="s3 table", digest="abc123")])
    page = read(client, links.run(run_id))
    assert "s3 table" in page.loose  # no registered dataset to link to
    assert not [h for h in page.links if h.startswith("/datasets/")]


# -- model version page ------------------------------------------------------------------------


def test_model_version_page_shows_training_data_signature_and_files(
    client: TestClient, loop: Loop
) -> None:
    answer = client.get(links.model_version(MODEL, 2))
    page = read(client, links.model_version(MODEL, 2))
    assert page.hrefs("run", run_id=loop.runs[TRAIN_2]) == [TRAIN_2]
    assert page.hrefs("dataset_version", name=DATASET, version=1) == [f"{DATASET} v1"]
    assert page.hrefs("dataset_version", name=DATASET, version=2) == [f"{DATASET} v2"]
    # The contract each passed at registration and its latest validation (the same one here).
    for version in (1, 2):
        (validation,) = [h for h in page.links if h.startswith(f"/datasets/{DATASET}/{version}#")]
        assert page.links[validation] == ["lx-contract v2", "pass"]
    training = answer.text.split('id="training-data-table"', 1)[1].split("</table>", 1)[0]
    assert "evaluation" in training and "training" in training
    assert training.count("passed") >= 2
    # The signature is a table of columns and types, both sides.
    inputs = answer.text.split('id="signature-inputs"', 1)[1].split("</table>", 1)[0]
    assert '<td class="mono wrap">amount</td><td class="mono">float32</td>' in inputs
    assert '&lt;b&gt;fee&lt;/b&gt; &amp; tax</td><td class="mono">int64</td>' in inputs
    assert '>country</td><td class="mono">object</td>' in inputs
    outputs = answer.text.split('id="signature-outputs"', 1)[1].split("</table>", 1)[0]
    assert '(array)</td><td class="mono">int64 (any)</td>' in outputs
    # Files are links that download the version's own copy.
    for path in ("mloop-model.json", "model.skops", f"extra/{ODD_FILE}"):
        assert page.hrefs("model_version_file", name=MODEL, version=2, path=path) == [path]
    download = client.get(links.model_version_file(MODEL, 2, "model.skops"))
    assert download.content == b"not really a model"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    odd = client.get(links.model_version_file(MODEL, 2, f"extra/{ODD_FILE}"))
    assert odd.content == b"notes"  # a non-ASCII name travels in filename* only
    assert odd.headers["content-disposition"].isascii()
    assert "filename*=UTF-8''%3Cimg%20src%3Dx" in odd.headers["content-disposition"]
    # Comparing with the champion is one click away.
    assert page.hrefs("model_compare", name=MODEL, versions=[1, 2]) == [
        "Compare with @champion (v1)"
    ]
    assert_named_only_in_links(page, [f"{DATASET} v", PREP, XSS_NAME, "lx-contract"])
    assert_links_answer(client, page)


def test_model_version_page_marks_deleted_training_data(client: TestClient, loop: Loop) -> None:
    mloop.Client().delete_dataset_version(DATASET, 2)
    page = read(client, links.model_version(MODEL, 2))
    assert page.hrefs("dataset_version", name=DATASET, version=2) == []
    assert page.hrefs("dataset_version", name=DATASET, version=1) == [f"{DATASET} v1"]
    assert "(deleted)" in page.loose
    assert_links_answer(client, page)


def test_model_file_download_refuses_bad_paths(client: TestClient, loop: Loop) -> None:
    base = links.model_version(MODEL, 1) + "/files"
    assert client.get(base, params={"path": "../../etc/passwd"}).status_code == 400
    assert client.get(base, params={"path": "nope.txt"}).status_code == 404
    assert client.get(base).status_code == 400
    assert client.get(links.model_version_file(MODEL, 99, "model.skops")).status_code == 404
    assert client.get(links.model_version_file("no-model", 1, "model.skops")).status_code == 404


# -- dataset version page ----------------------------------------------------------------------


def test_dataset_version_page_lists_readers_and_trained_model_versions(
    client: TestClient, loop: Loop
) -> None:
    page = read(client, links.dataset_version(DATASET, 1))
    assert page.hrefs("run", run_id=loop.runs[XSS_NAME]) == [XSS_NAME, XSS_NAME]
    assert page.hrefs("run", run_id=loop.runs[TRAIN_2]) == [TRAIN_2, TRAIN_2]
    assert page.hrefs("run", run_id=loop.runs[PREP]) == [PREP, PREP]  # producer, twice
    assert page.hrefs("model_version", name=MODEL, version=1) == [f"{MODEL} v1"]
    assert page.hrefs("model_version", name=MODEL, version=2) == [f"{MODEL} v2"]
    assert "lx-contract v2" in page.loose  # the contract v1 had passed for both
    assert_named_only_in_links(page, [f"{MODEL} v", XSS_NAME, TRAIN_2])
    assert_links_answer(client, page)

    # A model version stays listed when its source run is deleted (its record says so).
    mloop.Client().delete_run(loop.runs[XSS_NAME])
    after = read(client, links.dataset_version(DATASET, 1))
    assert after.hrefs("model_version", name=MODEL, version=1) == [f"{MODEL} v1"]
    assert after.hrefs("run", run_id=loop.runs[XSS_NAME]) == [XSS_NAME]  # a deleted run's page

    only_v2 = read(client, links.dataset_version(DATASET, 2))
    assert only_v2.hrefs("model_version", name=MODEL, version=2) == [f"{MODEL} v2"]
    assert only_v2.hrefs("model_version", name=MODEL, version=1) == []


def test_dataset_version_page_folds_passed_checks(client: TestClient, loop: Loop) -> None:
    import pandas as pd

    bad = pd.DataFrame({"id": [1, 1, 2], "amount": [-1.0, 2.0, 3.0]})
    mloop.register_dataset(DATASET, bad)
    text = client.get(links.dataset_version(DATASET, 3)).text
    card = text.split('class="card validation failed"', 1)[1].split("</article>", 1)[0]
    opened, folded = card.split('<details class="passed-checks">', 1)
    assert "s-failed" in opened and "s-passed" not in opened  # failures stay open
    assert "s-passed" in folded and "s-failed" not in folded
    assert "<summary>Passed checks (" in folded
    passed = client.get(links.dataset_version(DATASET, 1)).text
    card = passed.split('class="card validation passed"', 1)[1].split("</article>", 1)[0]
    assert "s-passed" not in card.split('<details class="passed-checks">', 1)[0]


# -- model versions compared -------------------------------------------------------------------


def test_model_page_offers_comparing_versions(client: TestClient, loop: Loop) -> None:
    text = client.get(links.model(MODEL)).text
    form = text.split('id="compare-versions"', 1)[1].split("</form>", 1)[0]
    assert f'action="{links.model_compare(MODEL)}"' in text
    assert form.count('type="checkbox" name="versions"') == 2
    page = read(client, links.model(MODEL))
    assert page.hrefs("model_compare", name=MODEL, versions=[1, 2]) == ["Compare v1 with v2"]
    assert page.hrefs("run", run_id=loop.runs[TRAIN_2]) == [TRAIN_2]


def test_compare_model_versions_side_by_side(client: TestClient, loop: Loop) -> None:
    url = links.model_compare(MODEL, [1, 2])
    text = client.get(url).text
    page = read(client, url)
    for version in (1, 2):
        assert page.hrefs("model_version", name=MODEL, version=version) == [f"v{version}"] * 5

    def row(table: str, key: str) -> str:
        body = text.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
        return body.split(key, 1)[1].split("</tr>", 1)[0]

    assert "0.8" in row("metrics-diff", ">auc<") and "0.9" in row("metrics-diff", ">auc<")
    assert 'class="diff"' in text.split(">auc<", 1)[0].rsplit("<tr", 1)[1]
    assert "0.1" in row("params-diff", ">lr<") and "0.05" in row("params-diff", ">lr<")
    depth = text.split('id="params-diff"', 1)[1].split(">depth<", 1)[0].rsplit("<tr", 1)[1]
    assert 'class="same"' in depth  # equal params are marked so the toggle can hide them
    data = row("data-diff", f">{DATASET}</a>")
    assert data.count(">v1</a>") == 2 and data.count(">v2</a>") == 1
    assert row("signature-diff", ">amount<").count("float") == 2
    assert "float64" in row("signature-diff", ">amount<")
    assert "—" in row("signature-diff", ">country<")
    assert page.hrefs("run", run_id=loop.runs[XSS_NAME]) == [XSS_NAME]
    assert page.hrefs("dataset", name=DATASET) == [DATASET]
    assert_named_only_in_links(page, [XSS_NAME, TRAIN_2])
    assert_links_answer(client, page)
    # The same selection written either way, repeats ignored.
    same = client.get(links.model_compare(MODEL), params=[("versions", "1"), ("versions", "2,1")])
    assert same.status_code == 200 and same.text == text


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({}, 400, "choose at least two versions"),
        ({"versions": "1"}, 400, "choose at least two versions"),
        ({"versions": "1,x"}, 400, "versions must be a version number"),
        ({"versions": "1,0"}, 400, "versions must be a version number"),
        ({"versions": ",".join(str(i) for i in range(1, 30))}, 400, "at most 25 versions"),
        ({"versions": "1," * 3000}, 400, "versions is too long"),
        ({"versions": "1,7"}, 404, "does not exist"),
    ],
)
def test_compare_model_versions_refuses_bad_selections(
    client: TestClient, loop: Loop, query: dict[str, str], status: int, message: str
) -> None:
    answer = client.get(links.model_compare(MODEL), params=query)
    assert answer.status_code == status
    assert "text/html" in answer.headers["content-type"]
    assert message in answer.text


def test_compare_unknown_model_is_a_404(client: TestClient, loop: Loop) -> None:
    assert client.get(links.model_compare("nope", [1, 2])).status_code == 404
    assert client.get(links.model_compare("bad name!", [1, 2])).status_code == 404


# -- signatures --------------------------------------------------------------------------------


def test_signature_tables_read_every_schema_kind() -> None:
    def rows(schema: Any) -> list[tuple[str, str]]:
        table = schema_table(schema)
        assert table is not None and table.readable
        return table.rows

    assert rows({"type": "series", "name": None, "dtype": "int64"}) == [("(unnamed)", "int64")]
    assert rows({"type": "ndarray", "dtype": "float32", "shape": [-1, 4]}) == [
        ("(array)", "float32 (any, 4)")
    ]
    assert rows({"type": "dict", "fields": [{"name": "q", "dtype": "str"}]}) == [("q", "str")]
    assert rows({"type": "list", "dtype": "float"}) == [("(items)", "float")]
    assert rows({"type": "list", "dtype": "dict", "fields": [{"name": "a"}]}) == [("a", "")]
    assert rows({"type": "scalar", "dtype": "str"}) == [("(value)", "str")]
    assert rows({"type": "object", "python_type": "x.Y"}) == [("(object)", "x.Y")]
    assert schema_table(None) is None
    for odd in ([1, 2], {"type": "dataframe", "columns": "amount"}, {"type": "graph"}):
        table = schema_table(odd)
        assert table is not None and not table.readable and table.rows == []
    assert signature_tables("not a dict") == {"inputs": None, "outputs": None}
    many = {"type": "dataframe", "columns": [{"name": f"c{i}"} for i in range(1500)]}
    table = schema_table(many)
    assert table is not None and len(table.rows) == 1000 and table.total == 1500


def test_compare_signatures_aligns_columns() -> None:
    rows = compare_signatures([SIGNATURE_1, SIGNATURE_2, None])
    by_name = {(r.side, r.name): r for r in rows}
    assert by_name[("inputs", "amount")].types == ["float64", "float32", ""]
    assert by_name[("inputs", "country")].types == ["", "object", ""]
    assert by_name[("outputs", "(array)")].types == ["int64 (any)", "int64 (any)", ""]
    same = compare_signatures([SIGNATURE_1, SIGNATURE_1])
    assert not any(r.differs for r in same)


def test_page_reader_sees_text_outside_links() -> None:
    # The check above must be able to fail: a name outside a link is reported.
    page = Page()
    page.feed('<p>trained by <a href="/runs/1">run-a</a> and run-b</p><h1>run-c</h1>')
    assert page.links == {"/runs/1": ["run-a"]}
    assert_named_only_in_links(page, ["run-a", "run-c"])
    with pytest.raises(AssertionError, match="'run-b' is named but not linked"):
        assert_named_only_in_links(page, ["run-b"])
