"""The feature store pages over HTTP, on definitions registered by ``mloop.features.apply``:
the overview (entities, sources, views with freshness, on-demand features, services with
the model versions that name them); a view's definition, versions, freshness, statistics
drawn from a stored profile and lineage graph; a service's references, pinned versions,
models and lineage; older and removed versions; 404s and 400s; escaping."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS, parse
from tests.server.test_ui_links import Page, assert_links_answer

import mloop
from mloop.data import profile_dataset
from mloop.features import (
    DatasetSource,
    Entity,
    FeatureService,
    FeatureView,
    FileSource,
    apply,
    feature_view,
    on_demand_feature,
)
from mloop.features import tables as feature_tables
from mloop.features.freshness import FreshnessCheck
from mloop.features.schemas import FeatureType
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.feature_views import MAX_NODES, Node, lineage_graph
from mloop.store.context import Context
from mloop.store.runtime import Runtime

HOUR_MS = 3_600_000
DATASET = "orders-data"
MODEL = "churn-model"
ENDPOINT = "churn-api"
SQL = "SELECT customer_id, ts, amount AS total, 1 AS n, segment FROM source"

customer = Entity("customer", join_keys=["customer_id"], description=f"a buyer {XSS_NAME}")
orders = DatasetSource("orders", DATASET, timestamp="ts", version=1)
clicks = FileSource("clicks", "data/clicks/*.parquet", timestamp="ts", file_format="parquet")


def spend_view(**extra: FeatureType) -> FeatureView:
    features: dict[str, FeatureType] = {"total": "float64", "n": "int64", "segment": "string"}
    return FeatureView(
        "spend",
        entities=[customer],
        source=orders,
        features={**features, **extra},
        ttl=dt.timedelta(hours=2),
        transform_sql=SQL,
        description=f"what a customer spends {XSS_NAME}",
    )


def _click_rate(rows: pd.DataFrame) -> pd.DataFrame:
    """Clicks per visit."""
    return rows.assign(click_rate=rows["clicks"] / rows["visits"])


click_rate = feature_view(
    entities=[customer],
    source=clicks,
    features={"click_rate": "float64"},
    ttl=dt.timedelta(days=1),
    name="click_rate",
)(_click_rate)


def _amount_share(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"amount_share": rows["amount"] / rows["total"]})


amount_share = on_demand_feature(
    sources=["spend:total"],
    request={"amount": "float64"},
    features={"amount_share": "float64"},
    name="amount_share",
)(_amount_share)

loyalty = FeatureView(
    "loyalty",
    entities=[customer],
    source=clicks,
    features={"tier": "string"},
    online=False,
)


def frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "ts": pd.date_range("2025-01-01", periods=n, freq="h"),
            "total": rng.normal(100, 15, n).round(2),
            "n": rng.integers(1, 9, n),
            "segment": rng.choice(["gold", "silver", XSS_NAME], n, p=[0.6, 0.3, 0.1]),
        }
    )


@dataclass
class Store:
    """What :func:`build_store` registered."""

    profile: dict[str, Any]
    now: int


def _write(runtime: Runtime, table: Any, **values: Any) -> None:
    def step(ctx: Context) -> None:
        ctx.conn.execute(insert(table).values(**values))

    runtime.run(step, write=True)


def _register_model(service_tag: str) -> int:
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame({"total": np.arange(20.0), "n": np.arange(20) % 3})
    model = LogisticRegression().fit(x, np.arange(20) % 2)
    with mloop.start_run():
        info = mloop.sklearn.log_model(model, "model", input_example=x[:3])
    version = int(mloop.register_model(info.model_uri, MODEL).version)
    mloop.Client().call(
        "set_model_version_tag",
        name=MODEL,
        version=version,
        key="mloop.feature_service",
        value=service_tag,
    )
    return version


def build_store(runtime: Runtime) -> Store:
    """Dataset ``orders-data`` v1; entity ``customer``; sources ``orders`` (the dataset)
    and ``clicks`` (files); views ``spend`` (SQL, v1 then v2 with one more feature),
    ``click_rate`` (a Python transform) and ``loyalty`` (offline only); on-demand feature
    ``amount_share``; services ``churn`` (spend and amount_share; v1, v2) and ``clicks-only``.
    Model ``churn-model`` v1 names ``churn:1``, v2 names ``churn`` (the newest) and is live
    on endpoint ``churn-api``. ``spend`` was materialized 3 hours ago (past its 2-hour TTL,
    and an alert rule calls it stale), ``click_rate`` 10 minutes ago; ``spend`` has a
    stored profile."""
    mloop.register_dataset(DATASET, frame())
    churn = FeatureService("churn", features=[spend_view(), amount_share])
    apply([customer, orders, clicks, spend_view(), click_rate, loyalty, amount_share, churn])
    _register_model("churn:1")
    wider = spend_view(last="float64")
    apply(
        [
            customer,
            orders,
            clicks,
            wider,
            click_rate,
            loyalty,
            amount_share,
            FeatureService("churn", features=[wider, amount_share], description=XSS_NAME),
            FeatureService("clicks-only", features=["click_rate:*"]),
        ]
    )
    live = _register_model("churn")
    client = mloop.Client()
    client.call("create_endpoint", name=ENDPOINT)
    client.call("deploy", endpoint=ENDPOINT, variants=[{"model": MODEL, "version": live}])
    now = int(time.time() * 1000)
    m = feature_tables.feature_materializations
    _write(
        runtime,
        m,
        view="spend",
        view_version=2,
        watermark=now - 3 * HOUR_MS,
        rows=200,
        materialized_at=now - HOUR_MS,
    )
    _write(
        runtime,
        m,
        view="click_rate",
        view_version=1,
        watermark=now - 600_000,
        rows=42,
        materialized_at=now,
    )
    client.call(
        "create_alert_rule",
        name="features-stale",
        source="features",
        metric="freshness.age_seconds",
        operator=">",
        threshold=3600,
    )
    assert FreshnessCheck(runtime).run_once() == 1
    profile = profile_dataset(frame()).to_dict()
    _write(
        runtime,
        feature_tables.feature_profiles,
        view="spend",
        view_version=2,
        profile_json=json.dumps(profile),
        rows=200,
        computed_at=now,
    )
    return Store(profile=profile, now=now)


@pytest.fixture
def store(runtime: Runtime) -> Store:
    return build_store(runtime)


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


def row(html: str, attr: str, value: str) -> str:
    match = re.search(rf'<tr [^>]*{attr}="{re.escape(value)}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, (attr, value)
    return match.group(1)


def section(html: str, dom_id: str) -> str:
    return html.split(f'<section id="{dom_id}"', 1)[1].split("</section>", 1)[0]


def graph_nodes(html: str) -> dict[str, tuple[str, str]]:
    """The lineage graph's nodes: key -> (href, label)."""
    svg = html.split('id="lineage-graph"', 1)[1].split("</svg>", 1)[0]
    found = re.findall(
        r'<a class="fs-node[^"]*" href="([^"]*)" data-node="([^"]*)".*?'
        r'class="fs-node-label"[^>]*>([^<]*)</text>',
        svg,
        re.S,
    )
    return {key: (href.replace("&amp;", "&"), label) for href, key, label in found}


