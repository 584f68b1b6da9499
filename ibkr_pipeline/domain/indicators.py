"""Technical indicators through pandas-ta (which uses TA-Lib's C core when it is installed)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pandas_ta  # noqa: F401 - registers the DataFrame.ta accessor

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")


class IndicatorError(ValueError):
    """An indicator pandas-ta does not know, or parameters it rejects."""


def column_name(raw: str) -> str:
    """pandas-ta's column name as an identifier usable in rules: 'BBL_20_2.0_2.0' -> 'bbl_20_2_0_2_0'."""
    return re.sub(r"[^0-9a-z_]", "_", raw.lower())


@lru_cache(maxsize=1)
def available_indicators() -> frozenset[str]:
    probe = pd.DataFrame({c: [1.0] for c in PRICE_COLUMNS})
    return frozenset(probe.ta.indicators(as_list=True))


def compute_one(frame: pd.DataFrame, kind: str, params: dict[str, Any], alias: str | None) -> pd.DataFrame:
    """One indicator's columns for an OHLCV frame indexed like ``frame``."""
    method = getattr(frame.ta, kind, None)
    if method is None or kind.startswith("_") or kind not in available_indicators():
        raise IndicatorError(f"pandas-ta has no indicator {kind!r}")
    try:
        result = method(**params)
    except TypeError as exc:
        raise IndicatorError(f"{kind}: bad parameters {params}: {exc}") from exc
    if result is None:
        # pandas-ta returns None when the series is shorter than the indicator needs.
        return pd.DataFrame(index=frame.index)
    if isinstance(result, pd.Series):
        result = result.to_frame()
    out = result.rename(columns=column_name)
    if alias:
        if out.shape[1] != 1:
            raise IndicatorError(f"{kind} has {out.shape[1]} columns ({list(out.columns)}); 'name' needs one")
        out.columns = [alias]
    return out.astype(float)


def with_indicators(frame: pd.DataFrame, specs: Iterable[Any]) -> pd.DataFrame:
    """A bars frame (``timestamp`` + OHLCV) with every indicator's columns added; ``specs`` have kind/params/name."""
    specs = list(specs)
    if not specs:
        return frame
    indexed = frame.set_index("timestamp")
    parts = [indexed] + [compute_one(indexed, s.kind, s.params, s.name) for s in specs]
    return pd.concat(parts, axis=1).reset_index()


def output_columns(kind: str, params: dict[str, Any], alias: str | None) -> list[str]:
    """The columns an indicator will produce, found by running it on a synthetic series."""
    return list(_output_columns(kind, json.dumps(params, sort_keys=True, default=str), alias))


@lru_cache(maxsize=1024)
def _output_columns(kind: str, params_json: str, alias: str | None) -> tuple[str, ...]:
    params = json.loads(params_json)
    n = 400
    walk = 100 + np.cumsum(np.sin(np.arange(n) / 7.0))
    probe = pd.DataFrame(
        {"open": walk, "high": walk + 1, "low": walk - 1, "close": walk + 0.5, "volume": 1e6},
        index=pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC"),
    )
    return tuple(compute_one(probe, kind, params, alias).columns)


def latest_values(frame: pd.DataFrame) -> dict[str, float | None]:
    """The last row as plain floats (None where the indicator is still warming up), its ``timestamp`` left out:
    read in place, as every symbol of a tick is read several times."""
    if frame.empty:
        return {}
    last = frame.iloc[-1]
    return {k: plain_value(v) for k, v in last.items() if k != "timestamp"}


def plain_value(value: Any) -> float | None:
    """A cell as a float, None for NaN (a value still warming up)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
