"""The shape of ``mloop demo``: an ordered list of step modules over a shared context.

These run no real step (``test_cli_demo.py`` runs the whole demo): they check the list, the
import rules that keep a new step to one module and one line, the driver and the summary.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mloop
from mloop.cli.demo._context import DemoConfig, DemoContext, DemoStep
from mloop.cli.demo._run import run_demo
from mloop.cli.demo._summary import print_summary

PACKAGE = "mloop.cli.demo"
PACKAGE_DIR = Path(mloop.__file__).parent / "cli" / "demo"
SHARED = {
    "_context",
    "_loans",
    "_simulation",
    "_training",
}  # what a step module may import from the package


def _package_imports(module: str) -> list[tuple[str, list[str]]]:
    """(package module, names) of each import of ``module`` from inside the package."""
    tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [a.name for a in node.names]
            if node.module == PACKAGE:  # from mloop.cli.demo import data, sgd
                found += [(name, []) for name in names]
            elif node.module.startswith(PACKAGE + "."):
                found.append((node.module.removeprefix(PACKAGE + "."), names))
        elif isinstance(node, ast.Import):
            found += [
                (a.name.removeprefix(PACKAGE + "."), [])
                for a in node.names
                if a.name.startswith(PACKAGE + ".")
            ]
    return found


def _step_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE_DIR.glob("[!_]*.py"))


def test_steps_run_in_the_demo_order_each_from_its_own_module() -> None:
    from mloop.cli.demo._steps import STEPS

    assert [s.name for s in STEPS] == [
        "data",
        "sgd",
        "gradient_boosting",
        "random_forest",
        "logistic_regression",
        "mlflow_client",
        "register",
        "verify",
        "serving",
        "features",
        "monitoring",
        "review",
        "continuous_training",
        "llm",
    ]
    assert all(s.run.__module__ == f"{PACKAGE}.{s.name}" for s in STEPS)
    assert sorted(s.name for s in STEPS) == _step_modules()  # no module left out of the list


def test_a_step_imports_only_what_steps_share() -> None:
    for module in _step_modules():
        for imported, names in _package_imports(module):
            assert imported in SHARED, f"{module} imports {imported}"
            assert not [n for n in names if n.startswith("_")], f"{module}: {names}"
    for module in SHARED:
        assert all(i in SHARED for i, _ in _package_imports(module)), module


def test_the_package_has_no_import_cycle() -> None:
    modules = {p.stem for p in PACKAGE_DIR.glob("*.py")} - {"__init__"}
    graph = {m: {i for i, _ in _package_imports(m) if i in modules} for m in modules}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module not in done:
            for imported in graph[module]:
                visit(imported, (*path, module))
            done.add(module)

    for module in sorted(modules):
        visit(module, ())


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_help_imports_no_step(args: list[str]) -> None:
    heavy = ("sklearn", "mlflow", "duckdb", "mloop.llm.gateway", "mloop.cli.demo._steps")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from mloop.cli.main import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def begin(self, title: str, total: int) -> None:
        self.events.append((title, total))

    def advance(self, amount: int = 1) -> None:
        self.events.append(("advance", amount))


def test_run_demo_runs_the_steps_in_order_on_a_shared_context(tmp_path: Path) -> None:
    def first(ctx: DemoContext) -> None:
        ctx.begin(2)
        ctx.advance(2)
        ctx.keep(["from first"])
        ctx.notes.append("a note")

    def second(ctx: DemoContext) -> None:
        assert mloop.get_tracking_uri() == str(ctx.home)  # the demo's own store
        ctx.begin(1)
        ctx.notes.append(f"second saw {ctx.kept(list)}")

    reporter = _Recorder()
    ctx = run_demo(
        tmp_path / "demo",
        reporter,
        DemoConfig(model_name="m1"),
        [DemoStep("first", "First for {model_name}", first), DemoStep("second", "Second", second)],
    )
    assert reporter.events == [("First for m1", 2), ("advance", 2), ("Second", 1)]
    assert ctx.notes == ["a note", "second saw ['from first']"]
    assert list(ctx.timings) == ["first", "second"] and ctx.seconds >= sum(ctx.timings.values())
    assert ctx.kept(dict) is None and ctx.current is None
    assert mloop.get_tracking_uri() != str(ctx.home)  # unset again


def test_a_failing_step_stops_the_demo_and_fails_its_run(tmp_path: Path) -> None:
    def broken(ctx: DemoContext) -> None:
        mloop.set_experiment("broken")
        mloop.start_run(run_name="half-done")
        raise RuntimeError("step broke")

    def never(ctx: DemoContext) -> None:
        raise AssertionError("ran after a failed step")

    with pytest.raises(RuntimeError, match="step broke"):
        run_demo(tmp_path / "demo", steps=[DemoStep("a", "A", broken), DemoStep("b", "B", never)])
    client = mloop.Client(tmp_path / "demo")
    experiment = client.get_experiment_by_name("broken")
    runs = client.search_runs([experiment.experiment_id]).runs
    assert [(r.info.run_name, r.info.status) for r in runs] == [("half-done", "FAILED")]
    assert mloop.active_run() is None


def test_the_summary_prints_each_step_part_in_step_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def part(text: str) -> DemoStep:
        return DemoStep(text, text, lambda ctx: None, lambda ctx, out: out.print(f"part {text}"))

    ctx = DemoContext(
        home=tmp_path,
        steps=(part("b"), DemoStep("quiet", "Quiet", lambda ctx: None), part("a")),
        notes=["the note"],
        dataset_ref="breast-cancer/1",
    )
    print_summary(ctx, 5001)
    out = capsys.readouterr().out
    order = ["mloop demo", "part b", "part a", "the note", "Look at it in the web UI"]
    assert [out.index(s) for s in order] == sorted(out.index(s) for s in order)
    assert "mloop server --port 5001" in out and "datasets show breast-cancer/1" in out
