"""``summarize``: one streaming pass over record batches into a ``DataSummary``.

Memory stays flat: one record batch is in flight, and each column keeps at most a few times
``max_buckets`` buckets or ``max_categories`` categories, plus the row sample. The columns of
a batch are summarised in parallel on a thread pool: the work per column (Arrow casts and
value counts, numpy ufuncs, sorts and bincounts) runs outside the GIL for arrays this size.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.types as pat

from mloop.core.errors import NotFoundError, ValidationError
from mloop.monitoring.drift.categories import DEFAULT_MAX_CATEGORIES, CategoryCounter
from mloop.monitoring.drift.inputs import (
    DEFAULT_BATCH_ROWS,
    KINDS,
    DataLike,
    Kind,
    as_floats,
    as_labels,
    column_kind,
    open_batches,
)
from mloop.monitoring.drift.sample import DEFAULT_SAMPLE_ROWS, RowSampler
from mloop.monitoring.drift.sketch import DEFAULT_MAX_BUCKETS, QuantileSketch, SketchBuilder
from mloop.monitoring.drift.summary import (
    CategoricalSummary,
    ColumnSummary,
    DataSummary,
    NumericSummary,
)

Progress = Callable[[int, int | None], None]
"""Called after each batch with the rows read so far and the total (None when unknown)."""


class _NumericColumn:
    def __init__(self, type_name: str, max_buckets: int, min_shift: int) -> None:
        self.type = type_name
        self.sketch = SketchBuilder(max_buckets=max_buckets, min_shift=min_shift)
        self.count = self.nulls = self.nan = self.pos_inf = self.neg_inf = 0
        self.mean: float | None = None
        self.m2 = 0.0

    def add(self, array: pa.Array) -> None:
        self.nulls += array.null_count
        floats = as_floats(array)
        if floats.null_count:
            floats = pc.drop_null(floats)
        values = floats.to_numpy(zero_copy_only=False)
        finite = np.isfinite(values)
        if not finite.all():
            bad = values[~finite]
            nan = int(np.isnan(bad).sum())
            positive = int((bad > 0).sum())
            self.nan += nan
            self.pos_inf += positive
            self.neg_inf += bad.size - nan - positive
            values = values[finite]
        if values.size == 0:
            return
        # Chan et al.'s pairwise update: stable where sum-of-squares would cancel.
        n = values.size
        mean = float(values.mean())
        if not np.isfinite(mean):  # the sum overflowed: values near the float limits
            mean = float((values / n).sum())
        deviations = values - mean
        m2 = float(np.einsum("i,i->", deviations, deviations))  # no BLAS threads
        if self.mean is None:
            self.mean, self.m2 = mean, m2
        else:
            total = self.count + n
            delta = mean - self.mean
            self.mean = self.mean * (self.count / total) + mean * (n / total)
            self.m2 += m2 + delta * delta * (self.count / total) * n
        self.count += n
        self.sketch.add(values)

    def result(self) -> NumericSummary:
        return NumericSummary(
            type=self.type,
            count=self.count,
            nulls=self.nulls,
            nan=self.nan,
            pos_inf=self.pos_inf,
            neg_inf=self.neg_inf,
            mean=self.mean,
            m2=self.m2,
            sketch=self.sketch.result(),
        )


class _CategoricalColumn:
    def __init__(
        self, type_name: str, max_categories: int, vocabulary: Sequence[str] | None = None
    ) -> None:
        self.type = type_name
        self.nulls = 0
        self.counter = CategoryCounter(max_categories=max_categories, vocabulary=vocabulary)

    def add(self, array: pa.Array) -> None:
        self.nulls += array.null_count
        counted = pc.value_counts(as_labels(array))
        labels = counted.field("values").to_pylist()
        counts = counted.field("counts").to_pylist()
        self.counter.add_counts(
            (label, count) for label, count in zip(labels, counts, strict=True) if label is not None
        )

    def result(self) -> CategoricalSummary:
        return CategoricalSummary(
            type=self.type, nulls=self.nulls, categories=self.counter.result()
        )


def summarize(
    data: DataLike,
    *,
    columns: Sequence[str] | None = None,
    kinds: Mapping[str, Kind] | None = None,
    like: DataSummary | None = None,
    max_buckets: int = DEFAULT_MAX_BUCKETS,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    threads: int | None = None,
    progress: Progress | None = None,
) -> DataSummary:
    """Summarise ``data`` (see ``inputs``) in one streaming pass.

    ``columns`` picks columns (default: every numeric and categorical one; others are listed
    in ``skipped``). ``kinds`` overrides a column's kind: ``{"zip": "categorical"}`` counts
    integer codes as categories, ``{"flag": "numeric"}`` reads booleans as 0 and 1.
    ``like``: summarise a current window as that reference was summarised (its columns, kinds,
    caps and sample size; each sketch starts at the reference's resolution, which saves
    work); ``columns`` and ``kinds`` must then be left out. ``sample_rows`` rows are sampled
    for the domain classifier (0: none; ``seed`` makes the sample reproducible).
    ``threads``: columns summarised at once (default: one per CPU). ``progress`` is called
    after each batch.
    """
    if sample_rows < 0:
        raise ValidationError("sample_rows must be 0 or more", field="sample_rows")
    if like is not None:
        if columns is not None or kinds is not None:
            raise ValidationError(
                "pass either like= or columns=/kinds=: like= takes the reference's columns "
                "and kinds",
                field="like",
            )
        columns = like.column_names
        sample_rows = like.sample.size if like.sample is not None else 0
    batches = open_batches(data, columns, batch_rows)
    plan = _plan(batches.schema, columns, kinds or {}, like)
    builders: dict[str, _NumericColumn | _CategoricalColumn] = {}
    for name, kind in plan.items():
        t = batches.schema.field(name).type
        ref = like.columns[name] if like is not None else None
        if kind == "numeric":
            buckets, shift = max_buckets, 0
            if isinstance(ref, NumericSummary) and isinstance(ref.sketch, QuantileSketch):
                buckets, shift = ref.sketch.max_buckets, ref.sketch.shift
            builders[name] = _NumericColumn(str(t), buckets, shift)
        elif isinstance(ref, CategoricalSummary):
            counts = ref.categories
            vocabulary = counts.vocabulary if counts.kept == "top" else None
            builders[name] = _CategoricalColumn(str(t), counts.max_categories, vocabulary)
        else:
            builders[name] = _CategoricalColumn(str(t), max_categories)
    sampler = RowSampler(list(plan), list(plan.values()), sample_rows, seed)
    rows = _run(batches.batches, builders, sampler, batches.num_rows, threads, progress)
    skipped = {
        f.name: str(f.type) for f in batches.schema if f.name not in plan and columns is None
    }
    summaries: dict[str, ColumnSummary] = {name: b.result() for name, b in builders.items()}
    return DataSummary(
        rows=rows,
        columns=summaries,
        sample=sampler.result(),
        skipped=skipped,
        source=batches.description,
    )


def _plan(
    schema: pa.Schema,
    columns: Sequence[str] | None,
    kinds: Mapping[str, Kind],
    like: DataSummary | None,
) -> dict[str, Kind]:
    """The kind each summarised column is read as."""
    for name, kind in kinds.items():
        if name not in schema.names:
            raise NotFoundError(
                f"kinds names column {name!r}, which is not among the columns summarised",
                field="kinds",
            )
        if kind not in KINDS:
            raise ValidationError(
                f"unknown kind {kind!r} for column {name!r}: use numeric or categorical",
                field="kinds",
            )
    plan: dict[str, Kind] = {}
    for f in schema:
        if columns is not None and f.name not in columns:
            continue
        natural = column_kind(f.type)
        wanted = like.columns[f.name].kind if like is not None else kinds.get(f.name, natural)
        if wanted is None:
            if columns is not None:
                raise ValidationError(
                    f"column {f.name!r} is {f.type}: drift is measured on numbers and "
                    "categories; cast it, or leave it out of columns",
                    field="columns",
                )
            continue
        if wanted == "numeric" and natural != "numeric" and not pat.is_boolean(f.type):
            source = "in the reference" if like is not None else "in kinds"
            raise ValidationError(
                f"column {f.name!r} is numeric {source} but {f.type} in this data: "
                "numbers cannot be read from it (cast it, or summarise it as categorical)",
                field="columns",
            )
        if like is not None and wanted == "categorical" and natural == "numeric":
            reference_type = like.columns[f.name].type
            if not any(_is_numeric_type_name(t) for t in reference_type.split(" | ")):
                raise ValidationError(
                    f"column {f.name!r} holds categories ({reference_type}) in the reference "
                    f"but numbers ({f.type}) in this data: cast it back, or build a new "
                    "reference",
                    field="columns",
                )
        plan[f.name] = wanted
    if columns is not None:  # keep the order the caller gave
        plan = {name: plan[name] for name in columns}
    return plan


def _prefetched(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, each read (decoded from Parquet, say) on a thread while the previous
    one is summarised; at most two are held."""
    slot: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        slot.put(("batch", batch), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slot.put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            slot.put(("error", exc))

    reader = threading.Thread(target=read, name="mloop-drift-reader", daemon=True)
    reader.start()
    try:
        while True:
            what, item = slot.get()
            if what == "end":
                return
            if what == "error":
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            slot.get_nowait()
        reader.join()


def _is_numeric_type_name(name: str) -> bool:
    return name.startswith(("int", "uint", "float", "double", "halffloat", "decimal"))


def _run(
    batches: Any,
    builders: Mapping[str, _NumericColumn | _CategoricalColumn],
    sampler: RowSampler,
    total: int | None,
    threads: int | None,
    progress: Progress | None,
) -> int:
    if threads is not None and threads < 1:
        raise ValidationError("threads must be at least 1", field="threads")
    workers = min(threads or os.cpu_count() or 1, max(len(builders), 1))
    names = list(builders)
    rows = 0
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        for batch in _prefetched(batches) if workers > 1 else batches:
            if pool is None:
                for name in names:
                    builders[name].add(batch.column(name))
            else:
                futures: list[Future[None]] = [
                    pool.submit(builders[name].add, batch.column(name)) for name in names
                ]
                sampler.add(batch)
                for future in futures:
                    future.result()
            if pool is None:
                sampler.add(batch)
            rows += batch.num_rows
            if progress is not None:
                progress(rows, total)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return rows
