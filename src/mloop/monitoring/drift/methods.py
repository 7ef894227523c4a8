"""The drift methods by name, with what they apply to and when they call drift.

=================  ===========================  ============  ========  ==================
name               what                         columns       drift if  default threshold
=================  ===========================  ============  ========  ==================
``ks``             Kolmogorov-Smirnov test      numeric       p < t     0.05
``wasserstein``    Wasserstein / reference std  numeric       d >= t    0.1
``psi``            population stability index   both          d >= t    0.1
``chisquare``      chi-square homogeneity       both          p < t     0.05
``chisquare_gof``  chi-square goodness of fit   both          p < t     0.05
``jensenshannon``  Jensen-Shannon distance      both          d >= t    0.1
``z``              two-proportion Z-test        both          p < t     0.05
=================  ===========================  ============  ========  ==================

The names and default thresholds are Evidently's, so rules carry over, with one exception:
Evidently's ``chisquare`` is the goodness-of-fit test against the reference shares, here
``chisquare_gof``; ``chisquare`` here is the two-sample test of homogeneity, which does not
overstate drift when the reference is no larger than the window (see ``categorical``).

Category methods on a numeric column compare its distinct values, or its reference deciles
when it has more than ``categorical.DISCRETE_MAX`` (see ``categorical``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from mloop.core.errors import ValidationError
from mloop.monitoring.drift import categorical, numeric
from mloop.monitoring.drift.inputs import KINDS, Kind
from mloop.monitoring.drift.outcome import Outcome
from mloop.monitoring.drift.summary import ColumnSummary, NumericSummary

Runner = Callable[[ColumnSummary, ColumnSummary], Outcome]


@dataclass(frozen=True)
class Method:
    """One drift method. ``p_value`` methods call drift when the (FDR-adjusted) p-value is
    below the threshold, distances when the statistic reaches it. ``upper`` bounds the
    threshold (exclusive for p-values, inclusive for distances)."""

    name: str
    title: str
    kinds: tuple[Kind, ...]
    p_value: bool
    default_threshold: float
    upper: float | None
    run: Runner

    def check_threshold(self, threshold: float, column: str) -> float:
        """``threshold`` as a float, or a ValidationError saying the allowed range."""
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            value = float("nan")
        if self.p_value:
            ok = 0.0 < value < 1.0
            allowed = "a p-value level between 0 and 1 (exclusive), such as 0.05"
        else:
            ok = value > 0.0 and (self.upper is None or value <= self.upper)
            top = f" and at most {self.upper:.4g}" if self.upper is not None else ""
            allowed = f"a distance above 0{top}, such as {self.default_threshold:g}"
        if not ok:
            raise ValidationError(
                f"threshold {threshold!r} for column {column!r} ({self.name}) is out of "
                f"range: use {allowed}",
                field="thresholds",
            )
        return value


def _numeric_only(run: Callable[[NumericSummary, NumericSummary], Outcome]) -> Runner:
    def wrapped(reference: ColumnSummary, current: ColumnSummary) -> Outcome:
        assert isinstance(reference, NumericSummary) and isinstance(current, NumericSummary)
        return run(reference, current)

    return wrapped


def _psi(reference: ColumnSummary, current: ColumnSummary) -> Outcome:
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        return numeric.psi(reference, current)
    return categorical.psi(reference, current)


_JS_MAX = 0.8325546111576977  # sqrt(ln 2): the distance between disjoint distributions

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "ks",
            "Kolmogorov-Smirnov test",
            ("numeric",),
            True,
            0.05,
            1.0,
            _numeric_only(numeric.ks),
        ),
        Method(
            "wasserstein",
            "Wasserstein distance (normed by reference std)",
            ("numeric",),
            False,
            0.1,
            None,
            _numeric_only(numeric.wasserstein),
        ),
        Method("psi", "population stability index", KINDS, False, 0.1, None, _psi),
        Method(
            "chisquare",
            "chi-square test of homogeneity",
            KINDS,
            True,
            0.05,
            1.0,
            categorical.chisquare,
        ),
        Method(
            "chisquare_gof",
            "chi-square goodness of fit",
            KINDS,
            True,
            0.05,
            1.0,
            categorical.chisquare_gof,
        ),
        Method(
            "jensenshannon",
            "Jensen-Shannon distance",
            KINDS,
            False,
            0.1,
            _JS_MAX,
            categorical.jensenshannon,
        ),
        Method("z", "two-proportion Z-test", KINDS, True, 0.05, 1.0, categorical.z_test),
    )
}


def get_method(name: str, *, column: str, kind: Kind) -> Method:
    """The method called ``name``, checked against the column's kind."""
    method = METHODS.get(name) if isinstance(name, str) else None
    if method is None:
        hint = difflib.get_close_matches(str(name), list(METHODS), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ValidationError(
            f"unknown drift method {name!r} for column {column!r}{extra}; known: "
            f"{', '.join(METHODS)}",
            field="methods",
        )
    if kind not in method.kinds:
        raise ValidationError(
            f"{name} compares numbers and cannot test {kind} column {column!r}: use one of "
            f"{', '.join(n for n, m in METHODS.items() if kind in m.kinds)}",
            field="methods",
        )
    return method
