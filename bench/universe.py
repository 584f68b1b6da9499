"""An S&P 500-sized tick (#18): 500 symbols, daily and weekly, every chart drawn, offline analyst; then the LLM
funnel (a screen passing about 10 %, charts only where the LLM reads them) against a local OpenAI-compatible server.

Each tick runs through Dagster in a fresh process against the simulator (pacing on, as IB's for daily and weekly
bars: at most 50 historical requests open), which reports its own wall time and peak memory. The first tick of a
universe fetches its whole history (reported, no target); the ticks after it, the ones a trader runs every day,
fetch only the bars since (history in the object store) and are held to the targets. Charts are drawn by one
worker process per core.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from ib_async.client import Client

from bench.common import CLOCK, make_market_data
from bench.figures import figure
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

SYMBOLS = 500
SCREENED = 50  # the symbols priced above the screen's threshold: 10 %
THRESHOLD = 700
API_MESSAGES_PER_S = Client.MaxRequests  # ib_async keeps under IB's 50 messages a second: one per bars request
FIRST, NEXT, LAST = "2026-11-17-16:15", "2026-11-18-16:15", "2026-11-19-16:15"  # three days' ticks


def symbols() -> list[str]:
    return [f"U{n:03d}" for n in range(SYMBOLS)]


def universe_file(path: Path) -> Path:
    """500 listed stocks: the first SCREENED trade above THRESHOLD (1,500 to 2,500), the rest far below it."""
    lines = [
        f"- {{symbol: {s}, primary_exchange: NYSE, price: {1500 + n * 20 if n < SCREENED else 20 + n % 200}}}\n"
        for n, s in enumerate(symbols())
    ]
    path.write_text("".join(lines))
    return path


def strategy_text(name: str, mode: str, when: str, screen: str | None) -> str:
    universe = ", ".join(f"{{symbol: {s}}}" for s in symbols())
    llm = f'llm: {{screen: "{screen}"}}\n' if screen else ""
    return f"""
name: {name}
mode: dry_run
universe: [{universe}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}}
indicators:
  - {{kind: sma, params: {{length: 50}}}}
  - {{kind: rsi, params: {{length: 14}}}}
  - {{kind: atr, params: {{length: 14}}, name: atr_14}}
chart: {{overlays: [sma_50], panels: [rsi_14], bars: 120, when: {when}}}
signal: {{mode: {mode}, buy: "rsi_14 < 30", sell: "rsi_14 > 70", atr: atr_14}}
{llm}"""


# One tick through Dagster, in a process of its own; prints wall seconds, peak kB, and the analysis metadata.
TICK_PROCESS = """
import json, sys, time
from pathlib import Path
import dagster as dg
from bench.common import peak_kb
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

