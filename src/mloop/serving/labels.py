"""Ground truth for an endpoint's predictions, attached by request id.

Labels go to the inference log's label log (see :mod:`mloop.store.eventlog.labels`): one at a
time or in bulk over the API (``attach_labels``), or from a CSV or Parquet file
(:func:`read_label_file`, ``mloop endpoints labels ENDPOINT FILE``). Every label is checked
before any is stored, and the segment's index row is written in the operation's transaction,
so a bad batch stores nothing. Labels whose request id is not (yet) in the endpoint's log are
stored and counted: the log lags the requests by up to its flush interval.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mloop.core.errors import ValidationError
from mloop.serving.endpoints import load_endpoint_row
from mloop.serving.ops import operations
from mloop.serving.schemas import MAX_LABELS, AttachLabels, LabelsAttached
from mloop.store.context import Context
from mloop.store.eventlog.transaction import InTransaction

COLUMNS = ("request_id", "label", "time")
MAX_REPORTED = 10  # bad rows named in one error
MAX_EXAMPLES = 10  # unmatched request ids returned


def _unmatched(store: Any, endpoint: str, ids: list[str]) -> list[str]:
    """The ``ids`` that no logged request of the endpoint has, in their order."""
    from mloop.store.eventlog.inference import SOURCE
    from mloop.store.eventlog.reader import read_events

    found = read_events(
        store,
        SOURCE,
        keys=[endpoint],
        columns=["request_id"],
        where="request_id IN (SELECT unnest($ids))",
        params={"ids": ids},
    )
    known = set(found.column("request_id").to_pylist()) if found.num_rows else set()
    return [i for i in ids if i not in known]


@operations.post("/labels", AttachLabels, LabelsAttached)
def attach_labels(ctx: Context, req: AttachLabels) -> LabelsAttached:
    """Attach ground truth to an endpoint's requests by request id (all or none)."""
    from mloop.store.eventlog.inference import SOURCE
    from mloop.store.eventlog.labels import attach_labels as store_labels

    row = load_endpoint_row(ctx, req.endpoint)
    for i, item in enumerate(req.labels):
        if item.label is None:
            raise ValidationError(
                f"labels[{i}].label is null; give the true outcome", field=f"labels[{i}].label"
            )
    store = InTransaction(ctx)
    items = [
        {"request_id": item.request_id, "label": item.label, "time": item.time}
        for item in req.labels
    ]
    stored = store_labels(store, SOURCE, items, origin=req.origin or ctx.actor)  # type: ignore[arg-type]
    missing = _unmatched(store, row.name, list(dict.fromkeys(i.request_id for i in req.labels)))
    return LabelsAttached(
        stored=stored, unmatched=len(missing), unmatched_examples=missing[:MAX_EXAMPLES]
    )


def _where(kind: str, index: int) -> str:
    # A CSV's line 1 is its header; a Parquet file has rows.
    return f"line {index + 2}" if kind == "csv" else f"row {index + 1}"


def read_label_file(path: str | Path) -> list[dict[str, Any]]:
    """The labels of a CSV or Parquet file with columns ``request_id``, ``label`` and
    optionally ``time`` (ms since the epoch, or a timestamp). Raises a ValidationError
    naming the bad rows (CSV lines, Parquet rows) when any row is bad."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"{file} is not a file", field="file")
    kind = "parquet" if file.suffix.lower() in (".parquet", ".pq") else "csv"
    try:
        if kind == "parquet":
            table = pq.read_table(file)
        else:
            table = pacsv.read_csv(
                file,
                convert_options=pacsv.ConvertOptions(
                    strings_can_be_null=True, column_types={"request_id": pa.string()}
                ),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValidationError(f"{file.name} cannot be read as {kind}: {exc}", field="file") from exc
    unknown = [c for c in table.column_names if c not in COLUMNS]
    missing = [c for c in ("request_id", "label") if c not in table.column_names]
    if missing or unknown:
        raise ValidationError(
            f"{file.name} has columns {table.column_names}; it needs request_id and label "
            "(and may have time)",
            field="file",
        )
    if "time" in table.column_names and pa.types.is_timestamp(table.column("time").type):
        table = table.set_column(
            table.column_names.index("time"),
            "time",
            table.column("time").cast(pa.timestamp("ms")).cast(pa.int64()),
        )
    rows = table.to_pylist()
    bad: list[str] = []
    labels: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        problem = _problem(row)
        if problem:
            bad.append(f"{_where(kind, i)}: {problem}")
            continue
        labels.append({k: v for k, v in row.items() if v is not None})
    if bad:
        shown = "; ".join(bad[:MAX_REPORTED])
        more = f" (and {len(bad) - MAX_REPORTED} more)" if len(bad) > MAX_REPORTED else ""
        raise ValidationError(
            f"{file.name}: {len(bad)} bad row{'s' if len(bad) > 1 else ''}, nothing stored: "
            f"{shown}{more}",
            field="file",
        )
    if not labels:
        raise ValidationError(f"{file.name} has no labels", field="file")
    return labels


def _problem(row: dict[str, Any]) -> str:
    request_id = row.get("request_id")
    if request_id is None or not str(request_id).strip():
        return "request_id is empty"
    if len(str(request_id)) > 256:
        return "request_id is longer than 256 characters"
    if row.get("label") is None:
        return "label is empty"
    time = row.get("time")
    if time is not None and (not isinstance(time, int) or time < 0):
        return f"time {time!r} is not ms since the epoch"
    return ""


def chunks(labels: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The labels in calls of at most ``MAX_LABELS`` (a file is checked whole first)."""
    return [labels[i : i + MAX_LABELS] for i in range(0, len(labels), MAX_LABELS)]
