"""Daily history for backtests: files the user provides, bars already stored, or fetched once from IBKR.

Backtests replay daily bars (weekly and monthly are rebuilt from them point in time),
so one daily series per symbol is all a backtest needs. What is fetched from IBKR is
stored, so the next backtest over the same years costs no requests.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pandas as pd

from ibkr_pipeline.broker.client import BarsRequest, IBKRClient
from ibkr_pipeline.broker.errors import IBKRError
from ibkr_pipeline.domain.bars import BarDataError, normalize_bars
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.exchange.market import read_bar_file

# Holidays and weekends at either end: a series starting within this of the wanted start covers it.
SLACK = pd.Timedelta(days=6)


class HistoryError(ValueError):
    """History a backtest cannot run on, naming the symbol and the file or source."""


def read_files(directory: Path, symbols: list[str]) -> dict[str, pd.DataFrame]:
    """``SYMBOL.csv`` or ``SYMBOL.parquet`` per symbol (a space in a symbol is ``_`` in the file name)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise HistoryError(f"history directory {directory} does not exist")
    found = {p.stem.upper().replace("_", " "): p for p in directory.iterdir() if p.suffix in (".csv", ".parquet")}
    missing = [s for s in symbols if s not in found]
    if missing:
        raise HistoryError(f"{directory}: no SYMBOL.csv or SYMBOL.parquet for {missing}")
    out = {}
    for symbol in symbols:
        try:
            out[symbol] = normalize_bars(read_bar_file(found[symbol]))
        except (ValueError, BarDataError) as exc:
            raise HistoryError(f"{found[symbol]}: {exc}") from exc
    return out


def covers(frame: pd.DataFrame, start: datetime, end: datetime) -> bool:
    """Whether a daily series spans [start, end] (allowing for weekends and holidays at either end)."""
    if frame.empty:
        return False
    return (
        frame["timestamp"].iloc[0] <= pd.Timestamp(start) + SLACK
        and frame["timestamp"].iloc[-1] >= pd.Timestamp(end) - SLACK
    )


def ib_duration(start: datetime, end: datetime) -> str:
    """The IB duration reaching back from ``end`` to ``start``: days up to a year, whole years beyond."""
    days = math.ceil((pd.Timestamp(end) - pd.Timestamp(start)) / pd.Timedelta(days=1)) + 1
    return f"{days} D" if days <= 365 else f"{math.ceil(days / 365.25)} Y"


def fetch_daily(
    client: IBKRClient, contracts: dict[str, ContractInfo], start: datetime, end: datetime
) -> dict[str, pd.DataFrame | IBKRError]:
    """One paced request per symbol for daily bars over [start, end]."""
    duration = ib_duration(start, end)
    requests = [BarsRequest(c, end, duration, "1 day", "TRADES", True) for c in contracts.values()]
    return dict(zip(contracts, client.bars_many(requests), strict=True))
