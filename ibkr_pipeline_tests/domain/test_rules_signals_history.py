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
    both = rule_signal(
        "X", NOW, {"rsi_14": 50.0, "close": 1.0, "atr_14": None}, SignalRules(buy="close > 0", sell="close < 2")
    )
    assert both.action == "HOLD" and "conflicting" in both.reasons[-1]
    warming = rule_signal("X", NOW, {"rsi_14": None, "close": 1.0}, SignalRules(buy="rsi_14 < 30"))
    assert warming.action == "HOLD" and "warming up" in warming.reasons[0]


def daily(days: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(days, utc=True),
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": range(len(days)),
            "volume": 1.0,
        }
    )


def test_completed_bars_and_missing_duration():
    frame = daily(["2026-11-13", "2026-11-16", "2026-11-17", "2026-11-18"])
    # A daily bar is complete at its session's close (16:00 New York), as the backtest's point-in-time view has it:
    # at 16:15 on the 17th the 17th is known, at 15:45 it is still forming; the 18th is in the future.
    before_close = NOW - pd.Timedelta(minutes=30)
    forming = bar_history.completed_as_of(frame, before_close, "1 day")
    assert list(forming["timestamp"].dt.strftime("%m-%d")) == ["11-13", "11-16"]
    assert list(bar_history.as_of_tick(frame, before_close, "1 day")["timestamp"].dt.strftime("%m-%d")) == [
        "11-13",
        "11-16",
    ]
    known = bar_history.completed_as_of(frame, NOW, "1 day")
    assert list(known["timestamp"].dt.strftime("%m-%d")) == ["11-13", "11-16", "11-17"]
    known = known.iloc[:2]
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


def _record(action: str, confidence: float, accepted: bool = True):
    from ibkr_pipeline.domain.analysis import AnalysisRecord, ChartAnalysis

    analysis = ChartAnalysis(
        trend={"daily": "up"},
        action=action,
        confidence=confidence,
        entry=100.0 if action != "HOLD" else None,
        stop_loss={"BUY": 95.0, "SELL": 105.0}.get(action),
        take_profit={"BUY": 110.0, "SELL": 90.0}.get(action),
        rationale="r",
    )
    return AnalysisRecord(
        symbol="X",
        source="llm",
        model="m",
        prompt_name="p",
        system_prompt="s",
        user_prompt="u",
        charts_sent=[],
        answers=[],
        analysis=analysis,
        accepted=accepted,
        problems=[] if accepted else ["stop on the wrong side"],
    )


def test_signal_modes_combine_rules_and_analysis():
    from ibkr_pipeline.domain.signals import combined_signal

    values = {"rsi_14": 20.0, "close": 100.0}
    buy_rule = dict(buy="rsi_14 < 30")
    llm = combined_signal(
        "X", NOW, values, SignalRules(mode="llm", min_confidence=0.6, **buy_rule), _record("BUY", 0.8)
    )
    assert (llm.action, llm.stop_loss, llm.take_profit, llm.source) == ("BUY", 95.0, 110.0, "llm:llm")
    timid = combined_signal("X", NOW, values, SignalRules(mode="llm", min_confidence=0.9), _record("BUY", 0.8))
    assert timid.action == "HOLD" and "below the minimum" in timid.reasons[-1]
    rejected = combined_signal("X", NOW, values, SignalRules(mode="llm"), _record("BUY", 0.9, accepted=False))
    assert rejected.action == "HOLD" and "analysis rejected: stop on the wrong side" in rejected.reasons[-1]
    agree = combined_signal("X", NOW, values, SignalRules(mode="both", **buy_rule), _record("BUY", 0.8))
    disagree = combined_signal("X", NOW, values, SignalRules(mode="both", **buy_rule), _record("SELL", 0.8))
    assert agree.action == "BUY" and disagree.action == "HOLD" and "must agree" in disagree.reasons[-1]
    weighted = combined_signal(
        "X",
        NOW,
        values,
        SignalRules(mode="weighted", llm_weight=0.5, min_confidence=0.6, **buy_rule),
        _record("BUY", 0.8),
    )
    assert weighted.action == "BUY" and weighted.confidence == pytest.approx(0.9)
    split = combined_signal(
        "X",
        NOW,
        values,
        SignalRules(mode="weighted", llm_weight=0.5, min_confidence=0.6, **buy_rule),
        _record("SELL", 0.8),
    )
    assert split.action == "HOLD"
    assert combined_signal("X", NOW, values, SignalRules(mode="llm"), None).action == "HOLD"
