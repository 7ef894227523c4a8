"""Alembic environment: uses the engine handed over by mloop.store.migrate."""

from alembic import context

from mloop.domains import load_all_tables
from mloop.store.schema import metadata

load_all_tables()

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
