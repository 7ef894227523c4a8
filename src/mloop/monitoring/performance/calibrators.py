"""Probability calibrators fitted on labelled reference data: isotonic, sigmoid, identity.

- ``fit_isotonic``: the non-decreasing step function of the score closest to the outcomes
  in squared error (pool adjacent violators), interpolated linearly between steps and
  clamped at the ends; it equals scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``.
  It assumes nothing about the shape of the miscalibration but needs many rows: each step
  is a mean of the rows it pools.
- ``fit_sigmoid``: Platt scaling on the log-odds, ``sigmoid(a * logit(p) + b)``, fitted by
  Newton's method on the log loss with Platt's smoothed targets (``(N+ + 1) / (N+ + 2)`` for
  positives, ``1 / (N- + 2)`` for negatives), so it stays finite on small or separable
  data. Two parameters: steadier than isotonic on a small reference, and the identity is
  ``a = 1, b = 0``.
- ``IdentityCalibrator``: probabilities taken as they are.

Calibrators are plain values: ``to_dict``/``calibrator_from_dict`` store them as JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from mloop.core.errors import ValidationError

# Probabilities of exactly 0 or 1 have infinite log-odds; clip them this far from the ends.
_LOGIT_CLIP = 1e-12


@dataclasses.dataclass(frozen=True)
class IsotonicCalibrator:
    """A non-decreasing piecewise-linear map through the points ``(x[i], y[i])``."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    kind: ClassVar[str] = "isotonic"

    def __call__(self, probability: np.ndarray) -> np.ndarray:
        return np.interp(probability, self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y)}


@dataclasses.dataclass(frozen=True)
class SigmoidCalibrator:
    """``sigmoid(slope * logit(p) + intercept)``."""

    slope: float
    intercept: float

    kind: ClassVar[str] = "sigmoid"

    def __call__(self, probability: np.ndarray) -> np.ndarray:
        z = self.slope * _logit(probability) + self.intercept
        return _sigmoid(z)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "slope": self.slope, "intercept": self.intercept}


@dataclasses.dataclass(frozen=True)
class IdentityCalibrator:
    """Probabilities taken as they are."""

    kind: ClassVar[str] = "none"

    def __call__(self, probability: np.ndarray) -> np.ndarray:
        return np.asarray(probability, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


Calibrator = IsotonicCalibrator | SigmoidCalibrator | IdentityCalibrator


def fit_isotonic(score: np.ndarray, outcome: np.ndarray) -> IsotonicCalibrator:
    """Isotonic regression of ``outcome`` (0/1) on ``score`` (pool adjacent violators)."""
    order = np.argsort(score, kind="stable")
    xs, ys = score[order], outcome[order].astype(np.float64)
    distinct, starts = np.unique(xs, return_index=True)
    counts = np.diff(np.append(starts, len(xs))).astype(np.float64)
    fitted = _pool_adjacent_violators(np.add.reduceat(ys, starts) / counts, counts)
    # Keep each step's first and last point: interpolation between them is the same map.
    keep = np.ones(len(fitted), dtype=bool)
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return IsotonicCalibrator(x=tuple(distinct[keep].tolist()), y=tuple(fitted[keep].tolist()))


def _pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``values`` in weighted squared error."""
    means: list[float] = []
    totals: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        mean, total, size = value, weight, 1
        while means and means[-1] > mean:  # a violation: pool with the block before
            previous, previous_total = means.pop(), totals.pop()
            mean = (previous * previous_total + mean * total) / (previous_total + total)
            total += previous_total
            size += sizes.pop()
        means.append(mean)
        totals.append(total)
        sizes.append(size)
    return np.repeat(np.asarray(means), sizes)


def fit_sigmoid(score: np.ndarray, outcome: np.ndarray, max_iter: int = 100) -> SigmoidCalibrator:
    """Platt scaling on the log-odds of ``score`` against ``outcome`` (0/1)."""
    feature = _logit(score)
    positive = outcome.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    target = np.where(positive, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    design = np.column_stack([feature, np.ones_like(feature)])
    params = np.array([1.0, 0.0])  # start from the identity
    loss = _log_loss(design @ params, target)
    for _ in range(max_iter):
        q = _sigmoid(design @ params)
        gradient = design.T @ (q - target)
        curvature = q * (1.0 - q)
        hessian = (design * curvature[:, None]).T @ design + 1e-12 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        # Halve the step until the loss goes down (Newton can overshoot on flat data).
        shrink = 1.0
        while shrink > 1e-10:
            candidate = params - shrink * step
            candidate_loss = _log_loss(design @ candidate, target)
            if candidate_loss <= loss:
                break
            shrink /= 2.0
        else:
            break
        converged = np.abs(params - candidate).max() < 1e-10
        params, loss = candidate, candidate_loss
        if converged:
            break
    return SigmoidCalibrator(slope=float(params[0]), intercept=float(params[1]))


def _logit(probability: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype=np.float64), _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def _log_loss(z: np.ndarray, target: np.ndarray) -> float:
    return float((target * np.logaddexp(0.0, -z) + (1.0 - target) * np.logaddexp(0.0, z)).sum())


def calibrator_from_dict(body: dict[str, Any]) -> Calibrator:
    """The calibrator a ``to_dict`` stored."""
    kind = body.get("kind") if isinstance(body, dict) else None
    try:
        if kind == "isotonic":
            x = tuple(float(v) for v in body["x"])
            y = tuple(float(v) for v in body["y"])
            if len(x) != len(y) or not x:
                raise ValueError("x and y must be non-empty and of the same length")
            return IsotonicCalibrator(x=x, y=y)
        if kind == "sigmoid":
            return SigmoidCalibrator(slope=float(body["slope"]), intercept=float(body["intercept"]))
        if kind == "none":
            return IdentityCalibrator()
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"malformed {kind} calibrator: {exc}", field="calibrators") from exc
    raise ValidationError(
        f"unknown calibrator kind {kind!r}: expected 'isotonic', 'sigmoid' or 'none'",
        field="calibrators",
    )
