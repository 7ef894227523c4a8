"""Review data in and out: JSONL export and import, Label Studio tasks, and the labelled
dataset version the next training run reads.

Everything here runs on the client through the review API (embedded or against a server),
so it works wherever the SDK does. Files are written to a temporary name beside the target
and renamed into place when complete: a reader never sees half an export.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

import orjson
import pydantic

from mloop.core.errors import PayloadTooLargeError, ValidationError
from mloop.core.ids import new_id
from mloop.review.records import dumps
from mloop.review.schemas import (
    MAX_LIST,
    Answer,
    ItemsAdded,
    NewItem,
    Queue,
    ReviewItem,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from mloop.client.datasets_fluent import DatasetVersion

MAX_LINE_BYTES = 1_000_000
"""The longest line ``import_jsonl`` reads: one case a person reads, not a data file."""

_ITEM_KEYS = frozenset(NewItem.model_fields) - {"reason"}
# What an export writes besides the item's own fields: read back, never imported.
_EXPORT_ONLY = frozenset(ReviewItem.model_fields) - _ITEM_KEYS
_ANSWER_KEYS = ("reviewer", "label", "rating", "comment", "created_at")


def _call(operation: str, /, **fields: Any) -> Any:
    from mloop.client.client import Client

    return Client().call(operation, **fields)


# -- reading a queue ----------------------------------------------------------------------


def _pages(queue: str, **filters: Any) -> Iterator[list[ReviewItem]]:
    """The queue's items matching ``filters``, newest first, a page of 1,000 at a time.

    Paging is by offset: items added meanwhile push later pages down and would repeat an
    item, so an item already yielded is dropped."""
    token = None
    seen: set[int] = set()
    while True:
        page = _call(
            "list_review_items", queue=queue, page_token=token, max_results=MAX_LIST, **filters
        )
        fresh = [item for item in page.items if item.id not in seen]
        seen.update(item.id for item in fresh)
        if fresh:
            yield fresh
        token = page.next_page_token
        if token is None:
            return


def _answers(queue: str, items: Sequence[ReviewItem]) -> dict[int, list[Answer]]:
    """The answers of a page of items, in the order they were given (one call)."""
    found: dict[int, list[Answer]] = {item.id: [] for item in items}
    answers = _call("list_review_answers", queue=queue, ids=[item.id for item in items]).answers
    for answer in answers:
        found[answer.item_id].append(answer)
    return found


def _labelled(queue: str, status: str | None = None) -> Iterator[tuple[ReviewItem, list[Answer]]]:
    for page in _pages(queue, status=status):
        answers = _answers(queue, page)
        for item in page:
            yield item, answers[item.id]


def _write_atomically(path: str | os.PathLike[str], write: Callable[[IO[bytes]], int]) -> int:
    """Run ``write`` on a temporary file beside ``path``, then rename it to ``path``."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{new_id()[:12]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            count = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return count


# -- JSONL --------------------------------------------------------------------------------


def _answer_dict(answer: Answer) -> dict[str, Any]:
    return {key: getattr(answer, key) for key in _ANSWER_KEYS}


def export_jsonl(queue: str, path: str | os.PathLike[str], *, status: str | None = None) -> int:
    """Write the queue's items (``status``: only ``open``, ``done`` or ``escalated`` ones),
    newest first, one JSON object a line: every field of the item and its ``answers``
    (reviewer, label, rating, comment, created_at). Returns how many items were written.

    ``import_jsonl`` reads the file back into another queue with the answers."""
    _call("get_review_queue", name=queue)  # an unknown queue fails before any file is made

    def write(handle: IO[bytes]) -> int:
        count = 0
        for item, answers in _labelled(queue, status):
            line = item.model_dump(mode="json")
            line["answers"] = [_answer_dict(a) for a in answers]
            handle.write(orjson.dumps(line) + b"\n")
            count += 1
        return count

    return _write_atomically(path, write)


def import_jsonl(queue: str, path: str | os.PathLike[str]) -> ItemsAdded:
    """Add the cases of a JSONL file to ``queue``, with the answers given elsewhere.

    Each line is a JSON object with ``payload`` (or ``data``, Label Studio's word) and any
    of request_id, source, target, prediction, confidence, model_name, model_version,
    variant, prompt_name, prompt_version and answers ([{reviewer, label, rating, comment,
    created_at}]); the other fields ``export_jsonl`` writes (id, status, final_label...)
    are read past. Every line is checked first, against the queue's choices too, and a bad
    one is refused naming its line before anything is added; then the items are added
    (reason ``import``) 1,000 a call. A request id the queue already holds is not added
    again (``existing``), so importing a file twice adds its items once.
    """
    from mloop.review.sdk import add_items

    found = _call("get_review_queue", name=queue)
    items = list(_read_lines(Path(path), found))
    if not items:
        return ItemsAdded(added=0, existing=0, ids=[])
    return add_items(queue, items)


