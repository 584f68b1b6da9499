"""Incremental history: how long a bar lasts, which bars had finished at a tick, and merging a fetch."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ibkr_pipeline.domain import bar_history
from ibkr_pipeline.domain.bars import empty_bars, normalize_bars

DAYS = ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20"]  # Monday to Friday


def bars(days: list[str], closes: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(days, utc=True),
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": [100.0] * len(days),
        }
    )


@pytest.mark.parametrize(
    ("bar_size", "length"),
    [
        ("1 min", timedelta(minutes=1)),
        ("30 mins", timedelta(minutes=30)),
        ("1 hour", timedelta(hours=1)),
        ("2 hours", timedelta(hours=2)),
        ("8 hours", timedelta(hours=8)),
        ("1 day", timedelta(days=1)),
        ("1 week", timedelta(days=7)),
        ("1 month", timedelta(days=31)),
    ],
)
def test_a_bar_lasts_what_its_size_says(bar_size, length):
    assert bar_history.bar_length(bar_size) == length


def test_a_daily_bar_has_finished_at_the_very_instant_of_its_close():
    frame = bars(DAYS[:3], [1.0, 2.0, 3.0])
    close = datetime(2026, 11, 18, 21, 0, tzinfo=UTC)  # Wednesday 16:00 New York
    assert list(bar_history.completed_as_of(frame, close, "1 day")["close"]) == [1.0, 2.0, 3.0]
    before = close - timedelta(microseconds=1)
    assert list(bar_history.completed_as_of(frame, before, "1 day")["close"]) == [1.0, 2.0]


def test_a_weekly_bar_finishes_seven_days_after_the_monday_that_labels_it():
    weeks = bars(["2026-11-09", "2026-11-16"], [1.0, 2.0])
    sunday_midnight = datetime(2026, 11, 23, tzinfo=UTC)
    assert list(bar_history.completed_as_of(weeks, sunday_midnight, "1 week")["close"]) == [1.0, 2.0]
    friday = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # the week's last session has closed, its bar has not ended
    assert list(bar_history.completed_as_of(weeks, friday, "1 week")["close"]) == [1.0]
    thursday = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
    assert list(bar_history.completed_as_of(weeks, thursday, "1 week")["close"]) == [1.0]


def test_a_fetch_that_repeats_the_last_known_bar_replaces_it():
    known = bars(DAYS[:3], [1.0, 2.0, 3.0])
    merged = bar_history.merge(known, bars(DAYS[2:3], [30.0]))
    assert list(merged["close"]) == [1.0, 2.0, 30.0]
    merged = bar_history.merge(known, bars(DAYS[2:4], [30.0, 40.0]))
    assert list(merged["timestamp"]) == list(pd.to_datetime(DAYS[:4], utc=True))
    assert list(merged["close"]) == [1.0, 2.0, 30.0, 40.0]
    assert isinstance(merged.index, pd.RangeIndex) and list(merged.index) == [0, 1, 2, 3]


def test_a_fetch_inside_the_history_corrects_those_bars_and_keeps_the_rest():
    known = bars(DAYS, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert list(bar_history.merge(known, bars(DAYS[2:3], [30.0]))["close"]) == [1.0, 2.0, 30.0, 4.0, 5.0]
    assert list(bar_history.merge(known, bars(DAYS[3:4], [40.0]))["close"]) == [1.0, 2.0, 3.0, 40.0, 5.0]
    assert list(bar_history.merge(known, bars(DAYS[1:3], [20.0, 30.0]))["close"]) == [1.0, 20.0, 30.0, 4.0, 5.0]


def test_nothing_known_and_nothing_fetched_is_an_empty_history():
    merged = bar_history.merge(empty_bars(), pd.DataFrame())
    pd.testing.assert_frame_equal(merged, empty_bars())
    fetched = normalize_bars(bars(DAYS[:2], [1.0, 2.0]))
    pd.testing.assert_frame_equal(bar_history.merge(empty_bars(), fetched), fetched)
    pd.testing.assert_frame_equal(bar_history.merge(fetched, empty_bars()), fetched)


END = datetime(2026, 11, 17, 21, 15, tzinfo=UTC)  # Tuesday, after the close
YEAR_START = pd.Timestamp("2025-11-17 21:15", tz="UTC")  # END - 1 Y


def stamps(*instants) -> pd.DataFrame:
    """Bars at these instants (dates or UTC datetimes): where a history starts and ends is what matters."""
    utc = [pd.Timestamp(i) if pd.Timestamp(i).tzinfo else pd.Timestamp(i, tz="UTC") for i in instants]
    return bars([u.isoformat() for u in utc], [1.0] * len(instants))


def test_a_stored_history_that_starts_over_seven_bars_late_is_fetched_again_in_full():
    last = "2026-11-16"
    assert bar_history.missing_duration(empty_bars(), END, "1 Y", "1 day") == "1 Y"
    late = YEAR_START + timedelta(days=7, seconds=1)
    assert bar_history.missing_duration(stamps(late, last), END, "1 Y", "1 day") == "1 Y"
    at_seven = YEAR_START + timedelta(days=7)
    assert bar_history.missing_duration(stamps(at_seven, last), END, "1 Y", "1 day") == "3 D"
    two_late = YEAR_START + timedelta(days=2)
    assert bar_history.missing_duration(stamps(two_late, last), END, "1 Y", "1 day") == "3 D"
    # Only the first bar says where the history starts.
    early = YEAR_START - timedelta(days=1)
    gappy = stamps(early, YEAR_START + timedelta(days=30), last)
    assert bar_history.missing_duration(gappy, END, "1 Y", "1 day") == "3 D"


def test_an_incremental_fetch_of_weeks_or_months_asks_for_whole_periods():
    history = stamps(YEAR_START - timedelta(days=1), "2026-11-09")
    assert bar_history.missing_duration(history, END, "1 Y", "1 day") == "10 D"
    assert bar_history.missing_duration(history, END, "1 Y", "1 week") == "14 D"
    assert bar_history.missing_duration(history, END, "1 Y", "1 month") == "62 D"


def test_a_fetch_of_more_than_a_year_of_days_asks_for_the_whole_lookback():
    first = pd.Timestamp(END) - pd.DateOffset(years=2)
    a_year = stamps(first, END - timedelta(days=363, hours=12))
    assert bar_history.missing_duration(a_year, END, "2 Y", "1 day") == "365 D"
    over_a_year = stamps(first, END - timedelta(days=364, hours=12))
    assert bar_history.missing_duration(over_a_year, END, "2 Y", "1 day") == "2 Y"


def test_an_intraday_fetch_asks_for_seconds_up_to_a_day_then_whole_days():
    start = pd.Timestamp(END) - timedelta(days=2)
    for last, expected in [
        (END - timedelta(hours=2), "10800 S"),  # two hours missing and the last bar itself
        (END - timedelta(hours=23), "86400 S"),
        (END - timedelta(hours=23, seconds=1), "2 D"),
        (END - timedelta(hours=47), "2 D"),
        (END - timedelta(hours=47, seconds=1), "3 D"),
    ]:
        assert bar_history.missing_duration(stamps(start, last), END, "2 D", "1 hour") == expected, last
    assert bar_history.missing_duration(stamps(start, END - timedelta(hours=2)), END, "2 D", "30 mins") == "9000 S"


def test_a_tick_sees_the_forming_week_and_month_as_ib_reports_them_so_far():
    weeks = bars(["2026-11-09", "2026-11-16"], [1.0, 2.0])
    assert list(bar_history.as_of_tick(weeks, END, "1 week")["close"]) == [1.0, 2.0]
    months = bars(["2026-10-01", "2026-11-02"], [1.0, 2.0])
    assert list(bar_history.as_of_tick(months, END, "1 month")["close"]) == [1.0, 2.0]
    days = bars(DAYS, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert list(bar_history.as_of_tick(days, END, "1 day")["close"]) == [1.0, 2.0]


def test_a_window_holds_no_bar_after_its_end():
    days = bars(DAYS, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert list(bar_history.window(days, END, "1 W")["close"]) == [1.0, 2.0]
    assert list(bar_history.window(days, END, "1 D")["close"]) == [2.0]


def test_a_daily_bar_is_known_at_four_in_new_york_in_either_season_aligned_with_its_stamps():
    stamps = pd.Series(
        pd.to_datetime(["2026-07-01", "2026-07-02", "2026-11-18", "2026-11-18 14:30"], utc=True, format="ISO8601")
    )
    known_at = bar_history.daily_known_at(stamps.iloc[1:])
    assert list(known_at.index) == [1, 2, 3]
    assert list(known_at) == [
        pd.Timestamp("2026-07-02 20:00", tz="UTC"),  # daylight saving time
        pd.Timestamp("2026-11-18 21:00", tz="UTC"),
        pd.Timestamp("2026-11-18 21:00", tz="UTC"),
    ]


@pytest.mark.parametrize(
    ("end", "finished"),
    [("14:59:59", 0), ("15:00", 1), ("15:59:59", 1), ("16:00", 2), ("17:00", 3), ("2026-11-20 17:00", 3)],
)
def test_an_hourly_bar_has_finished_at_the_end_of_its_clock_hour(end, finished):
    """IB's first hourly bar of a session starts at 09:30 New York (14:30 UTC in winter) and ends at 10:00."""
    stamps = ["2026-11-19 14:30", "2026-11-19 15:00", "2026-11-19 16:00"]
    frame = bars(stamps, [1.0, 2.0, 3.0])
    frame.index = pd.RangeIndex(10, 13)  # a slice of a longer history
    at = pd.Timestamp(end if " " in end else f"2026-11-19 {end}", tz="UTC").to_pydatetime()
    done = bar_history.completed_as_of(frame, at, "1 hour")
    assert done["close"].tolist() == [1.0, 2.0, 3.0][:finished]
    assert list(done.columns) == list(frame.columns) and list(done.index) == list(range(finished))
