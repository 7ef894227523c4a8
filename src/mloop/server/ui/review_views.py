"""What the review pages show, built from the review domain's messages: a case as tables (its
inputs row by row, the model's suggestion, confidence and probabilities, an LLM call's
messages and answer), the answer controls (choices, one group per row of a multi-row case,
the rating), the answer form read back, and the small charts drawn on the server as SVG
(a sparkline per queue, the daily counts of a queue), so the pages need no chart script.

SVG bars take their sizes from attributes, never from inline styles: the pages' Content
Security Policy refuses inline styles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from mloop.core.errors import ValidationError
from mloop.review.answers import rows_of
from mloop.review.records import dumps
from mloop.review.schemas import DayCount, Queue, ReviewItem
from mloop.server.ui.formatting import cut, label, ms, usd

MAX_ROWS = 100  # rows of a case shown, and labelled one by one
MAX_COLUMNS = 60  # input columns shown
MAX_CELL = 200  # characters of one value in a table
MAX_TEXT = 20_000  # characters of a message or an answer shown
MAX_CLASSES = 20  # class probabilities shown per row
KEYED_CHOICES = 9  # choices picked with the keys 1 to 9

# Payload keys shown in their own place; any other key is listed as it is.
_SHOWN = frozenset(
    {
        "inputs",
        "predictions",
        "probabilities",
        "classes",
        "doubtful_rows",
        "criterion",
        "features",
        "messages",
        "answer",
        "model",
        "capture",
        "latency_ms",
        "cost_usd",
    }
)


# -- choices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One label a reviewer can pick: ``value`` is its JSON (what the form posts)."""

    index: int
    key: str | None
    value: str
    text: str


def choices_of(queue: Queue) -> list[Choice]:
    return [
        Choice(
            index=i,
            key=str(i + 1) if i < KEYED_CHOICES else None,
            value=dumps(choice),
            text=label(choice, MAX_CELL),
        )
        for i, choice in enumerate(queue.choices)
    ]


# -- a case --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassProbability:
    label: str
    value: float
    predicted: bool

    @property
    def width(self) -> float:
        """The bar's length out of 100."""
        return round(100 * min(max(self.value, 0.0), 1.0), 1)


@dataclass
class CaseRow:
    """One row of a case: its values, and what the model said about it."""

    index: int
    cells: list[str]
    prediction: str | None = None
    suggested: str | None = None  # the prediction's JSON, to mark the matching choice
    confidence: float | None = None
    probabilities: list[ClassProbability] = field(default_factory=list)
    doubtful: bool = False


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass
class CaseView:
    """A review item as the pages show it."""

    columns: list[str] = field(default_factory=list)
    rows: list[CaseRow] = field(default_factory=list)
    hidden_rows: int = 0
    hidden_columns: int = 0
    raw_inputs: str | None = None  # inputs that are not a table, as JSON
    features: list[tuple[str, str]] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    answer: str | None = None
    details: list[tuple[str, str]] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)
    prediction: str | None = None
    suggested: str | None = None
    confidence: float | None = None
    probabilities: list[ClassProbability] = field(default_factory=list)
    label_rows: int = 1  # > 1: the case takes one label per row (or one for all)

    @property
    def confidence_width(self) -> float:
        return 0.0 if self.confidence is None else round(100 * self.confidence, 1)


def _json(value: Any, limit: int = MAX_TEXT) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        text = str(value)
    return cut(text, limit)


def _records(inputs: Any) -> list[dict[str, Any]] | None:
    """Inputs as rows of named values, when they are a table (records, columns, one row, or
    a feature-store request's entity keys with the inputs given beside them)."""
    if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
        return inputs
    entities = inputs.get("entities") if isinstance(inputs, dict) else None
    if isinstance(entities, list) and entities and all(isinstance(e, dict) for e in entities):
        given = inputs.get("inputs")
        extra = given if isinstance(given, list) and len(given) == len(entities) else None
        return [
            {**e, **(extra[j] if extra is not None and isinstance(extra[j], dict) else {})}
            for j, e in enumerate(entities)
        ]
    if isinstance(inputs, dict) and inputs:
        values = list(inputs.values())
        if all(isinstance(v, list) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) == 1:
                n = lengths.pop()
                return [{k: inputs[k][j] for k in inputs} for j in range(n)]
            return None
        if not any(isinstance(v, dict) for v in values):
            return [inputs]
    if isinstance(inputs, list) and inputs and all(isinstance(r, list) for r in inputs):
        width = max(len(r) for r in inputs)
        return [{str(c): (r[c] if c < len(r) else None) for c in range(width)} for r in inputs]
    return None


