"""Partitions and the schedule built from the partitioned job, across a DST change."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from ibkr_pipeline.assets.strategy import build_strategy_definitions, partitions_for
from ibkr_pipeline.domain.strategy import parse_strategy

SPEC = parse_strategy(
    """
name: dst
universe: [{symbol: AAPL}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-10-01}
""",
    Path("dst.yaml"),
)


def test_ticks_follow_new_york_time_across_the_end_of_daylight_saving():
    partitions = partitions_for(SPEC)
    # Friday 30 Oct (EDT, UTC-4) and Monday 2 Nov (EST, UTC-5), both 16:15 in New York.
    friday = partitions.time_window_for_partition_key("2026-10-29-16:15")
    monday = partitions.time_window_for_partition_key("2026-10-30-16:15")
    assert friday.end.astimezone(UTC) == datetime(2026, 10, 30, 20, 15, tzinfo=UTC)
    assert monday.end.astimezone(UTC) == datetime(2026, 11, 2, 21, 15, tzinfo=UTC)
    keys = partitions.get_partition_keys_in_range(dg.PartitionKeyRange("2026-10-29-16:15", "2026-11-03-16:15"))
    assert keys == ["2026-10-29-16:15", "2026-10-30-16:15", "2026-11-02-16:15", "2026-11-03-16:15"]


def test_schedule_requests_the_tick_that_just_ended():
    defs = build_strategy_definitions(SPEC)
    [schedule] = list(defs.schedules)
    assert schedule.cron_schedule == "15 16 * * 1-5" and schedule.execution_timezone == "America/New_York"
    for fired_at, expected in [
        (datetime(2026, 10, 30, 20, 15, tzinfo=UTC), "2026-10-29-16:15"),
        (datetime(2026, 11, 2, 21, 15, tzinfo=UTC), "2026-10-30-16:15"),
    ]:
        with dg.instance_for_test() as instance, dg.build_schedule_context(
            instance=instance, scheduled_execution_time=fired_at
        ) as context:
            result = schedule.evaluate_tick(context)
        [request] = result.run_requests
        assert request.partition_key == expected
