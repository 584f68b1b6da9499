"""The ledger's schema shares a database with Dagster's storage (production) without stepping on it."""

from sqlalchemy import create_engine, inspect, text

from ibkr_pipeline.database.engine import MIGRATIONS, upgrade


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_the_ledger_migrates_beside_dagsters_own_alembic_version(database_url):
    engine = create_engine(database_url)
    with engine.begin() as conn:  # what dagster-postgres leaves in a database it owns
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('29b539ebc72a')"))
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "29b539ebc72a"
        assert conn.execute(text("SELECT version_num FROM ibkr_pipeline_alembic_version")).scalar() == head_revision()
    assert {"orders", "fills", "contract_cache"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_database_from_before_the_own_version_table_is_adopted_not_recreated(database_url):
    engine = create_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:  # the layout older releases wrote
        conn.execute(text("ALTER TABLE ibkr_pipeline_alembic_version RENAME TO alembic_version"))
        conn.execute(
            text(
                "INSERT INTO orders (order_ref, strategy, symbol, con_id, tick, mode, action, quantity, "
                "entry_type, status, broker_order_ids, perm_ids, error, created_at, updated_at) VALUES "
                "('r', 's', 'AAPL', 1, 't', 'paper', 'BUY', 1, 'MKT', 'filled', '', '', '', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert "alembic_version" not in tables and "ibkr_pipeline_alembic_version" in tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM orders")).scalar() == 1
    engine.dispose()
