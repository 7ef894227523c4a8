"""The deployment policy pages over HTTP: the policies, approvals, a run with its trail and
links, the model's timeline and its ?version= chain; Approve/Reject need an identified
deployer (refused without authentication, to a reader and cross-site)."""

from __future__ import annotations

from functools import partial

import pytest
from fastapi.testclient import TestClient

from mloop.auth.tokens import create_token
from mloop.automation.worker import Worker
from mloop.server.app import create_app
from mloop.server.ui import links
from mloop.store.runtime import Runtime
from tests.automation.automation_testing import call
from tests.automation.policies_testing import MODEL, POLICY, policy_spec, prepare_store


@pytest.fixture
def waiting(runtime: Runtime) -> int:
    """A run of a policy requiring approval, its candidate v2 passed the gate."""
    prepare_store(champion="poor")
    call(runtime, "create_deployment_policy", **policy_spec(require_approval=True))
    run = call(runtime, "run_deployment_policy", actor="dee", name=POLICY)
    Worker(runtime, worker_id="w1", lease_s=300, triggers=False).run_once()
    assert call(runtime, "get_policy_run", id=run.id).run.state == "awaiting_approval"
    return int(run.id)


def _state(runtime: Runtime, run_id: int) -> str:
    return str(call(runtime, "get_policy_run", id=run_id).run.state)


def test_the_pages_link_what_a_run_made(runtime: Runtime, waiting: int) -> None:
    with TestClient(create_app(runtime)) as web:
        html = web.get(links.policies()).text
        assert f'href="{links.policy_run(waiting)}"' in html
        assert f'href="{links.policy(POLICY)}"' in html and "Waiting for approval" in html
        html = web.get(links.policy(POLICY)).text
        assert f'href="{links.link_to("model_timeline", name=MODEL)}"' in html
        html = web.get(links.policy_run(waiting)).text
        gate = call(runtime, "get_policy_run", id=waiting).run.gate_id
        assert f'href="{links.link_to("gate", decision_id=gate)}"' in html
        assert f'href="{links.link_to("model_version", name=MODEL, version=2)}"' in html
        assert "cannot tell who you are" in html  # no authentication: the command instead
        assert f"mloop policies approve {waiting}" in html
        html = web.get(links.approvals()).text
        assert f'id="approval-{waiting}"' in html
        html = web.get(links.link_to("model", name=MODEL)).text
        assert f'href="{links.link_to("model_timeline", name=MODEL)}"' in html
        html = web.get(links.link_to("model_timeline", name=MODEL)).text
        assert 'data-kind="gate"' in html and 'data-kind="alias"' in html
        html = web.get(links.link_to("model_timeline", name=MODEL, version=2)).text
        assert 'id="chain-list"' in html and "awaiting approval" in html
        answer = web.post(links.policy_run_approve(waiting), data={"comment": "x"})
        assert answer.status_code == 403 and "cannot tell who you are" in answer.text
        for bad in ("/automation/policy-runs/0", "/automation/policy-runs/x"):
            assert web.get(bad, headers={"accept": "text/html"}).status_code == 404
        answer = web.get(links.model_timeline(MODEL) + "?version=x")
        assert answer.status_code == 400
    assert _state(runtime, waiting) == "awaiting_approval"


def test_a_deployer_approves_with_the_button(runtime: Runtime, waiting: int) -> None:
    tokens = {
        role: runtime.run(partial(create_token, name=f"dora-{role}", role=role), write=True)
        for role in ("reader", "deployer")
    }
    with TestClient(create_app(runtime, auth_enabled=True)) as web:
        web.cookies.set("mloop_token", tokens["reader"])
        html = web.get(links.policy_run(waiting)).text
        assert 'class="approve"' not in html and "need the deployer role" in html
        answer = web.post(links.policy_run_approve(waiting), data={"comment": "x"})
        assert answer.status_code == 403 and _state(runtime, waiting) == "awaiting_approval"

        web.cookies.set("mloop_token", tokens["deployer"])
        html = web.get(links.approvals()).text
        assert f'class="approve" data-run="{waiting}"' in html
        answer = web.post(
            links.policy_run_approve(waiting),
            data={"comment": "cross"},
            headers={"origin": "https://elsewhere.example"},
        )
        assert answer.status_code == 403 and _state(runtime, waiting) == "awaiting_approval"
        answer = web.post(
            links.policy_run_approve(waiting), data={"comment": "ship it"}, follow_redirects=False
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == links.policy_run(waiting) + "#trail"
        assert _state(runtime, waiting) == "rolling_out"
        html = web.get(links.policy_run(waiting)).text
        assert "dora-deployer" in html and "ship it" in html
        answer = web.post(links.policy_run_reject(waiting), data={"comment": "late"})
        assert answer.status_code == 409  # decided already
