"""The real servers the suite and the benchmarks start: each on a free loopback port, stopped on exit.

Context managers, so ``bench/`` starts them the way the fixtures in ``conftest`` do."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

POSTGRES_DSN = os.environ.get("IBKR_PIPELINE_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def postgres_params() -> dict[str, str]:
    return {
        "user": "postgres",
        "host": "127.0.0.1",
        "port": "5432",
        **dict(item.split("=", 1) for item in POSTGRES_DSN.split()),
    }


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throw-away database on the machine's PostgreSQL (make test starts it); its name."""
    name = f"ibkr_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield name
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


@contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server, reached with the minio SDK like MinIO; its ``host:port``."""
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


class RedisMissing(RuntimeError):
    pass


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """A Redis of our own, in memory: a Redis already running on the machine is never used, so never flushed."""
    server = shutil.which("redis-server")
    if server is None:
        raise RedisMissing("redis-server is not installed; on Debian: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