def graph_paths(html: str) -> list[str]:
    svg = html.split('id="lineage-graph"', 1)[1].split("</svg>", 1)[0]
    return re.findall(r'<path class="fs-edge" d="(M[^"]*)"', svg)


def graph_edges(html: str) -> int:
    return len(graph_paths(html))


# -- the overview ---------------------------------------------------------------------------


def test_overview_lists_every_kind_of_definition_with_links(
    client: TestClient, store: Store
) -> None:
    html, found = page(client, links.features())
    assert 'class="active" aria-current="page">Features<' in html
    entity = row(html, "data-entity", "customer")
    assert "customer_id" in entity and ESCAPED_XSS in entity
    # From its entity, its source, its own row and the on-demand feature reading it.
    assert found.hrefs("feature_view", name="spend") == ["spend"] * 4
    # Sources: kind and where; a dataset source links to its dataset version.
    orders_row = row(html, "data-source", "orders")
    assert ">dataset<" in orders_row and found.hrefs("dataset_version", name=DATASET, version=1)
    clicks_row = row(html, "data-source", "clicks")
    assert ">file<" in clicks_row and "data/clicks/*.parquet (parquet)" in clicks_row
    # Views: entities, feature count, TTL, version, freshness, online.
    spend = row(html, "data-view", "spend")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", spend, re.S)
    assert links.features(anchor="entity-customer") in cells[1]
    assert cells[2] == "4" and cells[3] == "2 hours" and cells[4] == "2"
    assert "3h 00m old" in cells[5] or "2h 59m old" in cells[5]
    assert 'data-state="expired"' in cells[5] and 'data-state="stale"' in cells[5]
    stale = links.alerts(status="open", source="features", subject="feature_view=spend")
    assert found.links[stale] == ["stale"]
    assert ">online<" in cells[6]
    rate = row(html, "data-view", "click_rate")
    assert 'data-state="fresh"' in rate and "1 day" in rate and "stale" not in rate
    assert 'data-state="offline"' in row(html, "data-view", "loyalty")
    # On-demand features: features, the views they read, request data, the function.
    share = row(html, "data-on-demand", "amount_share")
    assert "amount_share" in share and "amount" in share
    assert "tests.server.test_ui_features:_amount_share" in share
    # Services: feature count, version, pinned views, models that use them.
    churn = row(html, "data-service", "churn")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", churn, re.S)
    assert cells[1] == "5" and cells[2] == "2"  # spend's 4 (one added) and amount_share
    assert found.hrefs("feature_view", name="spend", version=2) == ["spend v2"]
    assert found.hrefs("model_version", name=MODEL, version=1) == [f"{MODEL} v1"]
    assert found.hrefs("model_version", name=MODEL, version=2) == [f"{MODEL} v2"]
    assert found.hrefs("feature_service", name="clicks-only") == ["clicks-only"]
    assert "none" in row(html, "data-service", "clicks-only")
    assert_links_answer(client, found)


