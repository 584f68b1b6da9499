"""The production topology as processes on one machine: gateway simulator, code server, webserver, daemon and
Celery workers on PostgreSQL, Redis and an S3 server, with the deploy/ files the containers use.

Each Celery worker is a host of its own (its own working directory, Dagster home copy, storage and data
directories): step outputs can only travel through the object store. The topology test and
``bench/backfill.py`` both start it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from dagster_graphql import DagsterGraphQLClient
from minio import Minio

from ibkr_pipeline_tests.services import free_port, postgres_params, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BROKER_DB, BACKEND_DB = 0, 1  # on a Redis of the caller's own (services.redis_server)
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def instance_env(where: Path, database: str) -> dict[str, str]:
    """What deploy/dagster.yaml reads: Dagster's storage in ``database`` on the machine's PostgreSQL."""
    pg = postgres_params()
    return {
        "DAGSTER_PG_HOST": pg["host"],
        "DAGSTER_PG_PORT": pg["port"],
        "DAGSTER_PG_DB": database,
        "DAGSTER_PG_USER": pg["user"],
        "DAGSTER_PG_PASSWORD": "trust-auth-ignores-it",
        "DAGSTER_COMPUTE_LOG_DIR": str(where / "compute_logs"),
        "DAGSTER_ARTIFACT_DIR": str(where / "storage"),
    }


class LocalDeployment:
    def __init__(
        self,
        where: Path,
        database: str,
        redis_url: str,
        s3_endpoint: str,
        strategies: dict[str, str],
        bucket: str = "topology",
        workers: tuple[str, ...] = ("worker_a", "worker_b"),
    ):
        self.where, self.database, self.bucket, self.workers = where, database, bucket, workers
        self.home, self.strategies, self.logs = where / "dagster_home", where / "strategies", where / "logs"
        for d in (self.home, self.strategies, self.logs):
            d.mkdir(parents=True)
        for name, text in strategies.items():
            (self.strategies / f"{name}.yaml").write_text(text)
        self.s3 = Minio(s3_endpoint, access_key="testing", secret_key="testing", secure=False)
        self.pg = postgres_params()
        self.gateway_port, self.code_port, self.web_port = free_port(), free_port(), free_port()
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # dagster-celery starts `celery` by name
            "DAGSTER_HOME": str(self.home),
            **instance_env(where, database),
            "IBKR_PIPELINE_S3_ENDPOINT": s3_endpoint,
            "IBKR_PIPELINE_S3_BUCKET": bucket,
            "IBKR_PIPELINE_S3_SECURE": "false",
            "IBKR_PIPELINE_S3_ACCESS_KEY": "testing",
            "IBKR_PIPELINE_S3_SECRET_KEY": "testing",
            "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
            "DAGSTER_CODE_SERVER_PORT": str(self.code_port),
            "IBKR_PORT": str(self.gateway_port),
            "IBKR_PIPELINE_HOME": str(where / "data"),
            "IBKR_PIPELINE_DB_URL": (
                f"postgresql+psycopg2://{self.pg['user']}@{self.pg['host']}:{self.pg['port']}/{database}"
            ),
            "IBKR_PIPELINE_STRATEGIES": str(self.strategies),
            "IBKR_PIPELINE_EXECUTOR": "celery",
            "IBKR_PIPELINE_CELERY_BROKER": f"{redis_url}/{BROKER_DB}",
            "IBKR_PIPELINE_CELERY_BACKEND": f"{redis_url}/{BACKEND_DB}",
        }
        self.running: dict[str, tuple[subprocess.Popen, object]] = {}
        self.pools = ""  # what `ibkr-pipeline init-pools` printed

    def __enter__(self) -> LocalDeployment:
        self.s3.make_bucket(self.bucket)  # as minio-init does
        shutil.copy(ROOT / "deploy" / "dagster.yaml", self.home / "dagster.yaml")
        # Dagster's schema and the strategies' pools once, before any service starts (as compose's dagster-init).
        self.run_once(str(BIN / "dagster"), "instance", "migrate")
        self.pools = self.run_once(str(BIN / "ibkr-pipeline"), "init-pools")
        try:
            self._start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def run_once(self, *args: str) -> str:
        """A set-up command's output; it must succeed."""
        done = subprocess.run([*args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()

    def _start_services(self) -> None:
        self.start(
            "gateway",
            str(BIN / "ibkr-pipeline"),
            "gateway-sim",
            "--port",
            str(self.gateway_port),
            "--clock-start",
            "2026-11-19T22:00:00",
            "--clock-speed",
            "0",
            "--no-pacing",
        )
        self.start(
            "code",
            str(BIN / "dagster"),
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.code_port),
            "-m",
            "ibkr_pipeline.definitions",
        )
        wait_for_port(self.gateway_port)
        wait_for_port(self.code_port, timeout=90)
        for worker in self.workers:
            where = self.where / worker
            (where / "dagster_home").mkdir(parents=True)
            shutil.copy(ROOT / "deploy" / "dagster.yaml", where / "dagster_home" / "dagster.yaml")
            own = {
                **self.env,
                "DAGSTER_HOME": str(where / "dagster_home"),
                "DAGSTER_ARTIFACT_DIR": str(where / "storage"),
                "DAGSTER_COMPUTE_LOG_DIR": str(where / "compute_logs"),
                "IBKR_PIPELINE_HOME": str(where / "data"),
            }
            self.start(
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
        workspace = str(ROOT / "deploy" / "workspace.yaml")
        self.start(
            "webserver", str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.web_port), "-w", workspace
        )
        self.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", workspace)
        wait_for_port(self.web_port, timeout=90)
        self.client = DagsterGraphQLClient("127.0.0.1", port_number=self.web_port)

    def start(self, name: str, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        out = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [*args], stdout=out, stderr=subprocess.STDOUT, env=env or self.env, cwd=cwd, start_new_session=True
        )
        self.running[name] = (proc, out)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def logs_tail(self, chars: int = 3000) -> str:
        return "".join(f"\n--- {name}\n{self.log(name)[-chars:]}" for name in ("daemon", *self.workers, "code"))

    def wait(self, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Each run's status once all have finished, or as they stand at ``timeout`` (a guard against a hang)."""
        statuses: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = {r: self.client.get_run_status(r).value for r in run_ids}
            if all(s in FINISHED for s in statuses.values()):
                break
            time.sleep(2)
        return statuses

    def stop(self) -> None:
        for proc, _out in self.running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, out in self.running.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            out.close()  # type: ignore[attr-defined]
        self.running.clear()
