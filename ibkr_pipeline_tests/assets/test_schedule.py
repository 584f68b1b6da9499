"""Ticks are named by the instant they run, for daily, weekly and hourly schedules, across both DST changes."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.assets.ticks import as_of_label, legacy_name, partitions_for, tick_instant, ticks_between
from ibkr_pipeline.domain.orders import order_ref
from ibkr_pipeline.domain.strategy import parse_strategy


def spec(cron: str, name: str = "dst"):
    return parse_strategy(
        f"""
name: {name}
universe: [{{symbol: AAPL}}]
schedule: {{cron: "{cron}", timezone: America/New_York, start: 2026-01-01}}
""",
        Path(f"{name}.yaml"),
    )


def fire(cron: str, at: datetime) -> str:
    """The partition key the schedule built from the strategy's job requests when it fires at ``at``."""
    [schedule] = list(build_strategy_definitions(spec(cron)).schedules)
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=at) as context,
    ):
        [request] = schedule.evaluate_tick(context).run_requests
    return request.partition_key


# (cron, the instant it fires in UTC, the key that names it): New York leaves daylight saving on
# 2026-11-01 (01:00-02:00 happens twice) and enters it on 2026-03-08 (02:00-03:00 does not happen).
CASES = [
    ("15 16 * * 1-5", datetime(2026, 10, 30, 20, 15, tzinfo=UTC), "2026-10-30-16:15"),  # Friday, EDT
    ("15 16 * * 1-5", datetime(2026, 11, 2, 21, 15, tzinfo=UTC), "2026-11-02-16:15"),  # Monday, EST
    ("15 16 * * 1-5", datetime(2026, 3, 6, 21, 15, tzinfo=UTC), "2026-03-06-16:15"),  # Friday, EST
    ("15 16 * * 1-5", datetime(2026, 3, 9, 20, 15, tzinfo=UTC), "2026-03-09-16:15"),  # Monday, EDT
    ("45 15 * * 5", datetime(2026, 10, 30, 19, 45, tzinfo=UTC), "2026-10-30-15:45"),
    ("45 15 * * 5", datetime(2026, 11, 6, 20, 45, tzinfo=UTC), "2026-11-06-15:45"),
    ("45 15 * * 5", datetime(2026, 11, 20, 20, 45, tzinfo=UTC), "2026-11-20-15:45"),
    ("45 15 * * 5", datetime(2026, 3, 13, 19, 45, tzinfo=UTC), "2026-03-13-15:45"),
    ("30 * * * *", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "2026-11-01-01:30"),  # the first 01:30 (EDT)
    ("30 * * * *", datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "2026-11-01-01:30-0500"),  # the second (EST)
    ("30 * * * *", datetime(2026, 11, 1, 7, 30, tzinfo=UTC), "2026-11-01-02:30"),
    ("30 * * * *", datetime(2026, 3, 8, 6, 30, tzinfo=UTC), "2026-03-08-01:30"),
    ("30 * * * *", datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "2026-03-08-03:30"),  # 02:30 does not exist
]


@pytest.mark.parametrize(("cron", "fires_at", "key"), CASES)
def test_the_schedule_requests_the_tick_named_by_the_instant_it_fires(cron, fires_at, key):
    assert fire(cron, fires_at) == key
    assert tick_instant(partitions_for(spec(cron)), key) == fires_at


def test_names_in_order_refs_and_printouts_carry_the_run_instant():
    weekly = partitions_for(spec("45 15 * * 5"))
    key = fire("45 15 * * 5", datetime(2026, 11, 20, 20, 45, tzinfo=UTC))
    assert order_ref("weekly", "XLK", key) == "weekly:XLK:2026-11-20-1545"
    assert as_of_label(tick_instant(weekly, key), "America/New_York") == "as of 2026-11-20 15:45 America/New_York"
    # Before migration 0006 the same tick was named by its window's start, one week earlier.
    assert legacy_name(weekly, key) == "2026-11-13-15:45"
    hourly = partitions_for(spec("30 * * * *"))
    assert legacy_name(hourly, "2026-11-01-02:30") == "2026-11-01-01:30-0500"


def test_ticks_between_two_days_are_those_that_ran_in_them():
    daily = partitions_for(spec("15 16 * * 1-5"))
    now = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)  # Thursday 17:00 New York: Thursday's tick has run
    assert ticks_between(
        daily, datetime(2026, 11, 16, 21, 15, tzinfo=UTC), datetime(2026, 11, 18, 21, 15, tzinfo=UTC), now
    ) == ["2026-11-16-16:15", "2026-11-17-16:15", "2026-11-18-16:15"]
    assert ticks_between(daily, datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC), now) == [
        "2026-11-19-16:15"
    ]