def test_an_empty_store_says_how_to_start(client: TestClient, runtime: Runtime) -> None:
    html, _ = page(client, links.features())
    assert 'id="no-features"' in html and "mloop features apply" in html


# -- a feature view ---------------------------------------------------------------------------


def test_view_page_shows_its_definition_and_versions(client: TestClient, store: Store) -> None:
    html, found = page(client, links.feature_view("spend"))
    assert "<h1>spend <span" in html and ESCAPED_XSS in html  # the description
    features = section(html, "features")
    assert re.findall(
        r'<tr data-feature="([^"]+)"><td class="mono">[^<]*</td><td class="mono">'
        r"([^<]*)<",
        features,
    ) == [
        ("total", "float64"),
        ("n", "int64"),
        ("segment", "string"),
        ("last", "float64"),
    ]
    definition = section(html, "definition")
    assert "customer_id" in definition and "2 hours" in definition
    dataset = re.search(r'<a href="([^"]+)" id="source-dataset">([^<]+)</a>', definition)
    assert dataset and dataset.groups() == (links.dataset_version(DATASET, 1), f"{DATASET} v1")
    assert found.hrefs("features", anchor="source-orders") == ["orders"]
    assert found.hrefs("features", anchor="entity-customer") == ["customer"]
    sql = re.search(r'<pre class="preview" id="transform-sql">(.*?)</pre>', html, re.S)
    assert sql and sql.group(1) == SQL
    # Versions: the shown one marked, the other a link.
    assert found.hrefs("feature_view", name="spend", version=1) == ["v1"]
    assert '<strong aria-current="page">v2</strong>' in section(html, "versions")
    assert_links_answer(client, found)


