"""Prompt pages: the prompts, one prompt's versions, labels and label history, one version
(template, variables, parameters, reviews, the Approve form) and two versions diffed.

Pages call the prompts domain's handlers in one read transaction, as the dataset pages
call theirs. The review form posts to ``/prompts/{name}/{version}/review``: it needs the
writer role, refuses cross-site posts, and records the review as the signed-in identity
through the domain's one approval rule (:mod:`mloop.prompts.approval`). The page asks the
same rule which buttons to show: without authentication the viewer is ``anonymous`` and
the page says how to review instead; an author sees why they cannot approve.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mloop.auth.authenticator import Identity
from mloop.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from mloop.core.roles import role_allows
from mloop.llm.calls import queries
from mloop.llm.calls.queries import CallFilter
from mloop.prompts.approval import ApprovalPolicy, how_to_review, review_refusal
from mloop.prompts.checks import check_label, check_prompt_name
from mloop.prompts.diff import diff_prompt_versions, template_text, word_diff
from mloop.prompts.labels import get_prompt_label_history, resolve_label
from mloop.prompts.reviews import list_prompt_reviews, review_prompt_version
from mloop.prompts.schemas import (
    DiffPromptVersions,
    GetPromptLabelHistory,
    GetPromptVersion,
    ListPromptReviews,
    ListPrompts,
    ListPromptVersions,
    Prompt,
    PromptList,
    PromptName,
    PromptVersion,
    ReviewPromptVersion,
)
from mloop.prompts.versions import (
    get_prompt,
    get_prompt_version,
    list_prompt_versions,
    list_prompts,
)
from mloop.server.ui import links
from mloop.server.ui.core import UI
from mloop.server.ui.forms import field, parse_form, same_origin
from mloop.server.ui.params import checked_name, checked_version, query_version
from mloop.store.context import Context

PROMPTS_PER_PAGE = 100
VERSIONS_PER_PAGE = 200
MAX_HISTORY = 1000
MAX_FORM_BYTES = 16_384
USAGE_DAYS = 30  # a version page sums the gateway calls of this many days
RECENT_CALLS = 10


def _checked_name(raw: str) -> str:
    """A name a prompt could have; anything else names no prompt (404, not 400)."""
    return checked_name(raw, check_prompt_name, "prompt")


def _checked_version(raw: str) -> int:
    return checked_version(raw, "prompt version")


def _list_page(ctx: Context, query: str, page_token: str) -> tuple[PromptList, str | None]:
    request = ListPrompts(
        name_contains=query or None, max_results=PROMPTS_PER_PAGE, page_token=page_token or None
    )
    try:
        return list_prompts(ctx, request), None
    except ValidationError as exc:
        if exc.field != "page_token":
            raise
        return PromptList(prompts=[]), exc.message


def _history(ctx: Context, name: str) -> list[dict[str, Any]]:
    entries = get_prompt_label_history(
        ctx, GetPromptLabelHistory(name=name, max_results=MAX_HISTORY)
    ).entries
    # Shaped for _alias_history.html, which the model and dataset pages share.
    return [
        {
            "name": e.name,
            "alias": e.label,
            "from_version": e.from_version,
            "to_version": e.to_version,
            "actor": e.actor,
            "timestamp": e.timestamp,
        }
        for e in reversed(entries)
    ]


def _prompt_page(ctx: Context, name: str) -> dict[str, Any]:
    prompt = get_prompt(ctx, PromptName(name=name))
    listing = list_prompt_versions(
        ctx, ListPromptVersions(name=name, max_results=VERSIONS_PER_PAGE)
    )
    versions = listing.prompt_versions
    return {
        "prompt": prompt,
        "versions": versions,
        "more_versions": listing.next_page_token is not None,
        "history": _history(ctx, name),
        "version_kind": "prompt_version",  # where alias history links go
        "choices": [v.version for v in versions],
        "default_a": versions[1].version if len(versions) > 1 else None,
        "default_b": versions[0].version if versions else None,
    }


def review_options(viewer: Identity, prompt: Prompt, v: PromptVersion) -> dict[str, Any]:
    """What the review form offers ``viewer``, decided by the approval rule: whether it is
    shown at all (the writer role), why approving or reviewing at all is refused."""
    policy = ApprovalPolicy(require_distinct_reviewer=prompt.require_distinct_reviewer)

    def refusal(decision: str) -> str | None:
        return review_refusal(
            reviewer=viewer.name,
            author=v.created_by,
            decision=decision,
            policy=policy,
            name=prompt.name,
            version=v.version,
        )

    return {
        "can_review": role_allows(viewer.role, "writer"),
        "review_refused": refusal("rejected"),
        "approve_refused": refusal("approved"),
        "how_to_review": how_to_review(prompt.name, v.version),
    }


def _usage(ctx: Context, name: str, version: int, now: int) -> dict[str, Any]:
    """The version's calls through the gateway over the last :data:`USAGE_DAYS` days: the
    aggregate (calls, errors, spend, latency percentiles) and the newest calls."""
    flt = CallFilter(prompt=name, prompt_version=version)
    since = now - USAGE_DAYS * queries.DAY_MS
    recent, more = queries.list_calls(ctx, flt, limit=RECENT_CALLS)
    return {
        "usage": queries.totals(ctx, since, now + 1, flt),
        "usage_days": USAGE_DAYS,
        "usage_since": since,
        "recent_calls": recent,
        "more_calls": more,
    }


def _version_page(ctx: Context, name: str, version: int, now: int) -> dict[str, Any]:
    info = get_prompt_version(ctx, GetPromptVersion(name=name, version=version))
    prompt = get_prompt(ctx, PromptName(name=name))
    reviews = list_prompt_reviews(ctx, ListPromptReviews(name=name, version=version)).reviews
    return {
        "prompt": prompt,
        "v": info,
        "reviews": reviews,
        **_usage(ctx, prompt.name, version, now),
    }


def _diff_page(ctx: Context, name: str, a: int, b: int) -> dict[str, Any]:
    diff = diff_prompt_versions(ctx, DiffPromptVersions(name=name, a=a, b=b))
    old, new = (get_prompt_version(ctx, GetPromptVersion(name=name, version=n)) for n in (a, b))
    versions = list_prompt_versions(
        ctx, ListPromptVersions(name=name, max_results=VERSIONS_PER_PAGE)
    ).prompt_versions
    return {
        "prompt": get_prompt(ctx, PromptName(name=name)),
        "diff": diff,
        "lines": word_diff(template_text(old), template_text(new)),
        "choices": [v.version for v in versions],
    }


def _resolve(ctx: Context, name: str, ref: str) -> int:
    if ref == "latest":
        latest = get_prompt(ctx, PromptName(name=name)).latest_version
        if latest is None:
            raise NotFoundError(f"prompt {name!r} has no versions", field="version")
        return latest
    try:
        label = check_label(ref)
    except ValidationError:
        raise NotFoundError(
            f"prompt version {ref[:40]!r} does not exist", field="version"
        ) from None
    return resolve_label(ctx, name, label)


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/prompts", response_class=HTMLResponse, name="ui_prompts")
    def prompts_page(
        request: Request,
        q: str = Query("", max_length=256),
        page_token: str = Query("", max_length=200),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        found, error = ui.read(lambda ctx: _list_page(ctx, q, page_token), viewer)
        return ui.render(
            request,
            "prompts.html",
            viewer,
            status_code=400 if error else 200,
            prompts=found.prompts,
            next_page_token=found.next_page_token,
            page_token=page_token,
            query=q,
            error=error,
        )

    @r.get("/prompts/{name}", response_class=HTMLResponse, name="ui_prompt")
    def prompt_page(request: Request, name: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = _checked_name(name)
        data = ui.read(lambda ctx: _prompt_page(ctx, name), viewer)
        return ui.render(request, "prompt.html", viewer, view="prompt", **data)

    # Before /prompts/{name}/{version}, which would take "diff" for a version.
    @r.get("/prompts/{name}/diff", response_class=HTMLResponse, name="ui_prompt_diff")
    def diff_page(
        request: Request,
        name: str,
        a: str = Query("", max_length=20),
        b: str = Query("", max_length=20),
    ) -> HTMLResponse:
        viewer = ui.viewer(request)
        name = _checked_name(name)
        first, second = query_version(a, "a"), query_version(b, "b")
        data = ui.read(lambda ctx: _diff_page(ctx, name, first, second), viewer)
        return ui.render(request, "prompt.html", viewer, view="diff", **data)

    @r.get("/prompts/{name}/{version}", response_class=HTMLResponse, name="ui_prompt_version")
    def version_page(request: Request, name: str, version: str) -> Response:
        viewer = ui.viewer(request)
        name = _checked_name(name)
        if not version.isdigit():
            # /prompts/p/latest and /prompts/p/production lead to the version's page.
            found = ui.read(lambda ctx: _resolve(ctx, name, version), viewer)
            return RedirectResponse(links.prompt_version(name, found), status_code=303)
        wanted = _checked_version(version)
        now = int(time.time() * 1000)
        data = ui.read(lambda ctx: _version_page(ctx, name, wanted, now), viewer)
        return ui.render(
            request,
            "prompt.html",
            viewer,
            view="version",
            **review_options(viewer, data["prompt"], data["v"]),
            **data,
        )

    @r.post("/prompts/{name}/{version}/review", name="ui_prompt_review")
    async def review(request: Request, name: str, version: str) -> Response:
        if not same_origin(request):
            raise PermissionDeniedError("cross-site reviews are refused", field="Origin")
        identity = ui.auth.require(request, "writer")
        name = _checked_name(name)
        number = _checked_version(version)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise ValidationError("the form is too large", field="comment")
        form = parse_form(body)
        decision = field(form, "decision", "approved")
        if decision not in ("approved", "rejected"):
            raise ValidationError("decision must be approved or rejected", field="decision")
        request_ = ReviewPromptVersion(
            name=name,
            version=number,
            decision=decision,
            comment=field(form, "comment")[:8192],
        )
        await run_in_threadpool(
            ui.runtime.run,
            lambda ctx: review_prompt_version(ctx, request_),
            write=True,
            actor=identity.name,
        )
        url = links.prompt_version(name, number) + "#reviews"
        return RedirectResponse(url, status_code=303)

    return r
