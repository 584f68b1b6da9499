"""The typed bar frame every step exchanges: UTC timestamps, OHLCV, sorted, unique."""

from __future__ import annotations

import pandas as pd

BAR_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


class BarDataError(ValueError):
    """Bars that break the frame's contract (unsorted input is fixed, not an error)."""


def normalize_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce to the bar frame: tz-aware UTC ``timestamp``, float OHLCV, sorted, no duplicates."""
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise BarDataError(f"bar frame is missing columns {missing}")
    if _already_normal(frame):  # the usual case (our own files, merged frames): checked, not rebuilt
        return frame[BAR_COLUMNS].reset_index(drop=True)
    out = frame[BAR_COLUMNS].copy()
    stamps = pd.to_datetime(out["timestamp"], utc=True)
    out["timestamp"] = stamps
    for col in BAR_COLUMNS[1:]:
        out[col] = out[col].astype(float)
    out = out.sort_values("timestamp").drop_duplicates("timestamp", keep="last")
    return out.reset_index(drop=True)


def _already_normal(frame: pd.DataFrame) -> bool:
    stamps = frame["timestamp"]
    return (
        isinstance(stamps.dtype, pd.DatetimeTZDtype)
        and str(stamps.dtype.tz) == "UTC"
        and all(frame[c].dtype == "float64" for c in BAR_COLUMNS[1:])
        and stamps.is_monotonic_increasing
        and stamps.is_unique
        and not stamps.hasnans
    )


def empty_bars() -> pd.DataFrame:
    return normalize_bars(pd.DataFrame({c: [] for c in BAR_COLUMNS}))