def _class_probabilities(
    probabilities: Any, classes: list[Any] | None, prediction: Any
) -> list[ClassProbability]:
    if not isinstance(probabilities, list) or not probabilities:
        return []
    if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in probabilities):
        return []
    names = classes if classes is not None and len(classes) == len(probabilities) else None
    found = [
        ClassProbability(
            label=label(names[k], MAX_CELL) if names is not None else f"class {k}",
            value=float(p) if math.isfinite(p) else 0.0,
            predicted=names is not None and dumps(names[k]) == dumps(prediction),
        )
        for k, p in enumerate(probabilities)
    ]
    found.sort(key=lambda c: -c.value)
    return found[:MAX_CLASSES]


def _top(probabilities: list[ClassProbability]) -> float | None:
    return max((c.value for c in probabilities), default=None)


def _message(raw: Any) -> Message:
    if not isinstance(raw, dict):
        return Message(role="", content=_json(raw))
    content = raw.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("text"), str) for p in content
    ):
        text = "\n".join(p["text"] for p in content)
    elif content is None and raw.get("tool_calls") is not None:
        text = _json(raw["tool_calls"])
    else:
        text = _json(content)
    return Message(role=str(raw.get("role", "")), content=cut(text, MAX_TEXT))


def case_view(item: ReviewItem) -> CaseView:
    """The case of ``item`` in tables: inputs, features, predictions, messages and answer."""
    payload = item.payload
    view = CaseView(label_rows=rows_of(payload))
    raw_classes = payload.get("classes")
    classes = raw_classes if isinstance(raw_classes, list) else None
    predictions = payload.get("predictions")
    probabilities = payload.get("probabilities")
    doubtful = payload.get("doubtful_rows")
    doubtful_rows = set(doubtful) if isinstance(doubtful, list) else set()
    records = _records(payload.get("inputs"))
    if records is not None:
        columns: list[str] = []
        for record in records[:MAX_ROWS]:
            for key in record:
                if key not in columns:
                    columns.append(str(key))
        view.columns = columns[:MAX_COLUMNS]
        view.hidden_columns = max(0, len(columns) - MAX_COLUMNS)
        view.hidden_rows = max(0, len(records) - MAX_ROWS)
        per_row = isinstance(predictions, list) and len(predictions) == len(records)
        for j, record in enumerate(records[:MAX_ROWS]):
            row = CaseRow(
                index=j,
                cells=[label(record.get(c), MAX_CELL) for c in view.columns],
                doubtful=j in doubtful_rows,
            )
            if per_row:
                assert isinstance(predictions, list)
                row.prediction = label(predictions[j], MAX_CELL)
                row.suggested = dumps(predictions[j])
                has = isinstance(probabilities, list) and j < len(probabilities)
                probs = probabilities[j] if has else None  # type: ignore[index]
                row.probabilities = _class_probabilities(probs, classes, predictions[j])
                row.confidence = _top(row.probabilities)
            view.rows.append(row)
    elif payload.get("inputs") is not None:
        view.raw_inputs = _json(payload["inputs"])
    if item.prediction is not None:
        view.prediction = label(item.prediction, MAX_TEXT)
        view.suggested = dumps(item.prediction)
    view.confidence = item.confidence
    if view.rows and len(view.rows) == 1:
        view.probabilities = view.rows[0].probabilities
        if view.confidence is None:
            view.confidence = view.rows[0].confidence
    features = payload.get("features")
    if isinstance(features, dict):
        view.features = [(str(k), label(v, MAX_CELL)) for k, v in features.items()]
    elif features is not None:
        view.extra.append(("features", _json(features)))
    messages = payload.get("messages")
    if isinstance(messages, list):
        view.messages = [_message(m) for m in messages]
    elif messages is not None:
        view.extra.append(("messages", _json(messages)))
    answer = payload.get("answer")
    if answer is not None:
        view.answer = answer if isinstance(answer, str) else _json(answer)
        view.answer = cut(view.answer, MAX_TEXT)
    view.details = _details(payload)
    view.extra.extend(
        (str(k), _json(v, 2000)) for k, v in payload.items() if k not in _SHOWN and v is not None
    )
    return view


