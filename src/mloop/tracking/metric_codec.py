"""Columnar metric batches: grouping by key, encoding chunks, picking the latest value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_STEP = np.dtype("<i8")
_VALUE = np.dtype("<f8")


@dataclass(frozen=True)
class KeySeries:
    """The values one batch logged for one key, in logging order."""

    key: str
    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def latest_index(self) -> int:
        """Index of the latest value: highest step, then timestamp, then value (NaN lowest)."""
        ranked_values = np.where(np.isnan(self.values), -np.inf, self.values)
        order = np.lexsort((ranked_values, self.timestamps, self.steps))
        return int(order[-1])


def group_by_key(
    keys: list[str], values: list[float], steps: list[int], timestamps: list[int]
) -> list[KeySeries]:
    """Split parallel columns into one series per key (first-seen key order)."""
    value_arr = np.asarray(values, dtype=_VALUE)
    step_arr = np.asarray(steps, dtype=_STEP)
    ts_arr = np.asarray(timestamps, dtype=_STEP)
    distinct = dict.fromkeys(keys)
    if len(distinct) == 1:
        return [KeySeries(keys[0], step_arr, ts_arr, value_arr)]
    index = {k: i for i, k in enumerate(distinct)}
    codes = np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(distinct) + 1))
    series = []
    for i, key in enumerate(distinct):
        picked = order[bounds[i] : bounds[i + 1]]
        series.append(KeySeries(key, step_arr[picked], ts_arr[picked], value_arr[picked]))
    return series


def encode(series: KeySeries) -> dict[str, object]:
    """Column values for one ``metric_chunks`` row."""
    return {
        "key": series.key,
        "count": int(series.values.size),
        "min_step": int(series.steps.min()),
        "max_step": int(series.steps.max()),
        "step_data": series.steps.astype(_STEP, copy=False).tobytes(),
        "timestamp_data": series.timestamps.astype(_STEP, copy=False).tobytes(),
        "value_data": series.values.astype(_VALUE, copy=False).tobytes(),
    }


def decode(
    chunks: list[tuple[bytes, bytes, bytes]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Concatenate chunks (in storage order) and sort by step, then timestamp, stably."""
    if not chunks:
        empty = np.empty(0, dtype=_STEP)
        return empty, empty, np.empty(0, dtype=_VALUE)
    steps = np.concatenate([np.frombuffer(c[0], dtype=_STEP) for c in chunks])
    stamps = np.concatenate([np.frombuffer(c[1], dtype=_STEP) for c in chunks])
    values = np.concatenate([np.frombuffer(c[2], dtype=_VALUE) for c in chunks])
    order = np.lexsort((np.arange(steps.size), stamps, steps))
    return steps[order], stamps[order], values[order]
