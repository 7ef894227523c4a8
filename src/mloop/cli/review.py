"""``mloop review``: review queues, the policies that fill them (routing an endpoint's
doubtful predictions, sampling traffic), answering cases, and the labels going back out as
files and dataset versions."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from mloop.cli._common import confirmed, get_client
from mloop.cli._output import (
    cell,
    console,
    fmt_time,
    info,
    print_json,
    print_mapping,
    print_table,
)
from mloop.cli.monitors._parse import parse_label, parse_time, usage_error

app = typer.Typer(
    help="Human review: queues of cases for people, routing of an endpoint's doubtful "
    "predictions, sampling of production traffic, answers, and the labels they make "
    "(JSONL, Label Studio, dataset versions).",
    no_args_is_help=True,
)
queues_app = typer.Typer(help="Review queues.", no_args_is_help=True)
app.add_typer(queues_app, name="queues")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
QueueArgument = Annotated[str, typer.Argument(help="Queue name.")]


class Priority(StrEnum):
    confidence = "confidence"
    oldest = "oldest"


class Criterion(StrEnum):
    confidence = "confidence"
    margin = "margin"
    entropy = "entropy"


class OnRoute(StrEnum):
    flag = "flag"
    fallback = "fallback"
    pending = "pending"


class Status(StrEnum):
    open = "open"
    done = "done"
    escalated = "escalated"


class Reason(StrEnum):
    confidence = "confidence"
    sample = "sample"
    import_ = "import"
    manual = "manual"


class Format(StrEnum):
    jsonl = "jsonl"
    label_studio = "label-studio"


def _call(operation: str, /, **fields: Any) -> Any:
    return get_client().call(operation, **fields)


def _dumps(value: Any) -> str:
    """``value`` as canonical JSON (sorted keys), as the review domain compares labels."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _shown(value: Any) -> str:
    """A label or prediction as it reads in a table: text as it is, the rest as JSON."""
    if value is None:
        return "-"
    return value if isinstance(value, str) else _dumps(value)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# -- queues -------------------------------------------------------------------------------


