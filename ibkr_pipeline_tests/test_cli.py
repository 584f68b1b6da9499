"""The console script as users run it: the simulator as a process, the symbols commands, the walkthrough."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ibkr_pipeline_tests.conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "ibkr-pipeline")


@pytest.fixture
def gateway_process(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [CLI, "gateway-sim", "--port", str(port), "--clock-start", "2026-11-24T15:00:00", "--clock-speed", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "IBKR_PIPELINE_HOME": str(tmp_path / "sim_home")},  # its paper account is the test's
    )
    try:
        wait_for_port(port)
    except TimeoutError:
        proc.kill()
        raise RuntimeError(f"gateway-sim did not start: {proc.stdout.read() if proc.stdout else ''}") from None
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
    nothing = run_cli("symbols", "search", "QQQQZZ", "--port", str(gateway_process), env_extra=env)
    assert (
        nothing.returncode == 1
        and nothing.stderr.strip() == "error: no contract matches 'QQQQZZ' (in the cache or at IB)"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--start", "2026-13-01", "--end", "2026-11-01"], "error: --start '2026-13-01' is not a date (YYYY-MM-DD)"),
        (["--start", "2026-11-02", "--end", "2026-11-01"], "error: --start 2026-11-02 is after --end 2026-11-01"),
        (
            ["--start", "2026-10-01", "--end", "2026-11-01", "--analyst", "gpt"],
            "error: --analyst 'gpt' is not one of offline, llm",
        ),
        (
            ["--start", "2026-10-01", "--end", "2026-11-01", "--charts", "sometimes"],
            "error: --charts 'sometimes' is not one of auto, always, never",
        ),
        (
            ["--start", "2026-10-01", "--end", "2026-11-01", "--analyst", "llm"],
            "error: --analyst llm needs an LLM endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY), or use --analyst offline",
        ),
    ],
)
def test_a_bad_backtest_option_is_one_line_and_a_non_zero_exit_before_anything_runs(tmp_path, args, line):
    env = {"OPENAI_BASE_URL": "", "DAGSTER_HOME": str(tmp_path / "home"), "COLUMNS": "300"}
    done = run_cli("backtest", "us_megacaps_daily", *args, env_extra=env)
    assert done.returncode == 2 and done.stderr.strip() == line and done.stdout == ""
    assert not (tmp_path / "home").exists()  # refused before a Dagster instance was made


def test_version_names_the_package_and_the_commit():
    done = run_cli("--version", env_extra={})
    assert done.returncode == 0 and done.stdout.startswith("ibkr_pipeline ") and ", commit " in done.stdout


def test_plain_ib_async_walkthrough_against_the_cli_simulator(gateway_process):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ib_async_walkthrough.py"), "--port", str(gateway_process)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "positions and account values agree with the fills" in done.stdout


def test_ibkrs_own_python_client_runs_a_full_session_against_the_cli_simulator(gateway_process):
    """An independent decoder: IBKR's official client (ibapi-stable) reads every answer the simulator writes."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ibapi_session.py"), "--port", str(gateway_process)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "1 hour bars, formatDate=1: " in out and " US/Eastern close " in out  # intraday, formatDate=1
    assert "5 mins bars, formatDate=2: " in out and "entry filled; commission 1.0" in out
    statuses = next(line for line in out.splitlines() if line.startswith("entry statuses: "))
    assert statuses.removeprefix("entry statuses: ").split(", ")[:2] == ["PreSubmitted", "Submitted"]
    assert statuses.endswith("Filled, Filled")  # IB repeats a status; every message reaches this client
    assert "open orders under ibapi-session:" in out and ": 2 (stop and target in one OCA group)" in out
    assert "target modified to " in out and "account updates: " in out
    assert out.rstrip().endswith("full session: every request answered, none failed")


