"""The single SQLAlchemy ``MetaData`` that every domain's tables join.

Domains define their tables in their own ``tables.py`` against :data:`metadata`;
Alembic migrations in ``store/migrations`` create them. A domain never reads another
domain's tables: it calls that domain's public functions.
"""

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
