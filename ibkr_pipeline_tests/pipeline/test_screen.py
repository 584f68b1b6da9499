"""Whose other timeframes a tick fetches: exactly the symbols the charts and the analyst later read."""

from pathlib import Path

from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.pipeline.indicators import compute_indicators
from ibkr_pipeline.pipeline.screen import context_readers, reads_every_timeframe, symbols_to_chart
from ibkr_pipeline_tests.pipeline.test_charts import AS_OF, bars, spec_text


def test_context_readers_are_the_symbols_charted_on_every_indicator_and_no_more():
    raw = bars()
    closes = {s: float(f["daily"]["close"].iloc[-1]) for s, f in raw.values.items()}
    cheapest = min(closes, key=closes.__getitem__)
    # Rules mode, charts where the rules trade: the buy rule reads rsi_14, the atr column too.
    rule = f'buy: "close < {closes[cheapest] + 0.01} and rsi_14 < 101", sell: "close < 0"'
    spec = parse_strategy(spec_text("signals", rule), Path("s.yaml"))
    assert not reads_every_timeframe(spec)
    signal_frames = {s: f["daily"] for s, f in raw.values.items()}
    readers = context_readers(spec, signal_frames, AS_OF)
    assert readers == {cheapest}
    # the charts step, on every indicator of both timeframes, draws the same symbols
    assert symbols_to_chart(spec, compute_indicators(spec, raw).results.values, AS_OF) == readers


def test_which_strategies_read_every_timeframe_of_every_symbol():
    def spec(when: str, mode: str, screen: str | None):
        text = spec_text(when).replace("signal: {", f"signal: {{mode: {mode}, ")
        text += f'llm: {{screen: "{screen}"}}\n' if screen else ""
        return parse_strategy(text, Path("s.yaml"))

    assert reads_every_timeframe(spec("always", "rules", "close > 1"))
    assert reads_every_timeframe(spec("screened", "rules", None))  # no screen passes every symbol
    assert reads_every_timeframe(spec("signals", "llm", None))  # every symbol is asked
    assert not reads_every_timeframe(spec("signals", "rules", None))  # only what the rules trade is drawn
    assert not reads_every_timeframe(spec("screened", "llm", "close > 1"))
    assert not reads_every_timeframe(spec("signals", "both", "close > 1"))
