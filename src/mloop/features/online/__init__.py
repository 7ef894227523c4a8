"""The online store: the newest feature values of each entity, for serving.

``FeatureStore`` (:mod:`.feature_store`) materializes views into the store, takes pushed
rows and reads features with statuses and freshness; the store is SQLite by default
(:mod:`.sqlite_store`) and Redis at scale (:mod:`.redis_store`); :mod:`.handlers` serves
reads and pushes over HTTP; :func:`.lookup.feature_lookup` gives endpoints their features.
"""
