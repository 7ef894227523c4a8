"""``mloop prompts``: push prompt files, list and show prompts, diff versions, move labels,
approve versions and set approval policies.

``mloop prompts push DIR`` reads every prompt file first and registers nothing when one of
them is malformed (exit 1, the file and line named), so a CI job can gate on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from mloop.cli._common import get_client
from mloop.cli._output import console, fail, fmt_time, info, print_json, print_table
from mloop.core.errors import MloopError

if TYPE_CHECKING:
    from mloop.client import Client
    from mloop.prompts.schemas import Prompt, PromptReview, PromptVersion
    from mloop.prompts.schemas import ReviewPromptVersion as PromptReviewRequest

app = typer.Typer(
    help="Prompts as code: push prompt files, list, show, diff, label, approve.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_PAGE = 1000


def _all_prompts(client: Client) -> list[Prompt]:
    items: list[Prompt] = []
    token: str | None = None
    while True:
        page = client.list_prompts(max_results=_PAGE, page_token=token)
        items.extend(page)
        token = page.next_page_token
        if not token:
            return items


@app.command("push")
def push(
    directory: Annotated[Path, typer.Argument(help="Folder of prompt YAML files.")],
    label: Annotated[
        str | None, typer.Option("--label", help="Point this label at every pushed version.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register changed prompt files as new versions (unchanged ones are left as they are)."""
    from mloop.prompts.files import find_prompt_files, git_info, load_prompt_file

    paths = find_prompt_files(directory)
    if not paths:
        fail(f"no prompt files (*.yaml, *.yml) under {directory}", "dir")
    loaded, errors = [], []
    for path in paths:
        try:
            loaded.append(load_prompt_file(path))
        except MloopError as exc:
            errors.append(exc.message)
    names: dict[str, Path] = {}
    for item in loaded:
        if item.name in names:
            errors.append(
                f"{item.path}: prompt {item.name!r} is also defined in {names[item.name]}"
            )
        names[item.name] = item.path
    if errors:
        for message in errors:
            info(f"error: {message}")
        fail(f"{len(errors)} prompt file(s) are invalid; nothing was pushed")
    client = get_client()
    rows: list[dict[str, Any]] = []
    for item in loaded:
        git = git_info(item.path)
        registered = client.create_prompt_version(
            item.name,
            **item.content.model_dump(exclude_none=False),
            git_commit=git.commit if git else None,
            git_dirty=git.dirty if git else None,
            source_path=git.path if git else str(item.path),
            label=label,
        )
        v = registered.prompt_version
        rows.append(
            {
                "file": str(item.path),
                "name": v.name,
                "version": v.version,
                "status": "created" if registered.created else "unchanged",
                "labels": v.labels,
                "git_commit": v.git_commit,
                "git_dirty": v.git_dirty,
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Pushed {len(rows)} prompt(s)",
        ["file", "prompt", "version", "status", "labels", "commit"],
        [
            (
                r["file"],
                r["name"],
                r["version"],
                r["status"],
                ", ".join(r["labels"]) or "-",
                (r["git_commit"] or "-")[:12] + (" (dirty)" if r["git_dirty"] else ""),
            )
            for r in rows
        ],
    )


@app.command("list")
def list_prompts(as_json: JsonOption = False) -> None:
    """Every prompt with its newest version and labels."""
    prompts = _all_prompts(get_client())
    if as_json:
        print_json([p.model_dump() for p in prompts])
        return
    print_table(
        "Prompts",
        ["name", "latest", "versions", "labels", "approval for", "updated"],
        [
            (
                p.name,
                p.latest_version,
                p.version_count,
                ", ".join(f"{k}=v{v}" for k, v in p.labels.items()) or "-",
                ", ".join(p.require_approval_for) or "-",
                fmt_time(p.last_update_time),
            )
            for p in prompts
        ],
    )


def _resolve(client: Client, ref: str) -> PromptVersion:
    from mloop.prompts.checks import parse_prompt_ref

    parsed = parse_prompt_ref(ref)
    if parsed.label is not None:
        return client.get_prompt_version_by_label(parsed.name, parsed.label)
    return client.get_prompt_version(parsed.name, parsed.version)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME:VERSION or NAME@LABEL.")],
    as_json: JsonOption = False,
) -> None:
    """One version: its template, variables, parameters, labels and review status."""
    v = _resolve(get_client(), ref)
    if as_json:
        print_json(v.model_dump())
        return
    out = console()
    out.print(f"[bold]{escape(v.name)}:{v.version}[/bold]  {escape(v.description)}")
    out.print(
        f"digest {v.digest[:12]}  labels {escape(', '.join(v.labels) or '-')}  "
        f"review {v.review_status}  by {escape(v.created_by or '-')}  "
        f"{fmt_time(v.creation_time)}"
    )
    if v.git_commit:
        dirty = " (dirty)" if v.git_dirty else ""
        out.print(f"git {v.git_commit[:12]}{dirty}  {escape(v.source_path)}")
    if v.messages is not None:
        for m in v.messages:
            out.print(Text(f"[{m.role}]", style="cyan"))
            out.print(Text(m.content))
    else:
        out.print(Text(v.text or ""))
    print_table(
        "Variables",
        ["name", "type", "required", "default", "description"],
        [
            (
                k,
                s.type,
                "yes" if s.needs_value else "no",
                json.dumps(s.default) if s.default is not None else "-",
                s.description,
            )
            for k, s in v.variables.items()
        ],
    )
    print_table("Parameters", ["key", "value"], [(k, json.dumps(x)) for k, x in v.params.items()])
    if v.output_schema is not None:
        out.print(Text("Output schema: " + json.dumps(v.output_schema, indent=2)))


