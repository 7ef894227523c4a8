"""The prompt registry through the SDK, embedded and through a real server (``sdk``):
versions by content digest, labels with history, diffs, approval policy, rendering."""

from __future__ import annotations

import re
from typing import Any

import pytest

import mloop
from mloop.client.prompts_fluent import clear_prompt_cache
from mloop.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from mloop.store.runtime import Runtime

MESSAGES = [
    {"role": "system", "content": "You are a support agent for {{ product }}."},
    {"role": "user", "content": "{{ question }}{% if urgent %} (urgent){% endif %}"},
]
VARIABLES: dict[str, Any] = {
    "product": {"type": "string", "default": "Acme"},
    "question": {"type": "string", "description": "what the customer asked"},
    "urgent": {"type": "boolean", "required": False},
}
PARAMS = {"model": "support-reply", "temperature": 0.2, "max_tokens": 300}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_prompt_cache()


def register(**changes: Any) -> mloop.Prompt:
    spec: dict[str, Any] = {"messages": MESSAGES, "variables": VARIABLES, "params": PARAMS}
    spec.update(changes)
    return mloop.register_prompt("support", **spec)


def test_same_content_same_version_new_content_next_version(sdk: str) -> None:
    v1 = register(description="first")
    assert (v1.version, v1.created, len(v1.digest)) == (1, True, 64)
    again = register(description="first")
    assert (again.version, again.created, again.digest) == (1, False, v1.digest)
    v2 = register(description="first", params={**PARAMS, "temperature": 0.0})
    assert (v2.version, v2.created) == (2, True)
    assert v2.digest != v1.digest
    # Reformatting is not a change: key order of variables and params does not matter.
    reordered = register(
        description="first",
        params={"max_tokens": 300, "temperature": 0.0, "model": "support-reply"},
        variables=dict(reversed(list(VARIABLES.items()))),
    )
    assert (reordered.version, reordered.created) == (2, False)
    client = mloop.Client()
    assert [v.version for v in client.list_prompt_versions("support")] == [2, 1]
    info = client.get_prompt("support")
    assert (info.latest_version, info.version_count, info.description) == (2, 2, "first")


def test_render_messages_params_defaults_and_variable_errors(sdk: str) -> None:
    register()
    prompt = mloop.get_prompt("support")
    rendered = prompt.render(question="Where is my order?", urgent=True)
    assert rendered.messages == [
        {"role": "system", "content": "You are a support agent for Acme."},
        {"role": "user", "content": "Where is my order? (urgent)"},
    ]
    assert rendered.params == PARAMS and (rendered.name, rendered.version) == ("support", 1)
    assert prompt.render(question="Hi", product="Zed").messages[0]["content"].endswith("Zed.")

    with pytest.raises(ValidationError, match="'question' is required") as missing:
        prompt.render()
    assert missing.value.field == "variables.question"
    with pytest.raises(ValidationError, match="'colour' is not declared") as unknown:
        prompt.render(question="x", colour="red")
    assert unknown.value.field == "variables.colour"
    with pytest.raises(ValidationError, match="'urgent' must be boolean, got str"):
        prompt.render(question="x", urgent="yes")
    with pytest.raises(ValidationError, match="'question' must be string, got int"):
        prompt.render(question=3)

    # The server renders the same way.
    served = mloop.Client().render_prompt("support:1", {"question": "Hi"})
    assert served.messages[1] == {"role": "user", "content": "Hi"}
    with pytest.raises(ValidationError, match="'question' is required"):
        mloop.Client().render_prompt("support", {})


def test_typed_variables(sdk: str) -> None:
    mloop.register_prompt(
        "typed",
        text="{{ n + 1 }} {{ x * 2 }} {{ items|join(',') }} {{ meta.k }}",
        variables={
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "items": {"type": "array"},
            "meta": {"type": "object"},
        },
    )
    prompt = mloop.get_prompt("typed")
    out = prompt.render(n=1, x=1.5, items=["a", "b"], meta={"k": "v"})
    assert out.messages == [{"role": "user", "content": "2 3.0 a,b v"}]
    for bad in ({"n": True}, {"n": 1.0}, {"x": "1"}, {"items": "ab"}, {"meta": [1]}):
        values: dict[str, Any] = {"n": 1, "x": 1.0, "items": [], "meta": {}, **bad}
        with pytest.raises(ValidationError) as err:
            prompt.render(**values)
        assert err.value.field == f"variables.{next(iter(bad))}"


