"""One approval rule on every surface: the rule itself, the domain, the SDK (embedded and
remote), the HTTP API with and without authentication, and the CLI (embedded and remote).
The UI's side is in tests/server/test_ui_prompts.py.

The rule (mloop.prompts.approval): a review needs an identified reviewer (never
``anonymous``); an approval needs a reviewer other than the author unless the prompt's
policy allows self-approval, which only an admin may change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from tests.cli.cli_helpers import Cli
from tests.conftest import ServerHandle

import mloop
from mloop.auth.tokens import create_token
from mloop.core.errors import PermissionDeniedError
from mloop.prompts import tables as t
from mloop.prompts.approval import ApprovalPolicy, is_identified, review_refusal
from mloop.prompts.reviews import review_prompt_version, set_prompt_policy
from mloop.prompts.schemas import CreatePromptVersion, ReviewPromptVersion, SetPromptPolicy
from mloop.prompts.versions import create_prompt_version, get_prompt_version
from mloop.server.app import create_app
from mloop.store.runtime import Runtime

API = "/api/v1/prompts"
STRICT = ApprovalPolicy()
RELAXED = ApprovalPolicy(require_distinct_reviewer=False)


def _refusal(reviewer: str, author: str, decision: str, policy: ApprovalPolicy) -> str | None:
    return review_refusal(
        reviewer=reviewer, author=author, decision=decision, policy=policy, name="p", version=1
    )


# -- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reviewer", "author", "decision", "policy", "refused_with"),
    [
        ("bob", "ana", "approved", STRICT, None),
        ("ana", "ana", "approved", STRICT, "'ana' registered version 1"),
        ("Ana ", "ana", "approved", STRICT, "registered version 1"),  # case and spaces
        ("ana", "ana", "rejected", STRICT, None),  # withdrawing one's own version is fine
        ("ana", "ana", "approved", RELAXED, None),
        ("anonymous", "ana", "approved", STRICT, "needs an identified reviewer"),
        ("anonymous", "ana", "approved", RELAXED, "needs an identified reviewer"),
        ("Anonymous", "ana", "rejected", STRICT, "needs an identified reviewer"),
        ("unknown", "ana", "approved", STRICT, "needs an identified reviewer"),
        ("", "ana", "approved", RELAXED, "the caller is 'nobody'"),
        ("bob", "anonymous", "approved", STRICT, None),  # no author can be shown
    ],
)
def test_the_rule(
    reviewer: str, author: str, decision: str, policy: ApprovalPolicy, refused_with: str | None
) -> None:
    refusal = _refusal(reviewer, author, decision, policy)
    if refused_with is None:
        assert refusal is None
    else:
        assert refusal is not None and refused_with in refusal


def test_refusals_say_how_to_review() -> None:
    anonymous = _refusal("anonymous", "ana", "approved", STRICT)
    assert anonymous is not None and "mloop prompts approve p 1 --as REVIEWER" in anonymous
    own = _refusal("ana", "ana", "approved", STRICT)
    assert own is not None and "mloop prompts policy p --allow-self-approval" in own
    assert not is_identified(" anonymous ") and is_identified("anon")


# -- the domain ---------------------------------------------------------------------------------


def _as(runtime: Runtime, actor: str, fn: Any) -> Any:
    return runtime.run(fn, write=True, actor=actor)


def _register(runtime: Runtime, author: str, text: str = "hi") -> int:
    created = _as(
        runtime,
        author,
        lambda ctx: create_prompt_version(ctx, CreatePromptVersion(name="p", text=text)),
    )
    version: int = created.prompt_version.version
    return version


def _review(runtime: Runtime, actor: str, version: int, decision: str = "approved") -> Any:
    request = ReviewPromptVersion(name="p", version=version, decision=decision)
    return _as(runtime, actor, lambda ctx: review_prompt_version(ctx, request))


def _status(runtime: Runtime, version: int) -> str:
    from mloop.prompts.schemas import GetPromptVersion

    found = runtime.run(
        lambda ctx: get_prompt_version(ctx, GetPromptVersion(name="p", version=version)),
        write=False,
    )
    status: str = found.review_status
    return status


def test_domain_refuses_anonymous_and_records_nothing(runtime: Runtime) -> None:
    version = _register(runtime, "ana")
    for decision in ("approved", "rejected"):
        with pytest.raises(PermissionDeniedError, match="needs an identified reviewer") as err:
            _review(runtime, "anonymous", version, decision)
        assert err.value.field == "reviewer"
    rows = runtime.run(lambda ctx: ctx.conn.execute(t.prompt_reviews.select()).all(), write=False)
    assert rows == [] and _status(runtime, version) == "pending"


def test_policy_turns_self_approval_on_and_off(runtime: Runtime) -> None:
    version = _register(runtime, "ana")
    with pytest.raises(PermissionDeniedError, match="'ana' registered version 1"):
        _review(runtime, "ana", version)
    relaxed = _as(
        runtime,
        "admin",
        lambda ctx: set_prompt_policy(
            ctx,
            SetPromptPolicy(
                name="p", require_approval_for=["production"], require_distinct_reviewer=False
            ),
        ),
    )
    assert relaxed.require_distinct_reviewer is False
    assert relaxed.require_approval_for == ["production"]
    assert _review(runtime, "ana", version).reviewer == "ana"
    assert _status(runtime, version) == "approved"
    # Leaving the field out keeps it; a new prompt starts with four eyes.
    kept = _as(
        runtime,
        "admin",
        lambda ctx: set_prompt_policy(ctx, SetPromptPolicy(name="p", require_approval_for=[])),
    )
    assert kept.require_distinct_reviewer is False
    fresh = _as(runtime, "admin", lambda ctx: set_prompt_policy(ctx, SetPromptPolicy(name="q")))
    assert fresh.require_distinct_reviewer is True
    _as(
        runtime,
        "admin",
        lambda ctx: set_prompt_policy(
            ctx, SetPromptPolicy(name="p", require_distinct_reviewer=True)
        ),
    )
    second = _register(runtime, "ana", "hello")
    with pytest.raises(PermissionDeniedError, match="cannot approve it"):
        _review(runtime, "ANA", second)


def test_anonymous_reviews_stored_before_the_rule_do_not_count(runtime: Runtime) -> None:
    version = _register(runtime, "ana")
    runtime.run(
        lambda ctx: ctx.conn.execute(
            insert(t.prompt_reviews).values(
                name="p",
                version=version,
                reviewer="anonymous",
                decision="approved",
                comment="",
                created_time=1,
            )
        ),
        write=True,
    )
    assert _status(runtime, version) == "pending"
    _review(runtime, "bob", version)
    assert _status(runtime, version) == "approved"


# -- the SDK ------------------------------------------------------------------------------------


def test_sdk_follows_the_rule_embedded_and_remote(
    sdk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded store's caller is the operating system user; a server without
    # authentication sees a caller without a name as "anonymous".
    monkeypatch.setattr("mloop.store.runtime._default_actor", lambda: "ana")
    mloop.register_prompt("p", text="hi")
    client = mloop.Client()
    if sdk == "embedded":
        with pytest.raises(PermissionDeniedError, match="'ana' registered version 1"):
            client.review_prompt_version("p", 1)
        monkeypatch.setattr("mloop.store.runtime._default_actor", lambda: "bob")
        assert client.review_prompt_version("p", 1).reviewer == "bob"
    else:
        with pytest.raises(PermissionDeniedError, match="--as REVIEWER") as err:
            client.review_prompt_version("p", 1)
        assert err.value.field == "reviewer"
        assert client.list_prompt_reviews("p") == []


def test_sdk_names_the_caller_with_mloop_user_embedded_and_remote(
    sdk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLOOP_USER is the embedded store's actor and the X-Mloop-User a server without
    # authentication reads: the SDK can approve there as a named reviewer. It is read when
    # a process first connects, so each user here gets fresh connections.
    from mloop.client.connection import close_all

    monkeypatch.setenv("MLOOP_USER", "ana")
    close_all()
    mloop.register_prompt("p", text="hi")
    with pytest.raises(PermissionDeniedError, match="'ana' registered version 1"):
        mloop.Client().review_prompt_version("p", 1)
    monkeypatch.setenv("MLOOP_USER", "bob")
    close_all()
    assert mloop.Client().review_prompt_version("p", 1).reviewer == "bob"
    assert [r.reviewer for r in mloop.Client().list_prompt_reviews("p")] == ["bob"]


def test_mloop_user_must_travel_in_a_header(monkeypatch: pytest.MonkeyPatch) -> None:
    from mloop.core.config import get_settings

    monkeypatch.setenv("MLOOP_USER", "名前")
    with pytest.raises(ValueError, match="MLOOP_USER must be Latin-1"):
        get_settings()
    monkeypatch.setenv("MLOOP_USER", "x" * 129)
    with pytest.raises(ValueError, match="1 to 128 printable"):
        get_settings()


# -- the HTTP API ---------------------------------------------------------------------------------


def test_http_without_authentication(remote: ServerHandle) -> None:
    http = httpx.Client(base_url=remote.url)
    created = http.post(
        f"{API}/versions/create", json={"name": "p", "text": "hi"}, headers={"x-mloop-user": "ana"}
    )
    assert created.status_code == 200
    anonymous = http.post(f"{API}/reviews/create", json={"name": "p", "version": 1})
    assert anonymous.status_code == 403
    error = anonymous.json()["error"]
    assert error["field"] == "reviewer" and "needs an identified reviewer" in error["message"]
    own = http.post(
        f"{API}/reviews/create", json={"name": "p", "version": 1}, headers={"x-mloop-user": "ana"}
    )
    assert own.status_code == 403 and "cannot approve it" in own.json()["error"]["message"]
    named = http.post(
        f"{API}/reviews/create", json={"name": "p", "version": 1}, headers={"x-mloop-user": "bob"}
    )
    assert named.status_code == 200 and named.json()["reviewer"] == "bob"
    reviews = http.get(f"{API}/reviews/list", params={"name": "p"}).json()["reviews"]
    assert [r["reviewer"] for r in reviews] == ["bob"]


@pytest.fixture
def authenticated(runtime: Runtime) -> Iterator[tuple[TestClient, dict[str, str]]]:
    def token(who: str, role: str) -> str:
        secret: str = runtime.run(lambda ctx: create_token(ctx, who, role), write=True)
        return secret

    tokens = {
        who: token(who, role)
        for who, role in (("ana", "writer"), ("bob", "writer"), ("root", "admin"))
    }
    with TestClient(create_app(runtime, auth_enabled=True)) as client:
        yield client, {who: f"Bearer {secret}" for who, secret in tokens.items()}


def test_http_with_authentication(authenticated: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = authenticated

    def post(path: str, body: dict[str, Any], who: str) -> Any:
        return http.post(f"{API}{path}", json=body, headers={"authorization": auth[who]})

    assert post("/versions/create", {"name": "p", "text": "hi"}, "ana").status_code == 200
    review = {"name": "p", "version": 1}
    assert post("/reviews/create", review, "ana").status_code == 403
    # The header that names a caller without authentication changes nothing with it.
    spoofed = http.post(
        f"{API}/reviews/create",
        json=review,
        headers={"authorization": auth["ana"], "x-mloop-user": "bob"},
    )
    assert spoofed.status_code == 403 and "'ana' registered" in spoofed.text
    relax = {"name": "p", "require_distinct_reviewer": False}
    assert post("/policy/set", relax, "ana").status_code == 403  # admin only
    assert post("/reviews/create", review, "bob").json()["reviewer"] == "bob"
    assert post("/policy/set", relax, "root").json()["require_distinct_reviewer"] is False
    assert post("/reviews/create", review, "ana").json()["reviewer"] == "ana"


# -- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli(settings: Any) -> Cli:
    return Cli()


def test_cli_embedded_as_and_single_user_policy(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mloop.store.runtime._default_actor", lambda: "ana")
    mloop.register_prompt("p", text="hi")
    mloop.register_prompt("p", text="hello")
    cli.ok("prompts", "policy", "p", "--require-approval-for", "production")
    own = cli("prompts", "approve", "p", "1")
    assert own.exit_code == 1 and "--allow-self-approval" in own.output
    nobody = cli("prompts", "approve", "p", "1", "--as", "anonymous")
    assert nobody.exit_code == 1 and "needs an identified reviewer" in nobody.output
    assert cli("prompts", "approve", "p", "1", "--as", "bad\nname").exit_code == 1
    assert "approved by bob" in cli.ok("prompts", "approve", "p", "1", "--as", "bob").output
    # One local user: the policy turns four eyes off, keeping the gated labels.
    shown = cli.ok("prompts", "policy", "p", "--allow-self-approval").output
    assert "approval required for production" in shown
    assert "any identified reviewer, the author included" in shown
    assert "approved by ana" in cli.ok("prompts", "approve", "p", "2").output
    cli.ok("prompts", "label", "p", "2", "production")
    back = cli.ok("prompts", "policy", "p", "--require-distinct-reviewer").output
    assert "a reviewer other than the author" in back


def test_cli_remote_as(cli: Cli, remote: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    http = httpx.Client(base_url=remote.url)
    http.post(
        f"{API}/versions/create", json={"name": "p", "text": "hi"}, headers={"x-mloop-user": "ana"}
    )
    plain = cli("prompts", "approve", "p", "1")
    assert plain.exit_code == 1 and "--as REVIEWER" in plain.output
    assert cli("prompts", "approve", "p", "1", "--as", "ana").exit_code == 1
    assert "approved by bob" in cli.ok("prompts", "approve", "p", "1", "--as", "bob").output
    assert (
        "rejected by carl"
        in cli.ok("prompts", "approve", "p", "1", "--as", "carl", "--reject").output
    )
    assert cli("prompts", "approve", "p", "1", "--as", "Zoë").exit_code == 0  # Latin-1
    assert "Latin-1" in cli("prompts", "approve", "p", "1", "--as", "李").output
    monkeypatch.setenv("MLOOP_TOKEN", "some-token")
    with_token = cli("prompts", "approve", "p", "1", "--as", "dora")
    assert with_token.exit_code == 1 and "leave out --as" in with_token.output
    reviewers = [
        r["reviewer"]
        for r in http.get(f"{API}/reviews/list", params={"name": "p"}).json()["reviews"]
    ]
    assert reviewers == ["Zoë", "carl", "bob"]
