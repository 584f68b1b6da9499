"""The look-ahead guard: no bar from after the backtest's clock is ever read."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from ibkr_pipeline.backtest.point_in_time import LookAheadError, PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs
from ibkr_pipeline.backtest.runner import run_backtest
from ibkr_pipeline_tests.backtest.history import contracts, offline_analyst, spec, synthetic_daily, ticks

UNTIL = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_daily_bar_is_known_only_after_its_close_and_weeks_are_rebuilt_point_in_time():
    daily = synthetic_daily(["AAPL"], UNTIL)
    bars = PointInTimeBars(daily)
    wednesday_before_close = datetime(2026, 11, 18, 20, 59, tzinfo=UTC)  # 15:59 New York
    bars.advance_to(wednesday_before_close)
    assert bars.daily("AAPL", wednesday_before_close)["timestamp"].iloc[-1] == pd.Timestamp("2026-11-17", tz="UTC")
    after_close = datetime(2026, 11, 18, 21, 15, tzinfo=UTC)
    bars.advance_to(after_close)
    known = bars.daily("AAPL", after_close)
    assert known["timestamp"].iloc[-1] == pd.Timestamp("2026-11-18", tz="UTC")
    week = bars.bars("AAPL", "1 week", after_close, "1 Y").iloc[-1]
    days = known[known["timestamp"] >= pd.Timestamp("2026-11-16", tz="UTC")]  # Monday to Wednesday only
    assert week["timestamp"] == pd.Timestamp("2026-11-16", tz="UTC")
    assert week["open"] == days["open"].iloc[0] and week["close"] == days["close"].iloc[-1]
    assert week["high"] == days["high"].max() and week["low"] == days["low"].min()
    assert week["volume"] == days["volume"].sum()


def test_reading_after_the_clock_is_an_error():
    bars = PointInTimeBars(synthetic_daily(["AAPL"], UNTIL))
    with pytest.raises(LookAheadError, match="before the backtest clock started"):
        bars.daily("AAPL", datetime(2026, 1, 5, tzinfo=UTC))
    bars.advance_to(datetime(2026, 6, 1, 21, 0, tzinfo=UTC))
    with pytest.raises(LookAheadError, match="clock is at 2026-06-01 21:00"):
        bars.bars("AAPL", "1 day", datetime(2026, 6, 2, 21, 0, tzinfo=UTC), "6 M")
    with pytest.raises(ValueError, match="only moves forward"):
        bars.advance_to(datetime(2026, 5, 1, tzinfo=UTC))


def test_a_planted_future_bar_is_never_read_and_changes_nothing(tmp_path):
    strategy = spec()
    period = ticks(strategy, "2026-03-02-16:15", "2026-05-29-16:15")
    last_known = period[-1][1]
    clean = synthetic_daily([u.symbol for u in strategy.universe], last_known)
    planted = {}
    for symbol, frame in clean.items():
        future = pd.DataFrame(
            [
                {
                    "timestamp": pd.Timestamp(last_known.date(), tz="UTC") + pd.Timedelta(days=3),
                    "open": 1e6,
                    "high": 1e6,
                    "low": 1e6,
                    "close": 1e6,
                    "volume": 1e9,
                }
            ]
        )
        planted[symbol] = pd.concat([frame, future], ignore_index=True)

    def run(history):
        bars = PointInTimeBars(history)
        result = run_backtest(
            strategy, period, bars, contracts(strategy), offline_analyst(strategy, tmp_path), Costs(), 100_000
        )
        return result, bars

    base, _ = run(clean)
    with_plant, bars = run(planted)
    assert bars.latest_served < pd.Timestamp(last_known.date(), tz="UTC") + pd.Timedelta(days=3)
    assert with_plant.equity().equals(base.equity())
    assert [f.price for f in with_plant.fills] == [f.price for f in base.fills]
    assert base.orders_sent > 0, "the strategy must trade for the comparison to mean something"


def test_the_analyst_is_told_what_the_strategy_holds_at_each_tick(tmp_path):
    strategy = spec()
    period = ticks(strategy, "2026-03-02-16:15", "2026-04-30-16:15")
    history = synthetic_daily([u.symbol for u in strategy.universe], period[-1][1])
    analyst = offline_analyst(strategy, tmp_path)
    told: list[dict[str, str]] = []

    def listening(tick, end, frames, charts, positions):
        told.append(positions)
        return analyst(tick, end, frames, charts, positions)

    result = run_backtest(strategy, period, PointInTimeBars(history), contracts(strategy), listening, Costs(), 100_000)
    assert result.fills, "the strategy must trade for the prompt to have something to say"
    assert set(told[0].values()) == {"flat: this strategy holds no shares; no working orders"}
    longs = [text for positions in told for text in positions.values() if text.startswith("long ")]
    assert longs and all("at an average cost of " in t and "unrealized P&L " in t for t in longs)
