"""A year of daily ticks for 20 symbols with the offline analyst: the fast path, the tick-by-tick path it replaces
(timed over its first ticks, in the same run), and one Dagster run of the backtest asset against the bare runner.
Then ten years of daily ticks for 100 symbols on the fast path, in a fresh process that gives its peak memory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from bench.common import CLOCK, strategy
from bench.figures import figure
from ibkr_pipeline.assets.backtest import BacktestConfig, materialize_backtest
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.assets.ticks import partitions_for, tick_instants
from ibkr_pipeline.backtest.history import fetch_daily
from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs
from ibkr_pipeline.backtest.runner import history_start, run_backtest, run_fast_backtest
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline.objects import keys as object_keys
from ibkr_pipeline.objects.bar_files import from_parquet, to_parquet
from ibkr_pipeline.pipeline.analysis import analyst_for
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

TICK_BY_TICK_TICKS = 21  # a month of the path the fast one replaces: its per-tick cost, not a second full year
DECADE_SYMBOLS = 100
DECADE = ("2016-11-17", "2026-11-16")


def run() -> list[dict]:
    return one_year() + decade()


def one_year() -> list[dict]:
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
        costs = Costs.of(b)
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
            detail=f"{dagster_s:.1f} s vs {fast_s:.1f} s; Dagster writes a planned and a materialization event "
            f"per tick partition ({len(ticks)} of each) and runs the report",
        ),
    ]


def decade_spec() -> StrategySpec:
    return strategy("backtest_decade", DECADE_SYMBOLS, mode="llm", start="2016-01-01")


def _decade_ticks(spec: StrategySpec) -> list[tuple[str, datetime]]:
    parts = partitions_for(spec)
    return tick_instants(parts, [k for k in parts.get_partition_keys() if DECADE[0] <= k[:10] <= DECADE[1]])


def fetch_decade(folder: Path) -> None:
    """The decade's daily bars for every symbol from the simulator (one long request each), as parquet files."""
    spec = decade_spec()
    ticks = _decade_ticks(spec)
    with (
        SimulatorThread(SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=False)) as gw,
        IBKRResource(port=gw.port, request_timeout_s=900).get_client(
            DatabaseResource(url=f"sqlite:///{folder / 'cache.sqlite'}")
        ) as client,
    ):
        infos = client.run(client.resolve_many_async([u.contract_spec() for u in spec.universe]))
        contracts: dict[str, ContractInfo] = dict(zip([u.symbol for u in spec.universe], infos, strict=True))
        daily = fetch_daily(client, contracts, history_start(spec, ticks[0][1]).to_pydatetime(), ticks[-1][1])
    for symbol, bars in daily.items():
        if not isinstance(bars, pd.DataFrame):
            raise RuntimeError(f"decade bench: daily history for {symbol}: {bars}")
        (folder / f"{symbol}.parquet").write_bytes(to_parquet(bars))
        (folder / f"{symbol}.json").write_text(contracts[symbol].model_dump_json())


def fast_backtest_from_files(folder: Path) -> tuple[float, int, int]:
    """The decade's fast backtest on the files ``fetch_decade`` wrote: seconds, symbol-ticks, fills."""
    spec = decade_spec()
    ticks = _decade_ticks(spec)
    symbols = [u.symbol for u in spec.universe]
    contracts = {s: ContractInfo.model_validate_json((folder / f"{s}.json").read_text()) for s in symbols}
    daily = {s: from_parquet((folder / f"{s}.parquet").read_bytes()) for s in symbols}
    b = spec.backtest
    costs = Costs.of(b)
    started = time.perf_counter()
    result = run_fast_backtest(spec, ticks, PointInTimeBars(daily), contracts, costs, b.starting_cash)
    return time.perf_counter() - started, len(ticks) * len(symbols), len(result.fills)


FRESH_DECADE = """
import sys
from pathlib import Path
from bench.backtest import fast_backtest_from_files
from bench.common import peak_kb
base = peak_kb()
seconds, symbol_ticks, fills = fast_backtest_from_files(Path(sys.argv[1]))
print(seconds, symbol_ticks, fills, base, peak_kb())
"""


def decade() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        fetch_decade(Path(tmp))
        fetch_s = time.perf_counter() - started
        out = subprocess.run([sys.executable, "-c", FRESH_DECADE, tmp], capture_output=True, text=True, check=True)
    seconds, symbol_ticks, fills, base_kb, top_kb = out.stdout.split()[-5:]
    wall, peak = float(seconds), int(top_kb)
    return [
        figure(
            f"fast backtest: 10 years x {DECADE_SYMBOLS} symbols daily, wall (s)",
            wall,
            300,
            detail=f"{int(symbol_ticks):,} symbol-ticks ({wall / int(symbol_ticks) * 1e6:.0f} us each), {fills} fills, "
            f"offline analyst; history fetched from the simulator first in {fetch_s:.0f} s",
        ),
        figure(
            f"fast backtest: 10 years x {DECADE_SYMBOLS} symbols, peak memory (GiB)",
            peak / 1024**2,
            2.0,
            detail=f"fresh process: {int(base_kb) / 1024:.0f} MiB after imports, peak {peak / 1024:.0f} MiB",
        ),
    ]
