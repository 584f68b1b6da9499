"""The production topology as processes: code server, webserver, daemon and two Celery workers on PostgreSQL,
Redis and an S3 server.

The same deploy/dagster.yaml, deploy/workspace.yaml and deploy/celery.yaml the containers use; two ticks are
submitted through the webserver's GraphQL API, queued in Postgres, dequeued and launched by the daemon
through the code server, and their steps executed by two Celery workers that share no directory: every step
output goes through the object store (moto), as it would between hosts.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
from dagster_graphql import DagsterGraphQLClient
from minio import Minio

from ibkr_pipeline.resources.defaults import IO_PREFIX
from ibkr_pipeline_tests.conftest import free_port, postgres_params, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
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
BROKER_DB, BACKEND_DB = 0, 1  # on the suite's own Redis (conftest.redis_url)


class Processes:
    def __init__(self, logs: Path, env: dict[str, str]):
        self.logs, self.env, self.running = logs, env, {}

    def start(self, name: str, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        out = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.running[name] = (
            subprocess.Popen(
                [*args], stdout=out, stderr=subprocess.STDOUT, env=env or self.env, cwd=cwd, start_new_session=True
            ),
            out,
        )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def stop(self) -> None:
        for proc, _out in self.running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, out in self.running.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            out.close()


def test_two_ticks_run_their_steps_on_two_workers_that_share_only_the_object_store(
    tmp_path, postgres_database, redis_url, s3_endpoint
):
    database = postgres_database
    pg = postgres_params()
    home, strategies, logs = tmp_path / "dagster_home", tmp_path / "strategies", tmp_path / "logs"
    for d in (home, strategies, logs):
        d.mkdir()
    s3 = Minio(s3_endpoint, access_key="testing", secret_key="testing", secure=False)
    s3.make_bucket(BUCKET)  # as minio-init does
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    (strategies / "tiny.yaml").write_text(STRATEGY)
    gateway_port, code_port, web_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # dagster-celery starts `celery` by name
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": pg["host"],
        "DAGSTER_PG_PORT": pg["port"],
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USER": pg["user"],
        "DAGSTER_PG_PASSWORD": "trust-auth-ignores-it",
        "DAGSTER_COMPUTE_LOG_DIR": str(tmp_path / "compute_logs"),
        "DAGSTER_ARTIFACT_DIR": str(tmp_path / "storage"),
        "IBKR_PIPELINE_S3_ENDPOINT": s3_endpoint,
        "IBKR_PIPELINE_S3_BUCKET": BUCKET,
        "IBKR_PIPELINE_S3_SECURE": "false",
        "IBKR_PIPELINE_S3_ACCESS_KEY": "testing",
        "IBKR_PIPELINE_S3_SECRET_KEY": "testing",
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
        "IBKR_PORT": str(gateway_port),
        "IBKR_PIPELINE_HOME": str(tmp_path / "data"),
        "IBKR_PIPELINE_DB_URL": f"postgresql+psycopg2://{pg['user']}@{pg['host']}:{pg['port']}/{database}",
        "IBKR_PIPELINE_STRATEGIES": str(strategies),
        "IBKR_PIPELINE_EXECUTOR": "celery",
        "IBKR_PIPELINE_CELERY_BROKER": f"{redis_url}/{BROKER_DB}",
        "IBKR_PIPELINE_CELERY_BACKEND": f"{redis_url}/{BACKEND_DB}",
    }
    # Create Dagster's schema once, before any service starts (compose runs the same as dagster-init).
    migrate = subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    procs = Processes(logs, env)
    try:
        procs.start(
            "gateway",
            str(BIN / "ibkr-pipeline"),
            "gateway-sim",
            "--port",
            str(gateway_port),
            "--clock-start",
            "2026-11-19T22:00:00",
            "--clock-speed",
            "0",
            "--no-pacing",
        )
        procs.start(
            "code",
            str(BIN / "dagster"),
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(code_port),
            "-m",
            "ibkr_pipeline.definitions",
        )
        wait_for_port(gateway_port)
        wait_for_port(code_port, timeout=90)
        for worker in ("worker_a", "worker_b"):
            # A host of its own: its own working directory, Dagster home copy, storage and data directories.
            where = tmp_path / worker
            (where / "dagster_home").mkdir(parents=True)
            shutil.copy(ROOT / "deploy" / "dagster.yaml", where / "dagster_home" / "dagster.yaml")
            own = {
                **env,
                "DAGSTER_HOME": str(where / "dagster_home"),
                "DAGSTER_ARTIFACT_DIR": str(where / "storage"),
                "DAGSTER_COMPUTE_LOG_DIR": str(where / "compute_logs"),
                "IBKR_PIPELINE_HOME": str(where / "data"),
            }
            procs.start(
                worker,
                str(BIN / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(ROOT / "deploy" / "celery.yaml"),
                "-n",
                f"{worker}@%h",
                "--loglevel",
                "INFO",
                "--",
                "--concurrency",
                "1",
                "--prefetch-multiplier",
                "1",
                cwd=where,
                env=own,
            )
        procs.start(
            "webserver",
            str(BIN / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(web_port),
            "-w",
            str(ROOT / "deploy" / "workspace.yaml"),
        )
        procs.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "deploy" / "workspace.yaml"))
        wait_for_port(web_port, timeout=90)

        client = DagsterGraphQLClient("127.0.0.1", port_number=web_port)
        run_ids = [
            client.submit_job_execution(
                "tiny_tick",
                repository_location_name="ibkr_pipeline",
                repository_name="__repository__",
                tags={"dagster/partition": tick},
            )
            for tick in TICKS
        ]
        statuses, deadline = {}, time.monotonic() + 300  # a guard against a hang, not a measurement
        while time.monotonic() < deadline:
            statuses = {r: client.get_run_status(r).value for r in run_ids}
            if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses.values()):
                break
            time.sleep(2)
        assert set(statuses.values()) == {"SUCCESS"}, (
            f"runs {statuses}\n--- daemon\n{procs.log('daemon')[-3000:]}\n--- worker_a\n"
            f"{procs.log('worker_a')[-3000:]}\n--- worker_b\n{procs.log('worker_b')[-3000:]}\n--- code\n"
            f"{procs.log('code')[-3000:]}"
        )
        worker_logs = {w: procs.log(w) for w in ("worker_a", "worker_b")}
    finally:
        procs.stop()

    with (
        psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=database) as conn,
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
    for run in run_ids:
        # (event types keep Dagster's legacy PIPELINE_ names in storage)
        assert events[(run, "PIPELINE_ENQUEUED")] == 1 and events[(run, "PIPELINE_STARTING")] == 1, "queued, launched"
        assert events[(run, "ASSET_MATERIALIZATION")] == 7 and events[(run, "STEP_SUCCESS")] == 7
    assert (ledger_rows, mode) == (4, "dry_run"), "two symbols a tick, in the same Postgres"
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