def _read_lines(path: Path, queue: Queue) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 2)
            if not raw:
                return
            number += 1
            if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
                raise PayloadTooLargeError(
                    f"{path.name} line {number} is over {MAX_LINE_BYTES:,} bytes; a line holds "
                    "one case a person reads, not a data file",
                    field=f"line {number}",
                )
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a byte order mark some editors add
            if raw.strip():
                yield _parse_line(raw, number, path.name, queue)


def _parse_line(raw: bytes, number: int, name: str, queue: Queue) -> dict[str, Any]:
    where = f"{name} line {number}"
    field = f"line {number}"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"{where} is not valid JSON: {exc}", field=field) from None
    if not isinstance(value, dict):
        raise ValidationError(
            f"{where} must be a JSON object, not {_json_kind(value)}", field=field
        )
    unknown = sorted(set(value) - _ITEM_KEYS - _EXPORT_ONLY - {"data", "answers"})
    if unknown:
        raise ValidationError(
            f"{where} has an unknown key {unknown[0]!r}; a case has payload (or data), "
            "request_id, prediction, confidence, model_name, model_version, source, target "
            "and answers",
            field=f"{field}.{unknown[0]}",
        )
    if ("payload" in value) == ("data" in value):
        raise ValidationError(
            f"{where} needs payload (or data): the JSON object a reviewer sees, not both",
            field=f"{field}.payload",
        )
    fields = {key: value[key] for key in _ITEM_KEYS if key in value}
    if "data" in value:
        fields["payload"] = value["data"]
    fields.setdefault("source", "import")
    fields["reason"] = "import"
    try:
        item = NewItem.model_validate(fields)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(part) for part in first.get("loc", ()))
        raise ValidationError(f"{where}: {at}: {first['msg']}", field=f"{field}.{at}") from None
    _check_new_item(item, where, field, queue)
    return item.model_dump(exclude_defaults=True)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a boolean" if isinstance(value, bool) else "a number"


def _check_new_item(item: NewItem, where: str, field: str, queue: Queue) -> None:
    """The checks ``add_review_items`` makes, made before anything is added, so that a bad
    line in the second thousand does not leave the first thousand added."""
    from mloop.core.naming import check_asset_name
    from mloop.core.validation import check_text
    from mloop.review.answers import check_answer
    from mloop.review.items import MAX_PAYLOAD_BYTES

    try:
        if item.request_id is not None:
            check_text(item.request_id, "request_id", max_length=256)
            if not item.request_id.strip():
                raise ValidationError("request_id is empty", field="request_id")
        check_text(item.target, "target", max_length=256)
        for key in ("model_name", "prompt_name"):
            if getattr(item, key) is not None:
                check_asset_name(getattr(item, key), key, what=key)
        size = len(dumps(item.payload)) + len(dumps(item.prediction))
        if size > MAX_PAYLOAD_BYTES:
            raise PayloadTooLargeError(
                f"payload and prediction are {size:,} bytes of JSON; an item holds at most "
                f"{MAX_PAYLOAD_BYTES:,}",
                field="payload",
            )
        if len({a.reviewer for a in item.answers}) != len(item.answers):
            raise ValidationError("answers has two answers by one reviewer", field="answers")
        rules = SimpleNamespace(
            name=queue.name,
            choices_json=dumps(queue.choices),
            free_text=queue.free_text,
            rating_scale=queue.rating_scale,
        )
        for j, answer in enumerate(item.answers):
            check_text(answer.reviewer, f"answers[{j}].reviewer", max_length=256)
            check_text(answer.comment, f"answers[{j}].comment", max_length=10_000)
            check_answer(rules, item.payload, answer.label, answer.rating, f"answers[{j}]")
    except (ValidationError, PayloadTooLargeError) as exc:
        raise type(exc)(f"{where}: {exc.message}", field=f"{field}.{exc.field}") from None


# -- Label Studio -------------------------------------------------------------------------


