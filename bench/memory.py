"""Peak memory (max RSS) of a 50-symbol tick through Dagster, measured in a fresh process."""

from __future__ import annotations

import subprocess
import sys

from bench.figures import figure

PROBE = """
import resource, tempfile
from pathlib import Path
import dagster as dg
from bench.common import CLOCK, TICK, strategy
from bench.tick_overhead import resources
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
with SimulatorThread(SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=False)) as gw, \\
        tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    defs = build_strategy_definitions(strategy("mem", 50))
    assert dg.materialize(list(defs.assets), partition_key=TICK, resources=resources(gw.port, Path(tmp)),
                          instance=instance).success
    print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run() -> list[dict]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    base_kb, peak_kb = map(int, out.stdout.split()[-2:])
    return [figure("peak memory, 50-symbol tick (GiB)", peak_kb / 1024**2, 1.0,
                   detail=f"after imports and simulator {base_kb / 1024:.0f} MiB; peak {peak_kb / 1024:.0f} MiB")]