def test_invalid_versions_are_refused_naming_the_field(sdk: str) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"text": "hi"}, "template", "exactly one"),
        ({"messages": None}, "template", "exactly one"),
        ({"messages": []}, "messages", "must not be empty"),
        (
            {"messages": [{"role": "user", "content": "{{ nope }}"}], "variables": {}},
            "variables.nope",
            "not declared",
        ),
        (
            {"messages": [{"role": "user", "content": "{% if %}"}]},
            "messages[0].content",
            "not a valid template",
        ),
        ({"messages": [{"role": "User!", "content": "x"}]}, "messages[0].role", "lowercase"),
        (
            {"variables": {**VARIABLES, "bad name": {"type": "string"}}},
            "variables.bad name",
            "identifier",
        ),
        (
            {"variables": {**VARIABLES, "product": {"type": "integer", "default": "Acme"}}},
            "variables.product.default",
            "declared integer",
        ),
        ({"output_schema": {"type": "nonsense"}}, "output_schema.type", "not a valid JSON Schema"),
        ({"params": {"temperature": float("nan")}}, "params", "NaN"),
    ]
    for changes, field, message in cases:
        with pytest.raises(ValidationError, match=message) as err:
            register(**changes)
        assert err.value.field == field, (changes, err.value.field)
    with pytest.raises(ValidationError, match="variables"):
        register(variables={"product": {"type": "date"}})
    with pytest.raises(NotFoundError, match="prompt 'support' does not exist"):
        mloop.Client().get_prompt("support")  # nothing was stored


def test_output_schema_is_kept(sdk: str) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    prompt = register(output_schema=schema)
    assert mloop.get_prompt("support").output_schema == schema
    assert prompt.render(question="q").output_schema == schema


def test_labels_move_with_history_and_resolve(sdk: str) -> None:
    register()
    register(params={**PARAMS, "temperature": 0.9})
    mloop.set_prompt_label("support", "staging", 1)
    mloop.set_prompt_label("support", "staging", 2)
    mloop.set_prompt_label("support", "production", 1)
    mloop.set_prompt_label("support", "production", 1)  # no move, no history entry
    client = mloop.Client()
    assert client.get_prompt("support").labels == {"production": 1, "staging": 2}
    assert mloop.get_prompt("support@staging").version == 2
    assert mloop.get_prompt("support@production").labels == ["production"]
    assert mloop.get_prompt("support:1").version == 1
    history = client.get_prompt_label_history("support")
    assert [(e.label, e.from_version, e.to_version) for e in history] == [
        ("staging", None, 1),
        ("staging", 1, 2),
        ("production", None, 1),
    ]
    assert all(e.actor and e.timestamp > 0 for e in history)
    client.delete_prompt_label("support", "staging")
    assert client.get_prompt_label_history("support", "staging")[-1].to_version is None
    with pytest.raises(NotFoundError, match="no label 'staging'"):
        mloop.get_prompt("support@staging", cache_ttl=0)
    for bad in ("latest", "3", "v2", "a b"):
        with pytest.raises(ValidationError, match=f"^label '{re.escape(bad)}' "):
            mloop.set_prompt_label("support", bad, 1)
    with pytest.raises(NotFoundError, match="version 9"):
        mloop.set_prompt_label("support", "x", 9)
    with pytest.raises(NotFoundError, match="prompt 'missing'"):
        mloop.get_prompt("missing@production")


def test_get_prompt_caches_fetched_versions(sdk: str) -> None:
    register()
    register(params={**PARAMS, "temperature": 0.5})
    mloop.set_prompt_label("support", "production", 1)
    assert mloop.get_prompt("support@production").version == 1
    mloop.set_prompt_label("support", "production", 2)
    # Within the TTL the cached version is used; a zero TTL asks the server.
    assert mloop.get_prompt("support@production").version == 1
    assert mloop.get_prompt("support@production", cache_ttl=0).version == 2
    clear_prompt_cache()
    assert mloop.get_prompt("support@production").version == 2


def test_diff_between_versions(sdk: str) -> None:
    register()
    changed = [MESSAGES[0], {"role": "user", "content": "Question: {{ question }}"}]
    register(
        messages=changed,
        params={**PARAMS, "temperature": 0.7},
        variables={k: v for k, v in VARIABLES.items() if k != "urgent"},
        output_schema={"type": "object"},
    )
    diff = mloop.Client().diff_prompt_versions("support", 1, 2)
    assert (diff.name, diff.a, diff.b) == ("support", 1, 2)
    lines = diff.template_diff.splitlines()
    assert "-{{ question }}{% if urgent %} (urgent){% endif %}" in lines
    assert "+Question: {{ question }}" in lines
    assert lines[0] == "--- support:1" and lines[1] == "+++ support:2"
    fields = {c.field: (c.before, c.after) for c in diff.changes}
    assert fields["params.temperature"] == (0.2, 0.7)
    assert fields["variables.urgent"][1] is None
    assert fields["output_schema"] == (None, {"type": "object"})
    assert "params.model" not in fields
    same = mloop.Client().diff_prompt_versions("support", 2, 2)
    assert same.template_diff == "" and same.changes == []


