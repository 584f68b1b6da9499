"""BUY/SELL/HOLD per symbol: the strategy's rules on the primary timeframe's latest values, with the analysis."""

from __future__ import annotations

from datetime import datetime

from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain.analysis import AnalysisRecord
from ibkr_pipeline.domain.signals import Signal, combined_signal
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.pipeline.bars import Frames


def decide_signals(
    spec: StrategySpec, as_of: datetime, frames: dict[str, Frames], analyses: dict[str, AnalysisRecord]
) -> dict[str, Signal]:
    """A symbol without an analysis (rules mode, or one that failed) is decided by the rules alone, or HOLD."""
    primary = spec.signal.timeframe
    return {
        symbol: combined_signal(
            symbol,
            as_of,
            ind.latest_values(per_tf[primary].drop(columns="timestamp")),
            spec.signal,
            analyses.get(symbol),
        )
        for symbol, per_tf in frames.items()
        if primary in per_tf
    }
