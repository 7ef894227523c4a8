"""Offline retrieval: point-in-time correct training data from feature views, on DuckDB.

- :func:`get_historical_features`: features for entity rows as they were at each row's
  time (``retrieval``; the join itself in ``pit``, reading sources in ``read``);
- :func:`save_training_set` and :func:`training_lineage`: a result registered as a
  dataset version with its lineage, and read back (``training``);
- :func:`read_view_rows`: a view's rows as a stream of Arrow batches, for
  materialization (``rows``).
"""

from mloop.features.offline.retrieval import get_historical_features
from mloop.features.offline.rows import read_view_rows
from mloop.features.offline.training import save_training_set, training_lineage

__all__ = ["get_historical_features", "read_view_rows", "save_training_set", "training_lineage"]
