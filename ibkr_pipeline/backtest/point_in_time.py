"""Bars as they were known at an instant: the look-ahead guard every backtest reads through.

A daily bar of session D becomes known at D's close (16:00 New York; an early close
only makes this conservative). Weekly and monthly bars are rebuilt from the daily
bars known at the instant, so an unfinished week holds only the days already traded,
as IB's own answer would at that moment. Asking for anything after the backtest's
clock is an error, not an empty frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from ibkr_pipeline.domain import bar_history
from ibkr_pipeline.domain.bar_periods import aggregate_runs, period_starts
from ibkr_pipeline.domain.bars import normalize_bars

SUPPORTED_BAR_SIZES = ("1 day", "1 week", "1 month")


@lru_cache(maxsize=1024)  # every symbol of a tick asks at the same instant
def _ns(instant: datetime) -> int:
    return int(pd.Timestamp(instant).value)


class LookAheadError(RuntimeError):
    """Something asked for data from after the backtest's current instant."""


def _resample(daily: pd.DataFrame, bar_size: str) -> pd.DataFrame:
    """Weekly or monthly bars from the days known, each labelled by its first session, like IB."""
    stamps = pd.DatetimeIndex(daily["timestamp"])
    bars = aggregate_runs(stamps, daily, period_starts(stamps, bar_size))
    return bars.rename_axis("timestamp").reset_index()


class PointInTimeBars:
    """Daily history per symbol, served only up to the backtest's clock."""

    def __init__(self, daily: Mapping[str, pd.DataFrame]):
        self._daily: dict[str, pd.DataFrame] = {}
        self._known_ns: dict[str, np.ndarray] = {}
        self._stamp_ns: dict[str, np.ndarray] = {}
        for symbol, frame in daily.items():
            bars = normalize_bars(frame)
            self._daily[symbol] = bars
            # When each bar became known, as int64 nanoseconds: known_count runs for every symbol at every tick.
            known_at = bar_history.daily_known_at(bars["timestamp"])
            self._known_ns[symbol] = known_at.to_numpy(dtype="datetime64[ns]").view("i8")
            self._stamp_ns[symbol] = bars["timestamp"].to_numpy(dtype="datetime64[ns]").view("i8")
        self.clock: datetime | None = None
        self._latest_ns: int | None = None

    @property
    def latest_served(self) -> pd.Timestamp | None:
        """The latest bar any read has been given: the look-ahead tests compare it with the clock."""
        return None if self._latest_ns is None else pd.Timestamp(self._latest_ns, tz="UTC")

    @property
    def symbols(self) -> list[str]:
        return list(self._daily)

    def advance_to(self, instant: datetime) -> None:
        if self.clock is not None and instant < self.clock:
            raise ValueError(f"the backtest clock only moves forward: {instant} is before {self.clock}")
        self.clock = instant

    def _guard(self, what: str, as_of: datetime) -> None:
        if self.clock is None or as_of > self.clock:
            raise LookAheadError(
                f"{what}: asked for data as of {as_of:%Y-%m-%d %H:%M} UTC but the backtest "
                f"clock is at {self.clock:%Y-%m-%d %H:%M} UTC"
                if self.clock
                else f"{what}: asked for data before the backtest clock started"
            )

    def known_count(self, symbol: str, as_of: datetime) -> int:
        """How many of ``symbol``'s daily bars are known at ``as_of`` (which must not be after the clock): every
        read of the history, whole frames or precomputed columns, goes through here."""
        self._guard(symbol, as_of)
        if symbol not in self._daily:
            raise KeyError(f"no history for {symbol}")
        known = self.rows_known_by(symbol, as_of)
        if known:
            last = int(self._stamp_ns[symbol][known - 1])
            if self._latest_ns is None or last > self._latest_ns:
                self._latest_ns = last
        return known

    def rows_known_by(self, symbol: str, as_of: datetime) -> int:
        """How many daily bars a tick at ``as_of`` would see, with no clock: for the causality check, which
        compares windows before the replay starts. Reads at an instant go through ``known_count``."""
        return int(np.searchsorted(self._known_ns[symbol], _ns(as_of), side="right"))  # sorted by time

    def full_daily(self, symbol: str) -> pd.DataFrame:
        """The whole daily history, for computing causal columns once; reads at an instant go through
        ``known_count``."""
        return self._daily[symbol]

    def daily(self, symbol: str, as_of: datetime) -> pd.DataFrame:
        """Every daily bar of ``symbol`` known at ``as_of`` (which must not be after the clock)."""
        known = self.known_count(symbol, as_of)  # first: it names an unknown symbol
        return self._daily[symbol].iloc[:known].reset_index(drop=True)

    def bars(self, symbol: str, bar_size: str, as_of: datetime, lookback: str) -> pd.DataFrame:
        """What a historical-data request for ``lookback`` of ``bar_size`` bars ending ``as_of`` would return."""
        if bar_size not in SUPPORTED_BAR_SIZES:
            raise ValueError(
                f"backtests replay daily history: bar size {bar_size!r} is not one of {SUPPORTED_BAR_SIZES}"
            )
        daily = self.daily(symbol, as_of)
        if bar_size != "1 day" and not daily.empty:
            # Only whole periods inside the lookback matter: cut the days first, then aggregate.
            start = bar_history.lookback_start(as_of, lookback) - pd.Timedelta(days=31)
            daily = _resample(daily[daily["timestamp"] >= start], bar_size)
        return bar_history.window(daily, as_of, lookback)
