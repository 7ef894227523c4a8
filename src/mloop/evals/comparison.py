"""Is the candidate better than the champion? Paired bootstrap and McNemar's exact test.

Paired bootstrap: each resample draws rows (queries, for ranking) with replacement, the
same rows for both models, and takes the improvement of the primary metric on it
(candidate minus champion, reversed for a metric where lower is better). Resamples are
blocks of row counts from :func:`mloop.evals.resampling.resample_counts` with the suite's
seed, so the same suite and models always give the same interval; each block is counted
once and both models' metrics (:func:`mloop.evals.metrics.metric_function`, prepared once
per model) are computed from it for every resample of the block. The interval is the
central ``confidence`` share of the resampled improvements (undefined resamples left out).
The candidate beats the champion when the interval's low end is above the margin: a tie,
or an interval reaching down to the margin, fails.

McNemar (classifiers, primary accuracy): only rows where exactly one model is right
count. With ``b`` rows only the candidate gets right among ``m`` discordant rows, the
accuracy improvement is ``(2b - m) / n``; it exceeds ``margin`` when ``b > (margin * n +
m) / 2``. The one-sided exact binomial test (``scipy.stats.binomtest``) of ``b`` against
that share gives the p-value; the candidate passes when it is below ``1 - confidence``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mloop.core.errors import ValidationError
from mloop.evals.metrics import Metric
from mloop.evals.resampling import resample_counts, resample_rows

HISTOGRAM_BINS = 30


@dataclass
class Improvement:
    """The primary metric's improvement and how sure it is."""

    difference: float | None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    discordant: tuple[int, int] | None = None
    samples: np.ndarray = field(default_factory=lambda: np.empty(0))

    def beats(self, margin: float, confidence: float) -> bool:
        if self.difference is None or self.difference <= margin:
            return False
        if self.p_value is not None:
            return self.p_value < 1.0 - confidence
        return self.low is not None and self.low > margin


def _finite(value: float) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValidationError(
            f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}",
            field="confidence",
        )


def paired_bootstrap(
    candidate: Metric,
    champion: Metric,
    n_units: int,
    *,
    higher_is_better: bool,
    resamples: int,
    confidence: float,
    seed: int,
) -> Improvement:
    """The improvement on the data and its bootstrap interval."""
    _check_confidence(confidence)
    sign = 1.0 if higher_is_better else -1.0
    ones = np.ones((1, n_units))
    point = _finite(sign * (candidate(ones)[0] - champion(ones)[0]))
    parts = [
        sign * (candidate(counts) - champion(counts))
        for counts in resample_counts(n_units, resamples, seed)
    ]
    samples = np.concatenate(parts) if parts else np.empty(0)
    samples = samples[np.isfinite(samples)]
    if point is None or len(samples) == 0:
        return Improvement(difference=point, samples=samples)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return Improvement(difference=point, low=float(low), high=float(high), samples=samples)


def paired_bootstrap_rows(
    candidate: Callable[[np.ndarray | None], float],
    champion: Callable[[np.ndarray | None], float],
    n_units: int,
    *,
    higher_is_better: bool,
    resamples: int,
    confidence: float,
    seed: int,
) -> Improvement:
    """:func:`paired_bootstrap` for a metric computed from rows (a custom scorer): each
    model's scorer is called on each resample's drawn rows, the draws of the built-in
    metrics' resamples (:func:`mloop.evals.resampling.resample_rows`)."""
    _check_confidence(confidence)
    sign = 1.0 if higher_is_better else -1.0
    point = _finite(sign * (candidate(None) - champion(None)))
    samples = np.array(
        [
            sign * (candidate(rows) - champion(rows))
            for block in resample_rows(n_units, resamples, seed)
            for rows in block
        ]
    )
    samples = samples[np.isfinite(samples)]
    if point is None or len(samples) == 0:
        return Improvement(difference=point, samples=samples)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return Improvement(difference=point, low=float(low), high=float(high), samples=samples)


def mcnemar(
    candidate_correct: np.ndarray, champion_correct: np.ndarray, margin: float
) -> Improvement:
    """McNemar's exact test that the candidate's accuracy beats the champion's by
    ``margin``."""
    from scipy.stats import binomtest

    cand = candidate_correct.astype(bool)
    champ = champion_correct.astype(bool)
    n = len(cand)
    only_candidate = int(np.count_nonzero(cand & ~champ))
    only_champion = int(np.count_nonzero(~cand & champ))
    discordant = only_candidate + only_champion
    difference = (only_candidate - only_champion) / n if n else None
    if discordant == 0:
        p_value = 1.0  # the models agree on every row: nothing shows one is better
    else:
        share = 0.5 + margin * n / (2 * discordant)
        p_value = (
            1.0
            if share >= 1.0
            else float(binomtest(only_candidate, discordant, share, alternative="greater").pvalue)
        )
    return Improvement(
        difference=difference, p_value=p_value, discordant=(only_candidate, only_champion)
    )


def histogram(samples: np.ndarray) -> list[tuple[float, float, int]]:
    """The resampled improvements in equal bins (what the gate page draws)."""
    if len(samples) == 0:
        return []
    low, high = float(samples.min()), float(samples.max())
    if low == high:
        return [(low, high, len(samples))]
    counts, edges = np.histogram(samples, bins=HISTOGRAM_BINS, range=(low, high))
    return [
        (float(a), float(b), int(c)) for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
