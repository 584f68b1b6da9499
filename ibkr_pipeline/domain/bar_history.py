"""Incremental bar history: what is already known as of a tick, what to fetch, how to merge."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

from ibkr_pipeline.domain.bars import empty_bars, normalize_bars

_BAR_LENGTH = {
    "1 day": timedelta(days=1),
    "1 week": timedelta(days=7),
    "1 month": timedelta(days=31),
}
NEW_YORK = ZoneInfo("America/New_York")
SESSION_CLOSE = time(16, 0)
_UNIT_OFFSET = {"S": "seconds", "D": "days", "W": "weeks", "M": "months", "Y": "years"}


def bar_length(bar_size: str) -> timedelta:
    if bar_size in _BAR_LENGTH:
        return _BAR_LENGTH[bar_size]
    count, unit = bar_size.split()
    return timedelta(minutes=int(count) * (60 if unit.startswith("hour") else 1))


def daily_known_at(timestamps: pd.Series) -> pd.Series:
    """When each daily bar is complete: its session's close in New York, as UTC (an early close only makes
    this conservative). The one rule the live tick and the backtest's point-in-time view share."""
    days = timestamps.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    close = pd.Timedelta(hours=SESSION_CLOSE.hour, minutes=SESSION_CLOSE.minute)
    # 16:00 in New York is never a DST gap or overlap: localizing it is exact.
    known = (days + close).dt.tz_localize(NEW_YORK).dt.tz_convert("UTC")
    return known.astype("datetime64[ns, UTC]")


def completed_as_of(frame: pd.DataFrame, end: datetime, bar_size: str) -> pd.DataFrame:
    """Only bars that had finished by ``end``: a daily bar at its session's close, any other at its own end."""
    if frame.empty:
        return frame
    length = pd.Timedelta(bar_length(bar_size))
    if bar_size == "1 day":
        finished = daily_known_at(frame["timestamp"]) <= pd.Timestamp(end)
    elif bar_size in _BAR_LENGTH:
        finished = frame["timestamp"] + length <= pd.Timestamp(end)
    else:  # intraday bars end on IB's clock grid: the 09:30 hourly bar of a regular session ends at 10:00
        finished = frame["timestamp"].dt.floor(length) + length <= pd.Timestamp(end)
    return frame[finished].reset_index(drop=True)


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
    kept = known[~known["timestamp"].isin(fetched["timestamp"])]
    # Usually the fetch only extends the history: then the union is already in order and is only checked.
    return normalize_bars(pd.concat([kept, fetched], ignore_index=True))


def window(frame: pd.DataFrame, end: datetime, lookback: str) -> pd.DataFrame:
    """Bars inside [end - lookback, end]."""
    if frame.empty:
        return frame
    start = lookback_start(end, lookback)
    keep = (frame["timestamp"] >= start) & (frame["timestamp"] <= pd.Timestamp(end))
    return frame[keep].reset_index(drop=True)
