"""Incremental bar history: what is already known as of a tick, what to fetch, how to merge."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ibkr_pipeline.domain.bars import empty_bars, normalize_bars

_BAR_LENGTH = {
    "1 day": timedelta(days=1),
    "1 week": timedelta(days=7),
    "1 month": timedelta(days=31),
}
NEW_YORK = ZoneInfo("America/New_York")
SESSION_CLOSE = time(16, 0)
_NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = date(1970, 1, 1)
_UNIT_OFFSET = {"S": "seconds", "D": "days", "W": "weeks", "M": "months", "Y": "years"}


def bar_length(bar_size: str) -> timedelta:
    if bar_size in _BAR_LENGTH:
        return _BAR_LENGTH[bar_size]
    count, unit = bar_size.split()
    return timedelta(minutes=int(count) * (60 if unit.startswith("hour") else 1))


def daily_known_at(timestamps: pd.Series) -> pd.Series:
    """When each daily bar is complete: its session's close in New York, as UTC (an early close only makes
    this conservative). The one rule the live tick and the backtest's point-in-time view share."""
    days = timestamps.array.as_unit("ns").asi8 // _NS_PER_DAY  # the bar's UTC date, as days since 1970
    unique, where = np.unique(days, return_inverse=True)
    closes = np.array([_session_close_ns(int(d)) for d in unique], dtype=np.int64)[where]
    return pd.Series(pd.DatetimeIndex(closes.view("M8[ns]")).tz_localize("UTC"), index=timestamps.index)


@lru_cache(maxsize=65_536)
def _session_close_ns(day: int) -> int:
    """16:00 in New York on that date (never a DST gap or overlap, so exact), in UTC nanoseconds."""
    close = datetime.combine(_EPOCH + timedelta(days=day), SESSION_CLOSE, NEW_YORK)
    return int(close.timestamp()) * 1_000_000_000


def completed_as_of(frame: pd.DataFrame, end: datetime, bar_size: str) -> pd.DataFrame:
    """Only bars that had finished by ``end``: a daily bar at its session's close, any other at its own end.

    Every rule finishes a bar at most a day after its own end, so only the last bars are looked at: a stored
    history holds years of them, and a tick plans a fetch for every symbol."""
    if frame.empty:
        return frame
    length = pd.Timedelta(bar_length(bar_size))
    stamps = frame["timestamp"]
    surely = int(stamps.searchsorted(pd.Timestamp(end) - length - pd.Timedelta(days=1), side="right"))
    tail = stamps.iloc[surely:]
    if bar_size == "1 day":
        finished = daily_known_at(tail) <= pd.Timestamp(end)
    elif bar_size in _BAR_LENGTH:
        finished = tail + length <= pd.Timestamp(end)
    else:  # intraday bars end on IB's clock grid: the 09:30 hourly bar of a regular session ends at 10:00
        finished = tail.dt.floor(length) + length <= pd.Timestamp(end)
    # Each rule finishes bars in their order, so the finished ones are a prefix of the frame.
    return frame.iloc[: surely + int(finished.sum())].reset_index(drop=True)


def as_of_tick(frame: pd.DataFrame, end: datetime, bar_size: str) -> pd.DataFrame:
    """The bars a tick at ``end`` decides on: intraday and daily bars only once complete, as the backtest sees
    them. A weekly or monthly bar is IB's period so far (the backtest rebuilds it from the days known)."""
    if bar_size in ("1 week", "1 month"):
        return frame
    return completed_as_of(frame, end, bar_size)


@lru_cache(maxsize=4096)  # every symbol of a tick asks for the same instant
def lookback_start(end: datetime, lookback: str) -> pd.Timestamp:
    count, unit = lookback.split()
    return pd.Timestamp(end) - pd.DateOffset(**{_UNIT_OFFSET[unit]: int(count)})


def missing_duration(known: pd.DataFrame, end: datetime, lookback: str, bar_size: str) -> str:
    """The IB duration to request so that, merged with ``known``, the lookback is complete."""
    start = lookback_start(end, lookback)
    if known.empty or known["timestamp"].iloc[0] > start + pd.Timedelta(bar_length(bar_size)) * 7:
        return lookback
    gap = pd.Timestamp(end) - known["timestamp"].iloc[-1]
    if bar_size in _BAR_LENGTH:
        days = math.ceil(gap / pd.Timedelta(days=1)) + 1
        if bar_size != "1 day":
            days = max(days, 14 if bar_size == "1 week" else 62)
        return f"{days} D" if days <= 365 else lookback
    seconds = int(gap.total_seconds()) + int(bar_length(bar_size).total_seconds())
    return f"{seconds} S" if seconds <= 86_400 else f"{math.ceil(seconds / 86_400)} D"


def merge(known: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    """Union of both; where they overlap the fresh fetch wins."""
    if known.empty:
        return normalize_bars(fetched) if not fetched.empty else empty_bars()
    known, fetched = normalize_bars(known), normalize_bars(fetched)
    if fetched.empty:
        return known
    # The fetch usually only extends the history (its first bar at or after the last known): no other overlap.
    first = fetched["timestamp"].iloc[0]
    if first >= known["timestamp"].iloc[-1]:
        kept = known.iloc[: int(known["timestamp"].searchsorted(first, side="left"))]
    else:
        kept = known[~known["timestamp"].isin(fetched["timestamp"])]
    return normalize_bars(pd.concat([kept, fetched], ignore_index=True))


def window(frame: pd.DataFrame, end: datetime, lookback: str) -> pd.DataFrame:
    """Bars inside [end - lookback, end]."""
    if frame.empty:
        return frame
    stamps = frame["timestamp"]
    first = int(stamps.searchsorted(lookback_start(end, lookback), side="left"))
    last = int(stamps.searchsorted(pd.Timestamp(end), side="right"))
    return frame.iloc[first:last].reset_index(drop=True)