@queues_app.command("create")
def create_queue(
    name: QueueArgument,
    choice: Annotated[
        list[str] | None,
        typer.Option(
            "--choice",
            "-c",
            help="A label to pick; repeatable. JSON numbers and true/false are read as such "
            "(1, true); quote them for text ('\"1\"').",
        ),
    ] = None,
    free_text: Annotated[
        bool, typer.Option("--free-text", help="Reviewers may write an answer of their own.")
    ] = False,
    rating_scale: Annotated[
        int, typer.Option("--rating-scale", min=0, max=10, help="Rate each case 1..N (0: no).")
    ] = 0,
    overlap: Annotated[
        int, typer.Option("--overlap", min=1, max=10, help="Independent answers per case.")
    ] = 1,
    lease_seconds: Annotated[
        int,
        typer.Option("--lease-seconds", min=10, max=86_400, help="How long a claim holds."),
    ] = 600,
    priority: Annotated[
        Priority, typer.Option("--priority", help="Least confident first, or oldest first.")
    ] = Priority.confidence,
    reviewer: Annotated[
        list[str] | None,
        typer.Option("--reviewer", "-r", help="Who may answer; repeatable (default: anyone)."),
    ] = None,
    agreement_threshold: Annotated[
        float,
        typer.Option("--agreement-threshold", min=0.0, max=1.0, help="Flag cases agreeing less."),
    ] = 0.5,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    instructions: Annotated[
        str, typer.Option("--instructions", help="What reviewers are asked to do.")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a queue: --choice approve --choice reject, --free-text, --rating-scale 5."""
    queue = _call(
        "create_review_queue",
        name=name,
        description=description,
        instructions=instructions,
        choices=[parse_label(c) for c in choice or []],
        free_text=free_text,
        rating_scale=rating_scale,
        overlap=overlap,
        lease_seconds=lease_seconds,
        priority=priority.value,
        agreement_threshold=agreement_threshold,
        reviewers=reviewer or [],
    )
    if as_json:
        print_json(queue.model_dump())
        return
    info(f"Created review queue {queue.name}: {_answers_taken(queue)}.")


def _answers_taken(queue: Any) -> str:
    parts = []
    if queue.choices:
        parts.append("choices " + ", ".join(_shown(c) for c in queue.choices))
    if queue.free_text:
        parts.append("free text")
    if queue.rating_scale:
        parts.append(f"rating 1-{queue.rating_scale}")
    text = " or ".join(parts)
    if queue.overlap > 1:
        text += f"; {queue.overlap} answers per case"
    return text


@queues_app.command("list")
def list_queues(as_json: JsonOption = False) -> None:
    """Queues with their backlog."""
    queues = _call("list_review_queues", max_results=1000).queues
    if as_json:
        print_json([q.model_dump() for q in queues])
        return
    print_table(
        "Review queues",
        ["name", "answers taken", "overlap", "priority", "open", "escalated", "done", "answers"],
        [
            (
                q.name,
                _answers_taken(q),
                q.overlap,
                q.priority,
                q.counts.open,
                q.counts.escalated,
                q.counts.done,
                q.counts.answers,
            )
            for q in queues
        ],
    )


@queues_app.command("show")
def show_queue(name: QueueArgument, as_json: JsonOption = False) -> None:
    """A queue's settings, backlog and agreement."""
    queue = _call("get_review_queue", name=name)
    stats = _call("get_review_queue_stats", name=name, days=14)
    if as_json:
        print_json({"queue": queue.model_dump(), "stats": stats.model_dump()})
        return
    print_mapping(
        f"Review queue {queue.name}",
        {
            "description": queue.description or "-",
            "answers taken": _answers_taken(queue),
            "overlap": queue.overlap,
            "priority": queue.priority,
            "lease": f"{queue.lease_seconds} s",
            "reviewers": ", ".join(queue.reviewers) or "anyone",
            "open": queue.counts.open,
            "escalated": queue.counts.escalated,
            "done": queue.counts.done,
            "answers": queue.counts.answers,
            "median time per answer": "-"
            if stats.median_seconds is None
            else f"{stats.median_seconds:.1f} s",
            "changed the model's answer": _share(stats.changed_share),
            "agreement (Fleiss' kappa)": stats.agreement,
            "low-agreement cases": stats.low_agreement_items,
            "created": fmt_time(queue.created_at),
        },
        sort=False,
    )


@queues_app.command("delete")
def delete_queue(
    name: QueueArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a queue with its cases, answers and policies (labels already in the inference
    log stay). Needs admin."""
    queue = _call("get_review_queue", name=name)
    total = queue.counts.open + queue.counts.escalated + queue.counts.done
    if not yes and not confirmed(f"Delete review queue {name} and its {total} cases?"):
        info("Nothing deleted (--yes deletes without asking).")
        raise typer.Exit(1)
    _call("delete_review_queue", name=name)
    info(f"Deleted review queue {name}.")


# -- policies -----------------------------------------------------------------------------


def _class_thresholds(values: list[str] | None) -> dict[str, float]:
    found: dict[str, float] = {}
    for value in values or []:
        name, sep, number = value.rpartition("=")
        try:
            threshold = float(number)
        except ValueError:
            threshold = -1.0
        if not sep or not name or not 0.0 <= threshold <= 1.0:
            usage_error(
                f"--class-threshold {value!r} must look like CLASS=T with T from 0 to 1 "
                "(e.g. reject=0.9)",
                "--class-threshold",
            )
        found[name] = threshold
    return found


@app.command("route")
def route(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    queue: Annotated[str, typer.Option("--queue", "-q", help="The queue routed cases go to.")],
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            "-t",
            min=0.0,
            max=1.0,
            help="confidence: route below it; margin: top two closer than it; entropy: "
            "route above it.",
        ),
    ] = 0.7,
    criterion: Annotated[Criterion, typer.Option("--criterion")] = Criterion.confidence,
    class_threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--class-threshold", help="CLASS=T: the threshold of one predicted class; repeatable."
        ),
    ] = None,
    on_route: Annotated[
        OnRoute,
        typer.Option(
            "--on-route",
            help="What the caller gets: the prediction flagged, the --fallback answer, or a "
            "pending status to poll.",
        ),
    ] = OnRoute.flag,
    fallback: Annotated[
        str | None, typer.Option("--fallback", help="JSON answered instead (with fallback).")
    ] = None,
    max_share: Annotated[
        float,
        typer.Option(
            "--max-share", min=0.001, max=1.0, help="Route at most this share of requests."
        ),
    ] = 0.25,
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it switched off.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Send an endpoint's doubtful predictions to a queue (replaces its policy). Needs the
    deployer role."""
    fallback_value = None
    if fallback is not None:
        try:
            fallback_value = json.loads(fallback)
        except json.JSONDecodeError as exc:
            usage_error(f"--fallback is not JSON: {exc}", "--fallback")
    policy = _call(
        "set_review_routing",
        endpoint=endpoint,
        queue=queue,
        criterion=criterion.value,
        threshold=threshold,
        class_thresholds=_class_thresholds(class_threshold),
        on_route=on_route.value,
        fallback=fallback_value,
        max_share=max_share,
        enabled=not disabled,
    )
    if as_json:
        print_json(policy.model_dump())
        return
    info(f"Routing {policy.endpoint} to queue {policy.queue}: {_routing_rule(policy)}.")


def _routing_rule(policy: Any) -> str:
    compare = ">" if policy.criterion == "entropy" else "<"
    text = f"{policy.criterion} {compare} {policy.threshold:g}"
    if policy.class_thresholds:
        text += " (" + ", ".join(f"{k}: {v:g}" for k, v in policy.class_thresholds.items()) + ")"
    text += f", {policy.on_route}, at most {policy.max_share:.0%} of requests"
    return text if policy.enabled else text + ", disabled"


@app.command("unroute")
def unroute(endpoint: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Stop routing an endpoint's predictions (cases already queued stay)."""
    _call("delete_review_routing", endpoint=endpoint)
    info(f"Stopped routing {endpoint} to review.")


@app.command("sample")
def sample(
    queue: QueueArgument,
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e")] = None,
    route_name: Annotated[str | None, typer.Option("--route", help="A gateway route.")] = None,
    per_day: Annotated[
        int | None, typer.Option("--per-day", min=1, max=100_000, help="Cases a day.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", min=0.0, max=1.0, help="Share of the traffic.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sample an endpoint's predictions or a gateway route's calls into a queue, whatever
    their confidence: --per-day 50, or --rate 0.01."""
    if (endpoint is None) == (route_name is None):
        usage_error("give one of --endpoint and --route", "--endpoint")
    if (per_day is None) == (rate is None):
        usage_error("give one of --per-day and --rate", "--per-day")
    if rate is not None and rate <= 0:
        usage_error("--rate must be above 0", "--rate")
    policy = _call(
        "set_review_sampling",
        queue=queue,
        endpoint=endpoint,
        route=route_name,
        per_day=per_day,
        rate=rate,
    )
    if as_json:
        print_json(policy.model_dump())
        return
    info(f"Sampling policy {policy.id}: {_sampling_rule(policy)} into queue {policy.queue}.")


def _sampling_rule(policy: Any) -> str:
    what = f"endpoint {policy.endpoint}" if policy.endpoint else f"route {policy.route}"
    amount = f"{policy.per_day} a day" if policy.per_day is not None else f"{policy.rate:.2%}"
    return f"{amount} of {what}"


@app.command("unsample")
def unsample(policy: Annotated[int, typer.Argument(help="Sampling policy id.")]) -> None:
    """Stop a sampling policy (cases already sampled stay)."""
    _call("delete_review_sampling", id=policy)
    info(f"Deleted sampling policy {policy}.")


@app.command("sample-now")
def sample_now(
    policy: Annotated[int | None, typer.Option("--policy", help="One policy (default all).")] = (
        None
    ),
    until: Annotated[
        str | None, typer.Option("--until", help="Sample the hours ended by then (default now).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sample the ended hours not sampled yet, now, instead of waiting for the server."""
    result = _call(
        "run_review_sampling",
        id=policy,
        until=None if until is None else parse_time(until, "--until"),
    )
    if as_json:
        print_json(result.model_dump())
        return
    print_table(
        "Sampling",
        ["policy", "hours", "added"],
        [(p.policy, p.hours, p.added) for p in result.policies],
    )


@app.command("policies")
def policies(
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e")] = None,
    as_json: JsonOption = False,
) -> None:
    """Routing and sampling policies, of a queue or an endpoint."""
    found = _call("list_review_policies", queue=queue, endpoint=endpoint)
    if as_json:
        print_json(found.model_dump())
        return
    print_table(
        "Routing",
        ["endpoint", "queue", "rule"],
        [(p.endpoint, p.queue, _routing_rule(p)) for p in found.routing],
    )
    print_table(
        "Sampling",
        ["id", "queue", "what", "sampled until", "enabled"],
        [
            (p.id, p.queue, _sampling_rule(p), fmt_time(p.sampled_until), p.enabled)
            for p in found.sampling
        ],
    )


# -- items and answers --------------------------------------------------------------------


@app.command("items")
def items(
    queue: QueueArgument,
    status: Annotated[Status | None, typer.Option("--status")] = None,
    reason: Annotated[Reason | None, typer.Option("--reason")] = None,
    low_agreement: Annotated[
        bool, typer.Option("--low-agreement", help="Only cases whose answers disagree.")
    ] = False,
    changed: Annotated[
        bool, typer.Option("--changed", help="Only cases whose label differs from the model's.")
    ] = False,
    answered_by: Annotated[str | None, typer.Option("--answered-by")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """A queue's cases, newest first."""
    found = _call(
        "list_review_items",
        queue=queue,
        status=status.value if status else None,
        reason=reason.value if reason else None,
        low_agreement=True if low_agreement else None,
        changed=True if changed else None,
        answered_by=answered_by,
        max_results=limit,
    ).items
    if as_json:
        print_json([i.model_dump() for i in found])
        return
    print_table(
        f"Cases of {queue}",
        [
            "id",
            "status",
            "reason",
            "request",
            "prediction",
            "confidence",
            "answers",
            "label",
            "agreement",
            "created",
        ],
        [
            (
                i.id,
                i.status,
                i.reason,
                i.request_id,
                _shown(i.prediction),
                i.confidence,
                f"{i.answers_count}/{i.answers_needed}",
                _shown(i.final_label),
                i.agreement,
                fmt_time(i.created_at),
            )
            for i in found
        ],
    )


@app.command("next")
def next_item(queue: QueueArgument, as_json: JsonOption = False) -> None:
    """Claim the next case of a queue (or renew the one you hold) and show it."""
    claimed = _call("next_review_item", queue=queue)
    if as_json:
        print_json(claimed.model_dump())
        return
    if claimed.item is None:
        info(f"Nothing left for you in queue {queue}.")
        return
    details = _call("get_review_queue", name=queue)
    _print_case(claimed.item)
    print_mapping(
        "Answer",
        {
            "takes": _answers_taken(details),
            "held until": fmt_time(claimed.lease_expires_at),
            "left in the queue": claimed.remaining,
        },
        sort=False,
    )
    info(f"Answer with: mloop review answer {claimed.item.id} LABEL")


def _print_case(item: Any) -> None:
    payload = item.payload
    head = f"Case {item.id} of {item.queue}: request {item.request_id}"
    if item.target:
        head += f" from {item.target}"
    console().print(head, markup=False)
    from mloop.review.exchange import input_rows, is_gateway

    if is_gateway(item):
        messages = payload.get("messages") or []
        print_table(
            None,
            ["role", "content"],
            [
                (m.get("role", "-"), _shown(m.get("content")))
                for m in messages
                if isinstance(m, dict)
            ],
        )
        print_mapping(
            "The model's answer",
            {
                "answer": _shown(payload.get("answer", item.prediction)),
                "prompt": f"{item.prompt_name} v{item.prompt_version}" if item.prompt_name else "-",
                "model": payload.get("model", "-"),
            },
            sort=False,
        )
        return
    rows = input_rows(payload)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    predictions = item.prediction if isinstance(item.prediction, list) else None
    many = len(rows) > 1 and predictions is not None and len(predictions) == len(rows)
    print_table(
        None,
        [*columns, "prediction"],
        [
            (
                *(_shown(row.get(c)) for c in columns),
                _shown(predictions[n] if many and predictions is not None else item.prediction),
            )
            for n, row in enumerate(rows)
        ],
    )
    model = f"{item.model_name} v{item.model_version}" if item.model_name else "-"
    console().print(f"model {model}, confidence {cell(item.confidence)}", markup=False)


def _label(text: str, queue: Any) -> Any:
    """A label typed on the command line: one of the queue's text choices as it is; else
    JSON where it parses (a number or true/false choice, a list with one label per row, a
    quoted string); else the text itself (free text)."""
    if any(text == c for c in queue.choices if isinstance(c, str)):
        return text
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(value, str | list):
        return value
    if value is not None and (_dumps(value) in {_dumps(c) for c in queue.choices}):
        return value
    return text if queue.free_text else value


@app.command("answer")
def answer(
    item: Annotated[int, typer.Argument(help="Case id.")],
    label: Annotated[
        str | None,
        typer.Argument(help="The label: a choice, free text, or a JSON list (one per row)."),
    ] = None,
    rating: Annotated[int | None, typer.Option("--rating", min=1, max=10)] = None,
    comment: Annotated[str, typer.Option("--comment", "-m")] = "",
    as_json: JsonOption = False,
) -> None:
    """Answer a case; answering it again the same way changes nothing, differently is
    refused."""
    if label is None and rating is None:
        usage_error("give a LABEL, a --rating, or both", "label")
    value = None
    if label is not None:
        case = _call("get_review_item", id=item).item
        value = _label(label, _call("get_review_queue", name=case.queue))
    result = _call("submit_review_answer", id=item, label=value, rating=rating, comment=comment)
    if as_json:
        print_json(result.model_dump())
        return
    done = result.item
    if result.duplicate:
        info(f"Case {item}: you had already given this answer; nothing changed.")
    elif done.status == "done":
        info(f"Case {item} done: label {_shown(done.final_label)}.")
    else:
        info(f"Case {item}: answer {done.answers_count} of {done.answers_needed} recorded.")


@app.command("stats")
def stats(
    queue: QueueArgument,
    days: Annotated[int, typer.Option("--days", min=1, max=366)] = 14,
    as_json: JsonOption = False,
) -> None:
    """Backlog, daily throughput, agreement and reviewers of a queue."""
    found = _call("get_review_queue_stats", name=queue, days=days)
    if as_json:
        print_json(found.model_dump())
        return
    counts = found.counts
    print_mapping(
        f"Queue {found.queue}",
        {
            "open": counts.open,
            "escalated": counts.escalated,
            "done": counts.done,
            "answers": counts.answers,
            "median time per answer": "-"
            if found.median_seconds is None
            else f"{found.median_seconds:.1f} s",
            "changed the model's answer": _share(found.changed_share),
            "agreement (Fleiss' kappa)": found.agreement,
            "low-agreement cases": found.low_agreement_items,
        },
        sort=False,
    )
    print_table(
        "Per day",
        ["day", "added", "answers", "completed"],
        [(d.day, d.added, d.answers, d.completed) for d in found.days if d.added or d.answers],
    )
    print_table(
        "Reviewers",
        ["reviewer", "answers", "median s", "with consensus", "kappa", "compared"],
        [
            (
                r.reviewer,
                r.answers,
                r.median_seconds,
                _share(r.with_consensus),
                r.kappa,
                r.compared_items,
            )
            for r in found.reviewers
        ],
    )


# -- the loop back ------------------------------------------------------------------------


@app.command("export")
def export(
    queue: QueueArgument,
    file: Annotated[Path, typer.Argument(help="The file to write (replaced when complete).")],
    fmt: Annotated[Format, typer.Option("--format", "-f")] = Format.jsonl,
    status: Annotated[
        Status | None, typer.Option("--status", help="jsonl: only cases in this status.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="label-studio: also write the labeling config here."),
    ] = None,
) -> None:
    """Write a queue's cases and answers as JSONL (one case a line) or as Label Studio
    tasks."""
    from mloop.review.exchange import export_jsonl, export_label_studio

    if fmt is Format.jsonl:
        if config is not None:
            usage_error("--config goes with --format label-studio", "--config")
        count = export_jsonl(queue, file, status=status.value if status else None)
        info(f"Wrote {count} cases of {queue} to {file}.")
        return
    if status is not None:
        usage_error("--status goes with --format jsonl", "--status")
    count = export_label_studio(queue, file, config_path=config)
    also = f" and its labeling config to {config}" if config is not None else ""
    info(f"Wrote {count} Label Studio tasks of {queue} to {file}{also}.")


@app.command("import")
def import_(
    queue: QueueArgument,
    file: Annotated[Path, typer.Argument(help="A JSONL file, one case a line.")],
    as_json: JsonOption = False,
) -> None:
    """Add the cases of a JSONL file (with their answers) to a queue; every line is checked
    before anything is added."""
    from mloop.review.exchange import import_jsonl

    if not file.is_file():
        usage_error(f"no such file: {file}", "file")
    result = import_jsonl(queue, file)
    if as_json:
        print_json(result.model_dump())
        return
    info(f"Imported {result.added} cases into {queue} ({result.existing} already there).")


@app.command("to-dataset")
def to_dataset(
    queue: QueueArgument,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Dataset name (default QUEUE-labels).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only cases completed after this time.")
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Point this alias at it.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a queue's final labels as a dataset version (one row per case row); the
    same labels again give the same version."""
    from mloop.review.exchange import labels_to_dataset

    version = labels_to_dataset(
        queue,
        name,
        since=None if since is None else parse_time(since, "--since"),
        alias=alias,
    )
    if as_json:
        print_json(version.info.model_dump(exclude={"profile"}) | {"created": version.created})
        return
    what = "Registered" if version.created else "Already registered:"
    info(f"{what} dataset {version.ref} ({version.row_count} rows, source {version.source}).")
