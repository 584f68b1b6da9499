"""The tick's clock: whether the market is open and when it opens next, where the trading day starts, how old a
signal may be, and the orderRef a symbol was traded under before ticks were named by their instant."""

from datetime import UTC, datetime, timedelta

import pytest

from ibkr_pipeline import bundled
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.orders import OrderIntent, order_ref
from ibkr_pipeline.domain.strategy import load_strategy
from ibkr_pipeline.trading.tick import legacy_order, market_state, max_signal_age, trading_day_start


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Wednesday 10:00:30 New York; Thursday is Thanksgiving, so the next open is Friday 09:30.
        (datetime(2026, 11, 25, 15, 0, 30, tzinfo=UTC), (True, datetime(2026, 11, 27, 14, 30, tzinfo=UTC))),
        # Friday after Thanksgiving closes early, at 13:00 New York: 13:30 is after it.
        (datetime(2026, 11, 27, 18, 30, tzinfo=UTC), (False, datetime(2026, 11, 30, 14, 30, tzinfo=UTC))),
        # Saturday: the next open is Monday 09:30 New York.
        (datetime(2026, 11, 28, 17, 0, tzinfo=UTC), (False, datetime(2026, 11, 30, 14, 30, tzinfo=UTC))),
        # Before the calendar's first session: closed, with no next open to name.
        (datetime(2010, 3, 1, 15, 0, tzinfo=UTC), (False, None)),
    ],
)
def test_market_state_follows_the_nyse_calendar(now, expected):
    assert market_state(now) == expected


@pytest.mark.parametrize(
    ("now", "start"),
    [
        # 22:00 New York on Tuesday (EST, UTC-5): the day began at Tuesday's midnight there.
        (datetime(2026, 11, 25, 3, 0, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        # Summer time (EDT, UTC-4).
        (datetime(2026, 7, 1, 3, 0, tzinfo=UTC), datetime(2026, 6, 30, 4, 0, tzinfo=UTC)),
        (datetime(2026, 7, 1, 15, 0, tzinfo=UTC), datetime(2026, 7, 1, 4, 0, tzinfo=UTC)),
    ],
)
def test_the_trading_day_starts_at_midnight_new_york(now, start):
    found = trading_day_start(now)
    assert found == start
    assert found.tzinfo is UTC


def test_a_signal_may_be_as_old_as_the_strategy_says_or_else_one_schedule_period():
    spec = load_strategy(bundled.STRATEGIES / "us_megacaps_daily.yaml")  # 16:15 New York, Monday to Friday
    wednesday = datetime(2026, 11, 25, 21, 15, tzinfo=UTC)
    assert max_signal_age(spec, wednesday) > timedelta(hours=1)
    limited = spec.model_copy(update={"risk": spec.risk.model_copy(update={"max_signal_age_minutes": 45})})
    assert max_signal_age(limited, wednesday) == timedelta(minutes=45)


def intent(ref: str, strategy: str, tick_as_of: datetime | None) -> OrderIntent:
    return OrderIntent(
        order_ref=ref,
        strategy=strategy,
        symbol="AAPL",
        con_id=265598,
        tick="2026-11-24",
        tick_as_of=tick_as_of,
        mode="paper",
        action="BUY",
        quantity=10,
        entry_type="MKT",
    )


def test_a_symbol_traded_under_the_ticks_old_name_is_found_by_that_name_only(tmp_path):
    ledger = Ledger(engine_for(f"sqlite:///{tmp_path / 'ledger.db'}"))
    old = order_ref("megacaps", "AAPL", "2026-11-24")
    ledger.record_intent(intent(old, "megacaps", None))
    assert legacy_order(ledger, "megacaps", "AAPL", "2026-11-24") == old
    assert legacy_order(ledger, "megacaps", "MSFT", "2026-11-24") == ""
    assert legacy_order(ledger, "rotation", "AAPL", "2026-11-24") == ""
    # A ref that names an instant is a tick of the new naming, not a legacy one.
    named = order_ref("rotation", "AAPL", "2026-11-24")
    ledger.record_intent(intent(named, "rotation", datetime(2026, 11, 24, 21, 15, tzinfo=UTC)))
    assert legacy_order(ledger, "rotation", "AAPL", "2026-11-24") == ""
