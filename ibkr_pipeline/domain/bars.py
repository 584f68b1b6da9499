"""The typed bar frame every step exchanges: UTC timestamps, OHLCV, sorted, unique."""

from __future__ import annotations

import numpy as np
import pandas as pd

BAR_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
TIMESTAMP = pd.DatetimeTZDtype("ns", "UTC")
_NAT = np.iinfo(np.int64).min  # how NaT is stored, whatever the unit

Frames = dict[str, pd.DataFrame]  # one symbol's bars by timeframe name (after the indicators step, with their columns)


class BarDataError(ValueError):
    """Bars that break the frame's contract (unsorted input is fixed, not an error)."""


def normalize_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce to the bar frame: UTC ``timestamp`` in nanoseconds, float OHLCV, sorted, no duplicates.

    A frame that already is one (our own files, merged frames, IB's answers once parsed: the usual case) is
    checked and returned as it is, not rebuilt: a tick over an index normalizes thousands of frames. One time
    unit everywhere matters: pandas joins stamps of two units into plain objects.
    """
    if _already_sorted_bars(frame):
        stamps = frame["timestamp"]
        return frame if stamps.dtype == TIMESTAMP else frame.assign(timestamp=stamps.dt.as_unit("ns"))
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise BarDataError(f"bar frame is missing columns {missing}")
    out = frame[BAR_COLUMNS].copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.as_unit("ns")
    for col in BAR_COLUMNS[1:]:
        out[col] = out[col].astype(float)
    # A stable sort: of two rows for one bar, the later one (a fresher answer) wins whatever the input's order.
    out = out.sort_values("timestamp", kind="stable").drop_duplicates("timestamp", keep="last")
    return out.reset_index(drop=True)


def _already_sorted_bars(frame: pd.DataFrame) -> bool:
    """Exactly the bar columns on a plain index, UTC stamps (of any unit) strictly increasing (so sorted, unique
    and, NaT being the smallest stamp, without NaT unless first), float prices."""
    if list(frame.columns) != BAR_COLUMNS or not isinstance(frame.index, pd.RangeIndex):
        return False
    if (frame.index.start, frame.index.step) != (0, 1):
        return False
    dtypes = frame.dtypes.tolist()
    stamp_type = dtypes[0]
    if not isinstance(stamp_type, pd.DatetimeTZDtype) or str(stamp_type.tz) != "UTC":
        return False
    if any(d != np.float64 for d in dtypes[1:]):
        return False
    ints = frame["timestamp"].array.asi8
    return len(ints) == 0 or (ints[0] != _NAT and bool((ints[1:] > ints[:-1]).all()))


def empty_bars() -> pd.DataFrame:
    return normalize_bars(pd.DataFrame({c: [] for c in BAR_COLUMNS}))
