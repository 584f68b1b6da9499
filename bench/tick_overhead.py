"""A tick through Dagster against the same work in a bare Python loop, for 1, 10 and 50 symbols.

The 50-symbol Dagster tick runs in a fresh process, which also gives its peak memory (max RSS) without a second
50-symbol tick just for that.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from bench.common import CLOCK, TICK, strategy
from bench.figures import figure
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.assets.ticks import partitions_for, tick_instant
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline.objects import keys
from ibkr_pipeline.objects.bar_files import StrategyBars
from ibkr_pipeline.pipeline.analysis import analyse_symbols
from ibkr_pipeline.pipeline.bars import fetch_and_merge
from ibkr_pipeline.pipeline.charts import draw_charts
from ibkr_pipeline.pipeline.indicators import compute_indicators
from ibkr_pipeline.pipeline.signals import decide_signals
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline.trading.broker import GatewayBroker
from ibkr_pipeline.trading.tick import trade_tick

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def resources(port: int, tmp: Path) -> dict:
    db = f"sqlite:///{tmp / 'db.sqlite'}"
    # IB's historical pacing (60 requests per 10 minutes) would dominate a 100-request tick; both sides of the
    # comparison use the same client with the rules shrunk so the figure measures orchestration, not pacing.
    return {
        "ibkr": IBKRResource(port=port, pacing_time_scale=0.001),
        "database": DatabaseResource(url=db),
        "objects": ObjectStoreResource(local_dir=str(tmp / "objects")),
        "llm": LLMResource(),
        "alerts": AlertWebhook(),
    }


def bare_tick(spec, res: dict, tmp: Path) -> int:
    """The same steps with the same functions (``ibkr_pipeline.pipeline``), in one process, without Dagster."""
    end = tick_instant(partitions_for(spec), TICK)
    store: ObjectStoreResource = res["objects"]
    database = res["database"]
    with res["ibkr"].get_client(database) as client:
        infos = client.run(client.resolve_many_async([u.contract_spec() for u in spec.universe]))
        contracts = {u.symbol: i for u, i in zip(spec.universe, infos, strict=True)}
        histories = StrategyBars(store, spec.name)
        bars = fetch_and_merge(spec, contracts, end, histories.get, client.bars_streamed, {}, histories.put)
    indicators = compute_indicators(spec, bars.results).results
    drawn = draw_charts(spec, indicators, store, lambda s, tf: keys.chart(spec.name, s, TICK, tf), end).results
    frames = {s: indicators.values[s] for s in drawn.values}
    records = analyse_symbols(
        spec,
        res["llm"],
        database.answer_cache(),
        store,
        contracts,
        frames,
        drawn.values,
        end,
        {s: "flat: this strategy holds no shares; no working orders" for s in frames},
    )
    signals = decide_signals(spec, end, frames, records)
    with res["ibkr"].get_client(database) as client:
        trade_tick(spec, TICK, signals, contracts, GatewayBroker(client, tmp), database.ledger())
    return len(signals)


def dagster_tick(n: int, port: int, tmp: Path) -> float:
    spec = strategy(f"bench{n}", n)
    defs = build_strategy_definitions(spec)
    with dg.instance_for_test() as instance:
        started = time.perf_counter()
        result = dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.groups(spec.name),
            partition_key=TICK,
            resources=resources(port, tmp),
            instance=instance,
            run_config=QUIET,
        )
        elapsed = time.perf_counter() - started
    assert result.success
    return elapsed


def bare_tick_timed(n: int, port: int, tmp: Path) -> float:
    started = time.perf_counter()
    assert bare_tick(strategy(f"bench{n}", n), resources(port, tmp), tmp) == n
    return time.perf_counter() - started


# At N = 50 both legs run in a fresh process each (same imports, no garbage from earlier sections), and
# the Dagster one's peak memory is read there.
FRESH_PROCESS = """
import sys
from pathlib import Path
from bench.common import peak_kb
from bench.tick_overhead import bare_tick_timed, dagster_tick
from ibkr_pipeline.domain import charts
charts.plotting()
base = peak_kb()
leg = bare_tick_timed if sys.argv[1] == "bare" else dagster_tick
seconds = leg(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
print(seconds, base, peak_kb())
"""


def fresh(leg: str, n: int, port: int, tmp: str) -> tuple[float, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, leg, str(n), str(port), tmp], capture_output=True, text=True, check=True
    )
    seconds, base_kb, peak_kb = out.stdout.split()[-3:]
    return float(seconds), int(base_kb), int(peak_kb)


def run() -> list[dict]:
    rows = []
    with SimulatorThread(SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=False)) as gw:
        for n in (1, 10, 50):
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                if n < 50:
                    bare = bare_tick_timed(n, gw.port, Path(a))
                    dagster_s = dagster_tick(n, gw.port, Path(b))
                else:
                    bare, _, _ = fresh("bare", n, gw.port, a)
                    dagster_s, base_kb, peak_kb = fresh("dagster", n, gw.port, b)
            rows.append(
                figure(
                    f"tick overhead N={n} (Dagster / bare loop)",
                    dagster_s / bare,
                    1.3 if n == 50 else None,
                    detail=f"{dagster_s:.1f} s vs {bare:.1f} s; 2 timeframes, 2 charts per symbol",
                )
            )
    rows.append(
        figure(
            "peak memory, 50-symbol tick (GiB)",
            peak_kb / 1024**2,
            1.0,
            detail=f"after imports and simulator {base_kb / 1024:.0f} MiB; peak {peak_kb / 1024:.0f} MiB",
        )
    )
    return rows


if __name__ == "__main__":
    print(run(), datetime.now(UTC))