def _details(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """Facts about how the case was made: the routing criterion, an LLM call's model,
    latency and cost."""
    found = []
    if payload.get("criterion"):
        found.append(("Routed by", f"{payload['criterion']} criterion"))
    if payload.get("model"):
        found.append(("Model", label(payload["model"], MAX_CELL)))
    latency = payload.get("latency_ms")
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        found.append(("Latency", ms(float(latency))))
    cost = payload.get("cost_usd")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        found.append(("Cost", usd(float(cost))))
    if payload.get("capture"):
        found.append(("Captured", label(payload["capture"], MAX_CELL)))
    return found


# -- the answer form -----------------------------------------------------------------------

_MISSING = object()


@dataclass(frozen=True)
class AnswerForm:
    """An answer as posted: the label (None: none given), the rating and the comment."""

    label: Any
    rating: int | None
    comment: str


def _choice(raw: str, where: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationError(
            f"{where} {cut(raw, 80)!r} is not one of the queue's choices", field=where
        ) from None


def picks(form: dict[str, list[str]], rows: int) -> dict[str, str]:
    """The answer form's fields that were filled in: ``choice``, ``row-<j>`` for each row of
    a multi-row case, ``text``, ``rating`` and ``comment``."""

    def one(name: str) -> str:
        return (form.get(name) or [""])[0]

    names = ["choice", "text", "rating", "comment"]
    if 1 < rows <= MAX_ROWS:
        names.extend(f"row-{j}" for j in range(rows))
    return {name: one(name) for name in names if one(name)}


def read_answer(picked: dict[str, str], queue: Queue, rows: int) -> AnswerForm:
    """The answer in a posted form (its :func:`picks`).

    ``choice`` is one label (for every row of a multi-row case), ``row-<j>`` the label of row
    j (rows not picked take ``choice``), ``text`` a written answer, ``rating`` 1..N. Whether
    the queue takes them is the domain's to say; this reads the form only.
    """
    every = _choice(picked["choice"], "label") if "choice" in picked else _MISSING
    per_row = [
        _choice(picked[f"row-{j}"], f"label[{j}]") if f"row-{j}" in picked else _MISSING
        for j in range(rows if 1 < rows <= MAX_ROWS else 0)
    ]
    chosen: Any = every
    if any(value is not _MISSING for value in per_row):
        filled = [every if value is _MISSING else value for value in per_row]
        for j, value in enumerate(filled):
            if value is _MISSING:
                raise ValidationError(
                    f"row {j + 1} has no label: pick one for every row, or one for all rows",
                    field=f"label[{j}]",
                )
        texts = {dumps(value) for value in filled}
        # One label for every row is the same answer as that label given once.
        chosen = filled[0] if len(texts) == 1 else filled
    text = picked.get("text", "")
    if text.strip():
        if chosen is not _MISSING:
            raise ValidationError(
                "pick a choice or write an answer, not both (a note goes in the comment)",
                field="text",
            )
        chosen = text
    rating = None
    if "rating" in picked:
        raw = picked["rating"]
        if not raw.isdigit() or len(raw) > 3:
            raise ValidationError(
                f"rating must be a whole number from 1 to {queue.rating_scale or 'N'}, got "
                f"{cut(raw, 20)!r}",
                field="rating",
            )
        rating = int(raw)
    return AnswerForm(
        label=None if chosen is _MISSING else chosen,
        rating=rating,
        comment=picked.get("comment", ""),
    )


# -- charts --------------------------------------------------------------------------------


def nice_top(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def sparkline(values: list[int], width: int = 112, height: int = 24) -> dict[str, Any]:
    """A line through ``values`` (oldest first) in a ``width`` by ``height`` box."""
    top = max(values, default=0) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{k * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for k, v in enumerate(values)
    )
    return {
        "points": points,
        "width": width,
        "height": height,
        "total": sum(values),
        "peak": max(values, default=0),
    }


SERIES = (("added", "Added"), ("answers", "Answered"), ("completed", "Completed"))


def daily_chart(days: list[DayCount], width: int = 720, height: int = 200) -> dict[str, Any]:
    """Grouped bars of the items added, answers given and items completed per day."""
    left, right, top_margin, bottom = 40, 8, 10, 26
    plot_w, plot_h = width - left - right, height - top_margin - bottom
    peak = max((getattr(d, key) for d in days for key, _ in SERIES), default=0)
    top = nice_top(peak)
    group = plot_w / max(len(days), 1)
    bar = group * 0.8 / len(SERIES)
    bars = []
    for k, day in enumerate(days):
        for s, (key, name) in enumerate(SERIES):
            value = getattr(day, key)
            h = plot_h * value / top
            bars.append(
                {
                    "x": round(left + k * group + group * 0.1 + s * bar, 2),
                    "y": round(top_margin + plot_h - h, 2),
                    "w": round(bar, 2),
                    "h": round(h, 2),
                    "series": key,
                    "title": f"{day.day}: {value} {name.lower()}",
                }
            )
    every = max(1, math.ceil(len(days) / 14))
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "baseline": top_margin + plot_h,
        "left": left,
        "right": width - right,
        "ticks": [
            {"y": round(top_margin + plot_h * (1 - f), 2), "label": f"{top * f:g}"}
            for f in (0.0, 0.5, 1.0)
        ],
        "days": [
            {"x": round(left + k * group + group / 2, 2), "label": day.day[5:]}
            for k, day in enumerate(days)
            if k % every == 0
        ],
        "series": SERIES,
        "total": sum(getattr(d, key) for d in days for key, _ in SERIES),
    }
