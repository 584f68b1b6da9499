"""Candlestick charts with the strategy's overlays and panels, one per symbol and timeframe, into the object store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from ibkr_pipeline.domain import charts
from ibkr_pipeline.domain.results import SymbolResults
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.objects.object_store import ObjectStore
from ibkr_pipeline.pipeline.bars import Frames

ChartRefs = dict[str, dict[str, str]]  # timeframe -> {"key", "uri", "path", "sha256"}


@dataclass(frozen=True)
class DrawnChart:
    symbol: str
    timeframe: str
    title: str
    ref: dict[str, str]
    thumbnail: bytes  # a small PNG for the run's gallery


@dataclass(frozen=True)
class ChartsStep:
    results: SymbolResults[ChartRefs]
    new_errors: dict[str, str]
    drawn: list[DrawnChart]


def draw_charts(
    spec: StrategySpec, indicators: SymbolResults[Frames], store: ObjectStore, key_for: Callable[[str, str], str]
) -> ChartsStep:
    """``key_for(symbol, timeframe)`` names each chart in the store (``storage.keys``)."""
    values: dict[str, ChartRefs] = {}
    new_errors: dict[str, str] = {}
    drawn: list[DrawnChart] = []
    for symbol, frames in indicators.values.items():
        try:
            refs: ChartRefs = {}
            for tf, frame in frames.items():
                title = charts.chart_title(symbol, tf, frame)
                images = charts.render_chart(
                    frame, title, spec.chart.overlays, spec.chart.panels, spec.chart.bars, spec.chart.style
                )
                key = key_for(symbol, tf)
                stored = store.put(key, images.full, "image/png")
                refs[tf] = {
                    "key": key,
                    "uri": stored.uri,
                    "path": stored.path or "",
                    "sha256": hashlib.sha256(images.full).hexdigest(),
                }
                drawn.append(DrawnChart(symbol, tf, title, refs[tf], images.thumbnail))
        except Exception as exc:  # a chart that cannot be drawn must not stop the others
            new_errors[symbol] = f"charts: {exc!r}"
            continue
        values[symbol] = refs
    return ChartsStep(SymbolResults(values, {**indicators.carry_errors(), **new_errors}), new_errors, drawn)