def test_demo_runs_a_tick_through_dagster_end_to_end(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "IBKR_PIPELINE_HOME": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "ibkr_pipeline.demo"], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    rows = [
        line.split()
        for line in done.stdout.splitlines()
        if line.split()[:1] in (["AAPL"], ["MSFT"], ["NVDA"], ["AMZN"], ["GOOGL"], ["META"])
    ]
    assert len(rows) == 6 and all(row[1] in ("BUY", "SELL", "HOLD") for row in rows)
    charts = sorted((tmp_path / "data" / "objects" / "us_megacaps_daily").glob("*/*/*.png"))
    assert len(charts) == 12
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in charts)
    tick = charts[0].parent.name
    assert f"charts: {tmp_path / 'data' / 'objects' / 'us_megacaps_daily'}/<symbol>/{tick}/" in done.stdout
    assert "Warning" not in done.stdout + done.stderr and max(len(line) for line in done.stdout.splitlines()) <= 200
    # Every order has its audit record, and the demo ends with where to find it.
    assert "open http://127.0.0.1:3000/assets/order_audit?view=partitions&partition=" in done.stdout


def test_backtest_command_reports_an_example_strategy_on_the_simulators_data(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "IBKR_PIPELINE_HOME": str(tmp_path / "data")}
    env.pop("IBKR_PORT", None)
    done = subprocess.run(
        [CLI, "backtest", "sector_etf_rotation", "--start", "2026-05-04", "--end", "2026-10-30"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if line.count("│") == 4}
    for figure in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "exposure", "trades"):
        assert figure in lines
    assert int(lines["trades"].split("│")[2].strip()) > 0
    plots = list((tmp_path / "data" / "objects" / "sector_etf_rotation" / "backtests").glob("*/report.png"))
    assert len(plots) == 1 and str(plots[0]).replace("\n", "") in done.stdout.replace("\n", "")
    # The runs are in the Dagster instance that `make ui` opens.
    assert (tmp_path / "dagster_home" / "storage").exists() or (tmp_path / "dagster_home" / "history").exists()


def test_the_kill_switch_from_the_command_line_reaches_every_process(tmp_path):
    env = {
        "IBKR_PIPELINE_HOME": str(tmp_path),
        "IBKR_PIPELINE_DB_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "IBKR_PIPELINE_KILL_SWITCH": "",
    }
    assert run_cli("kill-switch", "status", env_extra=env).stdout.startswith("kill switch is off")
    on = run_cli("kill-switch", "on", "--reason", "broker outage", "--by", "alice", env_extra=env)
    assert on.returncode == 0 and "kill switch ON at " in on.stdout and "by alice: broker outage" in on.stdout
    # Another process (a run worker, another container) reads the same database.
    from sqlalchemy import create_engine

    from ibkr_pipeline.database.kill_switch import KillSwitch
    from ibkr_pipeline.trading.guards import kill_switch_reason

    engine = create_engine(env["IBKR_PIPELINE_DB_URL"])
    assert kill_switch_reason(tmp_path, KillSwitch(engine)).endswith("broker outage)")
    status = run_cli("kill-switch", "status", env_extra=env).stdout.splitlines()
    assert status[0].startswith("kill switch is on (set by alice at ") and "ON  alice broker outage" in status[1]
    off = run_cli("kill-switch", "off", "--by", "bob", env_extra={**env, "IBKR_PIPELINE_KILL_SWITCH": "yes"})
    assert (
        "kill switch off in the database; still on: kill switch is on (IBKR_PIPELINE_KILL_SWITCH='yes')" in off.stdout
    )
    assert kill_switch_reason(tmp_path, KillSwitch(engine)) == ""
    engine.dispose()


