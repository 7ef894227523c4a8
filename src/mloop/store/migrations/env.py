"""Alembic environment: uses the engine handed over by mloop.store.migrate."""

from alembic import context

import mloop.auth.tables
import mloop.compat.mlflow.tables
import mloop.datasets.tables
import mloop.llm.calls.tables
import mloop.prompts.tables
import mloop.registry.tables
import mloop.tracking.tables  # noqa: F401  (registers tables on the metadata)
from mloop.store.schema import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # invoked from the alembic command line
    from sqlalchemy import create_engine

    from mloop.core.config import get_settings

    engine = create_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
