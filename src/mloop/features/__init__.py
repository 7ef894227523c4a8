"""The feature store: features defined once in plain Python, registered and versioned,
read point-in-time correct for training and fresh for serving. See ``docs/features.md``.

The names below are imported on first use (PEP 562): ``mloop.domains`` reads this
package's declaration without importing pydantic or the definitions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mloop.features.applying import apply
    from mloop.features.definitions import (
        Entity,
        FeatureService,
        FeatureView,
        OnDemandFeature,
        feature_view,
        on_demand_feature,
    )
    from mloop.features.offline import (
        get_historical_features,
        read_view_rows,
        save_training_set,
        training_lineage,
    )
    from mloop.features.online.feature_store import (
        FeatureStore,
        get_online_features,
        materialize,
        push,
    )
    from mloop.features.online.lookup import feature_lookup
    from mloop.features.online.reads import OnlineFeatures
    from mloop.features.sources import DatasetSource, FileSource, PostgresSource, SqlSource

# Public name -> the module defining it.
_EXPORTS: dict[str, str] = {
    "apply": "applying",
    "DatasetSource": "sources",
    "Entity": "definitions",
    "FeatureService": "definitions",
    "FeatureView": "definitions",
    "FileSource": "sources",
    "OnDemandFeature": "definitions",
    "PostgresSource": "sources",
    "SqlSource": "sources",
    "feature_view": "definitions",
    "on_demand_feature": "definitions",
    "get_historical_features": "offline",
    "read_view_rows": "offline",
    "save_training_set": "offline",
    "training_lineage": "offline",
    "FeatureStore": "online.feature_store",
    "OnlineFeatures": "online.reads",
    "feature_lookup": "online.lookup",
    "get_online_features": "online.feature_store",
    "materialize": "online.feature_store",
    "push": "online.feature_store",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mloop.features' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mloop.features.{module}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
