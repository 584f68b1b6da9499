"""The trader's tables from the ledger, and the CLI that prints them."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.trading.views import (
    equity_points,
    fills_view,
    held_in_words,
    orders_view,
    pnl_view,
    realized_by_strategy,
)

CLI = str(Path(sys.executable).parent / "ibkr-pipeline")
T0 = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)


def intent(strategy: str, symbol: str) -> OrderIntent:
    return OrderIntent(
        order_ref=f"{strategy}:{symbol}:2026-11-19-1000",
        strategy=strategy,
        symbol=symbol,
        con_id=1,
        tick="t",
        mode="paper",
        action="BUY",
        quantity=10,
        entry_type="MKT",
        stop_loss=90.0,
        take_profit=120.0,
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def filled_ledger(database_url: str) -> Ledger:
    """Two orders written at T0, then moved on a minute later; fills of alpha, and of alpha2 (a name alpha's
    begins), snapshots out of time order."""
    clock = Clock()
    ledger = Ledger(engine_for(database_url), clock=clock)
    for strategy, symbol in (("alpha", "AAPL"), ("beta", "MSFT")):
        ledger.record_intent(intent(strategy, symbol))
    clock.now = T0 + timedelta(minutes=1, seconds=30)
    ledger.set_status("alpha:AAPL:2026-11-19-1000", "working", "sent and acknowledged by IB", [1, 2, 3])
    ledger.set_status("beta:MSFT:2026-11-19-1000", "lost", "IB has no order under it")
    ledger.record_fill("e1", "alpha:AAPL:2026-11-19-1000", "AAPL", "BUY", 10, 100.0, 1.0, 0.0, T0)
    ledger.record_fill(
        "e2", "alpha:AAPL:2026-11-19-1000", "AAPL", "SELL", 10, 110.0, 1.0, 98.0, T0 + timedelta(hours=1)
    )
    ledger.record_fill("f1", "alpha2:TSLA:2026-11-19-1000", "TSLA", "SELL", 3, 250.0, 0.504, 12.346, T0)
    # Snapshots written out of time order (a tick on the simulator's clock, the portfolio asset on another).
    for at, value in ((T0 + timedelta(hours=2), 1_000_098.0), (T0, 1_000_000.0), (T0 + timedelta(hours=1), 999_990.0)):
        ledger.snapshot(at, "DU1", value, value, 0.0, 0.0, {})
    return ledger


def test_views_read_the_ledger(database_url):
    ledger = filled_ledger(database_url)
    assert [r[0] for r in orders_view(ledger, live_only=True).rows] == ["alpha:AAPL:2026-11-19-1000"]
    every = {r[0]: r for r in orders_view(ledger).rows}
    lost = every["beta:MSFT:2026-11-19-1000"]
    assert (lost[9], lost[-1]) == ("lost", "IB has no order under it")  # status, and why
    assert [r[0] for r in fills_view(ledger, "alpha").rows] == ["e1", "e2"] and fills_view(ledger, "beta").rows == []
    assert pnl_view(ledger).rows == [("alpha", 2, 98.0, 2.0), ("alpha2", 1, 12.35, 0.5)]
    assert [v for _t, v in equity_points(ledger)] == [1_000_000.0, 999_990.0, 1_000_098.0]  # in time order
    assert realized_by_strategy(ledger) == {
        "alpha": [(T0, 0.0), (T0 + timedelta(hours=1), 98.0)],
        "alpha2": [(T0, 12.35)],
    }


@pytest.fixture
def new_york_local_time():
    """The machine's local time is not UTC: every time shown must still be UTC."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_every_column_of_the_orders_and_fills_tables(database_url, new_york_local_time):
    ledger = filled_ledger(database_url)
    orders = orders_view(ledger)
    assert orders.title == "orders" and orders_view(ledger, live_only=True).title == "open orders"
    assert [name for name, _ in orders.columns] == [
        *("orderRef", "strategy", "symbol", "side", "qty", "type", "limit", "stop", "target", "status"),
        *("created (UTC)", "updated (UTC)", "why"),
    ]
    assert [kind for _, kind in orders.columns] == ["text"] * 4 + ["int", "text"] + ["float"] * 3 + ["text"] * 4

    def written(ref: str, status: str, why: str) -> tuple:
        strategy, symbol, _ = ref.split(":", 2)
        numbers = ("BUY", 10, "MKT", None, 90.0, 120.0)
        return (ref, strategy, symbol, *numbers, status, "2026-11-19 15:00:00", "2026-11-19 15:01:30", why)

    assert sorted(orders.rows) == [
        written("alpha:AAPL:2026-11-19-1000", "working", ""),
        written("beta:MSFT:2026-11-19-1000", "lost", "IB has no order under it"),
    ]
    assert [r[0] for r in orders_view(ledger, strategy="beta").rows] == ["beta:MSFT:2026-11-19-1000"]
    fills = fills_view(ledger, "alpha")
    assert (fills.title, [name for name, _ in fills.columns]) == (
        "fills",
        [
            "execId",
            "strategy",
            "orderRef",
            "symbol",
            "side",
            "shares",
            "price",
            "commission",
            "realized P&L",
            "time (UTC)",
        ],
    )
    assert [kind for _, kind in fills.columns] == ["text"] * 5 + ["float"] * 4 + ["text"]
    assert fills.rows == [
        ("e1", "alpha", "alpha:AAPL:2026-11-19-1000", "AAPL", "BUY", 10, 100.0, 1.0, 0.0, "2026-11-19 15:00:00"),
        ("e2", "alpha", "alpha:AAPL:2026-11-19-1000", "AAPL", "SELL", 10, 110.0, 1.0, 98.0, "2026-11-19 16:00:00"),
    ]
    assert [r[0] for r in fills_view(ledger).rows] == ["e1", "f1", "e2"]
    pnl = pnl_view(ledger)
    assert (pnl.title, pnl.columns) == (
        "P&L by strategy",
        (("strategy", "text"), ("fills", "int"), ("realized P&L", "float"), ("commission", "float")),
    )