def export_label_studio(
    queue: str,
    path: str | os.PathLike[str],
    *,
    config_path: str | os.PathLike[str] | None = None,
) -> int:
    """Write the queue's items as Label Studio tasks (a JSON list to import into a project)
    and, with ``config_path``, the project's labeling configuration; returns the number of
    tasks.

    A task's ``data`` holds what the reviewer reads under ``text`` (a tabular case's input
    columns are also kept as their own keys); the model's answer is a prediction
    (``model_version`` ``<model>/<version>``, ``score`` the confidence) and each answer an
    annotation, with the labeling configuration's ``label`` (choices), ``correction``
    (free text) and ``rating`` controls. A case of several rows becomes one task per row.
    Label Studio refuses annotators it does not know, so reviewers are not sent as
    ``completed_by`` (Label Studio assigns the annotations to whoever imports them): each
    task's ``meta.mloop`` names them, in the order of the annotations, with the item id,
    request id and row.
    """
    found: Queue = _call("get_review_queue", name=queue)

    def write(handle: IO[bytes]) -> int:
        count = 0
        handle.write(b"[")
        for item, answers in _labelled(queue):
            for task in label_studio_tasks(found, item, answers):
                handle.write(b"\n" if count == 0 else b",\n")
                handle.write(orjson.dumps(task))
                count += 1
        handle.write(b"\n]\n")
        return count

    count = _write_atomically(path, write)
    if config_path is not None:
        config = label_studio_config(found).encode()
        _write_atomically(config_path, lambda handle: handle.write(config))
    return count


def label_studio_config(queue: Queue) -> str:
    """The labeling configuration (XML) matching ``export_label_studio``'s tasks."""
    lines = ["<View>"]
    if queue.instructions.strip():
        lines.append(f"  <Header value={quoteattr(queue.instructions.strip())}/>")
    lines.append('  <Text name="text" value="$text"/>')
    if queue.choices:
        lines.append('  <Choices name="label" toName="text" choice="single" showInLine="true">')
        lines += [f"    <Choice value={quoteattr(_choice_text(c))}/>" for c in queue.choices]
        lines.append("  </Choices>")
    if queue.free_text:
        lines.append('  <TextArea name="correction" toName="text" maxSubmissions="1"/>')
    if queue.rating_scale:
        lines.append(f'  <Rating name="rating" toName="text" maxRating="{queue.rating_scale}"/>')
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def _choice_text(value: Any) -> str:
    """A label as Label Studio's choices hold it: strings as they are, others as JSON."""
    return value if isinstance(value, str) else dumps(value)


def label_studio_tasks(
    queue: Queue, item: ReviewItem, answers: Sequence[Answer]
) -> list[dict[str, Any]]:
    """One item as Label Studio tasks: one per row of its case."""
    gateway = is_gateway(item)
    rows = [{}] if gateway else input_rows(item.payload)
    many = len(rows) > 1
    tasks = []
    for index, row in enumerate(rows):
        if gateway:
            data = _gateway_data(item.payload)
        else:
            data = dict(row)
            data.setdefault("text", "\n".join(f"{k}: {_shown(v)}" for k, v in row.items()))
        task: dict[str, Any] = {
            "data": data,
            "meta": {
                "mloop": {
                    "queue": queue.name,
                    "item_id": item.id,
                    "request_id": item.request_id,
                    "row": index,
                    "rows": len(rows),
                    "annotators": [a.reviewer for a in answers],
                }
            },
        }
        prediction = _row_value(item.prediction, index, len(rows)) if many else item.prediction
        result = _results(queue, prediction, None, f"{item.id}-{index}-p")
        if result:
            entry: dict[str, Any] = {"result": result}
            version = _model_version(item)
            if version is not None:
                entry["model_version"] = version
            score = _row_confidence(item, index, len(rows))
            if score is not None:
                entry["score"] = score
            task["predictions"] = [entry]
        annotations = []
        for answer in answers:
            label = _row_value(answer.label, index, len(rows)) if many else answer.label
            result = _results(queue, label, answer.rating, f"{item.id}-{index}-a{answer.id}")
            if result:
                annotation: dict[str, Any] = {"result": result, "ground_truth": False}
                if answer.seconds is not None:
                    annotation["lead_time"] = answer.seconds
                annotations.append(annotation)
        if annotations:
            task["annotations"] = annotations
        tasks.append(task)
    return tasks


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


