"""A lookback window is closed at both ends: a bar stamped at the window's very end is inside it."""

from datetime import UTC, datetime

import pandas as pd

from ibkr_pipeline.domain import bar_history


def test_a_bar_stamped_at_the_windows_end_is_inside_it():
    days = pd.to_datetime(["2026-11-16", "2026-11-17", "2026-11-18"], utc=True)
    frame = pd.DataFrame({"timestamp": days, "close": [1.0, 2.0, 3.0]})
    end = datetime(2026, 11, 18, tzinfo=UTC)  # the instant the last bar is stamped with
    assert bar_history.window(frame, end, "1 W")["close"].tolist() == [1.0, 2.0, 3.0]
    assert bar_history.window(frame, end, "1 D")["close"].tolist() == [2.0, 3.0]
