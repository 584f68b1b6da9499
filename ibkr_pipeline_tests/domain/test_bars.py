"""The bar frame's contract: UTC nanosecond stamps, float prices, sorted, one row per bar (the later one)."""

import numpy as np
import pandas as pd
import pytest

from ibkr_pipeline.domain.bars import TIMESTAMP, BarDataError, normalize_bars


def test_of_two_rows_for_one_bar_the_later_wins_in_any_order():
    days = pd.date_range("2020-01-01", periods=2000, tz="UTC", freq="D")
    stored = pd.DataFrame({"timestamp": days, "open": 1.0, "high": 1.0, "low": 1.0, "close": 0.0, "volume": 1.0})
    shuffled = stored.sample(frac=1, random_state=1)
    fresh = shuffled.sample(300, random_state=2).assign(close=1.0)
    out = normalize_bars(pd.concat([shuffled, fresh], ignore_index=True))
    assert list(out["timestamp"]) == list(days)
    expected = np.where(days.isin(fresh["timestamp"]), 1.0, 0.0)
    assert out["close"].tolist() == expected.tolist()


def test_stamps_become_utc_nanoseconds_and_prices_floats():
    out = normalize_bars(
        pd.DataFrame(
            {
                "timestamp": ["2026-11-17T14:30:00-05:00", "2026-11-16T14:30:00-05:00"],
                "open": [2, 1],
                "high": [2, 1],
                "low": [2, 1],
                "close": [2, 1],
                "volume": [20, 10],
                "wap": [2.0, 1.0],
            }
        )
    )
    assert list(out.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert out["timestamp"].dtype == TIMESTAMP
    assert list(out["timestamp"]) == [
        pd.Timestamp("2026-11-16 19:30", tz="UTC"),
        pd.Timestamp("2026-11-17 19:30", tz="UTC"),
    ]
    assert out["close"].tolist() == [1.0, 2.0] and out["volume"].dtype == np.float64


def test_a_frame_without_the_bar_columns_is_refused_by_name():
    with pytest.raises(BarDataError, match=r"bar frame is missing columns \['high', 'volume'\]"):
        normalize_bars(pd.DataFrame({"timestamp": [], "open": [], "low": [], "close": []}))
