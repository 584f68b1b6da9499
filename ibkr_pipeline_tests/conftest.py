"""Fixtures that start real parts on free loopback ports and stop them afterwards."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg2
import pytest
from ib_async import IB

from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline_tests.clock import OFFSET_ENV, fresh_offset, start_suite_clock

# A Tuesday, 10:00 New York time: regular trading hours, a frozen clock.
MARKET_OPEN_INSTANT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
POSTGRES_DSN = os.environ.get("IBKR_PIPELINE_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


_REPORT: list[str] = []

# A suite started in the background (`&`, nohup) inherits SIGINT ignored, and Dagster's in-process runs map
# SIGTERM to SIGINT's handler: every process a test started afterwards would then ignore SIGTERM and outlive it.
signal.signal(signal.SIGINT, signal.default_int_handler)


def report_line(text: str) -> None:
    """A figure a test wants in the suite's output (e.g. the fuzzer's counts), printed in the summary."""
    _REPORT.append(text)


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a pytest-xdist worker: its lines go to the controller, which prints them
        worker_output["report_lines"] = list(_REPORT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    _REPORT.extend(getattr(node, "workeroutput", {}).get("report_lines", []))


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _REPORT:
        terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def suite_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test at ``clock.SUITE_NOW``; a fresh offset per test, shared with the processes it starts."""
    monkeypatch.setenv(OFFSET_ENV, fresh_offset())
    traveller = start_suite_clock()
    try:
        yield
    finally:
        traveller.stop()


def make_gateway(**overrides) -> SimulatorThread:
    config = SimulatorConfig(port=0, clock_start=MARKET_OPEN_INSTANT, clock_speed=0)
    for key, value in overrides.items():
        setattr(config, key, value)
    return SimulatorThread(config)


@pytest.fixture
def gateway() -> Iterator[SimulatorThread]:
    """Pacing off: tests that exercise pacing start their own gateway with it on."""
    with make_gateway(pacing=False) as gw:
        yield gw


@pytest.fixture
def ib(gateway: SimulatorThread) -> Iterator[IB]:
    client = IB()
    client.connect("127.0.0.1", gateway.port, clientId=1, timeout=5)
    yield client
    client.disconnect()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A throw-away database on the machine's PostgreSQL (make test starts it); its name."""
    name = f"ibkr_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield name
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def postgres_params() -> dict[str, str]:
    return {
        "user": "postgres",
        "host": "127.0.0.1",
        "port": "5432",
        **dict(item.split("=", 1) for item in POSTGRES_DSN.split()),
    }


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    params = postgres_params()
    url = f"postgresql+psycopg2://{params['user']}@{params['host']}:{params['port']}/{postgres_database}"
    yield url
    from ibkr_pipeline.database.engine import engine_for

    engine_for(url).dispose()
    engine_for.cache_clear()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ibkr_pipeline.db'}"
    return request.getfixturevalue("postgres_url")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, reached with the minio SDK like MinIO."""
    import subprocess
    import sys
    from pathlib import Path

    port = free_port()
    exe = str(Path(sys.executable).parent / "moto_server")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of the suite's own on a free loopback port, in memory: a Redis already running on the
    machine (6379 or any) is never used, so never flushed."""
    import shutil
    import subprocess

    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed; on Debian: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
