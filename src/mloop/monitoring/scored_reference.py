"""A dataset reference the model has scored: a held-out set with its outcomes and the
model's class probabilities, the reference NannyML's CBPE is calibrated on.

Read once when the monitor is created (only the label and probability columns, and the
fairness audit's attributes, batch by batch), it becomes a table shaped like an
endpoint's window: the prediction is the most probable class, the confidence its
probability. Its labelled rows fit the CBPE estimator, and its outputs, performance and
group rates become the reference values ``change`` alert rules compare windows with.

The held-out set must not be the model's training data: a model is over-confident on
the rows it was fitted on, and an estimator calibrated there would expect too much.
"""

from __future__ import annotations

from typing import IO, Any

import numpy as np
import orjson
import pyarrow as pa

from mloop.core.errors import ValidationError
from mloop.monitoring.schemas import CreateMonitor

BATCH_ROWS = 65_536


def scored_table(handle: IO[bytes], spec: CreateMonitor, source: str) -> pa.Table:
    """The scored rows of the dataset file ``handle`` as a window's outcome columns."""
    import pyarrow.parquet as pq

    ref = spec.reference
    assert ref.label_column and ref.classes and ref.probability_columns
    parquet = pq.ParquetFile(handle)
    available = set(parquet.schema_arrow.names)
    sensitive = list(spec.fairness.sensitive) if spec.fairness is not None else []
    wanted = [ref.label_column, *ref.probability_columns]
    missing = [n for n in wanted if n not in available]
    if missing:
        raise ValidationError(
            f"{source} has no column {missing[0]!r}", field="reference.probability_columns"
        )
    audited = [n for n in sensitive if n in available]
    classes = list(ref.classes)
    classes_text = orjson.dumps(classes).decode()
    parts = []
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted + audited):
        parts.append(_shaped(batch, ref.label_column, ref.probability_columns, classes, audited))
        parts[-1] = parts[-1].append_column(
            "classes", pa.array([classes_text] * batch.num_rows, pa.string())
        )
    if not parts:
        raise ValidationError(f"{source} has no rows", field="reference.dataset")
    return pa.concat_tables(parts)


def _shaped(
    batch: pa.RecordBatch,
    label_column: str,
    probability_columns: list[str],
    classes: list[Any],
    audited: list[str],
) -> pa.Table:
    try:
        proba = np.column_stack(
            [
                batch.column(n).to_numpy(zero_copy_only=False).astype(float)
                for n in probability_columns
            ]
        )
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"the probability columns must hold numbers: {exc}",
            field="reference.probability_columns",
        ) from exc
    best = np.nan_to_num(proba, nan=-1.0).argmax(axis=1)
    predictions = [orjson.dumps(classes[i]).decode() for i in best]
    labels = [
        None if v is None else orjson.dumps(v).decode()
        for v in batch.column(label_column).to_pylist()
    ]
    flat = pa.array(proba.ravel(), pa.float64())
    probabilities = pa.FixedSizeListArray.from_arrays(flat, len(classes)).cast(
        pa.list_(pa.float64())
    )
    columns: dict[str, Any] = {
        "prediction": pa.array(predictions, pa.string()),
        "confidence": pa.array(np.nanmax(proba, axis=1), pa.float64()),
        "probabilities": probabilities,
        "label": pa.array(labels, pa.string()),
    }
    for name in audited:
        columns[name] = batch.column(name)
    return pa.table(columns)
