"""Shared set-up for the benchmarks: strategies of N symbols, resources against the simulator."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ibkr_pipeline.domain.strategy import StrategySpec, parse_strategy
from ibkr_pipeline.exchange.universe import Universe

CLOCK = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
TICK = "2026-11-17-16:15"  # runs Tuesday 17 Nov 16:15 New York


def strategy(name: str, symbols: int, mode: str = "rules") -> StrategySpec:
    universe = ", ".join(f"{{symbol: {s}}}" for s in Universe.default().symbols[:symbols])
    text = f"""
name: {name}
mode: dry_run
universe: [{universe}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: 2024-01-01}}
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


@contextmanager
def timer(results: dict, key: str):
    started = time.perf_counter()
    yield
    results[key] = time.perf_counter() - started
