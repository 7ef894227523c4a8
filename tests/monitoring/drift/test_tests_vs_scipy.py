"""Every drift method against scipy (or the textbook formula) on the raw data: equal in exact
mode, within the documented tolerance on sketches."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from mloop.data.stats import population_stability_index
from mloop.monitoring import drift
from mloop.monitoring.drift import categorical, numeric
from mloop.monitoring.drift.summary import CategoricalSummary, NumericSummary


def num(values: np.ndarray, **options: object) -> NumericSummary:
    summary = drift.summarize(pa.table({"v": values}), sample_rows=0, **options)  # type: ignore[arg-type]
    column = summary.column("v")
    assert isinstance(column, NumericSummary)
    return column


def cat(values: list[str]) -> CategoricalSummary:
    column = drift.summarize(pa.table({"c": values}), sample_rows=0).column("c")
    assert isinstance(column, CategoricalSummary)
    return column


rng = np.random.default_rng(11)


@pytest.mark.parametrize(
    ("n", "m"),
    [(50, 80), (900, 1_000), (3_000, 4_000)],  # scipy's exact p-value (n, m <= 10,000)
)
def test_ks_exact_equals_scipy(n: int, m: int) -> None:
    ref, cur = rng.normal(0, 1, n), rng.normal(0.1, 1.1, m)
    got = numeric.ks(num(ref), num(cur))
    want = stats.ks_2samp(ref, cur)
    assert got.exact
    assert got.statistic == want.statistic and got.p_value == want.pvalue


def test_ks_exact_on_many_rows_of_few_values_equals_scipy_asymptotic() -> None:
    ref = rng.integers(0, 300, 50_000).astype(float)
    cur = rng.integers(2, 300, 60_000).astype(float)
    got = numeric.ks(num(ref), num(cur))
    want = stats.ks_2samp(ref, cur)  # 'auto' is asymptotic above 10,000 values a side
    assert got.exact
    assert got.statistic == want.statistic and got.p_value == want.pvalue


def test_wasserstein_exact_equals_scipy_over_numpy_std() -> None:
    ref, cur = rng.exponential(2, 3_000), rng.exponential(2.3, 2_000)
    got = numeric.wasserstein(num(ref), num(cur))
    want = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert got.exact and math.isclose(got.statistic, want, rel_tol=1e-12)
    constant = numeric.wasserstein(num(np.full(10, 5.0)), num(np.full(10, 5.002)))
    assert math.isclose(constant.statistic, 0.002 / numeric.STD_FLOOR)


def test_psi_exact_equals_deciles_of_the_raw_reference() -> None:
    ref, cur = rng.gamma(2, 2, 4_000), rng.gamma(2.2, 2, 3_000)
    got = numeric.psi(num(ref), num(cur))
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10, method="inverted_cdf"))
    cuts = np.r_[edges, np.inf]

    def shares(x: np.ndarray) -> list[float]:
        return np.diff(np.r_[0, np.searchsorted(np.sort(x), cuts, side="right")]).tolist()

    want = population_stability_index(shares(ref), shares(cur))
    assert got.exact and math.isclose(got.statistic, want, rel_tol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda g, n, s: g.normal(s, 1, n),
        lambda g, n, s: g.lognormal(s, 1.5, n),
        lambda g, n, s: 1e6 + g.normal(s * 0.01, 0.01, n),  # tiny spread far from zero
    ],
    ids=["normal", "lognormal", "offset"],
)
@pytest.mark.parametrize("shift", [0.0, 0.1])
def test_sketch_mode_is_within_the_documented_tolerance(make: object, shift: float) -> None:
    g = np.random.default_rng(5)
    ref, cur = make(g, 200_000, 0.0), make(g, 150_000, shift)  # type: ignore[operator]
    a, b = num(ref), num(cur)
    assert not a.exact and not b.exact
    # KS: never above the exact statistic, and short by at most one bucket's mass.
    got, want = numeric.ks(a, b), stats.ks_2samp(ref, cur)
    slack = max(a.sketch.largest_bucket_share(), b.sketch.largest_bucket_share())
    assert want.statistic - slack - 1e-12 <= got.statistic <= want.statistic + 1e-12
    # Wasserstein: within 1 % of the reference std or 2 % of the distance.
    w = numeric.wasserstein(a, b).statistic
    exact_w = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert abs(w - exact_w) <= max(0.01, 0.02 * exact_w)
    # PSI over the sketch's deciles: within 0.01.
    edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    cuts = np.r_[edges, np.inf]
    ref_counts = np.diff(np.r_[0, np.searchsorted(np.sort(ref), cuts, side="right")])
    cur_counts = np.diff(np.r_[0, np.searchsorted(np.sort(cur), cuts, side="right")])
    exact_psi = population_stability_index(ref_counts.tolist(), cur_counts.tolist())
    assert abs(numeric.psi(a, b).statistic - exact_psi) <= 0.01


def test_chisquare_equals_scipy_test_of_homogeneity() -> None:
    ref = rng.choice(["a", "b", "c", "d"], 900, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    cur = rng.choice(["a", "b", "c", "d", "e"], 700, p=[0.3, 0.3, 0.2, 0.1, 0.1]).tolist()
    got = categorical.chisquare(cat(ref), cat(cur))
    labels = ["a", "b", "c", "d", "e"]
    table = [[ref.count(x) for x in labels], [cur.count(x) for x in labels]]
    want = stats.chi2_contingency(table, correction=False)
    assert got.exact
    assert math.isclose(got.statistic, want.statistic, rel_tol=1e-12)
    assert math.isclose(got.p_value or 0, want.pvalue, rel_tol=1e-9)


def test_chisquare_gof_equals_scipy_goodness_of_fit() -> None:
    ref = rng.choice(["a", "b", "c", "d"], 900, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    cur = rng.choice(["a", "b", "c", "d"], 700, p=[0.3, 0.3, 0.3, 0.1]).tolist()
    got = categorical.chisquare_gof(cat(ref), cat(cur))
    labels = ["a", "b", "c", "d"]
    observed = [cur.count(x) for x in labels]
    expected = [ref.count(x) * len(cur) / len(ref) for x in labels]
    want = stats.chisquare(observed, expected)
    assert got.exact
    assert math.isclose(got.statistic, want.statistic, rel_tol=1e-12)
    assert math.isclose(got.p_value or 0, want.pvalue, rel_tol=1e-9)
    new = categorical.chisquare_gof(cat(["a", "b"] * 50), cat(["a", "b", "new"] * 30))
    assert new.statistic == math.inf and new.p_value == 0.0  # expected count 0


def test_homogeneity_keeps_its_level_where_goodness_of_fit_does_not() -> None:
    """Equal-sized samples of one distribution: the goodness-of-fit test ignores the
    reference's own noise and calls drift far more often than its level says."""
    g = np.random.default_rng(8)
    labels = [f"k{i}" for i in range(10)]
    alarms = {"chisquare": 0, "chisquare_gof": 0}
    trials = 200
    for _ in range(trials):
        a, b = cat(g.choice(labels, 1_000).tolist()), cat(g.choice(labels, 1_000).tolist())
        alarms["chisquare"] += (categorical.chisquare(a, b).p_value or 0) < 0.05
        alarms["chisquare_gof"] += (categorical.chisquare_gof(a, b).p_value or 0) < 0.05
    assert alarms["chisquare"] / trials < 0.1
    assert alarms["chisquare_gof"] / trials > 0.3


