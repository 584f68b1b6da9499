"""The production topology as processes: code server, webserver, daemon and two Celery workers on PostgreSQL,
Redis and an S3 server.

The same deploy/dagster.yaml, deploy/workspace.yaml and deploy/celery.yaml the containers use; two ticks are
submitted through the webserver's GraphQL API, queued in Postgres, dequeued and launched by the daemon
through the code server, and their steps executed by two Celery workers that share no directory: every step
output goes through the object store (moto), as it would between hosts.
"""

import psycopg2

from ibkr_pipeline.resources.defaults import IO_PREFIX
from ibkr_pipeline_tests.deploy.local_deployment import LocalDeployment

TICKS = ("2026-11-17-16:15", "2026-11-18-16:15")
STEPS = ("contracts", "bars", "indicators", "charts", "analysis", "signals", "orders")
BUCKET = "topology"
STRATEGY = """
name: tiny
mode: dry_run
universe: [{symbol: AAPL}, {symbol: MSFT}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}
timeframes: [{name: daily, bar_size: 1 day, lookback: 6 M}]
indicators: [{kind: rsi, params: {length: 14}}, {kind: atr, params: {length: 14}, name: atr_14}]
chart: {panels: [rsi_14], bars: 40}
signal: {buy: "close > 0", atr: atr_14}
"""


def test_two_ticks_run_their_steps_on_two_workers_that_share_only_the_object_store(
    tmp_path, postgres_database, redis_url, s3_endpoint
):
    deployment = LocalDeployment(tmp_path, postgres_database, redis_url, s3_endpoint, {"tiny": STRATEGY}, BUCKET)
    with deployment:
        run_ids = [
            deployment.client.submit_job_execution(
                "tiny_tick",
                repository_location_name="ibkr_pipeline",
                repository_name="__repository__",
                tags={"dagster/partition": tick},
            )
            for tick in TICKS
        ]
        statuses = deployment.wait(run_ids, timeout=300)
        assert set(statuses.values()) == {"SUCCESS"}, f"runs {statuses}{deployment.logs_tail()}"
        worker_logs = {w: deployment.log(w) for w in deployment.workers}
    pg, s3 = deployment.pg, deployment.s3
    with (
        psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=postgres_database) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            "SELECT run_id, dagster_event_type, count(*) FROM event_logs WHERE run_id = ANY(%s) "
            "AND dagster_event_type IS NOT NULL GROUP BY 1, 2",
            (run_ids,),
        )
        events = {(run, kind): n for run, kind, n in cur.fetchall()}
        cur.execute(
            "SELECT r.status, t.value FROM runs r JOIN run_tags t ON t.run_id = r.run_id WHERE r.run_id = ANY(%s) "
            "AND t.key = 'strategy'",
            (run_ids,),
        )
        assert sorted(cur.fetchall()) == [("SUCCESS", "tiny"), ("SUCCESS", "tiny")]
        cur.execute(
            "SELECT run_id, step_key, timestamp, dagster_event_type FROM event_logs WHERE run_id = ANY(%s) "
            "AND step_key = 'tiny__orders' AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS') ORDER BY id",
            (run_ids,),
        )
        orders_steps = cur.fetchall()
        cur.execute("SELECT count(*), min(mode) FROM orders WHERE strategy = 'tiny'")
        ledger_rows, mode = cur.fetchone()
        cur.execute('SELECT concurrency_key, "limit", using_default_limit FROM concurrency_limits')
        pools = cur.fetchall()
    for run in run_ids:
        # (event types keep Dagster's legacy PIPELINE_ names in storage)
        assert events[(run, "PIPELINE_ENQUEUED")] == 1 and events[(run, "PIPELINE_STARTING")] == 1, "queued, launched"
        assert events[(run, "ASSET_MATERIALIZATION")] == 7 and events[(run, "STEP_SUCCESS")] == 7
    assert (ledger_rows, mode) == (4, "dry_run"), "two symbols a tick, in the same Postgres"
    # The strategy's pool was created before the services started (no run raced to create it) and kept its limit.
    assert deployment.pools == "pool tiny_trading: limit 1\n"
    assert pools == [("tiny_trading", 1, False)]
    # The two orders steps (one per run, the strategy's pool of one) did not overlap.
    assert [kind for _run, _step, _at, kind in orders_steps] == ["STEP_START", "STEP_SUCCESS"] * 2
    assert orders_steps[0][0] == orders_steps[1][0] and orders_steps[2][0] == orders_steps[3][0]
    # Every step ran inside a Celery worker, both workers took steps, and neither wrote an output to its disk.
    executed = {w: log.count("STEP_SUCCESS") for w, log in worker_logs.items()}
    assert sum(executed.values()) == 14 and min(executed.values()) >= 1, executed
    for worker in ("worker_a", "worker_b"):
        storage = tmp_path / worker / "storage"
        on_disk = [  # (dagster-celery keeps the worker's own start-up config there)
            p for p in storage.rglob("*") if p.is_file() and not p.is_relative_to(storage / "dagster_celery" / "config")
        ]
        assert on_disk == [], f"{worker} wrote outputs to its own disk: {on_disk[:5]}"
    outputs = {o.object_name for o in s3.list_objects(BUCKET, prefix=f"{IO_PREFIX}/tiny/", recursive=True)}
    assert outputs == {f"{IO_PREFIX}/tiny/{step}/{tick}" for step in STEPS for tick in TICKS}
