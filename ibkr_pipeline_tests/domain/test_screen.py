"""The LLM funnel's screen: who is asked, who is kept out and why, and what a kept-out symbol's signal says."""

from datetime import UTC, datetime

from ibkr_pipeline.domain.screen import ScreenDecision, screen
from ibkr_pipeline.domain.signals import combined_signal
from ibkr_pipeline.domain.strategy import SignalRules

AS_OF = datetime(2026, 11, 17, 21, 15, tzinfo=UTC)


def test_the_screen_passes_keeps_out_and_says_why():
    assert screen(None, {"close": 10.0}) == ScreenDecision(True, "no llm.screen: every symbol goes to the analyst")
    assert screen("rsi_14 < 30", {"rsi_14": 25.0}) == ScreenDecision(True, "llm.screen `rsi_14 < 30` is true")
    assert screen("rsi_14 < 30", {"rsi_14": 30.0}) == ScreenDecision(False, "llm.screen `rsi_14 < 30` is false")
    assert screen("rsi_14 < 30", {"rsi_14": None}) == ScreenDecision(
        False, "llm.screen `rsi_14 < 30` is unknown (indicator still warming up)"
    )
    assert screen("close / volume > 1", {"close": 10.0, "volume": 0.0}) == ScreenDecision(
        False, "llm.screen kept it out: cannot evaluate 'close / volume > 1': float division by zero"
    )


def test_a_symbol_kept_out_gets_the_rules_signal_with_the_screens_reason_first():
    rules = SignalRules(mode="llm", buy="close > 5", sell="close < 0", atr="atr_14")
    values = {"close": 10.0, "atr_14": 0.5}
    kept_out = ScreenDecision(False, "llm.screen `rsi_14 < 30` is false")
    signal = combined_signal("AAPL", AS_OF, values, rules, None, kept_out)
    assert (signal.action, signal.source, signal.confidence) == ("BUY", "screen:rules", 1.0)
    assert (signal.entry, signal.stop_loss, signal.take_profit) == (10.0, 9.0, 11.5)
    assert signal.reasons == [kept_out.reason, "buy rule `close > 5` is true", "sell rule `close < 0` is false"]
    # Passed by the screen but with no analysis: HOLD, as before the funnel existed.
    asked = combined_signal("AAPL", AS_OF, values, rules, None, ScreenDecision(True, "llm.screen `x` is true"))
    assert (asked.action, asked.source, asked.reasons[-1]) == ("HOLD", "llm", "no analysis")
    # In rules mode the screen changes nothing.
    plain = combined_signal("AAPL", AS_OF, values, rules.model_copy(update={"mode": "rules"}), None, kept_out)
    assert (plain.action, plain.source) == ("BUY", "rules") and kept_out.reason not in plain.reasons