def test_a_bad_day_rehearsed_from_the_command_line(tmp_path):
    """gateway-sim --silent-on-order: the first order vanishes and the gateway stays connected and silent."""
    port = free_port()
    proc = subprocess.Popen(
        [
            CLI,
            "gateway-sim",
            "--port",
            str(port),
            "--clock-start",
            "2026-11-24T15:00:00",
            "--clock-speed",
            "0",
            "--memory",
            "--silent-on-order",
            "--restart-at",
            "23:45",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port)
        from ib_async import IB, MarketOrder, Stock

        ib = IB()
        ib.connect("127.0.0.1", port, clientId=12, timeout=5)
        [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
        trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
        ib.sleep(0.5)
        assert trade.orderStatus.status == "PendingSubmit" and ib.isConnected()  # never acknowledged
        ib.disconnect()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "account in memory only" in out and "fault: order swallowed, gateway silent" in out
    bad = run_cli("gateway-sim", "--restart-at", "25:99", "--memory", env_extra={})
    assert bad.returncode == 2 and "'25:99' is not a time like 23:45" in bad.stdout + bad.stderr


def test_a_backtest_without_trades_says_why_and_json_carries_the_counts(tmp_path):
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "never.yaml").write_text("""
name: never
universe: [{symbol: XLK}, {symbol: XLE}]
schedule: {cron: "45 15 * * 5", timezone: America/New_York, start: 2026-01-01}
timeframes: [{name: daily, bar_size: 1 day, lookback: 1 Y}]
indicators: [{kind: atr, params: {length: 14}, name: atr_14}]
signal: {buy: "close < 0", atr: atr_14}
""")
    env = {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "IBKR_PIPELINE_HOME": str(tmp_path / "data"),
        "IBKR_PIPELINE_STRATEGIES": str(strategies),
        "IBKR_PORT": "",
        "COLUMNS": "200",
    }
    env_run = {**os.environ, **env}
    env_run.pop("IBKR_PORT")
    args = [CLI, "backtest", "never", "--start", "2026-09-01", "--end", "2026-10-30"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env_run)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "no trades: no BUY or SELL signal in 18 signals (all HOLD)" in done.stdout
    assert "signals: 18 HOLD" in done.stdout and "│ total_return   │ 0.00%" in done.stdout
    as_json = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env_run)
    report = json.loads(as_json.stdout)
    assert report["signals"] == {"HOLD": 18} and report["trades"] == [] and report["figures"]["trades"]["strategy"] == 0
    assert report["why_no_trades"].startswith("no BUY or SELL signal")


POOL_STRATEGY = """
name: {name}
universe: [{{symbol: AAPL}}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}}
timeframes: [{{name: daily, bar_size: 1 day, lookback: 6 M}}]
indicators: [{{kind: atr, params: {{length: 14}}, name: atr_14}}]
signal: {{buy: "close > 0", atr: atr_14}}
"""


def test_init_pools_gives_each_loaded_strategy_a_trading_pool_of_one_and_puts_a_changed_limit_back(tmp_path):
    import dagster as dg

    strategies, home = tmp_path / "strategies", tmp_path / "dagster_home"
    strategies.mkdir()
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    for name in ("alpha", "beta"):
        (strategies / f"{name}.yaml").write_text(POOL_STRATEGY.format(name=name))
    (strategies / "broken.yaml").write_text("name: broken\nuniverse: []\n")
    env = {"DAGSTER_HOME": str(home), "IBKR_PIPELINE_STRATEGIES": str(strategies), "COLUMNS": "200"}

    first = run_cli("init-pools", env_extra=env)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[-2:] == ["pool alpha_trading: limit 1", "pool beta_trading: limit 1"]
    assert lines[0].startswith(f"✗ {strategies / 'broken.yaml'}: ")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        assert sorted(storage.get_concurrency_keys()) == ["alpha_trading", "beta_trading"]
        storage.set_concurrency_slots("alpha_trading", 3)  # an operator widens it by hand
    again = run_cli("init-pools", env_extra=env)
    assert again.returncode == 0 and again.stdout.splitlines()[-2:] == lines[-2:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        infos = {key: instance.event_log_storage.get_concurrency_info(key) for key in ("alpha_trading", "beta_trading")}
    assert {key: (info.slot_count, info.limit) for key, info in infos.items()} == {
        "alpha_trading": (1, 1),
        "beta_trading": (1, 1),
    }
