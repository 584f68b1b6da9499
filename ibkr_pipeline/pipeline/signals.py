"""BUY/SELL/HOLD per symbol: the strategy's rules on the primary timeframe's latest values, with the analysis."""

from __future__ import annotations

from datetime import datetime

from ibkr_pipeline.domain.analysis import AnalysisRecord
from ibkr_pipeline.domain.bars import Frames
from ibkr_pipeline.domain.screen import screen
from ibkr_pipeline.domain.signals import Signal, combined_signal
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.pipeline.screen import latest


def decide_signals(
    spec: StrategySpec, as_of: datetime, frames: dict[str, Frames], analyses: dict[str, AnalysisRecord]
) -> dict[str, Signal]:
    """Rules mode, and a symbol ``llm.screen`` kept from the analyst, are decided by the rules alone; a symbol
    whose analysis failed is HOLD."""
    decided = {}
    for symbol, per_tf in frames.items():
        if spec.signal.timeframe not in per_tf:
            continue
        values = latest(spec, per_tf)
        screened = screen(spec.llm.screen, values)
        decided[symbol] = combined_signal(symbol, as_of, values, spec.signal, analyses.get(symbol), screened)
    return decided
