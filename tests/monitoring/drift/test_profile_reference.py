"""A stored dataset profile serves as a drift reference, with the documented coarseness."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from mloop.core.errors import ValidationError
from mloop.data import DatasetProfile, profile_dataset
from mloop.monitoring import drift
from mloop.monitoring.drift.binned import BinnedCounts
from mloop.monitoring.drift.summary import CategoricalSummary, NumericSummary


def data(n: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(50 + shift * 10, 10, n)
    x[:3] = np.nan
    return pa.table(
        {
            "x": x,
            "tier": rng.choice(
                ["gold", "silver", "bronze"], n, p=[0.2, 0.3 + shift / 4, 0.5 - shift / 4]
            ),
            "ok": rng.random(n) < 0.9,
            "day": pa.array(np.arange(n).astype("datetime64[D]")),
        }
    )


def reference(n: int = 20_000) -> drift.DataSummary:
    profile = profile_dataset(data(n, 1))
    # Stored as JSON with the dataset version, read back later.
    return drift.from_profile(DatasetProfile.from_json(profile.to_json()))


def test_profile_carries_counts_moments_histogram_and_categories() -> None:
    summary = reference()
    assert summary.rows == 20_000 and list(summary.skipped) == ["day"]
    x = summary.column("x")
    assert isinstance(x, NumericSummary) and isinstance(x.sketch, BinnedCounts)
    raw = data(20_000, 1).column("x").to_numpy()
    finite = raw[np.isfinite(raw)]
    assert x.count == finite.size and x.nan == 3
    assert math.isclose(x.mean or 0, finite.mean(), rel_tol=1e-9)
    assert math.isclose(x.std or 0, finite.std(), rel_tol=1e-3)
    assert x.sketch.bin_counts.size == 20
    tier = summary.column("tier")
    assert isinstance(tier, CategoricalSummary) and set(tier.categories.counts) == {
        "gold",
        "silver",
        "bronze",
    }
    ok = summary.column("ok")
    assert isinstance(ok, CategoricalSummary) and set(ok.categories.counts) == {"true", "false"}


def test_profile_reference_detects_a_shift_and_not_its_absence() -> None:
    ref = reference()
    calm = drift.detect_drift(ref, data(20_000, 2))
    assert calm.drifted_columns == []
    moved = drift.detect_drift(ref, data(20_000, 3, shift=0.5))
    assert set(moved.drifted_columns) >= {"x"}
    x = moved.column("x")
    assert x.method == "wasserstein" and not x.exact
    assert x.effect is not None and x.effect.direction == "up"
    # KS on the 21 bin edges: coarse, still far below an exact KS of no change.
    ks = drift.detect_drift(ref, data(20_000, 2), methods={"x": "ks"}, fdr=False).column("x")
    assert ks.statistic is not None and ks.statistic < 0.02


def test_profile_with_only_top_values_compares_those() -> None:
    rng = np.random.default_rng(4)
    ids = [f"user-{i}" for i in rng.integers(0, 3_000, 10_000)]
    ids[:2_000] = ["anonymous"] * 2_000
    profile = profile_dataset(pa.table({"user": ids}), max_categories=100)
    ref = drift.from_profile(profile)
    user = ref.column("user")
    assert isinstance(user, CategoricalSummary)
    assert user.categories.kept == "top" and user.categories.other > 0
    report = drift.detect_drift(ref, pa.table({"user": ["anonymous"] * 5_000 + ids[2_000:7_000]}))
    result = report.column("user")
    assert result.drifted and result.effect is not None
    assert result.effect.category == "anonymous" and result.effect.direction == "up"
    assert ref.merge(ref).column("user").to_dict()["other"] == 2 * user.categories.other
    window = drift.summarize(pa.table({"user": ids}), like=ref)
    with pytest.raises(ValidationError, match="merge only with counts of the same values"):
        window.merge(drift.summarize(pa.table({"user": ids}), columns=["user"]))
