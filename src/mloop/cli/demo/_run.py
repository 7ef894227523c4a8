"""Running the demo's steps against a fresh embedded store."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import mloop
from mloop.cli.demo._context import DemoConfig, DemoContext, DemoStep, Reporter, SilentReporter
from mloop.core.errors import ValidationError


def default_home() -> Path:
    """``./mloop-demo-<timestamp>`` in the current directory."""
    return Path.cwd() / time.strftime("mloop-demo-%Y%m%d-%H%M%S")


def prepare_home(home: Path) -> Path:
    """Create ``home``; refuse a path that is a file or a non-empty directory."""
    home = home.expanduser().resolve()
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise ValidationError(
            f"{home} already exists and is not an empty directory; the demo needs a fresh one",
            field="home",
        )
    home.mkdir(parents=True, exist_ok=True)
    return home


def run_demo(
    home: Path,
    reporter: Reporter | None = None,
    config: DemoConfig | None = None,
    steps: Sequence[DemoStep] | None = None,
) -> DemoContext:
    """Run ``steps`` (default: all of them) against a fresh embedded store in ``home`` and
    return what they built.

    The SDK's tracking URI points at ``home`` while the steps run and is unset afterwards; a
    step that fails leaves its run marked FAILED.
    """
    if steps is None:
        from mloop.cli.demo._steps import STEPS

        steps = STEPS
    ctx = DemoContext(
        home=prepare_home(home),
        config=config or DemoConfig(),
        reporter=reporter or SilentReporter(),
        steps=tuple(steps),
    )
    started = time.perf_counter()
    mloop.set_tracking_uri(ctx.home)
    try:
        for step in ctx.steps:
            ctx.current = step
            step_started = time.perf_counter()
            step.run(ctx)
            ctx.timings[step.name] = time.perf_counter() - step_started
    finally:
        ctx.current = None
        while mloop.active_run() is not None:
            mloop.end_run("FAILED")
        mloop.flush()
        mloop.set_tracking_uri(None)
    ctx.seconds = time.perf_counter() - started
    return ctx