text, port, tmp, llm_url, tick = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5]
spec = parse_strategy(text, Path("universe.yaml"))
defs = build_strategy_definitions(spec)
resources = {
    "ibkr": IBKRResource(port=port),
    "database": DatabaseResource(url=f"sqlite:///{tmp / 'db.sqlite'}"),
    "objects": ObjectStoreResource(local_dir=str(tmp / "objects")),
    "llm": LLMResource(base_url=llm_url, model="gpt-4o-mini", max_in_flight=16) if llm_url else LLMResource(),
    "alerts": AlertWebhook(),
}
with dg.instance_for_test() as instance:
    started = time.perf_counter()
    result = dg.materialize(
        list(defs.assets), selection=dg.AssetSelection.groups(spec.name), partition_key=tick,
        resources=resources, instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    seconds = time.perf_counter() - started
    assert result.success
    starts, steps = {}, {}
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = record.timestamp
        elif event.event_type_value == "STEP_SUCCESS":
            steps[event.step_key.split("__")[-1]] = round(record.timestamp - starts[event.step_key], 1)
    meta = {}
    for event in result.get_asset_materialization_events():
        step = event.materialization.asset_key.path[-1]
        if step in ("charts", "analysis", "bars"):
            meta[step] = {k: v.value for k, v in event.materialization.metadata.items()
                          if isinstance(v.value, (int, float, str)) and k not in ("charts", "analysis", "bars")}
print(json.dumps({"seconds": seconds, "peak_kb": peak_kb(), "meta": meta, "steps": steps}))
"""


def tick(text: str, port: int, tmp: str, partition: str, llm_url: str = "") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", TICK_PROCESS, text, str(port), tmp, llm_url, partition], capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    from ibkr_pipeline_tests.openai_server import FakeOpenAI, Reply, completion, sensible_analysis

    rows = []
    every_chart = strategy_text("universe", "llm", "always", None)
    funnel_text = strategy_text("universe", "llm", "screened", f"close > {THRESHOLD}")
    with tempfile.TemporaryDirectory() as tmp:
        config = SimulatorConfig(
            port=0, clock_start=CLOCK, clock_speed=0, universe_file=universe_file(Path(tmp) / "u.yaml")
        )
        with SimulatorThread(config) as gw:
            make_market_data(gw.sim, symbols())
            cold = tick(every_chart, gw.port, tmp, FIRST)
            warm = tick(every_chart, gw.port, tmp, NEXT)
            with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(sensible_analysis(body))))) as server:
                funnel = tick(funnel_text, gw.port, tmp, LAST, server.base_url)
                calls = len(server.requests)
    charts, analysis = warm["meta"]["charts"], funnel["meta"]["analysis"]

    def steps(tick: dict) -> str:
        return ", ".join(f"{step} {seconds:.1f}" for step, seconds in tick["steps"].items())

    rows.append(
        figure(
            f"first tick: {SYMBOLS} symbols x 2 timeframes, whole history (s)",
            cold["seconds"],
            detail=f"bars {cold['meta']['bars']['fetch_duration_s']:.1f} s for {cold['meta']['bars']['requests']} "
            f"requests; charts {cold['meta']['charts']['duration_s']:.1f} s",
        )
    )
    rows.append(
        figure(
            f"tick: {SYMBOLS} symbols x 2 timeframes, every chart (s)",
            warm["seconds"],
            120,
            detail=f"offline analyst, history in the store; {charts['images']} charts in {charts['duration_s']:.1f} s "
            f"({charts['images_per_second']:.1f} images/s on 2 cores); bars fetched in "
            f"{warm['meta']['bars']['fetch_duration_s']:.1f} s; steps (s): {steps(warm)}",
        )
    )
    rows.append(
        figure(
            f"tick: {SYMBOLS} symbols, peak memory (GiB)",
            max(cold["peak_kb"], warm["peak_kb"]) / 1024**2,
            2.0,
            detail=f"fresh process each; first tick {cold['peak_kb'] / 1024:.0f} MiB, later {warm['peak_kb'] / 1024:.0f} MiB",
        )
    )
    funnel_bars = funnel["meta"]["bars"]
    rows.append(
        figure(
            f"tick: {SYMBOLS} symbols, screen passing ~10 %, charts screened (s)",
            funnel["seconds"],
            30,
            detail=f"{analysis['asked']} asked, {funnel['meta']['charts']['images']} charts; bars: "
            f"{funnel_bars['requests']} requests ({funnel_bars['signal_timeframe_only']} symbols daily only) in "
            f"{funnel_bars['fetch_duration_s']:.1f} s, at least {funnel_bars['requests'] / API_MESSAGES_PER_S:.1f} s "
            f"at the API's {API_MESSAGES_PER_S} messages/s; steps (s): {steps(funnel)}",
        )
    )
    rows.append(
        figure(
            "LLM calls - symbols the screen passed",
            calls - analysis["asked"],
            0,
            detail=f"{calls} calls for {analysis['asked']} passed, {analysis['screened_out']} kept out; saved an "
            f"estimated {analysis['tokens_saved_estimate']:,} tokens, ${analysis['cost_usd_saved_estimate']:.4f} a tick",
        )
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
