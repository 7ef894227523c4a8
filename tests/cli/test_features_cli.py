"""``mloop features apply DIR``: a folder of definitions registered after a plan; list and
show what is registered; bad folders and breaking changes refused with clear messages."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.cli.cli_helpers import Cli

from mloop.core.config import Settings

_REPO = """
import datetime as dt

import pandas as pd

from mloop.features import Entity, FeatureService, FeatureView, FileSource, on_demand_feature

driver = Entity("driver", join_keys=["driver_id"])
stats = FileSource("{source}", "driver_stats.parquet", timestamp="event_timestamp")
driver_stats = FeatureView(
    "driver_stats",
    entities=[driver],
    source=stats,
    features={features},
    ttl=dt.timedelta(days=2),
)


@on_demand_feature(
    sources=["driver_stats:trips"],
    request={{"km": "float64"}},
    features={{"trips_per_km": "float64"}},
)
def trips_per_km(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({{"trips_per_km": rows["trips"] / rows["km"]}})


ranking = FeatureService("driver_ranking", features=[driver_stats, trips_per_km])
"""


def _repo(folder: Path, *, source: str = "stats", features: str | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    text = _REPO.format(
        source=source, features=features or '{"conv_rate": "float64", "trips": "int64"}'
    )
    # A module name of its own per test: each folder is imported by file name.
    (folder / f"repo_{folder.name.replace('-', '_')}.py").write_text(textwrap.dedent(text))
    return folder


def test_apply_shows_the_plan_then_versions_changes(
    cli: Cli, settings: Settings, tmp_path: Path
) -> None:
    repo = _repo(tmp_path / "one")
    planned = cli.ok("features", "apply", str(repo), "--dry-run")
    assert "Plan (not applied: --dry-run)" in planned.output
    assert "5 to add, 0 to change, 0 to remove, 0 unchanged (would apply)" in planned.output
    assert json.loads(cli.ok("features", "list", "--json").output) == []
    cli.ok("features", "apply", str(repo))
    _repo(
        tmp_path / "one",
        features='{"conv_rate": "float64", "trips": "int64", "rating": "float64"}',
    )
    changed = cli.ok("features", "apply", str(repo))
    assert "feature rating added" in changed.output
    assert "reads driver_stats version 2" in changed.output  # the service pins the new view
    listed = cli.ok("features", "list", "--kind", "feature_view").output
    assert "driver_stats" in listed and "v2" in listed and "conv_rate, trips, rating" in listed
    shown = json.loads(
        cli.ok("features", "show", "feature_service", "driver_ranking", "--json").output
    )
    assert shown["version"] == 2
    assert shown["pinned"] == {"feature_view:driver_stats": 2, "on_demand:trips_per_km": 1}


def test_bad_folders_are_refused(cli: Cli, settings: Settings, tmp_path: Path) -> None:
    missing = cli("features", "apply", str(tmp_path / "nope"))
    assert missing.exit_code == 1 and "is not a folder" in missing.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no Python files" in cli("features", "apply", str(empty)).output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "broken_defs.py").write_text("import nowhere_to_be_found\n")
    result = cli("features", "apply", str(broken))
    assert result.exit_code == 1
    assert "broken_defs.py could not be imported: ModuleNotFoundError" in result.output
    assert json.loads(cli.ok("features", "list", "--json").output) == []
