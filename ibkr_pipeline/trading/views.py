"""The trader's tables, read from the ledger: orders, fills, open orders, the equity over time, and the
strategy's position in words for the analyst's prompt.

One source for what the ``portfolio`` asset shows as Dagster table metadata and what
``ibkr-pipeline orders`` / ``fills`` / ``portfolio`` print, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.orders import strategy_of
from ibkr_pipeline.domain.positions import position_summary


@dataclass(frozen=True)
class View:
    """A table: column names with their kind (``text``, ``int``, ``float``), and rows in that order."""

    title: str
    columns: tuple[tuple[str, str], ...]
    rows: list[tuple]


def _utc(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def orders_view(ledger: Ledger, strategy: str = "", live_only: bool = False) -> View:
    rows = []
    for row in ledger.orders(strategy=strategy, live_only=live_only):
        rows.append(
            (
                row.order_ref,
                row.strategy,
                row.symbol,
                row.action,
                int(row.quantity),
                row.entry_type,
                row.limit_price,
                row.stop_loss,
                row.take_profit,
                row.status,
                _utc(row.created_at),
                _utc(row.updated_at),
                row.error,
            )
        )
    columns = (
        ("orderRef", "text"),
        ("strategy", "text"),
        ("symbol", "text"),
        ("side", "text"),
        ("qty", "int"),
        ("type", "text"),
        ("limit", "float"),
        ("stop", "float"),
        ("target", "float"),
        ("status", "text"),
        ("created (UTC)", "text"),
        ("updated (UTC)", "text"),
        ("why", "text"),
    )
    return View("open orders" if live_only else "orders", columns, rows)


def fills_view(ledger: Ledger, strategy: str = "") -> View:
    rows = [
        (
            f.exec_id,
            strategy_of(f.order_ref),
            f.order_ref,
            f.symbol,
            f.side,
            f.shares,
            f.price,
            f.commission,
            f.realized_pnl,
            _utc(f.time),
        )
        for f in ledger.fills(order_ref_prefix=f"{strategy}:" if strategy else "")
    ]
    columns = (
        ("execId", "text"),
        ("strategy", "text"),
        ("orderRef", "text"),
        ("symbol", "text"),
        ("side", "text"),
        ("shares", "float"),
        ("price", "float"),
        ("commission", "float"),
        ("realized P&L", "float"),
        ("time (UTC)", "text"),
    )
    return View("fills", columns, rows)


def pnl_view(ledger: Ledger) -> View:
    """Per strategy: fills, realised P&L and commissions from its own fills."""
    totals: dict[str, list[float]] = {}
    for fill in ledger.fills():
        t = totals.setdefault(strategy_of(fill.order_ref), [0, 0.0, 0.0])
        t[0] += 1
        t[1] += fill.realized_pnl
        t[2] += fill.commission
    rows = [(s, int(n), round(pnl, 2), round(fees, 2)) for s, (n, pnl, fees) in sorted(totals.items())]
    return View(
        "P&L by strategy",
        (("strategy", "text"), ("fills", "int"), ("realized P&L", "float"), ("commission", "float")),
        rows,
    )


def equity_points(ledger: Ledger) -> list[tuple[datetime, float]]:
    """Net liquidation over time, in time order (snapshots are written by ticks and the portfolio asset alike)."""
    return sorted((s.at, s.net_liquidation) for s in ledger.snapshots())


def realized_by_strategy(ledger: Ledger) -> dict[str, list[tuple[datetime, float]]]:
    """Each strategy's realized P&L as IB reports it (the same figure as ``pnl_view``), accumulated fill by fill
    in time order."""
    curves: dict[str, list[tuple[datetime, float]]] = {}
    totals: dict[str, float] = {}
    for fill in sorted(ledger.fills(), key=lambda f: f.time):
        strategy = strategy_of(fill.order_ref)
        totals[strategy] = totals.get(strategy, 0.0) + fill.realized_pnl
        curves.setdefault(strategy, []).append((fill.time, round(totals[strategy], 2)))
    return curves


def held_in_words(
    strategy: str, ledger: Ledger, frames: dict[str, dict[str, pd.DataFrame]], timeframe: str
) -> dict[str, str]:
    """Per symbol: what the strategy holds and has working, as the analyst's prompt says it (live and replay alike)."""
    held = ledger.positions()
    working: dict[str, list[str]] = {}
    for row in ledger.open_orders(strategy=strategy):
        working.setdefault(row.symbol, []).append(f"{row.action} {row.quantity} {row.entry_type} ({row.order_ref})")
    return {
        s: position_summary(held.get((strategy, s)), float(f[timeframe]["close"].iloc[-1]), working.get(s, []))
        for s, f in frames.items()
    }
