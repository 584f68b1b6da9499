"""``make demo``: the embedded default end to end, with no network, account or key.

Starts the gateway simulator on a free port (clock at 10:00 New York on the last
full trading day, running 120x) and walks through it with the plain ib_async
example: contracts, bars, a quote and a paper bracket order that fills.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, time
from pathlib import Path

from ibkr_pipeline.gateway_sim.market import EXCHANGE_TZ, SessionCalendar
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

WALKTHROUGH = Path(__file__).resolve().parent.parent / "examples" / "ib_async_walkthrough.py"


def last_session_morning(now: datetime) -> datetime:
    cal = SessionCalendar()
    index = cal.last_index_started_by(now) - 1
    day = cal.session(index).day
    return datetime.combine(day, time(10, 0), tzinfo=EXCHANGE_TZ).astimezone(UTC)


def main() -> int:
    start = last_session_morning(datetime.now(UTC))
    config = SimulatorConfig(port=0, clock_start=start, clock_speed=120)
    with SimulatorThread(config) as gateway:
        print(f"gateway simulator on 127.0.0.1:{gateway.port}, clock {start:%Y-%m-%d %H:%M} UTC x120")
        return subprocess.call([sys.executable, str(WALKTHROUGH), "--port", str(gateway.port)])


if __name__ == "__main__":
    sys.exit(main())
