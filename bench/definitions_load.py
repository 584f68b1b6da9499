"""Loading the code location with 1, 5 and 20 strategies of 50 symbols, in a fresh interpreter each."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.figures import figure
from ibkr_pipeline.exchange.universe import Universe

PROBE = """
import time, sys
started = time.perf_counter()
from ibkr_pipeline.definitions import build_definitions
defs = build_definitions(__import__("pathlib").Path(sys.argv[1]))
assets = len(list(defs.assets))
print(time.perf_counter() - started, assets)
"""


def _write(directory: Path, count: int) -> None:
    symbols = Universe.default().symbols[:50]
    for n in range(count):
        universe = ", ".join(f"{{symbol: {s}}}" for s in symbols)
        (directory / f"s{n}.yaml").write_text(
            f"name: s{n}\nuniverse: [{universe}]\nschedule: {{cron: '{n % 60} 16 * * 1-5', timezone: America/New_York}}\n"
            "indicators: [{kind: sma, params: {length: 50}}, {kind: rsi, params: {length: 14}}, {kind: macd},"
            " {kind: atr, params: {length: 14}, name: atr_14}]\n"
            "chart: {overlays: [sma_50], panels: [rsi_14]}\n"
            "signal: {buy: 'rsi_14 < 30', sell: 'rsi_14 > 70', atr: atr_14}\n"
        )


def run() -> list[dict]:
    rows = []
    baseline = None
    for count in (0, 1, 5, 20):
        with tempfile.TemporaryDirectory() as tmp:
            _write(Path(tmp), count)
            out = subprocess.run([sys.executable, "-c", PROBE, tmp], capture_output=True, text=True, check=True)
            seconds, assets = out.stdout.split()
        seconds = float(seconds)
        if count == 0:
            baseline = seconds
            continue
        rows.append(
            figure(
                f"definitions load, {count} x 50 symbols (s)",
                seconds,
                5.0 if count == 20 else None,
                detail=f"{assets} assets; imports alone {baseline:.2f} s",
            )
        )
    return rows
