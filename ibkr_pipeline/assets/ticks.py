"""A strategy's ticks: one partition per instant its schedule fires, named by that instant.

The partition keyed ``2026-11-20-15:45`` is the tick that runs, and is computed as of, 15:45 on
2026-11-20 in the strategy's timezone. Dagster names a time window by its start, so the windows
are shifted by one (``end_offset=1``): the window that starts when a tick fires is that tick's
partition, and the schedule built from the partitioned job requests it at that instant. Across
the autumn DST change an hourly schedule fires twice at 01:30; Dagster names the second one
``2026-11-01-01:30-0500``.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from ibkr_pipeline.domain.strategy import StrategySpec

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"


def partitions_for(spec: StrategySpec) -> dg.TimeWindowPartitionsDefinition:
    """One partition per tick, keyed by the instant it runs (the window that starts then)."""
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=spec.schedule.cron,
        timezone=spec.schedule.timezone,
        start=datetime.combine(spec.schedule.start, datetime.min.time()),
        fmt=PARTITION_FORMAT,
        end_offset=1,
    )


def tick_instant(partitions: dg.TimeWindowPartitionsDefinition, key: str) -> datetime:
    """The instant the tick named ``key`` runs and is computed as of, in UTC."""
    return partitions.time_window_for_partition_key(key).start.astimezone(UTC)


def tick_instants(partitions: dg.TimeWindowPartitionsDefinition, keys: Sequence[str]) -> list[tuple[str, datetime]]:
    """Each partition key with the instant its tick is as of (UTC)."""
    return [(k, tick_instant(partitions, k)) for k in keys]


def tick_at(context: dg.AssetExecutionContext) -> datetime:
    """The instant the running tick is as of: its partition window's start, in UTC."""
    return context.partition_time_window.start.astimezone(UTC)


def as_of_label(at: datetime, timezone: str) -> str:
    """How every printout names a tick: ``as of 2026-11-20 15:45 America/New_York``."""
    from zoneinfo import ZoneInfo

    return f"as of {at.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M} {timezone}"


def ticks_between(
    partitions: dg.TimeWindowPartitionsDefinition, first: datetime, last: datetime, now: datetime | None = None
) -> list[str]:
    """Keys of the ticks that ran between two instants (inclusive), up to ``now``."""
    now = now or datetime.now(UTC)
    keys = partitions.get_partition_keys_in_time_window(dg.TimeWindow(first, last + timedelta(microseconds=1)))
    return [k for k, at in tick_instants(partitions, keys) if first <= at <= min(last, now)]


def legacy_name(partitions: dg.TimeWindowPartitionsDefinition, key: str) -> str:
    """What the tick named ``key`` was called before migration 0006: its previous tick's instant (then the
    window's start). Empty for the first tick of the schedule."""
    start = partitions.time_window_for_partition_key(key).start
    previous = partitions.get_prev_partition_window(start, respect_bounds=False)
    return partitions.get_partition_key_for_timestamp(previous.start.timestamp()) if previous else ""