def test_approval_policy_gates_labels(sdk: str, runtime_for_reviewer: Any) -> None:
    client = mloop.Client()
    register()
    policy = client.set_prompt_policy("support", ["production"])
    assert policy.require_approval_for == ["production"]
    mloop.set_prompt_label("support", "staging", 1)  # not gated
    with pytest.raises(ConflictError, match="mloop prompts approve support 1") as refused:
        mloop.set_prompt_label("support", "production", 1)
    assert refused.value.field == "label"
    with pytest.raises(
        ConflictError, match="requires an approved review before a version gets label 'production'"
    ):
        register(label="production", description="pushed with a gated label")
    runtime_for_reviewer("rita", "support", 1, "rejected")
    with pytest.raises(ConflictError, match="rejected"):
        mloop.set_prompt_label("support", "production", 1)
    runtime_for_reviewer("rita", "support", 1, "approved")
    assert "production" in mloop.set_prompt_label("support", "production", 1).labels
    reviews = client.list_prompt_reviews("support", 1)
    assert [(r.reviewer, r.decision) for r in reviews] == [
        ("rita", "approved"),
        ("rita", "rejected"),
    ]
    assert client.get_prompt_version("support", 1).review_status == "approved"
    # Setting a label where it already points moves nothing and needs no approval, even
    # for an unapproved version labelled before the policy existed (a re-push with --label).
    canary = register(params={**PARAMS, "seed": 7}, label="canary")
    assert canary.info.review_status == "pending"
    client.set_prompt_policy("support", ["production", "canary"])
    assert mloop.set_prompt_label("support", "canary", canary.version).labels == ["canary"]
    assert register(params={**PARAMS, "seed": 7}, label="canary").created is False
    client.set_prompt_policy("support", [])
    register(params={**PARAMS, "top_p": 0.5}, label="production")
    assert client.get_prompt("support").labels["production"] == 3


@pytest.fixture
def runtime_for_reviewer(settings: Any) -> Any:
    """Record a review as a named reviewer, straight through the store (a second person)."""
    from mloop.prompts.reviews import review_prompt_version
    from mloop.prompts.schemas import ReviewPromptVersion
    from mloop.store.runtime import open_runtime

    def review(reviewer: str, name: str, version: int, decision: str) -> None:
        rt: Runtime = open_runtime(settings)
        try:
            rt.run(
                lambda ctx: review_prompt_version(
                    ctx, ReviewPromptVersion(name=name, version=version, decision=decision)
                ),
                write=True,
                actor=reviewer,
            )
        finally:
            rt.close()

    return review


def test_authors_cannot_approve_their_own_versions(runtime: Runtime) -> None:
    from mloop.prompts.reviews import review_prompt_version
    from mloop.prompts.schemas import CreatePromptVersion, ReviewPromptVersion
    from mloop.prompts.versions import create_prompt_version

    def as_user(actor: str, fn: Any) -> Any:
        return runtime.run(fn, write=True, actor=actor)

    as_user("ana", lambda ctx: create_prompt_version(ctx, CreatePromptVersion(name="p", text="hi")))
    approve = ReviewPromptVersion(name="p", version=1, comment="lgtm")
    with pytest.raises(PermissionDeniedError, match="'ana' registered version 1"):
        as_user("ana", lambda ctx: review_prompt_version(ctx, approve))
    reject = ReviewPromptVersion(name="p", version=1, decision="rejected")
    assert as_user("ana", lambda ctx: review_prompt_version(ctx, reject)).decision == "rejected"
    review = as_user("bob", lambda ctx: review_prompt_version(ctx, approve))
    assert (review.reviewer, review.decision, review.comment) == ("bob", "approved", "lgtm")
    # Without authentication and without a name the caller is "anonymous": no review at all
    # (tests/prompts/test_approval_rule.py covers every surface).
    as_user(
        "anonymous",
        lambda ctx: create_prompt_version(ctx, CreatePromptVersion(name="p", text="hello")),
    )
    for decision in ("approved", "rejected"):
        anon = ReviewPromptVersion(name="p", version=2, decision=decision)
        with pytest.raises(PermissionDeniedError, match="needs an identified reviewer"):
            as_user("anonymous", lambda ctx, r=anon: review_prompt_version(ctx, r))


def test_server_side_resolve_and_render(runtime: Runtime) -> None:
    from mloop.prompts import render_version, resolve_and_render, resolve_prompt

    register()
    register(messages=[{"role": "user", "content": "v2: {{ question }}"}])
    mloop.set_prompt_label("support", "production", 1)

    def run(fn: Any) -> Any:
        return runtime.run(fn, write=False)

    rendered = run(lambda ctx: resolve_and_render(ctx, "support@production", {"question": "Hi"}))
    assert (rendered.name, rendered.version) == ("support", 1)
    assert rendered.messages[1] == {"role": "user", "content": "Hi"}
    assert rendered.params == PARAMS and rendered.output_schema is None
    latest = run(lambda ctx: resolve_prompt(ctx, "support"))
    assert render_version(latest, {"question": "a"}).messages == [
        {"role": "user", "content": "v2: a"}
    ]
    with pytest.raises(NotFoundError, match="version 7"):
        run(lambda ctx: resolve_and_render(ctx, "support:7", {}))
    with pytest.raises(NotFoundError, match="no label 'canary'"):
        run(lambda ctx: resolve_and_render(ctx, "support@canary", {}))
    with pytest.raises(ValidationError, match="'question' is required"):
        run(lambda ctx: resolve_and_render(ctx, "support:1", {}))
