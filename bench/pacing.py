"""Historical fetches under IB's pacing rules: 200 small-bar requests (the hard limits apply) with no 162s,
close to the least time the rules allow; 200 daily+weekly requests (no hard limits) with no wait at all."""

from __future__ import annotations

import time
from datetime import timedelta

from bench.common import CLOCK, make_market_data
from bench.figures import figure
from ibkr_pipeline.broker.client import BarsRequest, IBKRClient, IBKRSettings
from ibkr_pipeline.domain import bar_history
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.pacing import PacingRules
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

# IB's windows shrunk 33x (10 minutes -> 18 s): the ratio to the minimum does not depend on the scale,
# and the real-time version (200 requests need 23+ minutes) does not fit a benchmark run.
SCALE = 0.03


def run() -> list[dict]:
    symbols = Universe.default().symbols[:100]
    with SimulatorThread(
        SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=True, pacing_time_scale=SCALE)
    ) as gw:
        make_market_data(gw.sim, symbols)
        client = IBKRClient(IBKRSettings(port=gw.port, pacing_time_scale=SCALE))
        client.connect()
        infos = client.run(client.resolve_many_async([ContractSpec(symbol=s) for s in symbols]))
        small = [BarsRequest(i, CLOCK, "1800 S", "30 secs") for i in infos] + [
            BarsRequest(i, CLOCK, "600 S", "5 secs") for i in infos
        ]
        started = time.perf_counter()
        client.bars_many(small)
        wall = time.perf_counter() - started
        day1 = CLOCK - timedelta(days=1)
        requests = [BarsRequest(i, day1, "1 Y", "1 day") for i in infos] + [
            BarsRequest(i, day1, "2 Y", "1 week") for i in infos
        ]
        waited_before = client.pacing.stats.waited_s
        started = time.perf_counter()
        first = client.bars_many(requests)
        daily_wall = time.perf_counter() - started
        daily_waited = client.pacing.stats.waited_s - waited_before
        first_bars = sum(len(f) for f in first)
        # The next tick asks only for what the stored bars lack.
        second_requests = [
            BarsRequest(
                r.contract,
                CLOCK,
                bar_history.missing_duration(
                    bar_history.completed_as_of(f, CLOCK, r.bar_size),
                    CLOCK,
                    "1 Y" if r.bar_size == "1 day" else "2 Y",
                    r.bar_size,
                ),
                r.bar_size,
            )
            for r, f in zip(requests, first, strict=True)
        ]
        second = client.bars_many(second_requests)
        second_bars = sum(len(f) for f in second)
        violations = gw.sim.pacing_violations
        client.disconnect()
    minimum = PacingRules().scaled(SCALE).minimum_duration(len(small))
    return [
        figure("pacing: 162 errors", violations, 0, detail=f"{len(small) + len(requests)} requests over 100 contracts"),
        figure(
            "pacing: small bars, wall / minimum allowed",
            wall / minimum,
            1.1,
            detail=f"{wall:.1f} s vs {minimum:.1f} s (IB windows x{SCALE:g})",
        ),
        figure(
            "pacing: daily+weekly, seconds waited for pacing",
            daily_waited,
            0,
            detail=f"{len(requests)} requests in {daily_wall:.1f} s: not held to the small-bar limits",
        ),
        figure(
            "second tick: bars transferred / first",
            second_bars / first_bars,
            detail=f"{first_bars} bars then {second_bars}; durations {sorted({r.duration for r in second_requests})}",
        ),
    ]
