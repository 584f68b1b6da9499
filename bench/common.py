"""Shared set-up for the benchmarks: strategies of N symbols, resources against the simulator."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ibkr_pipeline.domain.strategy import StrategySpec, parse_strategy
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline.gateway_sim.server import GatewaySimulator

CLOCK = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)


HISTORY_SESSIONS = 3 * 252  # every session the benches' lookbacks reach (weekly bars: 2 Y) and some


def make_market_data(sim: GatewaySimulator, symbols: list[str]) -> None:
    """The simulator's prices for these symbols (daily paths, and the minutes of its clock's session that a
    quote reads) made before the timed part: IB's data exists before anyone asks, and making it up on the
    machine's cores is the simulator's cost, not the pipeline's."""
    market = sim.market
    today = market.calendar.last_index_started_by(sim.clock.now())
    for symbol in symbols:
        instrument = sim.universe.by_symbol(symbol)
        assert instrument is not None, symbol
        market.daily_bars(instrument, True, today - HISTORY_SESSIONS, today)
        market.minute_frame(instrument, today, rth=True)


TICK = "2026-11-17-16:15"  # runs Tuesday 17 Nov 16:15 New York


def strategy(name: str, symbols: int, mode: str = "rules", start: str = "2024-01-01") -> StrategySpec:
    universe = ", ".join(f"{{symbol: {s}}}" for s in Universe.default().symbols[:symbols])
    text = f"""
name: {name}
mode: dry_run
universe: [{universe}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: {start}}}
indicators:
  - {{kind: sma, params: {{length: 50}}}}
  - {{kind: ema, params: {{length: 20}}}}
  - {{kind: rsi, params: {{length: 14}}}}
  - {{kind: macd}}
  - {{kind: atr, params: {{length: 14}}, name: atr_14}}
chart: {{overlays: [sma_50, ema_20], panels: [rsi_14, macd_12_26_9]}}
signal: {{mode: {mode}, buy: "rsi_14 < 35", sell: "rsi_14 > 70", atr: atr_14}}
"""
    return parse_strategy(text, Path(f"{name}.yaml"))


def peak_kb() -> int:
    """This process's peak resident memory so far (VmHWM, kB). Not ru_maxrss: Linux carries that across exec, so
    a child forked from the big bench process would report the parent's size."""
    return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))  # type: ignore[union-attr]


@contextmanager
def timer(results: dict, key: str):
    started = time.perf_counter()
    yield
    results[key] = time.perf_counter() - started
