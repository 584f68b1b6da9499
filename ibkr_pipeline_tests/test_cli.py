"""The console script as users run it: the simulator as a process, the symbols commands, the walkthrough."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "ibkr-pipeline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gateway_process():
    port = free_port()
    proc = subprocess.Popen(
        [CLI, "gateway-sim", "--port", str(port), "--clock-start", "2026-11-24T15:00:00", "--clock-speed", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"gateway-sim did not start: {proc.stdout.read() if proc.stdout else ''}")
    yield port
    proc.terminate()
    proc.wait(10)


def run_cli(*args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def test_symbols_show_and_search(gateway_process, tmp_path):
    env = {"IBKR_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200"}
    shown = run_cli("symbols", "show", "AAPL", "--port", str(gateway_process), env_extra=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "AAPL (IB)" in shown.stdout and "NASDAQ" in shown.stdout and "APPLE INC" in shown.stdout
    again = run_cli("symbols", "show", "AAPL", "--port", str(gateway_process), env_extra=env)
    assert "AAPL (cache)" in again.stdout
    found = run_cli("symbols", "search", "XL", "--port", str(gateway_process), env_extra=env)
    assert found.returncode == 0 and "XLK" in found.stdout and "XLE" in found.stdout
    missing = run_cli("symbols", "show", "ZZZQ", "--port", str(gateway_process), env_extra=env)
    assert missing.returncode == 2 and "unknown contract 'ZZZQ'" in missing.stdout


def test_plain_ib_async_walkthrough_against_the_cli_simulator(gateway_process):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ib_async_walkthrough.py"), "--port", str(gateway_process)],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "positions and account values agree with the fills" in done.stdout


def test_demo_runs_end_to_end():
    done = subprocess.run([sys.executable, "-m", "ibkr_pipeline.demo"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agree with the fills" in done.stdout
