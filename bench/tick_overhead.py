"""A tick through Dagster against the same work in a bare Python loop, for 1, 10 and 50 symbols."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from bench.common import CLOCK, TICK, strategy
from bench.figures import figure
from ibkr_pipeline.assets.analysis import build_analysis_request, run_analyses
from ibkr_pipeline.assets.strategy import build_strategy_definitions, partitions_for
from ibkr_pipeline.broker.client import BarsRequest
from ibkr_pipeline.domain import bar_history, charts
from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain.signals import combined_signal
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline.resources.chart_store import ChartStore
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.storage.bar_files import from_parquet, to_parquet
from ibkr_pipeline.store.database import engine_for
from ibkr_pipeline.store.ledger import Ledger
from ibkr_pipeline.trading.tick import trade_tick


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def resources(port: int, tmp: Path) -> dict:
    db = f"sqlite:///{tmp / 'db.sqlite'}"
    # IB's historical pacing (60 requests per 10 minutes) would dominate a 100-request tick; both sides of the
    # comparison use the same client with the rules shrunk so the figure measures orchestration, not pacing.
    return {"ibkr": IBKRResource(port=port, database_url=db, pacing_time_scale=0.001), "chart_store": ChartStore(local_dir=str(tmp / "objects")),
            "llm": LLMResource(database_url=db)}


def bare_tick(spec, res: dict, tmp: Path) -> int:
    """The same steps with the same functions, in one process, without Dagster."""
    end = partitions_for(spec).time_window_for_partition_key(TICK).end.astimezone(UTC)
    store: ChartStore = res["chart_store"]
    with res["ibkr"].get_client() as client:
        infos = client.run(client.resolve_many_async([u.contract_spec() for u in spec.universe]))
        contracts = {u.symbol: i for u, i in zip(spec.universe, infos, strict=True)}
        plan = []
        for symbol, info in contracts.items():
            for tf in spec.timeframes:
                stored = from_parquet(store.get(f"{spec.name}/bars/{symbol}/{tf.name}.parquet"))
                duration = bar_history.missing_duration(bar_history.completed_as_of(stored, end, tf.bar_size), end,
                                                        tf.lookback, tf.bar_size)
                plan.append((symbol, tf, stored, BarsRequest(info, end, duration, tf.bar_size)))
        fetched = client.bars_many([p[3] for p in plan])
    frames: dict[str, dict[str, pd.DataFrame]] = {}
    for (symbol, tf, stored, _), got in zip(plan, fetched, strict=True):
        merged = bar_history.merge(stored, got)
        store.put(f"{spec.name}/bars/{symbol}/{tf.name}.parquet", to_parquet(merged))
        frames.setdefault(symbol, {})[tf.name] = bar_history.window(merged, end, tf.lookback)
    with_ind: dict[str, dict[str, pd.DataFrame]] = {}
    chart_refs: dict[str, dict[str, dict]] = {}
    for symbol, tfs in frames.items():
        for name, frame in tfs.items():
            indexed = frame.set_index("timestamp")
            full = pd.concat([indexed] + [ind.compute_one(indexed, i.kind, i.params, i.name)
                                          for i in spec.indicators_for(name)], axis=1).reset_index()
            with_ind.setdefault(symbol, {})[name] = full
            images = charts.render_chart(full, charts.chart_title(symbol, name, full), spec.chart.overlays,
                                         spec.chart.panels, spec.chart.bars)
            key = f"{spec.name}/{symbol}/{TICK}/{name}.png"
            stored = store.put(key, images.full, "image/png")
            chart_refs.setdefault(symbol, {})[name] = {"key": key, "uri": stored.uri, "path": stored.path}
    requests = {s: build_analysis_request(spec, s, contracts[s], with_ind[s], chart_refs[s], end, store) for s in with_ind}
    records = run_analyses(spec, res["llm"], requests)
    signals = {s: combined_signal(s, end, ind.latest_values(f["daily"].drop(columns="timestamp")), spec.signal,
                                  records.get(s)) for s, f in with_ind.items()}
    with res["ibkr"].get_client() as client:
        trade_tick(spec, TICK, signals, contracts, client, Ledger(engine_for(res["ibkr"].database_url)), tmp)
    return len(signals)


def run() -> list[dict]:
    rows = []
    with SimulatorThread(SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=False)) as gw:
        for n in (1, 10, 50):
            spec = strategy(f"bench{n}", n)
            with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
                started = time.perf_counter()
                produced = bare_tick(spec, resources(gw.port, Path(a)), Path(a))
                bare = time.perf_counter() - started
                defs = build_strategy_definitions(spec)
                with dg.instance_for_test() as instance:
                    started = time.perf_counter()
                    result = dg.materialize(list(defs.assets), partition_key=TICK, resources=resources(gw.port, Path(b)),
                                            instance=instance, run_config=QUIET)
                    dagster_s = time.perf_counter() - started
                assert result.success and produced == n
            rows.append(figure(f"tick overhead N={n} (Dagster / bare loop)", dagster_s / bare, 1.3 if n == 50 else None,
                               detail=f"{dagster_s:.1f} s vs {bare:.1f} s; 2 timeframes, 2 charts per symbol"))
    return rows


if __name__ == "__main__":
    print(run(), datetime.now(UTC))
