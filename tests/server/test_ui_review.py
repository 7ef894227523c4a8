"""The review pages over HTTP: the queues with their backlog and throughput, a queue's
dashboard (daily counts, agreement, changed answers, reviewers, the policies feeding it,
filtered items), the review page's claim / submit / next loop, skip, escalate and resolve,
comments, multi-row and LLM cases, answers the queue cannot take (shown again, nothing
stored), unknown queues and items, the roles (a reviewer answers and sees nothing else),
the inference log's link to a request's item; and, in headless Chromium, the keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import ServerHandle
from tests.review.review_testing import answer, call, make_queue, take
from tests.server.conftest import XSS_NAME
from tests.server.test_ui import ESCAPED_XSS
from tests.server.test_ui_links import Page

from mloop.auth.tokens import create_token
from mloop.core.timeutil import now_ms
from mloop.review.schemas import ReviewItem
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.server.ui.review import completed_per_day
from mloop.server.ui.review_views import case_view
from mloop.serving.endpoints import create_endpoint
from mloop.serving.schemas import CreateEndpoint
from mloop.store.runtime import Runtime

ENDPOINT = "loans-api"
CHOICE = {"approve": '"approve"', "reject": '"reject"'}  # what a choice's radio posts


def _case(i: int, confidence: float, **fields: Any) -> dict[str, Any]:
    """A routed single-row case of endpoint ``loans-api``."""
    return {
        "request_id": f"req{i}",
        "source": "endpoint",
        "target": ENDPOINT,
        "payload": {
            "inputs": [{"income": 1000 + i, "note": XSS_NAME if i == 0 else "ok"}],
            "predictions": ["approve"],
            "probabilities": [[confidence, 1 - confidence]],
            "classes": ["approve", "reject"],
            "doubtful_rows": [0],
            "criterion": "confidence",
        },
        "prediction": "approve",
        "confidence": confidence,
        "model_name": "loans",
        "model_version": 3,
        "variant": "stable",
        "reason": "confidence",
        **fields,
    }


def _add(runtime: Runtime, queue: str, items: list[dict[str, Any]]) -> list[int]:
    return list(call(runtime, "add_review_items", queue=queue, items=items).ids)


@pytest.fixture
def loans(runtime: Runtime) -> list[int]:
    """Queue ``loans`` (approve / reject) with three routed cases, least confident first:
    the ids in the order the queue hands them out."""
    runtime.run(
        lambda ctx: create_endpoint(ctx, CreateEndpoint(name=ENDPOINT)), write=True, actor="ana"
    )
    make_queue(runtime, "loans", description=f"loan decisions {XSS_NAME}", instructions="Be fair.")
    ids = _add(runtime, "loans", [_case(0, 0.55), _case(1, 0.6), _case(2, 0.65)])
    call(runtime, "set_review_routing", endpoint=ENDPOINT, queue="loans", threshold=0.7)
    call(runtime, "set_review_sampling", queue="loans", route="support", per_day=30)
    return ids


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def page(client: TestClient, url: str) -> tuple[str, Page]:
    answer_ = client.get(url)
    assert answer_.status_code == 200, (url, answer_.text[:500])
    assert XSS_NAME not in answer_.text  # escaped everywhere
    found = Page()
    found.feed(answer_.text)
    return answer_.text, found


def _item(runtime: Runtime, item_id: int) -> Any:
    return call(runtime, "get_review_item", id=item_id)


def _post(client: TestClient, url: str, **data: str) -> Any:
    return client.post(url, data=data, follow_redirects=False)


def _section(html: str, dom_id: str, end: str = "</table>") -> str:
    return html.split(f'id="{dom_id}"', 1)[1].split(end, 1)[0]


# -- the queues and the dashboard -----------------------------------------------------------


def test_the_queues_page(
    client: TestClient, runtime: Runtime, loans: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_queue(runtime, "empty-queue", choices=["x", "y"])
    answer(runtime, loans[0], "ann", "reject")
    html, found = page(client, links.review_queues())
    assert 'aria-current="page">Review<' in html  # the navigation's section
    row = _section(html, "queue-loans", "</tr>")
    assert re.findall(r'class="num[^"]*">(\d+)<', row)[:4] == ["2", "0", "1", "1"]
    assert found.hrefs("review_queue", name="loans") == ["loans"]
    assert found.hrefs("review_work", name="loans") == ["Review now"]
    assert found.hrefs("review_queue", name="empty-queue") == ["empty-queue"]
    # The sparkline: 14 days of completed items, today's one at the top right.
    points = re.search(r'<polyline points="([^"]+)"', row)
    assert points and len(points.group(1).split()) == 14
    assert points.group(1).split()[-1] == "112.0,2.0" and "1 completed in 14 days" in row
    assert ESCAPED_XSS in html
    # Counted per UTC day as the queue's statistics count them: two items completed three
    # days ago, one today.
    import mloop.review.answers

    three_days_ago = now_ms() - 3 * 86_400_000
    monkeypatch.setattr(mloop.review.answers, "now_ms", lambda: three_days_ago)
    answer(runtime, loans[1], "ann", "approve")
    answer(runtime, loans[2], "ann", "approve")
    days = call(runtime, "get_review_queue_stats", name="loans", days=14).days
    expected = [d.completed for d in days]
    assert sum(expected) == 3 and expected[-4] == 2
    now = now_ms()
    assert runtime.run(lambda ctx: completed_per_day(ctx, "loans", now), write=False) == expected


def test_the_dashboard(client: TestClient, runtime: Runtime, loans: list[int]) -> None:
    make_queue(runtime, "pairs", overlap=2)
    pairs = _add(runtime, "pairs", [_case(10, 0.5), _case(11, 0.6), _case(12, 0.7)])
    given = [("approve", "approve"), ("reject", "approve")]
    for item_id, (ann, bob) in zip(pairs[:2], given, strict=True):
        answer(runtime, item_id, "ann", ann)
        answer(runtime, item_id, "bob", bob)
    answer(runtime, pairs[2], "ann", "reject")
    html, found = page(client, links.review_queue("pairs"))
    assert re.search(r'id="count-open".*?>1<', html, re.S)
    assert re.search(r'id="count-done".*?>2<', html, re.S)
    assert re.search(r'id="count-answers".*?>5<', html, re.S)
    # Today's counts, in the table under the chart and as the chart's last bars.
    today = re.search(
        r'<tr data-day="([\d-]+)"><td>[\d-]+</td>((?:<td class="num">\d+</td>)+)', html
    )
    assert today and re.findall(r">(\d+)<", today.group(2)) == ["3", "5", "2"]
    bars = re.findall(r'<rect class="rv-series-(\w+)"[^>]*><title>([^<]+)</title>', html)
    assert len(bars) == 14 * 3
    assert bars[-3:] == [
        ("added", f"{today.group(1)}: 3 added"),
        ("answers", f"{today.group(1)}: 5 answered"),
        ("completed", f"{today.group(1)}: 2 completed"),
    ]
    # Both done items were predicted "approve": on one the reviewers agreed with it, the
    # other is a tie, settled by the first answer given ("reject"): half changed.
    assert re.search(r'id="changed-share".*?>50.0%<', html, re.S)
    assert "Fleiss' κ" in _section(html, "queue-kappa", "</td>")
    low = links.review_queue("pairs", low_agreement=True) + "#items"
    assert found.links[low] == ["1 item"]
    reviewers = _section(html, "reviewer-table")
    assert 'data-reviewer="ann"' in reviewers and 'data-reviewer="bob"' in reviewers
    assert re.search(r'data-reviewer="ann">.*?<td class="num">3</td>', reviewers, re.S)
    items = re.findall(r'<tr id="item-(\d+)"', html)
    assert items == [str(i) for i in reversed(pairs)]
    assert found.hrefs("review_item", item_id=pairs[0]) == [str(pairs[0])]
    assert 'id="no-policies"' in html
    # The loans queue is fed by a routing and a sampling policy, linked to what they read.
    html, found = page(client, links.review_queue("loans"))
    assert found.hrefs("endpoint", name=ENDPOINT) == [ENDPOINT]
    assert found.hrefs("gateway_route", name="support") == ["support"]
    assert "confidence under 0.7" in html and "30 a day" in html
    assert found.hrefs("review_work", name="loans") == ["Review now"]
    assert ESCAPED_XSS in html


def test_dashboard_filters(client: TestClient, runtime: Runtime, loans: list[int]) -> None:
    answer(runtime, loans[0], "ann", "reject")
    answer(runtime, loans[1], "ann", "approve")

    def shown(**filters: Any) -> list[int]:
        html, _ = page(client, links.review_queue("loans", **filters))
        return [int(i) for i in re.findall(r'<tr id="item-(\d+)"', html)]

    assert shown(status="done") == [loans[1], loans[0]]
    assert shown(status="open") == [loans[2]]
    assert shown(changed=True) == [loans[0]]
    assert shown(changed=False) == [loans[1]]
    assert shown(reason="sample") == []
    html, _ = page(client, links.review_queue("loans", low_agreement=True))
    assert "No items match these filters." in html


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/review/nope", 404),
        ("/review/nope/work", 404),
        ("/review/bad%20name", 404),
        ("/review/items/999999", 404),
        ("/review/items/abc", 404),
        ("/review/items/0", 404),
        ("/review/loans?status=lost", 400),
        ("/review/loans?changed=maybe", 400),
        ("/review/loans?page_token=garbage", 400),
        ("/review/loans/work?item=x", 400),
        ("/review/loans/work?did=ate", 400),
    ],
)
def test_unknown_queues_items_and_bad_parameters_are_html_pages(
    client: TestClient, loans: list[int], url: str, status: int
) -> None:
    answer_ = client.get(url, headers={"accept": "text/html"})
    assert answer_.status_code == status, answer_.text[:300]
    assert answer_.headers["content-type"].startswith("text/html")


def test_an_item_of_another_queue_is_not_found_on_the_work_page(
    client: TestClient, runtime: Runtime, loans: list[int]
) -> None:
    make_queue(runtime, "other")
    answer_ = client.get(links.review_work("other", item=loans[0]))
    assert answer_.status_code == 404 and "has no item" in answer_.text


# -- the review page ------------------------------------------------------------------------


def test_claim_submit_next_until_the_queue_is_empty(
    client: TestClient, runtime: Runtime, loans: list[int]
) -> None:
    html, _ = page(client, links.review_work("loans"))
    # GET changes nothing: it offers the Start form, which the script posts on arrival.
    assert 'data-autostart="true"' in html and 'id="answer-form"' not in html
    assert _item(runtime, loans[0]).holders == []
    posted = _post(client, links.review_claim("loans"))
    assert posted.status_code == 303
    assert posted.headers["location"] == links.review_work("loans", item=loans[0])
    html, found = page(client, posted.headers["location"])
    # The case: inputs, the model's suggestion and confidence, probabilities, its links.
    assert ESCAPED_XSS in _section(html, "input-table")
    assert '<p class="rv-prediction" id="prediction">approve</p>' in html
    assert "55.0%" in _section(html, "confidence", "</div>")
    probabilities = _section(html, "probabilities")
    assert probabilities.index("approve") < probabilities.index("reject")
    assert found.hrefs("model_version", name="loans", version=3) == ["loans v3"]
    assert found.hrefs("endpoint", name=ENDPOINT) == [ENDPOINT]
    item = _item(runtime, loans[0]).item
    assert found.hrefs(
        "inference_request", name=ENDPOINT, request_id="req0", time=item.created_at
    ) == ["req0"]
    assert re.search(r'value="&#34;approve&#34;"> <kbd>1</kbd>.*?model', html, re.S)
    assert "Be fair." in html  # the instructions
    # Submit: the answer is stored as the viewer's, and the next item is claimed.
    posted = _post(
        client,
        links.review_item_action(loans[0], "answer"),
        choice=CHOICE["reject"],
        comment="income too low",
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == links.review_work(
        "loans", item=loans[1], last=loans[0], did="answered"
    )
    detail = _item(runtime, loans[0])
    assert detail.item.status == "done" and detail.item.final_label == "reject"
    assert [(a.reviewer, a.label, a.comment) for a in detail.answers] == [
        ("anonymous", "reject", "income too low")
    ]
    assert [h.reviewer for h in _item(runtime, loans[1]).holders] == ["anonymous"]
    html, _ = page(client, posted.headers["location"])
    assert f'Item <a href="{links.review_item(loans[0])}">{loans[0]}</a> answered.' in html
    # The last two, then nothing is left.
    _post(client, links.review_item_action(loans[1], "answer"), choice=CHOICE["approve"])
    posted = _post(client, links.review_item_action(loans[2], "answer"), choice=CHOICE["approve"])
    assert posted.headers["location"] == links.review_work(
        "loans", last=loans[2], did="answered", empty=True
    )
    html, _ = page(client, posted.headers["location"])
    assert "<h2>Queue empty</h2>" in html and "data-autostart" not in html
    assert re.findall(r"<td>(\d+)</td>", _section(html, "empty-counts")) == ["0", "0", "3", "3"]


def test_an_answer_the_queue_cannot_take_is_shown_again_and_not_stored(
    client: TestClient, runtime: Runtime, loans: list[int]
) -> None:
    _post(client, links.review_claim("loans"))
    url = links.review_item_action(loans[0], "answer")
    refused = _post(client, url, choice='"maybe"', comment="not sure")
    assert refused.status_code == 400
    assert "is not one of" in refused.text and "maybe" in refused.text
    # The case is on the page again, with what was typed.
    assert 'id="answer-form"' in refused.text and "not sure</textarea>" in refused.text
    for bad in ({"choice": "{not json"}, {"text": "free words"}, {"rating": "3"}, {}):
        refused = _post(client, url, **bad)
        assert refused.status_code == 400, (bad, refused.text[:300])
        assert 'role="alert"' in refused.text
    assert _item(runtime, loans[0]).answers == []
    # A different answer after a stored one is refused too (answers are final).
    _post(client, url, choice=CHOICE["approve"])
    refused = _post(client, url, choice=CHOICE["reject"])
    assert refused.status_code == 409 and "answers are final" in refused.text
    assert [a.label for a in _item(runtime, loans[0]).answers] == ["approve"]


def test_skip_escalate_and_resolve(client: TestClient, runtime: Runtime, loans: list[int]) -> None:
    _post(client, links.review_claim("loans"))
    posted = _post(client, links.review_item_action(loans[0], "skip"))
    assert posted.headers["location"] == links.review_work(
        "loans", item=loans[1], last=loans[0], did="skipped"
    )
    posted = _post(
        client, links.review_item_action(loans[1], "escalate"), note=f"policy? {XSS_NAME}"
    )
    assert posted.headers["location"] == links.review_work(
        "loans", item=loans[2], last=loans[1], did="escalated"
    )
    assert _item(runtime, loans[1]).item.status == "escalated"
    html, _ = page(client, links.review_item(loans[1]))
    assert f"policy? {ESCAPED_XSS}" in _section(html, "escalation", "</tr>")
    assert 'id="resolve-form"' in html
    # The lead resolves it: the label decides the item alone.
    posted = _post(client, links.review_item_action(loans[1], "resolve"), choice=CHOICE["reject"])
    assert posted.status_code == 303
    assert posted.headers["location"] == links.review_item(loans[1]) + "#answers"
    detail = _item(runtime, loans[1])
    assert detail.item.status == "done" and detail.item.final_label == "reject"
    html, _ = page(client, links.review_item(loans[1]))
    assert 'id="resolve-form"' not in html and "changed the model" in html
    # The skipped item is not offered again to the one who skipped it.
    _post(client, links.review_item_action(loans[2], "answer"), choice=CHOICE["approve"])
    assert take(runtime, "loans", "anonymous").item is None


def test_an_item_page_with_answers_comments_and_holders(
    client: TestClient, runtime: Runtime, loans: list[int]
) -> None:
    take(runtime, "loans", "cleo")
    answer(runtime, loans[1], "ann", "reject", comment="low income")
    posted = _post(client, links.review_item_action(loans[0], "comment"), text=f"why? {XSS_NAME}")
    assert posted.status_code == 303 and "#comment-" in posted.headers["location"]
    html, found = page(client, links.review_item(loans[0]))
    assert "cleo" in _section(html, "holders", "</td>")
    assert f"why? {ESCAPED_XSS}" in _section(html, "comments", "</section>")
    assert found.hrefs("review_queue", name="loans") == ["loans"]
    html, _ = page(client, links.review_item(loans[1]))
    answers = _section(html, "answer-table")
    assert 'data-reviewer="ann"' in answers and "low income" in answers and "changed" in answers
    assert "reject" in _section(html, "final-label", "</td>")
    empty = _post(client, links.review_item_action(loans[0], "comment"), text="  ")
    assert empty.status_code == 400


def test_a_multi_row_case_takes_a_label_per_row(client: TestClient, runtime: Runtime) -> None:
    make_queue(runtime, "batch", choices=["a", "b"])
    rows = [{"x": 1}, {"x": 2}, {"x": 3}]
    payload = {
        "inputs": rows,
        "predictions": ["a", "b", "a"],
        "probabilities": [[0.9, 0.1], [0.4, 0.6], [0.55, 0.45]],
        "classes": ["a", "b"],
        "doubtful_rows": [1, 2],
    }
    [first, second, third] = _add(
        runtime,
        "batch",
        [
            {"request_id": f"b{i}", "payload": payload, "prediction": ["a", "b", "a"]}
            for i in range(3)
        ],
    )
    _post(client, links.review_claim("batch"))
    html, _ = page(client, links.review_work("batch", item=first))
    table = _section(html, "input-table")
    assert table.count('data-group="row-') == 3 and table.count('class="rv-doubtful"') == 2
    assert "55.0%" in table
    url = links.review_item_action(first, "answer")
    refused = _post(client, url, **{"row-0": '"a"', "row-2": '"b"'})
    assert refused.status_code == 400 and "row 2 has no label" in refused.text
    _post(client, url, **{"row-0": '"a"', "row-1": '"a"', "row-2": '"b"'})
    assert [a.label for a in _item(runtime, first).answers] == [["a", "a", "b"]]
    # One label for all rows; rows picked apart from it override it.
    _post(client, links.review_item_action(second, "answer"), choice='"b"')
    assert _item(runtime, second).answers[0].label == "b"
    _post(client, links.review_item_action(third, "answer"), choice='"b"', **{"row-1": '"a"'})
    assert _item(runtime, third).answers[0].label == ["b", "a", "b"]


def test_an_llm_case_with_messages_rating_and_written_answer(
    client: TestClient, runtime: Runtime
) -> None:
    make_queue(runtime, "chat", choices=[], free_text=True, rating_scale=5)
    [item_id] = _add(
        runtime,
        "chat",
        [
            {
                "request_id": "call-1",
                "source": "gateway",
                "target": "support",
                "reason": "sample",
                "prompt_name": "helpdesk",
                "prompt_version": 2,
                "payload": {
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": [{"type": "text", "text": XSS_NAME}]},
                    ],
                    "answer": "Restart the router.",
                    "model": "gpt-sim",
                    "latency_ms": 840.0,
                    "cost_usd": 0.0012,
                },
                "prediction": "Restart the router.",
            }
        ],
    )
    _post(client, links.review_claim("chat"))
    html, found = page(client, links.review_work("chat", item=item_id))
    conversation = _section(html, "conversation", "</section>")
    assert "Be brief." in conversation and ESCAPED_XSS in conversation
    assert "Restart the router." in _section(html, "llm-answer", "</div></div>")
    assert found.hrefs("prompt_version", name="helpdesk", version=2) == ["helpdesk v2"]
    assert found.hrefs("gateway_call", call_id="call-1") == ["call-1"]
    assert found.hrefs("gateway_route", name="support") == ["support"]
    assert "Model: gpt-sim" in html and "840 ms" in html
    assert html.count('name="rating"') == 5 and 'name="text"' in html
    _post(
        client,
        links.review_item_action(item_id, "answer"),
        text="Unplug it for 30 seconds.",
        rating="2",
    )
    [stored] = _item(runtime, item_id).answers
    assert (stored.label, stored.rating) == ("Unplug it for 30 seconds.", 2)
    refused = _post(client, links.review_item_action(item_id, "answer"), rating="9")
    assert refused.status_code in (400, 409)


# -- roles ----------------------------------------------------------------------------------


@pytest.fixture
def tokens(runtime: Runtime) -> dict[str, str]:
    return {
        role: runtime.run(partial(create_token, name=f"dora-{role}", role=role), write=True)
        for role in ("reader", "reviewer", "writer")
    }


def test_a_reviewer_answers_and_sees_nothing_else(
    runtime: Runtime, tokens: dict[str, str], loans: list[int]
) -> None:
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        answer_ = web.get(links.review_queues(), follow_redirects=False)
        assert answer_.status_code == 303 and "/login" in answer_.headers["location"]
        web.cookies.set("mloop_token", tokens["reviewer"])
        html, found = page(web, links.review_queues())
        # The navigation offers the review pages only.
        assert found.hrefs("review_queues") == ["mloop", "Review"]
        assert not found.hrefs("models") and not found.hrefs("endpoints")
        assert web.get(links.models()).status_code == 403
        assert web.get(links.endpoint(ENDPOINT)).status_code == 403
        html, found = page(web, links.review_queue("loans"))
        assert not found.hrefs("endpoint", name=ENDPOINT) and ENDPOINT in html
        posted = _post(web, links.review_claim("loans"))
        assert posted.headers["location"] == links.review_work("loans", item=loans[0])
        html, found = page(web, posted.headers["location"])
        assert not found.hrefs("model_version", name="loans", version=3)  # a 403 page
        assert 'id="anonymous-note"' not in html
        _post(web, links.review_item_action(loans[0], "answer"), choice=CHOICE["reject"])
        assert [a.reviewer for a in _item(runtime, loans[0]).answers] == ["dora-reviewer"]
        # A lead's resolution is a writer's; a post from another site is refused.
        refused = _post(web, links.review_item_action(loans[1], "resolve"), choice=CHOICE["reject"])
        assert refused.status_code == 403
        cross = web.post(
            links.review_item_action(loans[1], "answer"),
            data={"choice": CHOICE["reject"]},
            headers={"origin": "https://elsewhere.example"},
        )
        assert cross.status_code == 403 and _item(runtime, loans[1]).answers == []

        web.cookies.set("mloop_token", tokens["reader"])
        html, _ = page(web, links.review_work("loans"))
        assert 'id="review-refused"' in html and 'id="start-form"' not in html
        assert _post(web, links.review_claim("loans")).status_code == 403
        html, _ = page(web, links.review_item(loans[1]))
        assert 'id="resolve-refused"' in html and 'id="comment-form"' not in html

        web.cookies.set("mloop_token", tokens["writer"])
        posted = _post(web, links.review_item_action(loans[1], "resolve"), choice=CHOICE["approve"])
        assert posted.status_code == 303
        assert _item(runtime, loans[1]).answers[0].reviewer == "dora-writer"


def test_a_reviewer_signing_in_lands_on_the_review_pages(
    runtime: Runtime, tokens: dict[str, str]
) -> None:
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        origin = {"origin": str(web.base_url)}
        signed = web.post(
            "/login", data={"token": tokens["reviewer"]}, headers=origin, follow_redirects=False
        )
        assert signed.headers["location"] == links.review_queues()
        asked = web.post(
            "/login",
            data={"token": tokens["reviewer"], "next": links.review_queue("loans")},
            headers=origin,
            follow_redirects=False,
        )
        assert asked.headers["location"] == links.review_queue("loans")
        writer = web.post(
            "/login", data={"token": tokens["writer"]}, headers=origin, follow_redirects=False
        )
        assert writer.headers["location"] == "/"


def test_a_queue_listing_its_reviewers_takes_only_them(
    runtime: Runtime, tokens: dict[str, str], loans: list[int]
) -> None:
    call(runtime, "update_review_queue", name="loans", reviewers=["someone-else"])
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        web.cookies.set("mloop_token", tokens["reviewer"])
        html, found = page(web, links.review_work("loans"))
        assert "is not a reviewer of queue" in html
        assert not found.hrefs("review_work", name="loans")
        assert _post(web, links.review_claim("loans")).status_code == 403


# -- the inference log links to the item ----------------------------------------------------


def test_the_request_page_links_its_review_item(
    client: TestClient, runtime: Runtime, loans: list[int]
) -> None:
    from mloop.store.eventlog import InferenceLog, InferenceRecord

    log = InferenceLog(runtime)
    for request_id in ("req1", "unreviewed"):
        log.record(
            InferenceRecord(
                request_id=request_id,
                endpoint=ENDPOINT,
                variant="stable",
                model_name="loans",
                model_version=3,
                inputs={"income": 1001},
                outputs={"predictions": ["approve"]},
                confidence=0.6,
                latency_ms=1.0,
                time=now_ms(),
            )
        )
    log.close()
    html, found = page(client, links.inference_request(ENDPOINT, "req1"))
    assert found.hrefs("review_item", item_id=loans[1]) == [f"item {loans[1]}"]
    html, found = page(client, links.inference_request(ENDPOINT, "unreviewed"))
    assert 'id="review-item"' not in html


# -- cases as tables ------------------------------------------------------------------------


def _review_item(payload: dict[str, Any], prediction: Any = None) -> ReviewItem:
    return ReviewItem(
        id=1,
        queue="q",
        source="endpoint",
        target="e",
        request_id="r",
        reason="confidence",
        payload=payload,
        prediction=prediction,
        status="open",
        answers_needed=1,
        answers_count=0,
        created_at=0,
        updated_at=0,
    )


@pytest.mark.parametrize(
    ("inputs", "columns", "cells"),
    [
        (
            [{"a": 1, "b": "x"}, {"a": 2, "c": True}],
            ["a", "b", "c"],
            [["1", "x", "null"], ["2", "null", "true"]],
        ),
        ({"a": [1, 2], "b": ["x", "y"]}, ["a", "b"], [["1", "x"], ["2", "y"]]),
        ({"a": 1, "b": "x"}, ["a", "b"], [["1", "x"]]),
        ([[1, 2], [3]], ["0", "1"], [["1", "2"], ["3", "null"]]),
        (
            {"entities": [{"driver": 7}, {"driver": 8}], "inputs": [{"km": 1.5}, {"km": 2}]},
            ["driver", "km"],
            [["7", "1.5"], ["8", "2"]],
        ),
        ({"entities": [{"driver": 7}], "inputs": None}, ["driver"], [["7"]]),
    ],
)
def test_inputs_of_every_logged_shape_become_a_table(
    inputs: Any, columns: list[str], cells: list[list[str]]
) -> None:
    view = case_view(_review_item({"inputs": inputs}))
    assert view.columns == columns and [r.cells for r in view.rows] == cells
    assert view.raw_inputs is None


def test_inputs_that_are_no_table_are_shown_as_json() -> None:
    view = case_view(_review_item({"inputs": {"a": [1, 2], "b": [3]}, "trace": {"k": 1}}))
    assert view.rows == [] and view.raw_inputs is not None and '"b": [' in view.raw_inputs
    assert view.extra == [("trace", '{\n  "k": 1\n}')]


def test_probabilities_are_sorted_and_the_prediction_marked() -> None:
    payload = {
        "inputs": [{"x": 1}],
        "predictions": ["b"],
        "probabilities": [[0.2, 0.7, 0.1]],
        "classes": ["a", "b", "c"],
    }
    view = case_view(_review_item(payload, prediction="b"))
    assert [(p.label, p.value, p.predicted) for p in view.probabilities] == [
        ("b", 0.7, True),
        ("a", 0.2, False),
        ("c", 0.1, False),
    ]
    assert view.confidence == 0.7 and view.suggested == '"b"'


def test_the_daily_chart_scales_to_a_round_top() -> None:
    from mloop.review.schemas import DayCount
    from mloop.server.ui.review_views import daily_chart, nice_top

    assert [nice_top(v) for v in (0, 1, 3, 7, 12, 50, 51)] == [1, 1, 5, 10, 20, 50, 100]
    days = [DayCount(day=f"2026-12-0{k + 1}", answers=k, completed=0, added=4) for k in range(3)]
    chart = daily_chart(days)
    assert [t["label"] for t in chart["ticks"]] == ["0", "2.5", "5"]
    added = [b for b in chart["bars"] if b["series"] == "added"]
    assert {b["h"] for b in added} == {round((200 - 36) * 4 / 5, 2)}
    assert chart["total"] == 3 + 12


# -- the keys, in Chromium ------------------------------------------------------------------


@pytest.mark.browser
def test_keys_pick_submit_and_move_on(browser: Any, server: ServerHandle) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from tests.server.test_ui_browser import console_errors, visit, wait
    from tests.server.test_ui_layout_browser import LAYOUT_PROBLEMS

    make_queue(server.runtime, "keys", choices=["cat", "dog", "bird"])
    ids = _add(
        server.runtime,
        "keys",
        [
            {"request_id": f"k{i}", "prediction": "cat", "confidence": 0.5 + i / 10}
            for i in range(2)
        ],
    )
    browser.get_log("browser")
    # The page claims an item on arrival: the first case is on screen.
    visit(browser, server.url + links.review_work("keys"), "review-work")
    wait(browser).until(lambda b: b.find_elements(By.ID, "answer-form"))
    assert browser.find_element(By.ID, "work").get_attribute("data-item") == str(ids[0])
    assert browser.execute_script(LAYOUT_PROBLEMS) == []
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("2")
    assert (
        browser.find_element(By.CSS_SELECTOR, 'input[name="choice"]:checked').get_attribute("value")
        == '"dog"'
    )
    body.send_keys(Keys.ENTER)
    wait(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#work[data-item="{ids[1]}"]'))
    assert [a.label for a in _item(server.runtime, ids[0]).answers] == ["dog"]
    assert browser.find_element(By.ID, "flash").text == f"Item {ids[0]} answered."
    # "?" shows the keys; "s" skips the last one, and the queue is empty for this reviewer.
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("?")
    assert browser.find_element(By.ID, "keys").get_attribute("open") == "true"
    body.send_keys("s")
    wait(browser).until(lambda b: b.find_elements(By.ID, "queue-empty"))
    assert _item(server.runtime, ids[1]).answers == []
    assert console_errors(browser) == []
