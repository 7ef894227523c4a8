"""Training-serving skew: the features an endpoint served, recomputed offline.

Serving logs the feature vector each request's model got (the entity keys and the
features the online lookup returned, see :mod:`mloop.serving.features`). :func:`check_skew`
reads those rows of an endpoint's inference log for a stretch of time, asks
:func:`~mloop.features.get_historical_features` for the same features of the same
entities at the requests' times ("as known then" by default: only values written before
the request count, which is what the online store could have held), and compares them
feature by feature. A mismatch is a value served that offline retrieval does not give:
a stale or missing online value (materialization late or broken), a transformation that
differs between the two paths, a type that changed. Numbers are equal within a relative
``tolerance``; two nulls are equal.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from mloop.core.errors import ValidationError
from mloop.features.catalog import Catalog, Selection

MAX_ROWS = 1_000_000
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_KINDS = {
    "float64": "number",
    "float32": "number",
    "int64": "number",
    "int32": "number",
    "bool": "bool",
    "string": "category",
    "timestamp": "category",
}


@dataclass
class FeatureSkew:
    feature: str
    rows: int
    mismatches: int
    served_missing: int  # served null where offline has a value
    offline_missing: int  # offline null where a value was served
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.mismatches / self.rows if self.rows else 0.0


@dataclass
class SkewReport:
    endpoint: str
    service: str
    since: int
    until: int
    rows: int
    rows_with_mismatch: int
    features: list[FeatureSkew]

    @property
    def rate(self) -> float:
        return self.rows_with_mismatch / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "service": self.service,
            "since": self.since,
            "until": self.until,
            "rows": self.rows,
            "rows_with_mismatch": self.rows_with_mismatch,
            "rate": self.rate,
            "features": [
                {
                    "feature": f.feature,
                    "rows": f.rows,
                    "mismatches": f.mismatches,
                    "rate": f.rate,
                    "served_missing": f.served_missing,
                    "offline_missing": f.offline_missing,
                    "examples": f.examples,
                }
                for f in self.features
            ],
        }


def _same(served: Any, offline: Any, tolerance: float) -> bool:
    if served is None and offline is None:
        return True
    if served is None or offline is None:
        return False
    if isinstance(served, int | float) and isinstance(offline, int | float):
        a, b = float(served), float(offline)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= tolerance * max(1.0, abs(b))
    return str(served) == str(offline)


def _service_of(client: Any, endpoint: str) -> str:
    status = client.call("endpoint_status", name=endpoint)
    live = status.deployment
    if live is None:
        raise ValidationError(f"endpoint {endpoint!r} has no deployment", field="endpoint")
    stable = next((v for v in live.variants if v.role == "stable"), live.variants[0])
    version = client.call("get_model_version", name=stable.model, version=stable.version)
    tag = version.tags.get("mloop.feature_service")
    if not tag:
        raise ValidationError(
            f"models:/{stable.model}/{stable.version}, which endpoint {endpoint!r} serves, "
            "names no feature service (tag mloop.feature_service): name one with --service",
            field="service",
        )
    return str(tag)


def check_skew(
    endpoint: str,
    *,
    since: int,
    until: int,
    service: str | None = None,
    tolerance: float = 1e-6,
    as_known_then: bool = True,
    examples: int = 5,
    runtime: Any = None,
    catalog: Catalog | None = None,
) -> SkewReport:
    """Compare the features ``endpoint`` served between ``since`` and ``until`` (ms) with
    offline retrieval (see the module docstring). ``service``: the feature service (by
    default the one the live model version names)."""
    import mloop
    from mloop.features.offline.retrieval import get_historical_features
    from mloop.monitoring.windows import read_window

    if until <= since:
        raise ValidationError("until must be after since", field="until")
    if tolerance < 0:
        raise ValidationError("tolerance must be 0 or more", field="tolerance")
    client = mloop.Client()
    service = service or _service_of(client, endpoint)
    catalog = catalog or Catalog.from_registry(client)
    selection = catalog.select(service)
    served_columns = _served_columns(selection)
    if runtime is None:
        from mloop.core.config import get_settings
        from mloop.store.runtime import open_runtime

        runtime = opened = open_runtime(get_settings())
    else:
        opened = None
    try:
        window = read_window(runtime, endpoint, since=since, until=until, features=served_columns)
    finally:
        if opened is not None:
            opened.close()
    if window.num_rows > MAX_ROWS:
        raise ValidationError(
            f"{window.num_rows} logged rows between since and until; check at most "
            f"{MAX_ROWS} at once (a shorter stretch)",
            field="since",
        )
    served = window.to_pylist()
    entity_rows = [
        {
            **{k: row[k] for k in selection.join_keys},
            **{c: row[c] for c in selection.request_columns},
            "event_timestamp": row["time"],
        }
        for row in served
    ]
    as_numbers = _numeric_keys(entity_rows, selection.join_keys)
    features = [c for c in selection.columns]
    report = SkewReport(endpoint, service, since, until, len(served), 0, [])
    if not served:
        report.features = [FeatureSkew(f, 0, 0, 0, 0) for f in features]
        return report

    def recompute(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = get_historical_features(
            rows, service, as_known_then=as_known_then, output="arrow", catalog=catalog
        )
        return list(found.to_pylist())

    # Keys are logged as JSON: numbers where the source's keys are numbers, else text.
    used = as_numbers
    try:
        offline = recompute(used)
    except ValidationError as exc:
        if "join key" not in exc.message or as_numbers is entity_rows:
            raise
        used = entity_rows
        offline = recompute(used)
    skews = {f: FeatureSkew(f, len(served), 0, 0, 0) for f in features}
    for logged, entity, recomputed in zip(served, used, offline, strict=True):
        wrong = False
        for name in features:
            a, b = logged.get(name), recomputed.get(name)
            if _same(a, b, tolerance):
                continue
            wrong = True
            skew = skews[name]
            skew.mismatches += 1
            skew.served_missing += a is None
            skew.offline_missing += b is None
            if len(skew.examples) < examples:
                skew.examples.append(
                    {
                        "request_id": logged["request_id"],
                        "time": logged["time"],
                        "keys": {k: entity[k] for k in selection.join_keys},
                        "served": a,
                        "offline": b,
                    }
                )
        report.rows_with_mismatch += wrong
    report.features = list(skews.values())
    return report


def _numeric_keys(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """``rows`` with the keys whose every value is a whole number as ints (the log reads
    keys as text); ``rows`` itself when none is."""
    numeric = [k for k in keys if all(r[k] is None or _INTEGER.fullmatch(str(r[k])) for r in rows)]
    if not numeric:
        return rows
    return [{**r, **{k: None if r[k] is None else int(r[k]) for k in numeric}} for r in rows]


def _served_columns(selection: Selection) -> dict[str, str]:
    """The logged columns to read: the join keys and request columns as logged, and every
    feature by its type."""
    columns: dict[str, str] = {}
    for view, _ in selection.views.values():
        for key in view.join_keys:
            columns[key] = "category"
    for name, dtype in selection.request_columns.items():
        columns[name] = _KINDS.get(dtype, "category")
    types: dict[str, str] = {}
    for view, names in selection.views.values():
        for name in names:
            types[name] = view.feature_types[name]
    for od, wanted in selection.on_demand:
        for f in od.spec.features:
            if f.name in wanted:
                types[f.name] = f.dtype
    for name in selection.columns:
        columns[name] = _KINDS.get(types.get(name, "string"), "category")
    return columns
