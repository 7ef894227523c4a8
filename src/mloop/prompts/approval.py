"""The one approval rule of prompt versions (four eyes), which every surface goes through.

A review is recorded under the caller's identity: the token's name on a server with
authentication, the ``X-Mloop-User`` header's name on a server without it, the operating
system user (or ``mloop prompts approve --as NAME``) on an embedded store. The rule:

* every review (approval or rejection) needs an *identified* reviewer: a caller named
  ``anonymous`` (a server without authentication that was not told who calls), ``unknown``
  (no user name on this machine) or nobody cannot review, so such a name is never recorded;
* an approval needs a reviewer who is not the version's author, unless the prompt's policy
  says ``require_distinct_reviewer: false`` (a single-user setup turns four eyes off
  explicitly; changing the policy needs the admin role). Names are compared without regard
  to case. A version registered without an identity can be approved by any identified
  reviewer: nobody can be shown to be its author.

The review operation (SDK, CLI and HTTP API) and the UI's review form call
:func:`check_review`; the UI asks :func:`review_refusal` first to show why a button is
missing and how to review instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from mloop.core.errors import PermissionDeniedError

UNIDENTIFIED = frozenset({"", "anonymous", "unknown"})
"""Caller names that identify nobody (see the module's docstring)."""


@dataclass(frozen=True)
class ApprovalPolicy:
    """The part of a prompt's policy that governs reviews."""

    require_distinct_reviewer: bool = True


def is_identified(name: str) -> bool:
    """Whether ``name`` identifies a person or a token (not ``anonymous`` or ``unknown``)."""
    return name.strip().casefold() not in UNIDENTIFIED


def how_to_review(name: str, version: int) -> str:
    """What a caller who cannot be told apart from others does to review a version."""
    return (
        f"review as a named person: `mloop prompts approve {name} {version} --as REVIEWER` "
        "(add --reject to reject), a token on a server with authentication, or the "
        "X-Mloop-User header on a server without it"
    )


def review_refusal(
    *,
    reviewer: str,
    author: str,
    decision: str,
    policy: ApprovalPolicy,
    name: str,
    version: int,
) -> str | None:
    """Why ``reviewer`` may not record ``decision`` on ``name`` version ``version`` by
    ``author``, or None when the rule allows it."""
    if not is_identified(reviewer):
        return (
            f"a review of prompt {name!r} version {version} needs an identified reviewer, and "
            f"the caller is {reviewer.strip() or 'nobody'!r} (a server without "
            f"authentication cannot tell who calls): {how_to_review(name, version)}"
        )
    if (
        decision == "approved"
        and policy.require_distinct_reviewer
        and is_identified(author)
        and reviewer.strip().casefold() == author.strip().casefold()
    ):
        return (
            f"{reviewer!r} registered version {version} of prompt {name!r} and cannot approve "
            "it; another reviewer must. A single-user setup turns this off in the policy: "
            f"`mloop prompts policy {name} --allow-self-approval` (admin)"
        )
    return None


def check_review(
    *,
    reviewer: str,
    author: str,
    decision: str,
    policy: ApprovalPolicy,
    name: str,
    version: int,
) -> None:
    """Raise PermissionDeniedError (field ``reviewer``) when :func:`review_refusal` refuses."""
    refusal = review_refusal(
        reviewer=reviewer,
        author=author,
        decision=decision,
        policy=policy,
        name=name,
        version=version,
    )
    if refusal is not None:
        raise PermissionDeniedError(refusal, field="reviewer")
