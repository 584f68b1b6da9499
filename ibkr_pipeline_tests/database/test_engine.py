"""The project database's engine across os.fork: a child never uses the connections it inherited."""

import os

from sqlalchemy import text

from ibkr_pipeline.database.engine import engine_for


def test_a_forked_child_opens_its_own_connections_and_the_parents_stay_usable(database_url):
    engine = engine_for(database_url)
    with engine.connect() as connection:  # one connection now waits in the pool
        connection.execute(text("select 1"))
    assert engine.pool.checkedin() == 1
    child = os.fork()
    if child == 0:  # the child: the inherited connection is gone from its pool, and a new one works
        try:
            empty = engine.pool.checkedin() == 0
            with engine.connect() as connection:
                answered = connection.execute(text("select 2")).scalar() == 2
            os._exit(0 if empty and answered else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert engine.pool.checkedin() == 1  # the parent's connection was left open for the parent
    with engine.connect() as connection:
        assert connection.execute(text("select 3")).scalar() == 3
