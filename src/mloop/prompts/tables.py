"""Tables owned by the prompts domain: prompts, their immutable versions, labels with an
append-only history, and reviews (approvals) of versions."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    true,
)

from mloop.store.assets import asset_columns, lower_name_index
from mloop.store.pointers import pointer_tables
from mloop.store.schema import metadata

prompts = Table(
    "prompts",
    metadata,
    *asset_columns(),
    # The approval policy: a JSON list of labels that only an approved version may get.
    Column("approval_labels_json", Text, nullable=False, default="[]"),
    # Four eyes: an approval needs a reviewer other than the author (false: single user).
    Column(
        "require_distinct_reviewer",
        Boolean,
        nullable=False,
        default=True,
        server_default=true(),
    ),
)
lower_name_index(prompts)

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column(
        "name",
        String(256),
        ForeignKey("prompts.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    # sha256 of the canonical JSON of the content: the version's identity within the prompt.
    Column("digest", String(64), nullable=False),
    # The content, as canonical JSON: template, variables, params, output schema, description.
    Column("content_json", Text, nullable=False),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("source_path", Text, nullable=False, default=""),
    Column("created_by", String(256), nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Index("ix_prompt_versions_digest", "digest"),
)

# Labels, and the append-only audit trail of their moves (it outlives the prompt).
prompt_labels, prompt_label_history = pointer_tables(
    metadata,
    "prompts",
    pointers="prompt_labels",
    history="prompt_label_history",
    key="label",
)

prompt_reviews = Table(
    "prompt_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("reviewer", String(256), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("comment", Text, nullable=False, default=""),
    Column("created_time", BigInteger, nullable=False),
    ForeignKeyConstraint(
        ["name", "version"],
        ["prompt_versions.name", "prompt_versions.version"],
        ondelete="CASCADE",
        onupdate="CASCADE",
    ),
    Index("ix_prompt_reviews_version", "name", "version"),
)
