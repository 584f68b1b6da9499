"""The production topology as processes: code server, webserver, daemon and a Celery worker on PostgreSQL and Redis.

The same deploy/dagster.yaml, deploy/workspace.yaml and deploy/celery.yaml the containers use; the run is
submitted through the webserver's GraphQL API, queued in Postgres, dequeued and launched by the daemon
through the code server, and its steps executed by the Celery worker.
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

from ibkr_pipeline_tests.conftest import free_port, postgres_params, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TICK = "2026-11-18-16:15"
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

    def start(self, name: str, *args: str) -> None:
        out = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        self.running[name] = (
            subprocess.Popen(
                [*args], stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, start_new_session=True
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


def test_daemon_launches_a_strategy_tick_whose_steps_run_on_a_celery_worker(tmp_path, postgres_database, redis_url):
    database = postgres_database
    pg = postgres_params()
    home, strategies, logs = tmp_path / "dagster_home", tmp_path / "strategies", tmp_path / "logs"
    for d in (home, strategies, logs):
        d.mkdir()
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
        "DAGSTER_MAX_CONCURRENT_RUNS": "4",
        "DAGSTER_COMPUTE_LOG_DIR": str(tmp_path / "compute_logs"),
        "DAGSTER_ARTIFACT_DIR": str(tmp_path / "storage"),
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
        procs.start(
            "worker",
            str(BIN / "dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(ROOT / "deploy" / "celery.yaml"),
            "--loglevel",
            "INFO",
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
        run_id = client.submit_job_execution(
            "tiny_tick",
            repository_location_name="ibkr_pipeline",
            repository_name="__repository__",
            tags={"dagster/partition": TICK},
        )
        status, deadline = None, time.monotonic() + 240
        while time.monotonic() < deadline:
            status = client.get_run_status(run_id).value
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(2)
        assert status == "SUCCESS", (
            f"run {status}\n--- daemon\n{procs.log('daemon')[-3000:]}\n--- worker\n"
            f"{procs.log('worker')[-3000:]}\n--- code\n{procs.log('code')[-3000:]}"
        )
        worker_log = procs.log("worker")
    finally:
        procs.stop()

    with (
        psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname=database) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(
            "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s "
            "AND dagster_event_type IS NOT NULL GROUP BY 1",
            (run_id,),
        )
        events = dict(cur.fetchall())
        cur.execute(
            "SELECT r.status, t.value FROM runs r JOIN run_tags t ON t.run_id = r.run_id WHERE r.run_id = %s "
            "AND t.key = 'strategy'",
            (run_id,),
        )
        run_status, strategy = cur.fetchone()
        cur.execute("SELECT count(*), min(mode) FROM orders WHERE strategy = 'tiny'")
        ledger_rows, mode = cur.fetchone()
    assert run_status == "SUCCESS" and strategy == "tiny"
    # (event types keep Dagster's legacy PIPELINE_ names in storage)
    assert events["PIPELINE_ENQUEUED"] == 1 and events["PIPELINE_STARTING"] == 1, "queued, then launched by the daemon"
    assert events["ASSET_MATERIALIZATION"] == 7 and events["STEP_SUCCESS"] == 7
    assert (ledger_rows, mode) == (2, "dry_run"), "the ledger lives in the same Postgres"
    # Every step ran inside the Celery worker, not in the run's own process.
    assert worker_log.count("Task execute_plan[") >= 7 and worker_log.count("STEP_SUCCESS") == 7
