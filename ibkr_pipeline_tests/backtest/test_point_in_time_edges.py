"""The edges of what a backtest knows: the instant of a close, the latest bar served, a clock that stands still."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ibkr_pipeline.backtest.point_in_time import LookAheadError, PointInTimeBars
from ibkr_pipeline_tests.backtest.history import synthetic_daily

UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
WEDNESDAY_CLOSE = datetime(2026, 11, 18, 21, 0, tzinfo=UTC)  # 16:00 New York, standard time


def test_a_daily_bar_is_known_at_the_very_instant_of_its_close_and_not_a_microsecond_before():
    bars = PointInTimeBars(synthetic_daily(["AAPL"], UNTIL))
    bars.advance_to(WEDNESDAY_CLOSE)
    just_before = WEDNESDAY_CLOSE - timedelta(microseconds=1)
    assert bars.rows_known_by("AAPL", WEDNESDAY_CLOSE) == bars.rows_known_by("AAPL", just_before) + 1
    assert bars.daily("AAPL", WEDNESDAY_CLOSE)["timestamp"].iloc[-1] == pd.Timestamp("2026-11-18", tz="UTC")
    assert bars.daily("AAPL", just_before)["timestamp"].iloc[-1] == pd.Timestamp("2026-11-17", tz="UTC")


def test_latest_served_is_the_newest_bar_any_read_was_given():
    bars = PointInTimeBars(synthetic_daily(["AAPL", "MSFT"], UNTIL))
    assert bars.latest_served is None
    bars.advance_to(WEDNESDAY_CLOSE)
    bars.daily("AAPL", WEDNESDAY_CLOSE - timedelta(days=1))  # Tuesday's close: Tuesday's bar
    assert bars.latest_served == pd.Timestamp("2026-11-17", tz="UTC")
    bars.known_count("MSFT", WEDNESDAY_CLOSE)
    assert bars.latest_served == pd.Timestamp("2026-11-18", tz="UTC")
    bars.daily("AAPL", WEDNESDAY_CLOSE - timedelta(days=2))  # an older read does not move it back
    assert bars.latest_served == pd.Timestamp("2026-11-18", tz="UTC")


def test_the_clock_may_stand_still_but_never_go_back():
    bars = PointInTimeBars(synthetic_daily(["AAPL"], UNTIL))
    bars.advance_to(WEDNESDAY_CLOSE)
    bars.advance_to(WEDNESDAY_CLOSE)  # a tick retried at the same instant
    assert bars.clock == WEDNESDAY_CLOSE
    with pytest.raises(ValueError, match="2026-11-18 20:59:59.999999\\+00:00 is before 2026-11-18 21:00:00\\+00:00"):
        bars.advance_to(WEDNESDAY_CLOSE - timedelta(microseconds=1))


def test_errors_name_the_symbol_asked_for():
    bars = PointInTimeBars(synthetic_daily(["AAPL"], UNTIL))
    with pytest.raises(LookAheadError, match="^AAPL: asked for data before the backtest clock started$"):
        bars.known_count("AAPL", WEDNESDAY_CLOSE)
    bars.advance_to(WEDNESDAY_CLOSE)
    with pytest.raises(LookAheadError, match="^AAPL: asked for data as of 2026-11-19 21:00 UTC but the backtest clock"):
        bars.daily("AAPL", WEDNESDAY_CLOSE + timedelta(days=1))
    for read in (bars.known_count, bars.daily, lambda symbol, as_of: bars.bars(symbol, "1 week", as_of, "1 Y")):
        with pytest.raises(KeyError, match="no history for TSLA"):
            read("TSLA", WEDNESDAY_CLOSE)


def test_a_read_is_the_history_cut_at_what_is_known_with_nothing_added():
    bars = PointInTimeBars(synthetic_daily(["AAPL"], UNTIL))
    bars.advance_to(WEDNESDAY_CLOSE)
    known = bars.daily("AAPL", WEDNESDAY_CLOSE)
    full = bars.full_daily("AAPL")
    pd.testing.assert_frame_equal(known, full.iloc[: len(known)])
    assert known["timestamp"].iloc[-1] == pd.Timestamp("2026-11-18", tz="UTC")
    month = bars.bars("AAPL", "1 day", WEDNESDAY_CLOSE, "1 M")  # the sessions of 19 October to 18 November
    pd.testing.assert_frame_equal(month, known.iloc[-23:].reset_index(drop=True))
    assert month["timestamp"].iloc[0] == pd.Timestamp("2026-10-19", tz="UTC")


def test_an_intraday_bar_size_is_refused_by_name():
    bars = PointInTimeBars(synthetic_daily(["AAPL"], UNTIL))
    bars.advance_to(WEDNESDAY_CLOSE)
    with pytest.raises(ValueError, match="^backtests replay daily history: bar size '1 hour' is not one of"):
        bars.bars("AAPL", "1 hour", WEDNESDAY_CLOSE, "1 M")
