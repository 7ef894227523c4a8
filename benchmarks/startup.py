"""Start-up benchmark: how long mloop's and MLflow's commands take as whole fresh processes.

    .venv/bin/python benchmarks/startup.py                       # 15 timed runs of each command
    .venv/bin/python benchmarks/startup.py --runs 5              # a smoke run
    .venv/bin/python benchmarks/startup.py --only mloop          # skip MLflow
    .venv/bin/python benchmarks/startup.py --json                # and results/startup-<date>.json
    .venv/bin/python benchmarks/startup.py --mloop-src /tmp/mloop-before --label before --json
    .venv/bin/python benchmarks/startup.py --only mloop --importtime 20   # where the time goes

Each command runs as a new process, the way a user types it: ``python -c "import mloop"``,
``mloop --help``, ``mloop runs list`` on an empty store (``MLOOP_HOME`` a temporary directory
whose store an untimed run already created) and, separately, the first ``mloop runs list``
on a fresh ``MLOOP_HOME`` (which creates the store); then ``python -c "import mlflow"`` and
``mlflow --help`` in ``benchmarks/.venvs/mlflow`` (MLflow pinned in ``requirements-mlflow.txt``,
created when missing, shared with ``tracking.py``); ``python -c pass`` in each venv gives the
interpreter's own floor. After one untimed round, the commands take
turns for ``--runs`` rounds, so that drift of the machine falls on all of them alike; the
median counts. ``--mloop-src DIR`` measures another checkout's source tree (``DIR/src`` put
first on ``PYTHONPATH``, same venv), for example a ``git worktree`` of an earlier commit.
It reports only: no figure makes it fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
MLFLOW_VENV = BENCH_DIR / ".venvs" / "mlflow"
MLFLOW_REQUIREMENTS = BENCH_DIR / "requirements-mlflow.txt"
REQUIREMENTS_STAMP = MLFLOW_VENV / ".requirements-sha256"  # the same stamp as tracking.py's
PROJECT_PYTHON = Path(sys.executable)
# What the ``mloop`` console script runs, as code for ``python -c``: the script itself is
# bound to the installed package, and ``-c`` with PYTHONPATH is how another tree is measured.
MLOOP_MAIN = "import sys; from mloop.cli.main import app; sys.argv[0] = 'mloop'; sys.exit(app())"
TARGET_S = 0.3
TARGET_RATIO = 5.0
# (mloop command, MLflow command) pairs whose ratio is judged against the targets.
PAIRS = (("import mloop", "import mlflow"), ("mloop --help", "mlflow --help"))

console = Console()


@dataclass
class Command:
    """One command to time: its argv, its environment, and a fresh ``MLOOP_HOME`` per run."""

    name: str
    argv: list[str]
    env: dict[str, str]
    fresh_home: bool = False


def _clean_env() -> dict[str, str]:
    """This environment without settings that would change what either tool does at start."""
    drop = ("MLOOP_", "MLFLOW_", "PYTHONPATH", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITE")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def ensure_mlflow_venv() -> Path:
    """Create the MLflow venv if missing and (re)install when the pins changed; return python."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        interpreter = shutil.which("python3.11") or sys.executable
        console.print(f"[dim]creating {MLFLOW_VENV} with {interpreter}[/]")
        subprocess.run([interpreter, "-m", "venv", str(MLFLOW_VENV)], check=True)
    digest = hashlib.sha256(MLFLOW_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = REQUIREMENTS_STAMP.read_text().strip() if REQUIREMENTS_STAMP.exists() else ""
    if stamp != digest:
        console.print(f"[dim]installing {MLFLOW_REQUIREMENTS.name} into {MLFLOW_VENV}[/]")
        pip = [str(python), "-m", "pip", "install", "--quiet", "-r", str(MLFLOW_REQUIREMENTS)]
        subprocess.run(pip, check=True)
        REQUIREMENTS_STAMP.write_text(digest + "\n")
    return python


# -- the commands -------------------------------------------------------------------------


def mloop_commands(src: Path | None, home: Path) -> list[Command]:
    env = _clean_env()
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    python = str(PROJECT_PYTHON)
    script = [str(PROJECT_PYTHON.parent / "mloop")]  # the installed console script
    mloop = [python, "-c", MLOOP_MAIN] if src is not None else script
    store_env = {**env, "MLOOP_HOME": str(home)}
    return [
        Command("python -c pass", [python, "-c", "pass"], env),  # the interpreter's own floor
        Command("import mloop", [python, "-c", "import mloop"], env),
        Command("mloop --help", [*mloop, "--help"], env),
        Command("mloop runs list", [*mloop, "runs", "list"], store_env),
        Command("mloop runs list, first", [*mloop, "runs", "list"], env, fresh_home=True),
    ]


def mlflow_commands(python: Path) -> list[Command]:
    # Telemetry off, as in tracking.py: it would only add MLflow's own background work.
    env = {**_clean_env(), "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    return [
        Command("python -c pass, MLflow venv", [str(python), "-c", "pass"], env),
        Command("import mlflow", [str(python), "-c", "import mlflow"], env),
        Command("mlflow --help", [str(python.parent / "mlflow"), "--help"], env),
    ]


def _run_once(cmd: Command, tmp: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) in seconds of one run of ``cmd``.

    The CPU time moves less than the wall time when other work shares the machine."""
    env = cmd.env
    if cmd.fresh_home:
        env = {**env, "MLOOP_HOME": tempfile.mkdtemp(prefix="home-", dir=tmp)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd.argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{cmd.name} exited with {proc.returncode}: {err}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _summary(wall: list[float], cpu: list[float]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(wall),
        "min_s": min(wall),
        "p90_s": _pct(wall, 90),
        "mean_s": statistics.fmean(wall),
        "cpu_median_s": statistics.median(cpu),
        "n": len(wall),
        "samples_s": wall,
        "cpu_samples_s": cpu,
    }


def measure(commands: list[Command], runs: int, first_runs: int, tmp: Path) -> dict[str, Any]:
    """One untimed round, then ``runs`` rounds in which every command runs once, in turn.

    The first-run command (a fresh store each time) runs only in the first ``first_runs``
    rounds: it is slow, and its spread is small next to what it measures."""
    for cmd in commands:
        console.print(f"[dim]warm-up: {cmd.name}[/]")
        _run_once(cmd, tmp)
    wall: dict[str, list[float]] = {cmd.name: [] for cmd in commands}
    cpu: dict[str, list[float]] = {cmd.name: [] for cmd in commands}
    for r in range(runs):
        console.print(f"[dim]round {r + 1}/{runs}[/]")
        for cmd in commands:
            if cmd.fresh_home and r >= first_runs:
                continue
            w, c = _run_once(cmd, tmp)
            wall[cmd.name].append(w)
            cpu[cmd.name].append(c)
    return {name: _summary(wall[name], cpu[name]) for name in wall if wall[name]}


def _which_mloop(src: Path | None) -> str:
    """Where ``import mloop`` resolves in the measured setup (a check on ``--mloop-src``)."""
    env = _clean_env()
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    code = "import importlib.util as u; print(u.find_spec('mloop').origin)"
    out = subprocess.run([str(PROJECT_PYTHON), "-c", code], env=env, capture_output=True)
    return out.stdout.decode().strip()


def _git_commit(tree: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True)
        return out.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def _mlflow_version(python: Path) -> str:
    code = "from importlib.metadata import version; print(version('mlflow'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


# -- import time --------------------------------------------------------------------------


def _importtime_once(argv: list[str], env: dict[str, str]) -> list[tuple[str, int, int, int]]:
    """``-X importtime``'s lines for one run, in its order: (module, self us, cumulative us,
    depth). A module's parent is the first later line one level less deep."""
    proc = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip())) // 2
        lines.append((name.strip(), int(self_us), int(cumulative_us), depth))
    return lines


