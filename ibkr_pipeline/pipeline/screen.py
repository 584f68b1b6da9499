"""Who is asked and who is drawn: the LLM funnel (``llm.screen``) and ``chart.when``, on the latest values; and so
whose other timeframes are fetched at all."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain import rules
from ibkr_pipeline.domain.bars import Frames
from ibkr_pipeline.domain.screen import ScreenDecision, screen
from ibkr_pipeline.domain.signals import rule_signal
from ibkr_pipeline.domain.strategy import StrategySpec


def latest(spec: StrategySpec, frames: Frames) -> dict[str, float | None]:
    """The signal timeframe's latest values: what rules, the screen and the signal read."""
    return ind.latest_values(frames[spec.signal.timeframe])


def screen_symbols(spec: StrategySpec, frames: dict[str, Frames]) -> dict[str, ScreenDecision]:
    return {s: screen(spec.llm.screen, latest(spec, f)) for s, f in frames.items() if spec.signal.timeframe in f}


def asks_analyst(spec: StrategySpec, decision: ScreenDecision | None) -> bool:
    """Rules mode asks nobody; the other modes ask about what the screen passes."""
    return spec.signal.mode != "rules" and decision is not None and decision.passed


def not_asked(spec: StrategySpec, decisions: dict[str, ScreenDecision]) -> dict[str, str]:
    """Each symbol the analyst is not asked about, with why (the audit record and the step's metadata say it)."""
    if spec.signal.mode == "rules":
        return {s: "signal.mode rules: the rules decide, no analyst is asked" for s in decisions}
    return {s: d.reason for s, d in decisions.items() if not d.passed}


def symbols_to_chart(spec: StrategySpec, frames: dict[str, Frames], as_of: datetime) -> set[str]:
    """``always``: every symbol; ``screened``: what the screen passes; ``signals``: what the vision LLM reads
    and what the rules would trade (a trader reads those charts beside the order)."""
    if spec.chart.when == "always":
        return set(frames)
    decisions = screen_symbols(spec, frames)
    if spec.chart.when == "screened":
        return {s for s, d in decisions.items() if d.passed}
    read_by_llm = {s for s, d in decisions.items() if asks_analyst(spec, d)} if spec.llm.vision else set()
    traded = {
        s
        for s, f in frames.items()
        if s in decisions and rule_signal(s, as_of, latest(spec, f), spec.signal).action != "HOLD"
    }
    return read_by_llm | traded


def reads_every_timeframe(spec: StrategySpec) -> bool:
    """Whether every symbol's every timeframe is read whatever its values: every chart drawn, or no screen ahead
    of the analyst (or, in rules mode, of ``chart.when: screened``)."""
    if spec.chart.when == "always":
        return True
    return spec.llm.screen is None and (spec.chart.when == "screened" or spec.signal.mode != "rules")


def context_readers(spec: StrategySpec, signal_frames: dict[str, pd.DataFrame], as_of: datetime) -> set[str]:
    """The symbols whose other timeframes a chart or the analyst reads this tick, decided on the signal
    timeframe's bars alone, as the charts and analysis steps decide later: only the indicators the screen and
    the rules name are computed here (the indicators step computes them all)."""
    primary = spec.signal.timeframe
    read = [spec.llm.screen]
    if spec.chart.when == "signals":  # the rules' trades are charted
        read += [spec.signal.buy, spec.signal.sell, spec.signal.atr]
    named = set().union(*(rules.names_in(e) for e in read if e))
    needed = [i for i in spec.indicators_for(primary) if named & set(i.columns())]
    frames: dict[str, Frames] = {}
    for symbol, frame in signal_frames.items():
        try:
            frames[symbol] = {primary: ind.with_indicators(frame, needed)}
        except (ind.IndicatorError, ValueError):
            continue  # the indicators step names the problem, and the symbol goes no further
    asked = {s for s, d in screen_symbols(spec, frames).items() if asks_analyst(spec, d)}
    return symbols_to_chart(spec, frames, as_of) | asked
