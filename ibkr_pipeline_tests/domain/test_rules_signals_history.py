"""Pure domain logic: rule evaluation, rule signals, incremental bar history."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from ibkr_pipeline.domain import bar_history, rules
from ibkr_pipeline.domain.signals import rule_signal
from ibkr_pipeline.domain.strategy import SignalRules

NOW = datetime(2026, 11, 17, 21, 15, tzinfo=UTC)


def test_rules_evaluate_safely():
    values = {"rsi_14": 25.0, "close": 101.0, "sma_200": 100.0}
    assert rules.evaluate("rsi_14 < 30 and close > sma_200", values) is True
    assert rules.evaluate("abs(close - sma_200) > 5", values) is False
    assert rules.evaluate("rsi_14 < 30", {"rsi_14": None}) is None  # warming up
    with pytest.raises(rules.RuleError):
        rules.check("__import__('os')", {"close"})
    with pytest.raises(rules.RuleError, match="unknown names"):
        rules.check("sma_50 > close", {"close"})


def test_rule_signal_with_atr_stops_and_conflicts():
    spec = SignalRules(buy="rsi_14 < 30", sell="rsi_14 > 70", atr="atr_14", stop_atr=2, target_atr=3)
    buy = rule_signal("AAPL", NOW, {"rsi_14": 20.0, "close": 100.0, "atr_14": 2.0}, spec)
    assert (buy.action, buy.entry, buy.stop_loss, buy.take_profit) == ("BUY", 100.0, 96.0, 106.0)
    sell = rule_signal("AAPL", NOW, {"rsi_14": 80.0, "close": 100.0, "atr_14": 2.0}, spec)
    assert (sell.action, sell.stop_loss, sell.take_profit) == ("SELL", 104.0, 94.0)
    both = rule_signal("X", NOW, {"rsi_14": 50.0, "close": 1.0, "atr_14": None},
                       SignalRules(buy="close > 0", sell="close < 2"))
    assert both.action == "HOLD" and "conflicting" in both.reasons[-1]
    warming = rule_signal("X", NOW, {"rsi_14": None, "close": 1.0}, SignalRules(buy="rsi_14 < 30"))
    assert warming.action == "HOLD" and "warming up" in warming.reasons[0]


def daily(days: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.to_datetime(days, utc=True), "open": 1.0, "high": 1.0, "low": 1.0,
                         "close": range(len(days)), "volume": 1.0})


def test_completed_bars_and_missing_duration():
    frame = daily(["2026-11-13", "2026-11-16", "2026-11-17", "2026-11-18"])
    known = bar_history.completed_as_of(frame, NOW, "1 day")
    # The bar of the 17th is still open at 16:15 New York on the 17th; the 18th is in the future.
    assert list(known["timestamp"].dt.strftime("%m-%d")) == ["11-13", "11-16"]
    assert bar_history.missing_duration(known.iloc[:0], NOW, "1 Y", "1 day") == "1 Y"
    long_enough = daily([d.strftime("%Y-%m-%d") for d in pd.bdate_range("2025-11-10", "2026-11-16")])
    assert bar_history.missing_duration(long_enough, NOW, "1 Y", "1 day") == "3 D"
    assert bar_history.missing_duration(long_enough, NOW, "1 Y", "1 week") == "14 D"


def test_merge_prefers_the_fresh_fetch_and_window_trims():
    old = daily(["2026-11-13", "2026-11-16"])
    fresh = daily(["2026-11-16", "2026-11-17"]).assign(close=[10.0, 11.0])
    merged = bar_history.merge(old, fresh)
    assert list(merged["close"]) == [0.0, 10.0, 11.0]
    assert list(bar_history.window(merged, NOW, "2 D")["close"]) == [10.0, 11.0]