def _gateway_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An LLM call as a task: the conversation and the answer to read, under ``text``."""
    messages = payload.get("messages")
    answer = payload.get("answer")
    parts = []
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                role = message.get("role", "message")
                parts.append(f"{role}: {_shown(message.get('content', ''))}")
    if answer is not None:
        parts.append(f"answer: {_shown(answer)}")
    return {
        "text": "\n\n".join(parts),
        "messages": messages,
        "answer": answer,
        "model": payload.get("model"),
    }


def _results(queue: Queue, label: Any, rating: int | None, prefix: str) -> list[dict[str, Any]]:
    """A label (and rating) as results of the configuration's controls."""
    results = []
    choices = {dumps(c) for c in queue.choices}
    if label is not None and dumps(label) in choices:
        value: dict[str, Any] = {"choices": [_choice_text(label)]}
        results.append(_result(f"{prefix}-label", "label", "choices", value))
    elif isinstance(label, str) and queue.free_text:
        results.append(_result(f"{prefix}-text", "correction", "textarea", {"text": [label]}))
    if rating is not None and queue.rating_scale:
        results.append(_result(f"{prefix}-rating", "rating", "rating", {"rating": rating}))
    return results


def _result(rid: str, control: str, kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"id": rid, "from_name": control, "to_name": "text", "type": kind, "value": value}


def _model_version(item: ReviewItem) -> str | None:
    """What answered: ``<model>/<version>``, an LLM call's ``<prompt>/<version>`` or its
    model, or None when the case does not say."""
    if item.model_name is not None:
        return f"{item.model_name}/{item.model_version}"
    if item.prompt_name is not None:
        return f"{item.prompt_name}/{item.prompt_version}"
    model = item.payload.get("model")
    return str(model) if model else None


# -- cases, rows and labels ---------------------------------------------------------------


def is_gateway(item: ReviewItem) -> bool:
    """Whether the case is an LLM call (messages and an answer) rather than model inputs."""
    return item.source == "gateway" or ("messages" in item.payload and "inputs" not in item.payload)


