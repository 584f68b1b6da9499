"""Backfill throughput on the local Celery deployment (#18): a strategy's backfill of BACKFILL ticks, launched
through GraphQL as the UI does, its steps spread over two Celery workers that share only the object store.

Reports ticks per hour, and how many of the strategy's orders steps ran side by side (the per-strategy
concurrency pool allows none). The baseline in the same run is the same ticks one after another in one
process (``dg.materialize``), so the figure says what the deployment costs or gains.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg2

from bench.figures import figure
from ibkr_pipeline_tests.deploy.local_deployment import LocalDeployment
from ibkr_pipeline_tests.services import moto_s3, postgres_database, postgres_params, redis_server

TICKS = [f"2026-11-{day:02d}-16:15" for day in (9, 10, 11, 12, 13, 16, 17, 18)]  # eight trading days
STRATEGY = """
name: backfilled
mode: dry_run
universe: [{symbol: AAPL}, {symbol: MSFT}, {symbol: NVDA}, {symbol: AMZN}, {symbol: SPY}, {symbol: QQQ}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}
indicators: [{kind: sma, params: {length: 20}}, {kind: rsi, params: {length: 14}}, {kind: atr, params: {length: 14}, name: atr_14}]
chart: {overlays: [sma_20], panels: [rsi_14], bars: 60}
signal: {buy: "rsi_14 < 30", sell: "rsi_14 > 70", atr: atr_14}
"""
BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


def overlapping(intervals: list[tuple[datetime, datetime]]) -> int:
    """How many intervals began before the one before them (in start order) had ended."""
    ordered = sorted(intervals)
    return sum(1 for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False) if start < end)


def backfill(deployment: LocalDeployment, database: str) -> dict:
    started = time.monotonic()
    answer = deployment.client._execute(
        BACKFILL,
        {
            "params": {
                "selector": {
                    "partitionSetName": "backfilled_tick_partition_set",
                    "repositorySelector": {
                        "repositoryLocationName": "ibkr_pipeline",
                        "repositoryName": "__repository__",
                    },
                },
                "partitionNames": TICKS,
            }
        },
    )["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill refused: {answer}")
    pg = postgres_params()
    deadline = started + 1800  # a guard against a hang, not a measurement
    with psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=database) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(
                    "SELECT r.run_id, r.status FROM runs r JOIN run_tags t ON t.run_id = r.run_id "
                    "WHERE t.key = 'dagster/backfill' AND t.value = %s",
                    (answer["backfillId"],),
                )
                runs = dict(cur.fetchall())
                if len(runs) == len(TICKS) and all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in runs.values()):
                    break
                time.sleep(2)
            seconds = time.monotonic() - started
            cur.execute(
                "SELECT run_id, step_key, dagster_event_type, timestamp FROM event_logs WHERE run_id = ANY(%s) "
                "AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') ORDER BY id",
                (list(runs),),
            )
            events = cur.fetchall()
    starts: dict[tuple[str, str], datetime] = {}
    steps: dict[str, list[tuple[datetime, datetime]]] = {}
    for run, step, kind, at in events:
        if kind == "STEP_START":
            starts[(run, step)] = at
        else:
            steps.setdefault(step.split("__")[-1], []).append((starts[(run, step)], at))
    executed = {w: deployment.log(w).count("STEP_SUCCESS") for w in deployment.workers}
    return {"seconds": seconds, "runs": runs, "steps": steps, "executed": executed}


def one_process_baseline() -> float:
    """The same ticks one after another in one process, against the simulator: what a single host does."""
    import dagster as dg

    from bench.tick_overhead import resources
    from ibkr_pipeline.assets.strategy import build_strategy_definitions
    from ibkr_pipeline.domain.strategy import parse_strategy
    from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

    spec = parse_strategy(STRATEGY, Path("backfilled.yaml"))
    defs = build_strategy_definitions(spec)
    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        clock = datetime.fromisoformat("2026-11-19T22:00:00+00:00")
        with SimulatorThread(SimulatorConfig(port=0, clock_start=clock, clock_speed=0, pacing=False)) as gw:
            offline = resources(gw.port, Path(tmp))  # the tick-overhead bench's: SQLite, local store, offline analyst
            started = time.monotonic()
            for tick in TICKS:
                result = dg.materialize(
                    list(defs.assets),
                    selection=dg.AssetSelection.groups(spec.name),
                    partition_key=tick,
                    resources=offline,
                    instance=instance,
                )
                assert result.success
            return time.monotonic() - started


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as database:
        with redis_server(Path(tmp)) as redis_url, moto_s3() as s3:
            deployment = LocalDeployment(Path(tmp) / "deploy", database, redis_url, s3, {"backfilled": STRATEGY})
            with deployment:
                got = backfill(deployment, database)
                if set(got["runs"].values()) != {"SUCCESS"}:
                    raise RuntimeError(f"backfill runs ended {got['runs']}{deployment.logs_tail()}")
    single = one_process_baseline()
    per_hour = len(TICKS) / got["seconds"] * 3600
    workers = ", ".join(f"{w} {n}" for w, n in got["executed"].items())
    return [
        figure(
            f"backfill: ticks per hour, local Celery, 2 workers ({len(TICKS)} ticks)",
            per_hour,
            detail=f"{got['seconds']:.0f} s for {len(TICKS)} ticks of 6 symbols; steps run: {workers}; "
            f"one process, one tick after another: {len(TICKS) / single * 3600:.0f} ticks/h ({single:.0f} s)",
        ),
        figure(
            "backfill: orders steps of one strategy side by side",
            overlapping(got["steps"]["orders"]),
            0,
            detail=f"{len(got['steps']['orders'])} orders steps; pool <strategy>_trading, limit 1; "
            f"charts steps side by side: {overlapping(got['steps']['charts'])}",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