def test_the_analyst_is_told_the_strategys_own_position_and_working_orders(database_url):
    ledger = Ledger(engine_for(database_url))
    ledger.record_fill("e1", "alpha:AAPL:2026-11-18-1000", "AAPL", "BOT", 10, 100.0, 0.0, 0.0, T0)
    ledger.record_fill("x1", "beta:AAPL:2026-11-18-1000", "AAPL", "BOT", 99, 50.0, 0.0, 0.0, T0)
    ledger.record_intent(intent("alpha", "MSFT"))
    ledger.set_status("alpha:MSFT:2026-11-19-1000", "working")
    ledger.record_intent(intent("beta", "MSFT"))
    ledger.set_status("beta:MSFT:2026-11-19-1000", "working")
    frames = {
        "AAPL": {"daily": pd.DataFrame({"close": [105.0, 110.0]}), "weekly": pd.DataFrame({"close": [1.0]})},
        "MSFT": {"daily": pd.DataFrame({"close": [400.0]}), "weekly": pd.DataFrame({"close": [2.0]})},
    }
    assert held_in_words("alpha", ledger, frames, "daily") == {
        "AAPL": "long 10 shares at an average cost of 100.00; unrealized P&L +100.00 (+10.0%) at the last close "
        "110.00; no working orders",
        "MSFT": "flat: this strategy holds no shares; working orders: BUY 10 MKT (alpha:MSFT:2026-11-19-1000)",
    }


def test_the_cli_prints_the_same_tables(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    filled_ledger(url)
    env = {**os.environ, "IBKR_PIPELINE_DB_URL": url, "COLUMNS": "250"}
    run = lambda *args: subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60)  # noqa: E731
    orders = run("orders")
    assert orders.returncode == 0 and "alpha:AAPL:2026-11-19-1000" in orders.stdout and "lost" in orders.stdout
    live = run("orders", "--open")
    assert "alpha:AAPL" in live.stdout and "beta:MSFT" not in live.stdout
    fills = run("fills", "--strategy", "alpha")
    assert fills.returncode == 0 and "e1" in fills.stdout and "110.00" in fills.stdout
    portfolio = run("portfolio")
    assert portfolio.returncode == 0 and "alpha" in portfolio.stdout
    assert "net liquidation: $1,000,098.00" in portfolio.stdout and "+98.00 since" in portfolio.stdout


def test_audit_prints_the_record_or_one_clean_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    filled_ledger(url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    env = {**os.environ, "IBKR_PIPELINE_DB_URL": url, "DAGSTER_HOME": str(home), "COLUMNS": "200"}
    found = subprocess.run(
        [CLI, "audit", "alpha:AAPL:2026-11-19-1000"], capture_output=True, text=True, env=env, timeout=60
    )
    assert found.returncode == 0, found.stderr
    assert "alpha:AAPL:2026-11-19-1000: BUY 10 AAPL MKT, stop 90.0, target 120.0" in found.stdout
    assert "working: sent and acknowledged by IB" in found.stdout and "SELL 10 @ 110.00" in found.stdout
    assert "no run of this tick in this Dagster instance" in found.stdout
    missing = subprocess.run([CLI, "audit", "alpha:ZZZ:1"], capture_output=True, text=True, env=env, timeout=60)
    assert missing.returncode == 2
    assert (
        missing.stdout + missing.stderr
    ).strip() == "error: no order 'alpha:ZZZ:1' in the ledger (ibkr-pipeline orders lists them)"


def test_realized_pnl_accumulates_in_time_order_whatever_the_exec_ids(database_url):
    """A position closed in two parts: each part's realized P&L adds to the strategy's, in time order."""
    ledger = Ledger(engine_for(database_url))
    ref = "alpha:AAPL:2026-11-19-1000"
    ledger.record_fill("z9", ref, "AAPL", "BOT", 10, 100.0, 1.0, 0.0, T0)
    ledger.record_fill("a1", ref, "AAPL", "SLD", 5, 110.0, 1.0, 48.5, T0 + timedelta(hours=1))
    ledger.record_fill("m5", ref, "AAPL", "SLD", 5, 108.0, 1.0, 38.5, T0 + timedelta(hours=2))
    assert realized_by_strategy(ledger) == {
        "alpha": [(T0, 0.0), (T0 + timedelta(hours=1), 48.5), (T0 + timedelta(hours=2), 87.0)]
    }
    assert pnl_view(ledger).rows == [("alpha", 3, 87.0, 3.0)]
