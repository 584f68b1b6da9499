"""A year of daily ticks for 20 symbols with the offline analyst: one Dagster run, against the bare runner."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import dagster as dg

from bench.common import CLOCK, strategy
from bench.figures import figure
from ibkr_pipeline.assets.backtest import BacktestConfig, _analyst, materialize_backtest
from ibkr_pipeline.assets.ticks import partitions_for, tick_instants
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs
from ibkr_pipeline.backtest.runner import run_backtest
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline.resources.chart_store import ChartStore
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.storage.bar_files import from_parquet

BARE_TICKS = 42  # two months: the bare loop is the per-tick baseline, not a second full year


def run() -> list[dict]:
    spec = strategy("backtest_bench", 20, mode="llm")
    parts = partitions_for(spec)
    keys = [k for k in parts.get_partition_keys() if "2025-11-17" <= k[:10] <= "2026-11-16"]
    with SimulatorThread(SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=False)) as gw, \
            tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        db = f"sqlite:///{Path(tmp) / 'db.sqlite'}"
        store = ChartStore(local_dir=str(Path(tmp) / "objects"))
        resources = {"ibkr": IBKRResource(port=gw.port, database_url=db), "chart_store": store,
                     "llm": LLMResource(database_url=db)}
        defs = build_strategy_definitions(spec)
        started = time.perf_counter()
        materialize_backtest(defs, spec, keys, BacktestConfig(), resources, instance)
        dagster_s = time.perf_counter() - started
        runs = len(instance.get_runs())  # the backtest and its report
        daily = {u.symbol: from_parquet(store.get(f"history/{u.symbol.replace(' ', '_')}/1_day.parquet"))
                 for u in spec.universe}
        with resources["ibkr"].get_client() as client:
            infos = client.run(client.resolve_many_async([u.contract_spec() for u in spec.universe]))
        contracts = dict(zip([u.symbol for u in spec.universe], infos, strict=True))
        ticks = tick_instants(parts, keys[:BARE_TICKS])
        started = time.perf_counter()
        b = spec.backtest
        run_backtest(spec, ticks, PointInTimeBars(daily), contracts, _analyst(spec, LLMResource(), store, contracts),
                     Costs(b.slippage_bps, b.commission_per_share, b.min_commission), b.starting_cash)
        bare_per_tick = (time.perf_counter() - started) / len(ticks)
    per_tick = dagster_s / len(keys)
    return [
        figure("backtest: 1 year x 20 symbols, wall (s)", dagster_s, 300,
               detail=f"{len(keys)} daily ticks, offline analyst, {runs} Dagster runs (backtest + report)"),
        figure("backtest: Dagster per tick / bare runner per tick", per_tick / bare_per_tick, 1.2,
               detail=f"{per_tick:.3f} s vs {bare_per_tick:.3f} s (bare over {len(ticks)} ticks; includes history fetch)"),
    ]
