"""The prompt pages over HTTP: listing, one prompt, one version with its reviews and the
Approve form, two versions diffed; 404s, escaping, roles and cross-site posts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS

from mloop.auth.tokens import create_token
from mloop.llm.calls.log import CallRecord, insert_calls
from mloop.prompts.labels import set_prompt_label
from mloop.prompts.reviews import set_prompt_policy
from mloop.prompts.schemas import CreatePromptVersion, SetPromptLabel, SetPromptPolicy
from mloop.prompts.versions import create_prompt_version
from mloop.server.app import create_app
from mloop.store.runtime import Runtime


def section(html: str, marker: str, end: str = "</section>") -> str:
    return html.split(marker, 1)[1].split(end, 1)[0]


def populate(runtime: Runtime) -> None:
    """Prompt ``support`` v1 and v2 by ana (v2 changes a line and the temperature), label
    ``staging`` moved v1 -> v2, approval required for ``production``."""

    def as_ana(fn: Any) -> Any:
        return runtime.run(fn, write=True, actor="ana")

    base: dict[str, Any] = {
        "name": "support",
        "messages": [
            {"role": "system", "content": f"Be kind. {XSS_NAME}"},
            {"role": "user", "content": "{{ question }}"},
        ],
        "variables": {"question": {"type": "string", "description": "asked"}},
        "params": {"model": "support-route", "temperature": 0.2},
        "description": f"support answers {XSS_NAME}",
    }
    as_ana(lambda ctx: create_prompt_version(ctx, CreatePromptVersion(**base)))
    v2 = {
        **base,
        "messages": [base["messages"][0], {"role": "user", "content": "Q: {{ question }}"}],
        "params": {"model": "support-route", "temperature": 0.7},
    }
    as_ana(lambda ctx: create_prompt_version(ctx, CreatePromptVersion(**v2)))
    for version in (1, 2):
        as_ana(
            lambda ctx, n=version: set_prompt_label(
                ctx, SetPromptLabel(name="support", label="staging", version=n)
            )
        )
    as_ana(
        lambda ctx: set_prompt_policy(
            ctx, SetPromptPolicy(name="support", require_approval_for=["production"])
        )
    )


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    populate(runtime)
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def test_prompts_page_lists_prompts(client: TestClient) -> None:
    page = client.get("/prompts")
    assert page.status_code == 200
    row = section(page.text, '<tr data-prompt="support">', "</tr>")
    assert 'href="/prompts/support/2">v2</a>' in row
    assert 'href="/prompts/support/2">@staging → v2</a>' in row
    assert "policy-required" in row and "production" in row
    assert ESCAPED_XSS in row and XSS_NAME not in page.text
    assert 'class="active" aria-current="page">Prompts</a>' in page.text
    assert "No prompts match" in client.get("/prompts", params={"q": "zzz"}).text
    assert client.get("/prompts", params={"page_token": "junk"}).status_code == 400


def test_prompt_page_shows_versions_labels_and_history(client: TestClient) -> None:
    text = client.get("/prompts/support").text
    versions = section(text, 'id="versions-table"', "</table>")
    assert versions.index('<tr id="v2">') < versions.index('<tr id="v1">')
    v2 = section(versions, '<tr id="v2">', "</tr>")
    assert '<span class="badge alias">@staging</span>' in v2 and "pending review" in v2
    history = section(text, 'id="alias-history-table"', "</table>")
    assert 'set → <a href="/prompts/support/1">v1</a>' in history
    moved = '<a href="/prompts/support/1">v1</a> → <a href="/prompts/support/2">v2</a>'
    assert moved in history and "ana" in history
    assert 'action="/prompts/support/diff"' in text
    assert '<option value="1" selected>v1</option>' in section(text, 'name="a"', "</select>")


def test_version_page_shows_template_variables_params(client: TestClient) -> None:
    page = client.get("/prompts/support/1")
    assert page.status_code == 200
    template = section(page.text, 'id="template"')
    assert f"Be kind. {ESCAPED_XSS}" in template and "{{ question }}" in template
    assert '<h3 class="role">system</h3>' in template
    assert "question" in section(page.text, 'id="variables-table"', "</table>")
    params = section(page.text, 'id="params-table"', "</table>")
    assert "temperature" in params and "0.2" in params
    assert 'id="how-to-review"' in page.text and "No reviews yet" in page.text
    assert 'href="/prompts/support/diff?a=1&amp;b=2"' in client.get("/prompts/support/2").text
    moved = client.get("/prompts/support/staging", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/prompts/support/2"
    assert (
        client.get("/prompts/support/latest", follow_redirects=False).headers["location"]
        == "/prompts/support/2"
    )


def test_diff_page_marks_changed_lines_and_words(client: TestClient) -> None:
    page = client.get("/prompts/support/diff", params={"a": 1, "b": 2})
    assert page.status_code == 200
    diff = section(page.text, 'id="diff"', "</pre>")
    removed = diff.split('<span class="diff-line diff-del">', 1)[1].split("</span><span", 3)
    assert '<span class="diff-sign">-</span>{{ question }}' in diff
    assert '<span class="diff-sign">+</span><ins class="diff-word">Q: </ins>{{ question }}' in diff
    assert removed  # the old line is shown with its number
    # Unchanged lines are context, escaped like everything else.
    assert f'<span class="diff-sign"> </span>Be kind. {ESCAPED_XSS}</span>' in diff
    changes = section(page.text, 'id="changes-table"', "</table>")
    assert "params.temperature" in changes
    assert '<span class="diff-del">0.2</span>' in changes
    assert '<span class="diff-add">0.7</span>' in changes
    same = client.get("/prompts/support/diff", params={"a": 2, "b": 2}).text
    assert "The templates are the same" in same
    bad_queries: list[dict[str, str]] = [{"a": "1"}, {"a": "x", "b": "2"}]
    for params in bad_queries:
        assert client.get("/prompts/support/diff", params=params).status_code == 400


def test_word_diff_marks_words_and_escapes(runtime: Runtime, client: TestClient) -> None:
    def push(text: str) -> None:
        runtime.run(
            lambda ctx: create_prompt_version(ctx, CreatePromptVersion(name="w", text=text)),
            write=True,
            actor="ana",
        )

    push("Answer briefly and politely.\nSign as <b>Bot</b>.\n" + "keep\n" * 8 + "last")
    push("Answer briefly and warmly.\nSign as <i>Bot</i>.\n" + "keep\n" * 8 + "last!")
    diff = section(client.get("/prompts/w/diff?a=1&b=2").text, 'id="diff"', "</pre>")
    assert 'Answer briefly and <del class="diff-word">politely</del>.' in diff
    assert 'Answer briefly and <ins class="diff-word">warmly</ins>.' in diff
    assert 'Sign as &lt;<del class="diff-word">b</del>&gt;Bot&lt;/' in diff
    assert 'Sign as &lt;<ins class="diff-word">i</ins>&gt;Bot&lt;/' in diff
    assert "<b>" not in diff and "<i>" not in diff
    # Far-apart changes are two groups with the unchanged middle left out.
    assert diff.count("diff-gap") == 1
    assert 'last<ins class="diff-word">!</ins>' in diff


def test_variables_with_defaults_are_not_required(runtime: Runtime, client: TestClient) -> None:
    variables = {
        "question": {"type": "string"},
        "product": {"type": "string", "default": "Acme"},
        "urgent": {"type": "boolean", "required": False},
    }
    runtime.run(
        lambda ctx: create_prompt_version(
            ctx,
            CreatePromptVersion(
                name="d", text="{{ product }} {{ question }} {{ urgent }}", variables=variables
            ),
        ),
        write=True,
    )
    table = section(client.get("/prompts/d/1").text, 'id="variables-table"', "</table>")
    rows = {
        cells[0]: cells[2]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in table.split("<tr>")[2:]
        )
    }
    assert rows["question"] == "yes"
    assert rows["product"] == 'no <span class="muted small">(default)</span>'
    assert rows["urgent"] == "no"


def test_version_page_shows_its_calls_spend_and_latency(
    runtime: Runtime, client: TestClient
) -> None:
    now = int(time.time() * 1000)

    def record(n: int, version: int, **fields: Any) -> CallRecord:
        values: dict[str, Any] = {
            "id": f"pc{n:03d}",
            "time": now - n * 60_000,
            "endpoint": "chat",
            "requested_model": "support-route",
            "route": "support-route",
            "provider": "sim",
            "model": "fast",
            "prompt_name": "support",
            "prompt_version": version,
            "status": "ok",
            "http_status": 200,
            "latency_ms": 100.0 * n,
            "cost_usd": 0.01,
        }
        values.update(fields)
        return CallRecord(**values)

    records = [record(n, 2) for n in range(1, 12)]
    records.append(record(12, 2, status="error", http_status=502, cost_usd=0.0))
    records.append(record(13, 1, cost_usd=5.0))  # another version
    records.append(record(14, 2, time=now - 40 * 86_400_000))  # older than the window
    runtime.run(lambda ctx: insert_calls(ctx, records), write=True)
    page = client.get("/prompts/support/2").text
    usage = section(page, 'id="usage"')
    assert "Calls 12" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", usage))
    assert "1 errors, 0 blocked" in usage and "$0.1100" in usage
    latencies = sorted(100.0 * n for n in range(1, 13))
    p50, p95 = latencies[5], latencies[11]
    assert (p50, p95) == (600.0, 1200.0)
    assert "600 ms / 1.20 s" in usage
    listed = re.findall(r'<tr data-call="([^"]+)"', usage)
    assert listed == [f"pc{n:03d}" for n in range(1, 11)]  # newest ten
    assert 'href="/gateway/calls/pc001"' in usage
    assert 'href="/gateway/calls?prompt=support%3A2" id="all-version-calls"' in usage
    other = section(client.get("/prompts/support/1").text, 'id="usage"')
    assert "$5.00" in other and re.findall(r'<tr data-call="([^"]+)"', other) == ["pc013"]
    # The calls list links back to the version, and filters by it.
    calls = client.get("/gateway/calls", params={"prompt": "support:2"}).text
    assert 'href="/prompts/support/2"' in calls
    assert len(re.findall(r'<tr data-call="', calls)) == 13


def test_missing_things_are_404(client: TestClient) -> None:
    for url in (
        "/prompts/nope",
        "/prompts/support/9",
        "/prompts/support/production",
        "/prompts/support/0",
        "/prompts/%2e%2e",
        "/prompts/support/diff?a=1&b=9",
    ):
        assert client.get(url).status_code == 404, url


def test_without_authentication_the_page_says_how_to_review(
    client: TestClient, runtime: Runtime
) -> None:
    # The viewer is "anonymous": the one approval rule refuses any review by nobody, so the
    # page shows the command instead of buttons, and a post anyway records nothing.
    page = client.get("/prompts/support/1").text
    assert 'id="review-form"' not in page and 'id="approve"' not in page
    how = section(page, 'id="how-to-review"', "</div>")
    assert "runs without authentication" in how
    assert "mloop prompts approve support 1 --as YOUR-NAME" in how
    assert "must not be ana" in how and "--allow-self-approval" in how
    posted = client.post(
        "/prompts/support/1/review", data={"decision": "approved"}, follow_redirects=False
    )
    assert posted.status_code == 403
    assert "needs an identified reviewer" in posted.text and "--as REVIEWER" in posted.text
    assert (
        client.post("/prompts/support/1/review", data={"decision": "rejected"}).status_code == 403
    )
    assert "No reviews yet" in client.get("/prompts/support/1").text
    assert "anonymous" not in client.get("/prompts/support/1").text
    bad = client.post("/prompts/support/2/review", data={"decision": "maybe"})
    assert bad.status_code == 400
    cross = client.post(
        "/prompts/support/2/review",
        data={"decision": "approved"},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and "cross-site" in cross.text
    assert client.post("/prompts/support/9/review", data={}).status_code == 404


def test_reviews_need_the_writer_role_and_another_person(runtime: Runtime) -> None:
    populate(runtime)
    reader = runtime.run(lambda ctx: create_token(ctx, "rita-reader", "reader"), write=True)
    bob = runtime.run(lambda ctx: create_token(ctx, "bob", "writer"), write=True)
    ana = runtime.run(lambda ctx: create_token(ctx, "ana", "writer"), write=True)
    root = runtime.run(lambda ctx: create_token(ctx, "root", "admin"), write=True)
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        redirect = web.get("/prompts/support/1", follow_redirects=False)
        assert redirect.status_code == 303 and "/login" in redirect.headers["location"]
        web.cookies.set("mloop_token", reader)
        page = web.get("/prompts/support/1")
        assert page.status_code == 200 and 'id="review-form"' not in page.text
        assert web.post("/prompts/support/1/review", data={}).status_code == 403
        # The author: Reject only, and why there is no Approve button.
        web.cookies.set("mloop_token", ana)
        own_page = web.get("/prompts/support/1").text
        assert 'id="reject"' in own_page and 'id="approve"' not in own_page
        assert "You registered this version" in section(own_page, 'id="reviews"')
        own = web.post("/prompts/support/1/review", data={"decision": "approved"})
        assert own.status_code == 403 and "cannot approve it" in own.text
        web.cookies.set("mloop_token", bob)
        assert 'id="approve">Approve as bob</button>' in web.get("/prompts/support/1").text
        done = web.post("/prompts/support/1/review", data={"decision": "approved"})
        assert done.status_code == 200
        reviews = section(done.text, 'id="reviews-table"', "</table>")
        assert "bob" in reviews and 'class="badge pass"' in reviews
        runtime.run(
            lambda ctx: set_prompt_label(
                ctx, SetPromptLabel(name="support", label="production", version=1)
            ),
            write=True,
        )
        # An admin allows self-approval (single user): the author's Approve button appears.
        web.cookies.set("mloop_token", root)
        relaxed = web.post(
            "/api/v1/prompts/policy/set",
            json={
                "name": "support",
                "require_approval_for": ["production"],
                "require_distinct_reviewer": False,
            },
            headers={"authorization": f"Bearer {root}"},
        )
        assert relaxed.status_code == 200
        assert "self-approval allowed" in web.get("/prompts/support").text
        web.cookies.set("mloop_token", ana)
        assert 'id="approve"' in web.get("/prompts/support/2").text
        mine = web.post("/prompts/support/2/review", data={"decision": "approved"})
        assert mine.status_code == 200
        assert "ana" in section(mine.text, 'id="reviews-table"', "</table>")
