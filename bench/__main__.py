"""python -m bench: prints a table of figures next to their targets and writes bench/results.json."""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from bench import (
    backfill,
    backtest,
    charts_and_indicators,
    definitions_load,
    faults,
    llm_overlap,
    pacing,
    tick_overhead,
    universe,
)

SECTIONS = [
    ("chart and indicator floors", charts_and_indicators.run),
    ("LLM overlap", llm_overlap.run),
    ("pacing", pacing.run),
    ("definitions load", definitions_load.run),
    ("tick overhead and peak memory", tick_overhead.run),
    ("backtest", backtest.run),
    ("universe-scale tick", universe.run),
    ("backfill on local Celery", backfill.run),
    ("orders under faults", faults.run),
]


def main() -> int:
    only = set(sys.argv[1:])
    rows: list[dict] = []
    failed: list[str] = []
    started = time.perf_counter()
    for name, run in SECTIONS:
        if only and not any(o in name for o in only):
            continue
        print(f"… {name}", flush=True)
        try:
            got = run()
        except Exception:  # one section's failure costs its own figures only
            traceback.print_exc()
            failed.append(name)
            continue
        for r in got:
            print(f"  {r['figure']}: {r['value']:.3f} {r.get('detail', '')}", flush=True)
        rows.extend(got)
    width = max((len(r["figure"]) for r in rows), default=6)
    print(f"\n{'figure':{width}}  {'value':>10}  {'target':>10}  ok   detail")
    for r in rows:
        ok = "" if r.get("target") is None else ("yes" if r["ok"] else "NO")
        target = "" if r.get("target") is None else f"{r['comparison']} {r['target']:g}"
        print(f"{r['figure']:{width}}  {r['value']:>10.3f}  {target:>10}  {ok:4} {r.get('detail', '')}")
    Path(__file__).with_name("results.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{len(rows)} figures in {time.perf_counter() - started:.0f} s; written to bench/results.json")
    if failed:
        print(f"sections that failed: {', '.join(failed)}")
    return 0 if all(r.get("ok") is not False for r in rows) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
