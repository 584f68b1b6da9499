"""A strategy's ticks: partition keys and the instant each is as of."""

from datetime import UTC, datetime

import dagster as dg


def tick_instants(partitions: dg.TimeWindowPartitionsDefinition, keys: list[str]) -> list[tuple[str, datetime]]:
    """Each partition key with the instant its tick is as of (its window's end, UTC)."""
    return [(k, partitions.time_window_for_partition_key(k).end.astimezone(UTC)) for k in keys]
