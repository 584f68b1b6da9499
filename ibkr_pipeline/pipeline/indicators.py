"""Indicators per symbol and timeframe; a symbol whose indicators cannot be computed is named with why."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain.bars import Frames
from ibkr_pipeline.domain.results import SymbolResults
from ibkr_pipeline.domain.strategy import StrategySpec


@dataclass(frozen=True)
class IndicatorsStep:
    results: SymbolResults[Frames]
    new_errors: dict[str, str]
    seconds: dict[str, float]  # per symbol, every timeframe


def compute_indicators(spec: StrategySpec, bars: SymbolResults[Frames]) -> IndicatorsStep:
    values: dict[str, Frames] = {}
    new_errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for symbol, frames in bars.values.items():
        started = time.perf_counter()
        try:
            values[symbol] = {tf: ind.with_indicators(frame, spec.indicators_for(tf)) for tf, frame in frames.items()}
        except (ind.IndicatorError, ValueError) as exc:
            new_errors[symbol] = f"indicators: {exc}"
        seconds[symbol] = round(time.perf_counter() - started, 4)
    return IndicatorsStep(SymbolResults(values, {**bars.carry_errors(), **new_errors}), new_errors, seconds)