def _importers(lines: list[tuple[str, int, int, int]]) -> dict[str, str]:
    """For each module, the nearest mloop module above it in the import tree (who pulled it in)."""
    out: dict[str, str] = {}
    for i, (name, _, _, depth) in enumerate(lines):
        want = depth - 1
        for parent, _, _, d in lines[i + 1 :]:
            if d == want:
                if parent.split(".")[0] == "mloop":
                    out[name] = parent
                    break
                want -= 1
            if want < 0:
                break
    return out


def importtime(
    argv: list[str], env: dict[str, str], repeat: int
) -> tuple[list[dict[str, Any]], float]:
    """Every module's median self and cumulative import time over ``repeat`` runs, with the
    mloop module that imported it (in the first run); and the median of the runs' total
    import time in ms (their self times summed)."""
    runs = [_importtime_once(argv, env) for _ in range(repeat)]
    total_ms = statistics.median(sum(line[1] for line in lines) for lines in runs) / 1000
    tables = [{name: (s, c) for name, s, c, _ in lines} for lines in runs]
    importers = _importers(runs[0])
    rows: list[dict[str, Any]] = []
    for name, _, _, depth in runs[0]:
        if any(r["module"] == name for r in rows):
            continue  # a module in an import cycle can be listed twice; keep the first
        seen = [t[name] for t in tables if name in t]
        rows.append(
            {
                "module": name,
                "self_ms": statistics.median(s[0] for s in seen) / 1000,
                "cumulative_ms": statistics.median(s[1] for s in seen) / 1000,
                "depth": depth,
                "imported_by": importers.get(name, ""),
            }
        )
    return rows, total_ms


