"""A snapshot of the code location's graph for the example strategies: keys, dependencies, partitions, checks,
jobs, schedules and sensors. A change to the strategy factory shows here as a diff to review, not as a surprise
in the UI. After an intended change: ``UPDATE_SNAPSHOTS=1 make test`` and commit the new snapshot."""

import json
import os
from pathlib import Path

import dagster as dg

from ibkr_pipeline.definitions import DEFAULT_STRATEGIES, build_definitions

SNAPSHOT = Path(__file__).with_name("snapshots") / "asset_graph.json"


def _partitions(definition: dg.PartitionsDefinition | None) -> dict | None:
    if definition is None:
        return None
    if isinstance(definition, dg.TimeWindowPartitionsDefinition):
        return {
            "kind": "time window",
            "cron": definition.cron_schedule,
            "timezone": definition.timezone,
            "start": definition.start.isoformat(),
            "end_offset": definition.end_offset,
            "format": definition.fmt,
        }
    if isinstance(definition, dg.DynamicPartitionsDefinition):
        return {"kind": "dynamic", "name": definition.name}
    return {"kind": type(definition).__name__}


def graph_of(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "checks": sorted(c.name for c in node.check_keys),
            "group": node.group_name,
            "single_run_backfill": node.backfill_policy is not None,
            "kinds": sorted(node.kinds),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")),
        "schedules": {
            s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "default": s.default_status.value}
            for s in defs.schedules
        },
        "sensors": {s.name: s.default_status.value for s in defs.sensors},
    }


def test_the_example_strategies_graph_matches_its_snapshot():
    current = graph_of(build_definitions(DEFAULT_STRATEGIES))
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        "the asset graph changed; if that is intended, run UPDATE_SNAPSHOTS=1 make test "
        f"and commit {SNAPSHOT.relative_to(Path(__file__).parent.parent)}"
    )
    assert len(current["assets"]) > 20  # two strategies' steps, backtests and the shared assets
