"""Where each kind of object lives in the object store: the one home of the key layout.

A person browsing the bucket finds a strategy's objects under its name: bar histories,
charts per tick, backtests and order audits; shared daily history and portfolio plots
sit beside the strategies. Symbols with a space (``BRK B``) get an underscore.
"""

from __future__ import annotations

from datetime import datetime

PROBE = "_health/probe.txt"


def _symbol(symbol: str) -> str:
    return symbol.replace(" ", "_")


def bars(strategy: str, symbol: str, timeframe: str) -> str:
    """One symbol's bar history of one timeframe, as the strategy's ticks have fetched it."""
    return f"{strategy}/bars/{_symbol(symbol)}/{timeframe}.parquet"


def chart(strategy: str, symbol: str, tick: str, timeframe: str) -> str:
    return f"{strategy}/{symbol}/{tick}/{timeframe}.png"


def daily_history(symbol: str) -> str:
    """Daily bars fetched for backtests, shared by every strategy that trades the symbol."""
    return f"history/{_symbol(symbol)}/1_day.parquet"


def backtest_folder(strategy: str, first_tick: str, last_tick: str) -> str:
    return f"{strategy}/backtests/{first_tick}__{last_tick}".replace(":", "")


def backtest_chart(folder: str, symbol: str, tick: str, timeframe: str) -> str:
    return f"{folder}/charts/{_symbol(symbol)}/{tick}/{timeframe}.png"


def backtest_result(folder: str) -> str:
    return f"{folder}/result.json"


def backtest_report_plot(folder: str) -> str:
    return f"{folder}/report.png"


def latest_backtest(strategy: str) -> str:
    """A small pointer to the latest backtest's folder: the report asset reads it."""
    return f"{strategy}/backtests/latest.json"


def order_audit_chart(strategy: str, order_ref: str) -> str:
    return f"{strategy}/audit/{order_ref.replace(':', '_')}.png"


def equity_plot(at: datetime) -> str:
    return f"portfolio/equity_{at:%Y%m%dT%H%M%S}.png"
