"""Weeks and months of daily bars, as both the gateway simulator and the backtest's point-in-time view build them."""

import numpy as np
import pandas as pd

from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.domain.bar_periods import aggregate_runs, period_starts

DAYS = pd.DatetimeIndex(
    [
        "2025-12-22",
        "2025-12-23",
        "2025-12-24",
        "2025-12-26",  # Christmas week
        "2025-12-29",
        "2025-12-30",
        "2025-12-31",
        "2026-01-02",  # ISO week 1 of 2026
        "2026-01-06",
        "2026-01-07",
    ]
)  # a week whose Monday is not traded here


def _daily() -> pd.DataFrame:
    n = len(DAYS)
    return pd.DataFrame(
        {
            "open": np.arange(n) + 10.0,
            "high": np.arange(n) + 12.0,
            "low": np.arange(n) + 8.0,
            "close": np.arange(n) + 11.0,
            "volume": np.full(n, 100.0),
        },
        index=DAYS,
    )


def test_weeks_run_monday_to_sunday_across_a_year_end_and_are_labelled_by_their_first_session():
    daily = _daily()
    weeks = aggregate_runs(daily.index, daily, period_starts(daily.index, "1 week"))
    assert list(weeks.index) == [pd.Timestamp("2025-12-22"), pd.Timestamp("2025-12-29"), pd.Timestamp("2026-01-06")]
    assert weeks.iloc[1].tolist() == [14.0, 19.0, 12.0, 18.0, 400.0]  # open of Monday, close of Friday 2 Jan


def test_months_split_at_the_calendar_month():
    daily = _daily()
    months = aggregate_runs(daily.index, daily, period_starts(daily.index, "1 month"))
    assert list(months.index) == [pd.Timestamp("2025-12-22"), pd.Timestamp("2026-01-02")]
    assert months["volume"].tolist() == [700.0, 300.0]


def test_the_point_in_time_week_is_the_same_resampler_over_the_days_known():
    daily = _daily().tz_localize("UTC").rename_axis("timestamp").reset_index()
    bars = PointInTimeBars({"X": daily})
    as_of = pd.Timestamp("2025-12-30 22:00", tz="UTC").to_pydatetime()
    bars.advance_to(as_of)
    week = bars.bars("X", "1 week", as_of, "1 M").iloc[-1]  # Monday and Tuesday of ISO week 1 so far
    assert week["timestamp"] == pd.Timestamp("2025-12-29", tz="UTC")
    assert [week["open"], week["high"], week["low"], week["close"], week["volume"]] == [14.0, 17.0, 12.0, 16.0, 200.0]
