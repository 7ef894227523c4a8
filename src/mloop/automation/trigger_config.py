"""Each trigger kind's configuration, checked when a trigger is created or changed.

Unknown keys are refused (a misspelt ``min_label`` would otherwise be ignored), and every
error names the key as ``config.<key>``.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from croniter import croniter
from pydantic import ConfigDict, Field, StrictInt, StrictStr, field_validator

from mloop.core.errors import ValidationError
from mloop.core.naming import check_asset_name

AlertKind = Literal["drift", "performance", "bias", "quality"]
# The metric prefix of a monitor's alert says what kind of alert it is.
ALERT_PREFIXES: dict[str, AlertKind] = {
    "drift.": "drift",
    "performance.": "performance",
    "fairness.": "bias",
    "quality.": "quality",
}
SEVERITIES = ("info", "warning", "critical")
DEFAULT_CHECK_S = 30


class _Config(pydantic.BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Polled(_Config):
    check_s: StrictInt = Field(default=DEFAULT_CHECK_S, ge=1, le=86_400)


class CronConfig(_Config):
    """Fires at each time of a cron schedule (five fields, UTC)."""

    schedule: StrictStr

    @field_validator("schedule")
    @classmethod
    def _valid(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a five-field cron schedule such as '0 3 * * *'")
        return value


class AlertConfig(_Polled):
    """Fires when monitors raise alerts: of one monitor (or any), of these kinds, at least
    this severe. All alerts a check finds are one firing."""

    monitor: StrictStr | None = None
    kinds: list[AlertKind] = Field(default=["drift", "performance", "bias"], min_length=1)
    min_severity: Literal["info", "warning", "critical"] = "warning"

    @field_validator("monitor")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_asset_name(value, "config.monitor")


class LabelsConfig(_Polled):
    """Fires when a review queue has completed ``min_labels`` items since the last firing."""

    queue: StrictStr
    min_labels: StrictInt = Field(ge=1, le=10_000_000)

    @field_validator("queue")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_asset_name(value, "config.queue")


class DatasetConfig(_Polled):
    """Fires when a dataset gets a new version; ``param`` names the pipeline parameter that
    receives it as ``"name/version"``."""

    dataset: StrictStr
    param: StrictStr | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("dataset")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_asset_name(value, "config.dataset")


class NoConfig(_Config):
    """Manual, API and webhook triggers fire when called; they have nothing to configure."""


CONFIGS: dict[str, type[_Config]] = {
    "cron": CronConfig,
    "alert": AlertConfig,
    "labels": LabelsConfig,
    "dataset": DatasetConfig,
    "manual": NoConfig,
    "api": NoConfig,
    "webhook": NoConfig,
}


def parse_config(kind: str, config: dict[str, Any]) -> Any:
    """The typed configuration of a trigger of ``kind``; ValidationError naming the key."""
    model = CONFIGS[kind]
    try:
        return model.model_validate(config)
    except pydantic.ValidationError as exc:
        # An unknown key first: a misspelt key is also why the right one is "missing".
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        key = ".".join(str(part) for part in first["loc"])
        field = f"config.{key}" if key else "config"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"a {kind} trigger has no setting {key!r}"
        elif first["type"] == "missing":
            message = f"a {kind} trigger needs {key!r}"
        raise ValidationError(f"{field}: {message}", field=field) from None


def config_dict(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The checked configuration with its defaults filled in, as stored."""
    parsed: pydantic.BaseModel = parse_config(kind, config)
    return parsed.model_dump(mode="json")


def alert_kind(metric: str) -> AlertKind | None:
    for prefix, kind in ALERT_PREFIXES.items():
        if metric.startswith(prefix):
            return kind
    return None