def _packages(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Self time summed per top-level package, and the mloop module that imported the package
    (blank where no mloop module did: imported while the command ran, or by the interpreter)."""
    by_package: dict[str, dict[str, Any]] = {}
    for r in rows:
        top = r["module"].split(".")[0]
        entry = by_package.setdefault(
            top, {"package": top, "self_ms": 0.0, "modules": 0, "imported_by": ""}
        )
        entry["self_ms"] += r["self_ms"]
        entry["modules"] += 1
        if r["module"] == top and top != "mloop":
            entry["imported_by"] = r["imported_by"]
    return sorted(by_package.values(), key=lambda e: e["self_ms"], reverse=True)


def _module_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for col in ("module", "cumulative ms", "self ms", "depth", "imported by (mloop)"):
        right = col.endswith(("ms", "depth"))
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    for r in rows:
        table.add_row(
            r["module"],
            f"{r['cumulative_ms']:.1f}",
            f"{r['self_ms']:.1f}",
            str(r["depth"]),
            r["imported_by"],
        )
    return table


def importtime_report(src: Path | None, top: int, repeat: int, tmp: Path) -> dict[str, Any]:
    """Top modules by cumulative and by self import time, and the top packages by their
    modules' summed self time, for ``import mloop``, ``mloop --help`` and ``mloop runs list``
    (on an empty store that an untimed run created)."""
    env = _clean_env()
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    python = str(PROJECT_PYTHON)
    home = tmp / "importtime-home"
    home.mkdir()
    store_env = {**env, "MLOOP_HOME": str(home)}
    list_argv = [python, "-c", MLOOP_MAIN, "runs", "list"]
    subprocess.run(list_argv, env=store_env, stdout=subprocess.DEVNULL, check=True)
    out: dict[str, Any] = {}
    for name, argv, cmd_env in (
        ("import mloop", [python, "-c", "import mloop"], env),
        ("mloop --help", [python, "-c", MLOOP_MAIN, "--help"], env),
        ("mloop runs list", list_argv, store_env),
    ):
        console.print(f"[dim]-X importtime: {name} ({repeat} runs)[/]")
        rows, total = importtime(argv, cmd_env, repeat)
        head = f"{name}: {len(rows)} modules, {total:.0f} ms of imports (medians of {repeat} runs)"
        by_cumulative = sorted(rows, key=lambda r: r["cumulative_ms"], reverse=True)[:top]
        by_self = sorted(rows, key=lambda r: r["self_ms"], reverse=True)[:top]
        packages = _packages(rows)[:top]
        console.print(_module_table(f"{head}\ntop {top} by cumulative time", by_cumulative))
        console.print(_module_table(f"{head}\ntop {top} by self time", by_self))
        table = Table(title=f"{head}\ntop {top} packages by their modules' self time")
        for col in ("package", "self ms", "modules", "first imported by (mloop)"):
            right = col in ("self ms", "modules")
            table.add_column(col, justify="right" if right else "left", overflow="fold")
        for p in packages:
            table.add_row(p["package"], f"{p['self_ms']:.1f}", str(p["modules"]), p["imported_by"])
        console.print(table)
        out[name] = {
            "modules": len(rows),
            "total_ms": total,
            "top_by_cumulative": by_cumulative,
            "top_by_self": by_self,
            "top_packages": packages,
        }
    return out


# -- report -------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> dict[str, Any]:
    timings = results["timings"]
    table = Table(title=f"start-up, whole processes ({results['runs']} runs, seconds)")
    for col in ("command", "median", "min", "p90", "CPU median", "n", f"< {TARGET_S} s"):
        table.add_column(col, justify="left" if col == "command" else "right")
    for name, t in timings.items():
        judged = name in ("import mloop", "mloop --help")
        met = ("met" if t["median_s"] < TARGET_S else "missed") if judged else ""
        figures = (t["median_s"], t["min_s"], t["p90_s"], t["cpu_median_s"])
        table.add_row(name, *(f"{x:.3f}" for x in figures), str(t["n"]), met)
    console.print(table)
    ratios: dict[str, Any] = {}
    for ours, theirs in PAIRS:
        if ours in timings and theirs in timings:
            ratio = timings[theirs]["median_s"] / timings[ours]["median_s"]
            cpu_ratio = timings[theirs]["cpu_median_s"] / timings[ours]["cpu_median_s"]
            ratios[f"{theirs} / {ours}"] = {"wall": ratio, "cpu": cpu_ratio}
            verdict = "met" if ratio >= TARGET_RATIO else "missed"
            console.print(
                f"MLflow / mloop, {theirs} / {ours}: {ratio:.1f}x "
                f"(target >= {TARGET_RATIO:g}x, {verdict}; CPU time {cpu_ratio:.1f}x)"
            )
    return ratios


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command")
    parser.add_argument(
        "--first-runs", type=int, default=5, help="timed runs of a first `runs list` (new store)"
    )
    parser.add_argument("--only", choices=["mloop", "mlflow"], help="measure one side only")
    parser.add_argument(
        "--mloop-src",
        type=Path,
        metavar="DIR",
        help="measure the checkout at DIR (DIR/src first on PYTHONPATH) instead of this one",
    )
    parser.add_argument("--label", help="a name for this measurement (in the JSON file's name)")
    parser.add_argument(
        "--importtime",
        type=int,
        nargs="?",
        const=20,
        metavar="N",
        help="also print the top N modules (default 20) by import time in mloop's commands",
    )
    parser.add_argument(
        "--importtime-repeat", type=int, default=3, help="runs whose median -X importtime shows"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="write results as JSON (default: benchmarks/results/startup-<date>[-<label>].json)",
    )
    args = parser.parse_args(argv)
    if args.mloop_src is not None:
        args.mloop_src = args.mloop_src.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tree = args.mloop_src or REPO_DIR
    results: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "label": args.label,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "runs": args.runs,
        "load_average_before": os.getloadavg(),
        "mloop_tree": {"path": str(tree), **_git_commit(tree)},
    }
    tmp = Path(tempfile.mkdtemp(prefix="mloop-startup-bench-"))
    try:
        commands: list[Command] = []
        if args.only in (None, "mloop"):
            origin = _which_mloop(args.mloop_src)
            console.print(f"mloop from {origin}")
            if not origin.startswith(str(tree)):
                raise SystemExit(f"import mloop resolves to {origin}, not to {tree}")
            results["mloop_tree"]["module"] = origin
            home = tmp / "mloop-home"
            home.mkdir()
            commands += mloop_commands(args.mloop_src, home)
        if args.only in (None, "mlflow"):
            python = ensure_mlflow_venv()
            results["mlflow_version"] = _mlflow_version(python)
            console.print(f"MLflow {results['mlflow_version']} from {MLFLOW_VENV}")
            commands += mlflow_commands(python)
        results["timings"] = measure(commands, args.runs, min(args.first_runs, args.runs), tmp)
        results["load_average_after"] = os.getloadavg()
        results["ratios"] = report(results)
        if args.importtime and args.only != "mlflow":
            results["importtime"] = importtime_report(
                args.mloop_src, args.importtime, args.importtime_repeat, tmp
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json is not None:
        suffix = f"-{args.label}" if args.label else ""
        default = RESULTS_DIR / f"startup-{dt.date.today().isoformat()}{suffix}.json"
        path = Path(args.json) if args.json else default
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")
        console.print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
