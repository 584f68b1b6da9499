"""The suite's clock: every test runs at SUITE_NOW (and on from there), whatever the date the suite runs on.

Dagster's partitions (which ticks exist yet), cache TTLs and every ``datetime.now()`` in a test read it. A
process a test starts for faults only a real process has (``trading/placement_worker.py``) joins the same
clock through ``OFFSET_ENV``, so leases and timestamps agree across processes; servers a test starts as
programs (the topology's) run on the real clock.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import time_machine

SUITE_NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OFFSET_ENV = "IBKR_PIPELINE_TESTS_CLOCK_OFFSET_S"


def fresh_offset() -> str:
    """Seconds from the real clock to the suite's, now: a test's clock starts at SUITE_NOW."""
    return repr(SUITE_NOW.timestamp() - time.time())


def start_suite_clock() -> time_machine.travel:
    """Moves this process to the suite's clock (the offset in ``OFFSET_ENV``, which a child inherits from the
    test that started it), ticking on from there."""
    offset = float(os.environ.get(OFFSET_ENV) or fresh_offset())
    traveller = time_machine.travel(time.time() + offset, tick=True)
    traveller.start()
    return traveller