@app.command("diff")
def diff(
    name: str,
    a: Annotated[int, typer.Argument(help="The older version.")],
    b: Annotated[int, typer.Argument(help="The newer version.")],
    as_json: JsonOption = False,
) -> None:
    """What changed from version A to version B."""
    result = get_client().diff_prompt_versions(name, a, b)
    if as_json:
        print_json(result.model_dump())
        return
    out = console()
    if not result.template_diff and not result.changes:
        out.print(f"versions {a} and {b} of {escape(name)} are the same")
        return
    for line in result.template_diff.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        out.print(Text(line, style=style or ""))
    if result.changes:
        print_table(
            "Changed",
            ["field", "before", "after"],
            [(c.field, json.dumps(c.before), json.dumps(c.after)) for c in result.changes],
        )


@app.command("label")
def label(
    name: str, version: int, label_name: Annotated[str, typer.Argument(metavar="LABEL")]
) -> None:
    """Point LABEL at VERSION (refused when the policy wants an approval first)."""
    v = get_client().set_prompt_label(name, label_name, version)
    info(f"{name}@{label_name} -> version {v.version}")


@app.command("approve")
def approve(
    name: str,
    version: int,
    comment: Annotated[str, typer.Option("--comment", help="Why it is approved.")] = "",
    reject: Annotated[bool, typer.Option("--reject", help="Record a rejection instead.")] = False,
    reviewer: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Review as this person: on an embedded store instead of the operating "
            "system user, on a server without authentication instead of 'anonymous'.",
        ),
    ] = None,
) -> None:
    """Approve VERSION of NAME (or reject it with --reject) as the current user or token.

    An approval needs an identified reviewer who is not the version's author, unless the
    prompt's policy allows self-approval (see `mloop prompts policy --allow-self-approval`).
    """
    from mloop.prompts.schemas import ReviewPromptVersion

    decision = "rejected" if reject else "approved"
    if reviewer is None:
        review = get_client().review_prompt_version(name, version, decision, comment)
    else:
        request = ReviewPromptVersion(
            name=name, version=version, decision=decision, comment=comment
        )
        review = _review_as(_checked_reviewer(reviewer), request)
    info(f"{name}:{version} {review.decision} by {review.reviewer}")


def _checked_reviewer(raw: str) -> str:
    """A name for ``--as``: what a server without authentication takes from X-Mloop-User
    (at most 128 printable Latin-1 characters)."""
    name = raw.strip()
    if not name or len(name) > 128:
        fail("--as needs a name of 1 to 128 characters", "as")
    if not name.isprintable():
        fail("--as must not contain control characters", "as")
    try:
        name.encode("latin-1")
    except UnicodeEncodeError:
        fail("--as must be Latin-1 text (it travels in an HTTP header)", "as")
    return name


def _review_as(reviewer: str, request: PromptReviewRequest) -> PromptReview:
    """Record the review with ``reviewer`` as the caller's identity: the embedded store's
    actor, or the X-Mloop-User header a server without authentication reads. The approval
    rule itself is the domain's, the same on every surface."""
    from mloop.client.connection import backend_for
    from mloop.client.embedded import EmbeddedBackend
    from mloop.client.remote import raise_for_status
    from mloop.client.transport import JsonTransport
    from mloop.core.config import get_settings
    from mloop.domains import find_operation
    from mloop.prompts.schemas import PromptReview

    op = find_operation("review_prompt_version")
    backend = backend_for()
    if isinstance(backend, EmbeddedBackend):
        review: PromptReview = backend.runtime.run(
            lambda ctx: op.handler(ctx, request), write=True, actor=reviewer
        )
        return review
    if get_settings().token:
        fail(
            "--as names the reviewer on a server without authentication; with MLOOP_TOKEN "
            "set the server records the review under the token's name: leave out --as",
            "as",
        )
    headers = {"User-Agent": "mloop-cli", "X-Mloop-User": reviewer}
    status, content = JsonTransport(backend.uri, headers).request(
        "POST", op.path, body=request.model_dump_json(exclude_defaults=True).encode()
    )
    raise_for_status(status, content)
    return PromptReview.model_validate_json(content)


@app.command("policy")
def policy(
    name: str,
    require_approval_for: Annotated[
        list[str] | None,
        typer.Option(
            "--require-approval-for",
            help="A label only approved versions may get (repeatable).",
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Require no approvals.")] = False,
    distinct: Annotated[
        bool | None,
        typer.Option(
            "--require-distinct-reviewer/--allow-self-approval",
            help="Whether an approval needs a reviewer other than the version's author "
            "(the default); allow self-approval only in a single-user setup.",
        ),
    ] = None,
) -> None:
    """Set the labels that need an approved version and who may approve; without options,
    show them. Changing the policy needs the admin role."""
    client = get_client()
    if clear or require_approval_for or distinct is not None:
        if clear or require_approval_for:
            labels = [] if clear else list(require_approval_for or [])
        else:  # only the reviewer rule changes: keep the labels
            labels = list(client.get_prompt(name).require_approval_for)
        prompt = client.call(
            "set_prompt_policy",
            name=name,
            require_approval_for=labels,
            require_distinct_reviewer=distinct,
        )
    else:
        prompt = client.get_prompt(name)
    labels_text = ", ".join(prompt.require_approval_for) or "none"
    who = (
        "a reviewer other than the author"
        if prompt.require_distinct_reviewer
        else "any identified reviewer, the author included"
    )
    info(f"{name}: approval required for {labels_text}; an approval needs {who}")
