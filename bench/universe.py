"""An S&P 500-sized tick (#18): 500 symbols, daily and weekly, every chart drawn by the offline analyst; then the
LLM funnel (a screen passing 10 %, charts only where the LLM reads them) against a local OpenAI-compatible server.

Each tick runs through Dagster in a fresh process against the simulator (pacing on, as IB's for daily and weekly
bars: at most 50 historical requests open), which reports its own wall time and peak memory. Charts are drawn
by one worker process per core.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import CLOCK
from bench.figures import figure
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

SYMBOLS = 500
SCREENED = 50  # the symbols priced above the screen's threshold: 10 %
THRESHOLD = 700


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
from bench.common import TICK, peak_kb
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

text, port, tmp, llm_url = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
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
        list(defs.assets), selection=dg.AssetSelection.groups(spec.name), partition_key=TICK,
        resources=resources, instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    seconds = time.perf_counter() - started
    assert result.success
    meta = {}
    for event in result.get_asset_materialization_events():
        step = event.materialization.asset_key.path[-1]
        if step in ("charts", "analysis", "bars"):
            meta[step] = {k: v.value for k, v in event.materialization.metadata.items()
                          if isinstance(v.value, (int, float, str)) and k not in ("charts", "analysis", "bars")}
print(json.dumps({"seconds": seconds, "peak_kb": peak_kb(), "meta": meta}))
"""


def tick(text: str, port: int, llm_url: str = "") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", TICK_PROCESS, text, str(port), tmp, llm_url],
            capture_output=True,
            text=True,
        )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    from ibkr_pipeline_tests.openai_server import FakeOpenAI, Reply, completion, sensible_analysis

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = SimulatorConfig(
            port=0, clock_start=CLOCK, clock_speed=0, universe_file=universe_file(Path(tmp) / "u.yaml")
        )
        with SimulatorThread(config) as gw:
            every = tick(strategy_text("universe_all", "llm", "always", None), gw.port)
            charts = every["meta"]["charts"]
            rows.append(
                figure(
                    f"tick: {SYMBOLS} symbols x 2 timeframes, every chart (s)",
                    every["seconds"],
                    120,
                    detail=f"offline analyst; {charts['images']} charts in {charts['duration_s']:.1f} s "
                    f"({charts['images_per_second']:.1f} images/s); bars {every['meta']['bars']['fetch_duration_s']:.1f} s",
                )
            )
            rows.append(
                figure(
                    f"tick: {SYMBOLS} symbols, peak memory (GiB)",
                    every["peak_kb"] / 1024**2,
                    2.0,
                    detail="fresh process",
                )
            )
            with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(sensible_analysis(body))))) as server:
                funnel = tick(
                    strategy_text("universe_funnel", "llm", "screened", f"close > {THRESHOLD}"),
                    gw.port,
                    server.base_url,
                )
                asked = len(server.requests)
            analysis = funnel["meta"]["analysis"]
            rows.append(
                figure(
                    f"tick: {SYMBOLS} symbols, screen passing 10 %, charts screened (s)",
                    funnel["seconds"],
                    30,
                    detail=f"{funnel['meta']['charts']['images']} charts; LLM asked {asked} times",
                )
            )
            rows.append(
                figure(
                    "LLM calls / screened symbols",
                    asked / SCREENED,
                    1.0,
                    detail=f"{asked} calls, {analysis['screened_out']} kept out; saved an estimated "
                    f"{analysis['tokens_saved_estimate']:,} tokens, ${analysis['cost_usd_saved_estimate']:.4f} a tick",
                )
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
