"""``make demo``: one tick of an example strategy through Dagster on the embedded default.

No network, account or key: the gateway simulator on a free port, a SQLite Dagster
instance under .ibkr_pipeline/dagster_home, charts in .ibkr_pipeline/objects. It runs
the strategy's job for its latest completed tick and prints symbol → signal with
the chart files.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_STRATEGY = "us_megacaps_daily"


def prepare_dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or ROOT / ".ibkr_pipeline" / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def main() -> int:
    from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

    home = prepare_dagster_home()
    with SimulatorThread(SimulatorConfig(port=0)) as gateway:
        os.environ["IBKR_PORT"] = str(gateway.port)
        import dagster as dg

        from ibkr_pipeline.definitions import build_definitions

        defs = build_definitions()
        job = defs.resolve_job_def(f"{DEMO_STRATEGY}_tick")
        partition = job.partitions_def.get_last_partition_key()
        print(f"gateway simulator on 127.0.0.1:{gateway.port}; Dagster instance in {home}")
        print(f"running {job.name} for tick {partition} ...", flush=True)
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(
                partition_key=partition,
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        if not result.success:
            print(f"run {result.run_id} failed; see `make ui` for its event log", file=sys.stderr)
            return 1
        signals = result.output_for_node(f"{DEMO_STRATEGY}__signals")
        charts = result.output_for_node(f"{DEMO_STRATEGY}__charts")
    print(f"\nrun {result.run_id} succeeded\n")
    print(f"{'symbol':7} {'signal':6} {'entry':>9} {'stop':>9} {'target':>9}  charts")
    for symbol, signal in sorted(signals.values.items()):
        paths = ", ".join(v["path"] or v["uri"] for v in charts.values.get(symbol, {}).values())
        fmt = lambda x: f"{x:9.2f}" if x is not None else " " * 9  # noqa: E731
        print(f"{symbol:7} {signal.action:6} {fmt(signal.entry)} {fmt(signal.stop_loss)} {fmt(signal.take_profit)}  {paths}")
    for symbol, error in signals.errors.items():
        print(f"{symbol:7} ERROR  {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
