"""Alembic environment: migrations run on the connection the project hands over (or the configured URL)."""

from alembic import context
from sqlalchemy import create_engine

from ibkr_pipeline.database import models  # noqa: F401 - registers the tables
from ibkr_pipeline.database.engine import Base, default_url

target_metadata = Base.metadata
# Our own version table: in production the ledger shares its PostgreSQL database with Dagster,
# whose storage keeps its Alembic revision in the default ``alembic_version``.
VERSION_TABLE = "ibkr_pipeline_alembic_version"


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True, version_table=VERSION_TABLE
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url") or default_url()
    with create_engine(url).connect() as conn:
        context.configure(
            connection=conn, target_metadata=target_metadata, render_as_batch=True, version_table=VERSION_TABLE
        )
        with context.begin_transaction():
            context.run_migrations()


run()