def input_rows(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The case's input rows: ``inputs`` as records (or columns, or one record); a payload
    without ``inputs`` is one row of its own keys."""
    if "inputs" not in payload:
        return [dict(payload)]
    inputs = payload["inputs"]
    if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
        return [dict(r) for r in inputs]
    if isinstance(inputs, dict):
        columns = list(inputs.values())
        if columns and all(isinstance(c, list) for c in columns):
            lengths = {len(c) for c in columns}
            if len(lengths) == 1 and lengths != {0}:
                keys = list(inputs)
                return [dict(zip(keys, v, strict=True)) for v in zip(*columns, strict=True)]
        return [dict(inputs)]
    return [{"inputs": inputs}]


def _row_value(value: Any, row: int, rows: int) -> Any:
    """A row's share of a multi-row label or prediction: its entry of a list with one per
    row, or the value itself when it covers every row."""
    if isinstance(value, list) and len(value) == rows:
        return value[row]
    return value


def _row_confidence(item: ReviewItem, row: int, rows: int) -> float | None:
    """The model's confidence in one row: its top class probability where the payload has
    them, else the item's (which for several rows is their least confident)."""
    probabilities = item.payload.get("probabilities")
    if isinstance(probabilities, list) and len(probabilities) == rows:
        entry = probabilities[row]
        if isinstance(entry, list):
            numbers = [float(p) for p in entry if isinstance(p, int | float)]
            if numbers and len(numbers) == len(entry):
                return max(numbers)
    return item.confidence if rows == 1 else None


# -- the labelled dataset -----------------------------------------------------------------

_ENDPOINT_COLUMNS = (
    "label",
    "prediction",
    "confidence",
    "rating",
    "request_id",
    "row",
    "endpoint",
    "model_name",
    "model_version",
)
_GATEWAY_COLUMNS = (
    "messages",
    "answer",
    "correction",
    "rating",
    "request_id",
    "route",
    "model",
    "prompt_name",
    "prompt_version",
)
_COMMON_COLUMNS = ("reviewers", "answered_at", "item_id")
_RESERVED = frozenset(_ENDPOINT_COLUMNS + _GATEWAY_COLUMNS + _COMMON_COLUMNS)
# Columns whose type does not depend on the values seen.
_TYPES = {
    "confidence": "float64",
    "rating": "float64",
    "row": "int64",
    "model_version": "int64",
    "prompt_version": "int64",
    "answered_at": "int64",
    "item_id": "int64",
    "reviewers": "string",
    "request_id": "string",
    "endpoint": "string",
    "route": "string",
    "model_name": "string",
    "model": "string",
    "prompt_name": "string",
    "messages": "string",
    "correction": "string",
}


def labels_to_dataset(
    queue: str,
    name: str | None = None,
    *,
    since: int | None = None,
    alias: str | None = None,
) -> DatasetVersion:
    """Register the queue's labels as a version of dataset ``name`` (``<queue>-labels``).

    One row per row of each completed case with a final label (an LLM call: a label or a
    rating): the case's input columns, ``label`` (the reviewers' final label; a case of
    several rows labelled row by row gives each row its own), the model's ``prediction``
    and ``confidence``, ``request_id`` and ``row`` (the inference log's request), ``endpoint``,
    ``model_name``, ``model_version``, ``reviewers`` (who answered, comma-separated),
    ``answered_at`` (ms, when the label was settled) and ``item_id``. LLM calls give
    ``messages`` (JSON text), ``answer``, ``correction`` (the final label) and ``rating``
    instead. ``since`` (ms) keeps the items completed after it. An input column named like
    one of these is renamed ``input_<name>``; a column whose values mix types holds their
    JSON text. The version's source is ``mloop-review:<queue>``; the same labels registered
    again give the same version.
    """
    from mloop.client.datasets_fluent import register_dataset

    _call("get_review_queue", name=queue)
    rows: list[dict[str, Any]] = []
    for item, answers in _done(queue, since):
        reviewers = ",".join(dict.fromkeys(a.reviewer for a in answers))
        rows += _dataset_rows(item, reviewers)
    if not rows:
        after = "" if since is None else f" after {since}"
        raise ValidationError(
            f"review queue {queue!r} has no completed item with a label{after}", field="queue"
        )
    table = _table(rows)
    return register_dataset(
        name or f"{queue}-labels", table, alias=alias, source=f"mloop-review:{queue}"
    )


def _done(queue: str, since: int | None) -> list[tuple[ReviewItem, list[Answer]]]:
    """Completed items with a final answer, oldest first (the dataset's row order)."""
    found = []
    for page in _pages(queue, status="done"):
        kept = [
            item
            for item in page
            if (since is None or (item.completed_at or 0) > since)
            and (item.final_label is not None or (is_gateway(item) and item.final_rating))
        ]
        if kept:
            answers = _answers(queue, kept)
            found += [(item, answers[item.id]) for item in kept]
    return sorted(found, key=lambda pair: pair[0].id)


def _dataset_rows(item: ReviewItem, reviewers: str) -> list[dict[str, Any]]:
    common = {"reviewers": reviewers, "answered_at": item.completed_at, "item_id": item.id}
    if is_gateway(item):
        messages = item.payload.get("messages")
        return [
            {
                "messages": None if messages is None else dumps(messages),
                "answer": item.payload.get("answer", item.prediction),
                "correction": None if item.final_label is None else _shown(item.final_label),
                "rating": item.final_rating,
                "request_id": item.request_id,
                "route": item.target or None,
                "model": item.payload.get("model"),
                "prompt_name": item.prompt_name,
                "prompt_version": item.prompt_version,
                **common,
            }
        ]
    inputs = input_rows(item.payload)
    count = len(inputs)
    rows = []
    for index, values in enumerate(inputs):
        row = {(f"input_{k}" if k in _RESERVED else k): v for k, v in values.items()}
        row.update(
            {
                "label": _row_value(item.final_label, index, count)
                if count > 1
                else item.final_label,
                "prediction": _row_value(item.prediction, index, count)
                if count > 1
                else item.prediction,
                "confidence": _row_confidence(item, index, count),
                "rating": item.final_rating,
                "request_id": item.request_id,
                "row": index,
                "endpoint": item.target or None,
                "model_name": item.model_name,
                "model_version": item.model_version,
                **common,
            }
        )
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """The rows as an Arrow table: input columns in the order first seen, then the fixed
    columns; a column of one kind of value gets that type, a mixed one JSON text."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(k for k in row if k not in _RESERVED))
    # Model cases' columns lead when there are any ("label" is theirs alone).
    if any("label" in row for row in rows):
        fixed = _ENDPOINT_COLUMNS + _GATEWAY_COLUMNS + _COMMON_COLUMNS
    else:
        fixed = _GATEWAY_COLUMNS + _ENDPOINT_COLUMNS + _COMMON_COLUMNS
    present = {k for row in rows for k in row}
    order = list(names) + [c for c in dict.fromkeys(fixed) if c in present]
    if "rating" in present and all(row.get("rating") is None for row in rows):
        order.remove("rating")  # no queue of these rows takes ratings
    columns = {}
    for name in order:
        values = [row.get(name) for row in rows]
        kind = _TYPES.get(name)
        if kind is not None:
            columns[name] = pa.array(values, type=kind)
        else:
            columns[name] = _typed(values)
    return pa.table(columns)


def _typed(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, type=pa.bool_())
    if present and all(
        isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63 for v in present
    ):
        return pa.array(values, type=pa.int64())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if all(isinstance(v, str) for v in present):
        return pa.array(values, type=pa.string())
    return pa.array([None if v is None else dumps(v) for v in values], type=pa.string())
