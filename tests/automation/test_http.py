"""The webhook route, the automation pages, and a trigger starting a real pipeline run
through a worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from mloop.auth.tokens import create_token
from mloop.automation.worker import Worker
from mloop.server.app import create_app
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import call

PATH = "/api/v1/automation/webhooks/"
PIPELINE = {"pipeline": "tests.automation.flows:retrain", "params": {"model": "churn"}}


@pytest.fixture
def http(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime, auth_enabled=True)) as client:
        yield client


def _hook(runtime: Runtime, name: str = "hook", **target: object) -> str:
    created = call(
        runtime,
        "create_trigger",
        name=name,
        kind="webhook",
        target=target or PIPELINE,
        concurrency="parallel",
    )
    assert created.secret is not None and not created.trigger.cursor
    return str(created.secret)


def test_a_webhook_fires_with_its_secret(runtime: Runtime, http: TestClient) -> None:
    secret = _hook(runtime)
    answer = http.post(
        PATH + "hook",
        json={"params": {"model": "fraud"}},
        headers={"X-Mloop-Webhook-Secret": secret},
    )
    assert answer.status_code == 202
    body = answer.json()
    assert body["event"]["outcome"] == "fired" and body["event"]["source"] == "webhook"
    assert body["event"]["actor"] == "webhook:hook"
    assert body["job"]["payload"]["params"] == {"model": "fraud"}


def test_webhook_refusals(runtime: Runtime, http: TestClient) -> None:
    secret = _hook(runtime)
    call(runtime, "create_trigger", name="manual", kind="manual", target=PIPELINE)
    headers = {"X-Mloop-Webhook-Secret": secret}
    wrong = http.post(PATH + "hook", json={}, headers={"X-Mloop-Webhook-Secret": "whs_nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["field"] == "x-mloop-webhook-secret"
    # An unknown trigger and a trigger of another kind answer as a wrong secret does.
    assert http.post(PATH + "nobody", json={}, headers=headers).status_code == 401
    assert http.post(PATH + "manual", json={}, headers=headers).status_code == 401
    assert http.post(PATH + "hook", json={}).status_code == 401  # neither secret nor token
    big = http.post(PATH + "hook", content=b'{"a": "' + b"x" * 70_000 + b'"}', headers=headers)
    assert big.status_code == 413
    for body in (b"not json", b"[1, 2]"):
        bad = http.post(PATH + "hook", content=body, headers=headers)
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "body"
    assert http.post(PATH + "hook", headers=headers).status_code == 202  # empty body: {}


def test_a_rotated_secret_replaces_the_old_one(runtime: Runtime, http: TestClient) -> None:
    old = _hook(runtime)
    new = call(runtime, "rotate_trigger_secret", name="hook", actor="admin").secret
    assert http.post(PATH + "hook", headers={"X-Mloop-Webhook-Secret": old}).status_code == 401
    assert http.post(PATH + "hook", headers={"X-Mloop-Webhook-Secret": new}).status_code == 202


def test_a_writer_token_fires_a_webhook_but_not_a_policy_one(
    runtime: Runtime, http: TestClient
) -> None:
    _hook(runtime)
    _hook(runtime, "promote", policy="churn")
    writer = runtime.run(lambda ctx: create_token(ctx, "ci", "writer"), write=True)
    auth = {"Authorization": f"Bearer {writer}"}
    assert http.post(PATH + "hook", json={}, headers=auth).status_code == 202
    refused = http.post(PATH + "promote", json={}, headers=auth)
    assert refused.status_code == 403 and "deployer" in refused.json()["error"]["message"]


def test_a_trigger_runs_a_pipeline_through_a_worker_and_the_pages_show_it(
    runtime: Runtime, http: TestClient
) -> None:
    call(runtime, "create_trigger", name="retrain", kind="api", target=PIPELINE)
    fired = call(runtime, "fire_trigger", name="retrain", payload={"params": {"model": "fraud"}})
    assert Worker(runtime, worker_id="w1").run_once() == 1
    detail = call(runtime, "get_job", id=fired.job.id)
    assert detail.job.status == "succeeded", detail.job.error
    assert detail.job.result["outputs"] == "trained fraud"
    assert [e.id for e in detail.events] == [fired.event.id]
    admin = runtime.run(lambda ctx: create_token(ctx, "viewer", "reader"), write=True)
    auth = {"Authorization": f"Bearer {admin}"}
    page = http.get("/automation", headers=auth)
    assert page.status_code == 200
    assert 'id="trigger-retrain"' in page.text and f'id="event-{fired.event.id}"' in page.text
    assert f'href="/automation/jobs/{fired.job.id}"' in page.text
    job_page = http.get(f"/automation/jobs/{fired.job.id}", headers=auth)
    assert job_page.status_code == 200
    assert 'data-outcome="succeeded"' in job_page.text
    assert f'href="/runs/{detail.job.result["run_id"]}"' in job_page.text
    pipeline_run = detail.job.result["pipeline_run"]
    assert f'href="/pipelines/runs/{pipeline_run}"' in job_page.text
    assert http.get("/automation/jobs/99999", headers=auth).status_code == 404
    assert http.get("/automation/jobs/abc", headers=auth).status_code == 404
    assert http.get("/automation?trigger=a%20b", headers=auth).status_code == 400


def test_an_event_cursor_past_the_id_column_is_refused(runtime: Runtime, http: TestClient) -> None:
    # ids are 32-bit columns: PostgreSQL would fail the comparison with a larger bound.
    reader = runtime.run(lambda ctx: create_token(ctx, "viewer", "reader"), write=True)
    auth = {"Authorization": f"Bearer {reader}"}
    url = "/api/v1/automation/triggers/events"
    assert http.get(url, params={"after_id": 2**31 - 1}, headers=auth).status_code == 200
    refused = http.get(url, params={"after_id": 2**31}, headers=auth)
    assert refused.status_code == 400 and "after_id" in refused.text
