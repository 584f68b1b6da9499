"""Weekly and monthly bars from daily ones: the one resampler the gateway simulator and the backtest's
point-in-time view share, so a week means the same thing to both (Monday to Sunday, like IB's ISO weeks;
each bar labelled by its first session, like IB)."""

from __future__ import annotations

import numpy as np
import pandas as pd

PERIOD_BAR_SIZES = ("1 week", "1 month")


def period_keys(stamps: pd.DatetimeIndex, bar_size: str) -> np.ndarray:
    """A number per bar, equal within a week (or month) and increasing from one to the next."""
    if bar_size == "1 week":
        days = (
            stamps.tz_localize(None).to_numpy().astype("datetime64[D]").astype("int64")
            if stamps.tz is not None
            else stamps.to_numpy().astype("datetime64[D]").astype("int64")
        )
        return (days + 3) // 7  # day 0 (1970-01-01) was a Thursday: weeks run Monday to Sunday
    if bar_size == "1 month":
        return np.asarray(stamps.year * 100 + stamps.month)
    raise ValueError(f"{bar_size!r} is not one of {PERIOD_BAR_SIZES}")


def run_starts(keys: np.ndarray) -> np.ndarray:
    """Row numbers where each run of equal keys begins (rows in time order: a period is a run)."""
    return np.r_[0, np.flatnonzero(np.diff(keys)) + 1].astype(np.int64) if len(keys) else np.array([], dtype=np.int64)


def period_starts(stamps: pd.DatetimeIndex, bar_size: str) -> np.ndarray:
    return run_starts(period_keys(stamps, bar_size))


def aggregate_runs(stamps: pd.DatetimeIndex, ohlcv: pd.DataFrame, starts: np.ndarray) -> pd.DataFrame:
    """One OHLCV bar per run of rows beginning at ``starts``, labelled by the run's first row."""
    ends = np.r_[starts[1:] - 1, len(stamps) - 1]
    return pd.DataFrame(
        {
            "open": ohlcv["open"].to_numpy(dtype=float)[starts],
            "high": np.maximum.reduceat(ohlcv["high"].to_numpy(dtype=float), starts),
            "low": np.minimum.reduceat(ohlcv["low"].to_numpy(dtype=float), starts),
            "close": ohlcv["close"].to_numpy(dtype=float)[ends],
            "volume": np.add.reduceat(ohlcv["volume"].to_numpy(dtype=float), starts),
        },
        index=stamps[starts].rename(None),
    )
