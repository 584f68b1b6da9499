"""Fixtures that start real parts on free loopback ports and stop them afterwards."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from ib_async import IB

from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline_tests import services
from ibkr_pipeline_tests.clock import OFFSET_ENV, fresh_offset, start_suite_clock
from ibkr_pipeline_tests.services import free_port, postgres_params, wait_for_port

__all__ = ["free_port", "postgres_params", "wait_for_port"]  # the suite's tests import them here

# A Tuesday, 10:00 New York time: regular trading hours, a frozen clock.
MARKET_OPEN_INSTANT = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


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
    with services.postgres_database() as name:
        yield name


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with services.moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with services.redis_server(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except services.RedisMissing as exc:
        pytest.fail(str(exc))