def test_jensenshannon_and_psi_on_categories() -> None:
    ref = ["x"] * 60 + ["y"] * 30 + ["z"] * 10
    cur = ["x"] * 40 + ["y"] * 40 + ["w"] * 20
    labels = ["w", "x", "y", "z"]
    p = np.array([ref.count(x) for x in labels], float)
    q = np.array([cur.count(x) for x in labels], float)
    js = categorical.jensenshannon(cat(ref), cat(cur))
    assert math.isclose(js.statistic, distance.jensenshannon(p / p.sum(), q / q.sum()))
    psi = categorical.psi(cat(ref), cat(cur))
    assert math.isclose(psi.statistic, population_stability_index(p.tolist(), q.tolist()))


def test_z_test_is_the_pooled_two_proportion_test() -> None:
    ref = ["yes"] * 70 + ["no"] * 30
    cur = ["yes"] * 55 + ["no"] * 45
    got = categorical.z_test(cat(ref), cat(cur))
    p1, p2, pooled = 0.70, 0.55, 125 / 200
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))
    assert math.isclose(got.statistic, z) and got.statistic < 0  # the share of "yes" fell
    assert math.isclose(got.p_value or 0, 2 * stats.norm.sf(abs(z)))
    same = categorical.z_test(cat(["a"] * 10), cat(["a"] * 20))
    assert (same.statistic, same.p_value) == (0.0, 1.0)


def test_numeric_columns_as_categories() -> None:
    ref = rng.integers(0, 4, 500).astype(float)
    cur = rng.integers(0, 5, 400).astype(float)
    labels, r, c = categorical.numeric_categories(num(ref), num(cur))
    assert labels == ["0", "1", "2", "3", "4"]
    assert r.tolist() == [float((ref == v).sum()) for v in range(5)]
    assert c.tolist() == [float((cur == v).sum()) for v in range(5)]
    got = categorical.chisquare_gof(num(ref), num(cur))
    assert got.p_value == 0.0  # the value 4 is new
