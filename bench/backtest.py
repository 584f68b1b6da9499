"""A year of daily ticks for 20 symbols with the offline analyst: the fast path, the tick-by-tick path it replaces
(timed over its first ticks, in the same run), and one Dagster run of the backtest asset against the bare runner."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import dagster as dg

from bench.common import CLOCK, strategy
from bench.figures import figure
from ibkr_pipeline.assets.backtest import BacktestConfig, materialize_backtest
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.assets.ticks import partitions_for, tick_instants
from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs
from ibkr_pipeline.backtest.runner import run_backtest, run_fast_backtest
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline.objects import keys as object_keys
from ibkr_pipeline.objects.bar_files import from_parquet
from ibkr_pipeline.pipeline.analysis import analyst_for
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

TICK_BY_TICK_TICKS = 21  # a month of the path the fast one replaces: its per-tick cost, not a second full year


def run() -> list[dict]:
    spec = strategy("backtest_bench", 20, mode="llm")
    parts = partitions_for(spec)
    keys = [k for k in parts.get_partition_keys() if "2025-11-17" <= k[:10] <= "2026-11-16"]
    with (
        SimulatorThread(SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=False)) as gw,
        tempfile.TemporaryDirectory() as tmp,
        dg.instance_for_test() as instance,
    ):
        db = f"sqlite:///{Path(tmp) / 'db.sqlite'}"
        store = ObjectStoreResource(local_dir=str(Path(tmp) / "objects"))
        resources = {
            "ibkr": IBKRResource(port=gw.port),
            "database": DatabaseResource(url=db),
            "objects": store,
            "llm": LLMResource(),
        }
        defs = build_strategy_definitions(spec)
        started = time.perf_counter()
        materialize_backtest(defs, spec, keys, BacktestConfig(), resources, instance)
        first_s = time.perf_counter() - started
        started = time.perf_counter()  # again, with the history in the store: the backtest and its report only
        materialize_backtest(defs, spec, keys, BacktestConfig(), resources, instance)
        dagster_s = time.perf_counter() - started
        daily = {u.symbol: from_parquet(store.get(object_keys.daily_history(u.symbol))) for u in spec.universe}
        with resources["ibkr"].get_client(resources["database"]) as client:
            infos = client.run(client.resolve_many_async([u.contract_spec() for u in spec.universe]))
        contracts = dict(zip([u.symbol for u in spec.universe], infos, strict=True))
        ticks = tick_instants(parts, keys)
        b = spec.backtest
        costs = Costs(b.slippage_bps, b.commission_per_share, b.min_commission)
        started = time.perf_counter()
        fast = run_fast_backtest(spec, ticks, PointInTimeBars(daily), contracts, costs, b.starting_cash)
        fast_s = time.perf_counter() - started
        started = time.perf_counter()
        run_backtest(
            spec,
            ticks[:TICK_BY_TICK_TICKS],
            PointInTimeBars(daily),
            contracts,
            analyst_for(spec, LLMResource(), None, store, contracts),
            costs,
            b.starting_cash,
        )
        tick_by_tick_s = (time.perf_counter() - started) / TICK_BY_TICK_TICKS * len(ticks)
    return [
        figure(
            "fast backtest: 1 year x 20 symbols daily, wall (s)",
            fast_s,
            10,
            detail=f"{len(ticks)} ticks, offline analyst, {len(fast.fills)} fills; "
            f"recomputed per tick: {sorted(fast.per_tick_indicators) or 'none'}",
        ),
        figure(
            "tick-by-tick backtest, same year, wall (s)",
            tick_by_tick_s,
            detail=f"from its first {TICK_BY_TICK_TICKS} ticks; the fast path is {tick_by_tick_s / fast_s:.1f}x faster",
        ),
        figure(
            "backtest: 1 year x 20 symbols via Dagster, wall (s)",
            dagster_s,
            detail=f"the backtest asset and its report, history in the store ({first_s:.1f} s the first time, "
            "fetching it from the simulator)",
        ),
        figure(
            "backtest: Dagster run / bare fast runner",
            dagster_s / fast_s,
            1.5,
            detail=f"{dagster_s:.1f} s vs {fast_s:.1f} s",
        ),
    ]