def test_a_python_view_shows_its_function_and_code(client: TestClient, store: Store) -> None:
    html, _ = page(client, links.feature_view("click_rate"))
    assert "tests.server.test_ui_features:_click_rate" in section(html, "definition")
    code = re.search(r'<pre class="preview" id="transform-code">(.*?)</pre>', html, re.S)
    assert code and "def _click_rate(rows: pd.DataFrame)" in code.group(1)
    assert 'rows["clicks"]' not in code.group(1)  # escaped
    assert "rows[&#34;clicks&#34;]" in code.group(1) or "rows[&quot;clicks&quot;]" in code.group(1)
    assert "data/clicks/*.parquet" in section(html, "definition")


def test_view_page_shows_its_freshness(client: TestClient, store: Store) -> None:
    html, _ = page(client, links.feature_view("spend"))
    freshness = section(html, "freshness")
    assert f'data-ms="{store.now - 3 * HOUR_MS}"' in freshness  # the watermark
    assert re.search(r'id="freshness-age">(2h 59m|3h 00m)<', freshness)
    assert 'id="materialized-rows">200<' in freshness and "2 hours" in freshness
    assert 'data-state="expired"' in freshness and "1 open freshness alert" in freshness
    html, _ = page(client, links.feature_view("loyalty"))
    assert "offline only" in section(html, "freshness")
    apply(
        [
            customer,
            clicks,
            FeatureView("new", entities=[customer], source=clicks, features={"x": "int64"}),
        ]
    )
    html, _ = page(client, links.feature_view("new"))
    assert 'id="not-materialized"' in html and 'data-state="never"' in html


def test_statistics_are_drawn_from_the_stored_profile(client: TestClient, store: Store) -> None:
    html, _ = page(client, links.feature_view("spend"))
    stats = section(html, "statistics")
    assert "Over 200 offline rows" in stats and "(2 columns) are left out" in stats
    columns = {c["name"]: (i, c) for i, c in enumerate(store.profile["columns"])}
    charts = json.loads(parse(html).json_blocks["dataset-charts"])
    # A histogram per numeric feature, exactly the stored bins.
    index, total = columns["total"]
    assert charts[f"col-{index}"]["type"] == "hist"
    assert charts[f"col-{index}"]["counts"] == total["histogram"]["counts"]
    assert charts[f"col-{index}"]["edges"] == total["histogram"]["edges"]
    assert charts[f"col-{columns['n'][0]}"]["type"] == "hist"
    # Top values of a string feature, most frequent first.
    bars = charts[f"col-{columns['segment'][0]}"]
    assert bars["type"] == "bars"
    assert [b["label"] for b in bars["bars"]] == ["gold", "silver", XSS_NAME]
    summary = row(stats, "data-feature", "segment")
    assert "gold" in summary and ESCAPED_XSS in summary
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row(stats, "data-feature", "total"), re.S)
    assert cells[2] == "200" and cells[3] == "0"
    assert float(cells[4]) == pytest.approx(frame()["total"].mean(), rel=1e-5)
    # Keys and event time are not features; "last" has no statistics (not profiled).
    assert set(re.findall(r'data-column="([^"]+)"', stats)) == {"total", "n", "segment"}
    assert "/static/datasets.js" in html and "/static/uPlot.iife.min.js" in html


def test_a_view_without_statistics_says_so(client: TestClient, store: Store) -> None:
    html, _ = page(client, links.feature_view("click_rate"))
    assert 'id="no-statistics"' in html and "No statistics yet" in html
    assert "dataset-charts" not in html and "/static/datasets.js" not in html


def test_view_lineage_runs_from_source_to_endpoints(client: TestClient, store: Store) -> None:
    html, found = page(client, links.feature_view("spend"))
    nodes = graph_nodes(html)
    assert nodes == {
        "source:orders": (links.dataset_version(DATASET, 1), "orders"),
        "view:spend": (links.feature_view("spend", 2), "spend"),
        "service:churn": (links.feature_service("churn", 2), "churn"),
        f"model:{MODEL}:2": (links.model_version(MODEL, 2), f"{MODEL} v2"),
        f"endpoint:{ENDPOINT}": (links.endpoint(ENDPOINT), ENDPOINT),
    }
    assert graph_edges(html) == 4
    assert 'class="fs-node fs-feature_view fs-current"' in html
    # The model version naming the service is listed with its link and its endpoint.
    models = row(html, "data-model", MODEL)
    assert links.model_version(MODEL, 2) in models and links.endpoint(ENDPOINT) in models
    assert found.hrefs("feature_service", name="churn", version=2)
    assert_links_answer(client, found)


