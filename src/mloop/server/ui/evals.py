"""Gate pages: ``/gates`` lists gate decisions (``?model=`` narrows to one model, as
candidate or champion); ``/gates/{id}`` shows one decision with the candidate and champion
side by side, the bootstrap distribution of the primary metric's improvement with its
interval and the margin, the per-slice table, fairness and budgets, and links to both
model versions, the suite, the dataset version and both runs; ``/evals/suites/{name}``
shows a suite's versions (the pinned dataset and the spec) and its latest decisions.
Read-only: gates run from the SDK or ``mloop gate``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mloop.core.errors import NotFoundError
from mloop.core.naming import check_asset_name
from mloop.evals.decisions import get_gate_decision, list_gate_decisions
from mloop.evals.schemas import DecisionRef, GateDecision, ListDecisions, SuiteName
from mloop.evals.suites import list_eval_suite_versions
from mloop.server.ui.core import UI

SHOWN = 100
WIDTH, HEIGHT = 640, 160  # the interval chart's drawing box, in SVG units


def _checked_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= 2**31 - 1:
        raise NotFoundError(f"gate decision {raw[:20]!r} does not exist", field="id")
    return int(raw)


def interval_chart(decision: GateDecision) -> dict[str, Any] | None:
    """The histogram of resampled improvements as SVG boxes, with the interval, zero and
    the margin as vertical lines (x in SVG units); None without resamples."""
    bins = decision.primary.histogram
    if not bins:
        return None
    p = decision.primary
    points = [b.low for b in bins] + [b.high for b in bins] + [0.0, p.margin]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    tallest = max(b.count for b in bins) or 1

    def x(value: float) -> float:
        return round((value - low) / span * WIDTH, 2)

    bars = []
    for b in bins:
        height = round(b.count / tallest * (HEIGHT - 20), 2)
        bars.append(
            {
                "x": x(b.low),
                "y": HEIGHT - height,
                "width": max(x(b.high) - x(b.low) - 0.5, 0.5),
                "height": height,
                "title": f"{b.low:.4g} to {b.high:.4g}: {b.count}",
            }
        )
    marks = [("zero", 0.0), ("margin", p.margin)]
    if p.ci_low is not None and p.ci_high is not None:
        marks += [("ci-low", p.ci_low), ("ci-high", p.ci_high)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "marks": [{"name": name, "x": x(value), "value": value} for name, value in marks],
        "low": low,
        "high": high,
    }


def router(ui: UI) -> APIRouter:
    r = APIRouter(route_class=ui.route_class, include_in_schema=False)

    @r.get("/gates", response_class=HTMLResponse, name="ui_gates")
    def gates_page(request: Request, model: str = Query("", max_length=256)) -> HTMLResponse:
        viewer = ui.viewer(request)
        chosen = check_asset_name(model, "model", what="model name") if model else None
        found = ui.read(
            lambda ctx: list_gate_decisions(ctx, ListDecisions(model=chosen, max_results=SHOWN)),
            viewer,
        )
        return ui.render(request, "gates.html", viewer, model=chosen, decisions=found.decisions)

    @r.get("/gates/{decision_id}", response_class=HTMLResponse, name="ui_gate")
    def gate_page(request: Request, decision_id: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        number = _checked_id(decision_id)
        decision = ui.read(lambda ctx: get_gate_decision(ctx, DecisionRef(id=number)), viewer)
        return ui.render(request, "gate.html", viewer, d=decision, chart=interval_chart(decision))

    @r.get("/evals/suites/{name}", response_class=HTMLResponse, name="ui_eval_suite")
    def suite_page(request: Request, name: str) -> HTMLResponse:
        viewer = ui.viewer(request)
        check_asset_name(name, "name", what="suite name")

        def read(ctx: Any) -> tuple[Any, Any]:
            versions = list_eval_suite_versions(ctx, SuiteName(name=name)).versions
            decisions = list_gate_decisions(ctx, ListDecisions(suite=name, max_results=20))
            return versions, decisions.decisions

        versions, decisions = ui.read(read, viewer)
        return ui.render(
            request, "evals_suite.html", viewer, name=name, versions=versions, decisions=decisions
        )

    return r
