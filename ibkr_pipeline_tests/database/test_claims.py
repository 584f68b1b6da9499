"""Claims: one holder per key at a time, on SQLite and PostgreSQL; a dead holder's lease runs out."""

import pytest

from ibkr_pipeline.database.claims import ClaimHeld, Claims
from ibkr_pipeline.database.engine import engine_for


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_one_holder_until_release_or_expiry(database_url):
    clock = Clock()
    claims = Claims(engine_for(database_url), clock=clock)
    assert claims.acquire("order:s:AAPL:t", "run-a", lease_s=60) is None
    assert claims.acquire("order:s:AAPL:t", "run-a", lease_s=60) is None  # renewing our own
    held = claims.acquire("order:s:AAPL:t", "run-b", lease_s=60)
    assert held is not None and held.owner == "run-a" and held.seconds_left == 60
    assert claims.acquire("order:s:MSFT:t", "run-b", lease_s=60) is None  # another key is free
    clock.now += 61  # run-a died holding it
    assert claims.holder("order:s:AAPL:t") is None
    assert claims.acquire("order:s:AAPL:t", "run-b", lease_s=60) is None
    assert claims.acquire("order:s:AAPL:t", "run-a", lease_s=60).owner == "run-b"  # run-a cannot take it back
    claims.release("order:s:AAPL:t", "run-a")  # releasing what is not ours does nothing
    assert claims.holder("order:s:AAPL:t").owner == "run-b"
    claims.release("order:s:AAPL:t", "run-b")
    assert claims.acquire("order:s:AAPL:t", "run-c", lease_s=60) is None


def test_held_refuses_at_once_and_its_lease_renews_only_while_ours(database_url):
    clock = Clock()
    claims = Claims(engine_for(database_url), clock=clock)
    with claims.held("strategy:s", "run-a", lease_s=300) as lease:
        with pytest.raises(ClaimHeld, match="strategy:s is claimed by run-a for another 300 s"):
            with claims.held("strategy:s", "run-b", lease_s=300):
                pass
        assert lease.renew() == ""
        clock.now += 301
        assert claims.acquire("strategy:s", "run-b", lease_s=300) is None  # run-a stalled past its lease
        assert lease.renew() == "strategy:s was taken over by run-b; nothing more is sent here"
    assert claims.holder("strategy:s").owner == "run-b"  # leaving the block released nothing of run-b's