def test_an_older_view_version_has_its_own_lineage(client: TestClient, store: Store) -> None:
    html, found = page(client, links.feature_view("spend", 1))
    assert 'id="older-note"' in html and found.hrefs("feature_view", name="spend")
    features = re.findall(r'<tr data-feature="([^"]+)">', section(html, "features"))
    assert features == ["total", "n", "segment"]
    assert 'id="freshness-newest"' in section(html, "freshness")
    nodes = graph_nodes(html)
    # churn v1 pinned spend v1; model v1's tag names churn:1; it serves nowhere.
    assert nodes["service:churn"] == (links.feature_service("churn", 1), "churn")
    assert set(nodes) == {"source:orders", "view:spend", "service:churn", f"model:{MODEL}:1"}
    # The profile was computed from version 2: the page says so.
    assert found.hrefs("feature_view", name="spend", version=2) == ["version 2", "v2"]


# -- a feature service ----------------------------------------------------------------------------


def test_service_page_shows_references_pins_and_models(client: TestClient, store: Store) -> None:
    html, found = page(client, links.feature_service("churn"))
    assert "<h1>churn <span" in html and ESCAPED_XSS in html
    refs = section(html, "references")
    spend = row(refs, "data-ref", "spend:*")
    assert links.feature_view("spend", 2) in spend
    assert "total" in spend and "last" in spend and "float64" in spend
    share = row(refs, "data-ref", "amount_share:*")
    assert links.features(anchor="on-demand-amount_share") in share
    pinned = section(html, "pinned")
    assert row(pinned, "data-pinned", "feature_view:spend").count(">2<") == 1
    assert found.hrefs("feature_view", name="spend", version=2)[0] == "spend v2"
    # The model version naming "churn" (the newest) uses v2, served live.
    models = section(html, "models")
    assert found.hrefs("model_version", name=MODEL, version=2)
    assert found.hrefs("model_version", name=MODEL, version=1) == []
    assert links.endpoint(ENDPOINT) in models
    nodes = graph_nodes(html)
    assert nodes["service:churn"] == (links.feature_service("churn", 2), "churn")
    assert nodes["view:spend"] == (links.feature_view("spend", 2), "spend")
    assert nodes["on_demand:amount_share"][0] == links.features(anchor="on-demand-amount_share")
    assert nodes["source:orders"][0] == links.dataset_version(DATASET, 1)
    assert nodes[f"endpoint:{ENDPOINT}"][0] == links.endpoint(ENDPOINT)
    # orders -> spend, spend -> amount_share, spend -> churn, amount_share -> churn,
    # churn -> model v2, model v2 -> endpoint.
    assert graph_edges(html) == 6
    # spend -> churn skips the on-demand column: it runs below amount_share's node, not
    # hidden behind it.
    (skip,) = [d for d in graph_paths(html) if " L" in d]
    lane = int(skip.split(" L", 1)[1].split(" ", 1)[0].split(",")[1])
    box = re.search(r'data-node="on_demand:amount_share">.*?<rect x="\d+" y="(\d+)"', html, re.S)
    assert box and lane > int(box.group(1)) + 40
    assert_links_answer(client, found)


def test_an_older_service_version_pins_older_views(client: TestClient, store: Store) -> None:
    html, found = page(client, links.feature_service("churn", 1))
    assert 'id="older-note"' in html
    assert found.hrefs("feature_view", name="spend", version=1)[0] == "spend v1"
    assert found.hrefs("model_version", name=MODEL, version=1)
    assert found.hrefs("model_version", name=MODEL, version=2) == []
    assert "newer" in row(section(html, "pinned"), "data-pinned", "feature_view:spend")


