"""Tables owned by the features domain: definitions and their versions, and the watermark
each feature view was materialized to.

A definition is identified by its kind and name (a feature view and a feature service may
share a name). Every change registers a new version with the digest of its JSON; removing
a definition marks it removed (its versions stay: models trained on them keep their
lineage), and registering it again continues its version numbers.
"""

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from mloop.store.schema import metadata

feature_objects = Table(
    "feature_objects",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("latest_version", Integer, nullable=False),
    Column("removed", Boolean, nullable=False, default=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("spec_json", Text, nullable=False),
    # A feature service's views and on-demand features at their versions, as JSON.
    Column("pinned_json", Text, nullable=False, default="{}"),
    Column("created_by", String(256), nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Index("ux_feature_definitions_version", "kind", "name", "version", unique=True),
)

# How far each feature view's rows have been copied into the online store: the newest
# event time materialized, and when.
feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("view", String(256), primary_key=True),
    Column("view_version", Integer, nullable=False),
    Column("watermark", BigInteger, nullable=True),  # ms since the epoch, event time
    Column("rows", BigInteger, nullable=False, default=0),
    Column("materialized_at", BigInteger, nullable=False),
)

# Statistics of a view's offline rows (a ``mloop.data`` dataset profile: counts, nulls,
# quantiles, histograms, top values), computed on request and drawn by the UI.
feature_profiles = Table(
    "feature_profiles",
    metadata,
    Column("view", String(256), primary_key=True),
    Column("view_version", Integer, nullable=False),
    Column("profile_json", Text, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
)
