"""The project database's engine: one per URL per process, the schema migrated on first use.

SQLite under the project's data directory by default; set ``IBKR_PIPELINE_DB_URL``
to a PostgreSQL URL in production.
"""

from __future__ import annotations

import os
import time
import weakref
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase

from ibkr_pipeline import bundled
from ibkr_pipeline import settings as env

DB_URL_ENV = env.DB_URL.name
HOME_ENV = env.HOME.name


class Base(DeclarativeBase):
    pass


def data_dir() -> Path:
    """Where the embedded default keeps its files (database, bars, charts)."""
    path = Path(env.HOME.read()).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_url() -> str:
    return env.DB_URL.read() or f"sqlite:///{data_dir() / 'ibkr_pipeline.db'}"


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()  # as many as engine_for's cache still holds


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    """One engine per URL per process, with the schema created on first use."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record):  # concurrent Dagster steps share the file
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

    else:
        engine = create_engine(url, pool_pre_ping=True)
    _engines.add(engine)
    upgrade(engine)
    return engine


def _forget_inherited_connections() -> None:
    """A forked child (a Celery prefork worker, a forked step) opens its own connections: two processes on one
    inherited socket interleave their queries and wait on each other's answers. The parent's stay open."""
    for engine in _engines:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


MIGRATIONS = bundled.MIGRATIONS


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent; safe from concurrent steps)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for attempt in range(5):
        try:
            with engine.begin() as connection:
                _adopt_shared_version_row(connection, config)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process is migrating the same database right now; its work makes ours a no-op.
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def _adopt_shared_version_row(connection, config) -> None:
    """Databases made before the ledger had its own version table kept our revision in ``alembic_version``
    (which Dagster's storage also uses): move it to ours, so Alembic does not recreate existing tables."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect, text

    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables or "ibkr_pipeline_alembic_version" in tables:
        return
    versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    revisions = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    ours = [v for v in versions if v in revisions]
    if not ours:
        return
    connection.execute(
        text("CREATE TABLE ibkr_pipeline_alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    )
    connection.execute(text("INSERT INTO ibkr_pipeline_alembic_version VALUES (:v)"), {"v": ours[0]})
    connection.execute(text("DELETE FROM alembic_version WHERE version_num = :v"), {"v": ours[0]})
    if len(versions) == 1:
        connection.execute(text("DROP TABLE alembic_version"))