def test_a_service_no_model_uses_says_how_to_tag_one(client: TestClient, store: Store) -> None:
    html, _ = page(client, links.feature_service("clicks-only"))
    assert 'id="no-models"' in html and "clicks-only:1" in html
    assert set(graph_nodes(html)) == {"source:clicks", "view:click_rate", "service:clicks-only"}
    assert links.features(anchor="source-clicks") in html


# -- removed definitions, errors ----------------------------------------------------------------


def test_removed_definitions_are_404_unless_asked_by_version(
    client: TestClient, store: Store
) -> None:
    apply(
        [
            customer,
            orders,
            clicks,
            click_rate,
            FeatureService("clicks-only", features=["click_rate:*"]),
        ],
        prune=True,
        force=True,
    )
    answer = client.get(links.feature_view("spend"))
    assert answer.status_code == 404 and "was removed" in answer.text
    assert "?version=2" in answer.text
    html, _ = page(client, links.feature_view("spend", 2))
    assert 'id="removed-badge"' in html and "A removed view is not materialized" in html
    assert graph_nodes(html)["view:spend"][1] == "spend"
    assert client.get(links.feature_service("churn")).status_code == 404
    html, _ = page(client, links.feature_service("churn", 2))
    assert 'id="removed-badge"' in html
    # The overview no longer lists them.
    html, _ = page(client, links.features())
    assert 'data-view="spend"' not in html and 'data-service="churn"' not in html


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/features/views/nope", 404, "feature view &#39;nope&#39; does not exist"),
        ("/features/views/spend?version=9", 404, "has no version 9 (its newest is 2)"),
        ("/features/views/spend?version=x", 400, "version must be a version number"),
        ("/features/views/spend?version=0", 400, "version must be a version number"),
        ("/features/views/a%20b", 404, "feature view &#39;a b&#39; does not exist"),
        ("/features/services/nope", 404, "feature service &#39;nope&#39; does not exist"),
        ("/features/services/churn?version=3", 404, "has no version 3"),
        ("/features/services/spend", 404, "does not exist"),  # a view, not a service
    ],
)
def test_unknown_names_and_versions(
    client: TestClient, store: Store, url: str, status: int, words: str
) -> None:
    answer = client.get(url)
    assert answer.status_code == status, answer.text[:300]
    assert words in answer.text
    assert f'<a href="{links.features()}" id="back-to-section">Back to features</a>' in answer.text


# -- the graph's layout ---------------------------------------------------------------------------


def _nodes(kind: str, count: int) -> list[Node]:
    return [Node(f"{kind}:{i}", kind, f"{kind} {i}", "", f"/{kind}/{i}") for i in range(count)]


def test_a_crowded_column_ends_with_a_node_that_links_to_the_rest() -> None:
    views, models = _nodes("feature_view", 1), _nodes("model_version", MAX_NODES + 5)
    edges = [("feature_view:0", m.key) for m in models]
    graph = lineage_graph([("Views", views, "#v"), ("Models", models, "#models")], edges)
    assert graph is not None
    shown = graph.columns[1].nodes
    assert len(shown) == MAX_NODES and shown[-1].label == "6 more"
    assert shown[-1].href == "#models" and shown[-2].key == f"model_version:{MAX_NODES - 2}"
    # The dropped nodes' edges end at the "more" node, once.
    assert len(graph.edges) == MAX_NODES
    bottom = max(n.y + graph.node_height for n in graph.nodes)
    assert bottom <= graph.height and graph.width == 2 * graph.node_width + 48 + 2


def test_long_labels_are_cut_with_their_whole_text_in_the_title() -> None:
    long = "customer_lifetime_value_in_euros_" * 3
    (node,) = _nodes("feature_view", 1)
    node.label, node.detail = long, "v12"
    assert node.short_label.endswith("…") and len(node.short_label) == 22
    assert node.title == f"{long} (v12)"
    assert lineage_graph([("Empty", [], "#")], []) is None
