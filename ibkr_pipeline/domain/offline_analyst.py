"""The offline analyst: a deterministic ChartAnalysis from indicators, for runs without an LLM.

It reads the same inputs the LLM gets (bars and indicator values per timeframe)
and answers in the same schema, so everything downstream is exercised offline.
It works on plain arrays (``AnalystInputs``): the live tick builds them from its
frames, the fast backtest from columns computed once, and both get the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ibkr_pipeline.domain.analysis import ChartAnalysis, KeyLevels, Trend, Verdict

TREND_BARS = 50
ATR_BARS = 14
LEVEL_BARS = 60  # the analyst reads no further back than this on the primary timeframe


@dataclass(frozen=True)
class AnalystInputs:
    """What the analyst reads: closes per timeframe, the primary timeframe's latest bars and two indicators."""

    closes: dict[str, np.ndarray]
    high: np.ndarray  # the primary timeframe's last LEVEL_BARS bars (fewer when the window is shorter)
    low: np.ndarray
    close: np.ndarray
    atr: float | None  # the strategy's ATR column, latest value
    rsi: float | None  # the first RSI column, latest value


def first_rsi_column(columns: list[str]) -> str | None:
    return next((c for c in columns if c.startswith("rsi")), None)


def _last(values: pd.Series) -> float | None:
    value = values.iloc[-1]
    return float(value) if value == value else None


def inputs_from_frames(frames: Mapping[str, pd.DataFrame], primary: str, atr_column: str | None) -> AnalystInputs:
    frame = frames[primary]
    tail = frame.tail(LEVEL_BARS)
    rsi = first_rsi_column(list(frame.columns))
    return AnalystInputs(
        closes={name: f["close"].to_numpy(dtype=float) for name, f in frames.items()},
        high=tail["high"].to_numpy(dtype=float),
        low=tail["low"].to_numpy(dtype=float),
        close=tail["close"].to_numpy(dtype=float),
        atr=_last(frame[atr_column]) if atr_column and atr_column in frame else None,
        rsi=_last(frame[rsi]) if rsi else None,
    )


def _trend(closes: np.ndarray) -> Trend:
    closes = closes[~np.isnan(closes)][-TREND_BARS:]
    if len(closes) < 10:
        return "sideways"
    n = len(closes)
    x = np.arange(n) - (n - 1) / 2
    mean = float(closes.sum()) / n
    deviations = closes - mean
    slope = float(x @ deviations) / (n * (n * n - 1) / 12) * n  # least squares (x @ x in closed form), times the bars
    spread = math.sqrt(float(deviations @ deviations) / n) or 1.0  # the population standard deviation
    if slope > 0.5 * spread and closes[-1] > mean:
        return "up"
    if slope < -0.5 * spread and closes[-1] < mean:
        return "down"
    return "sideways"


def _atr(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> float | None:
    """Mean true range of the last ATR_BARS bars (the first bar of a window has no previous close)."""
    previous = np.r_[np.nan, close[:-1]]
    ranges = np.fmax(high - low, np.fmax(np.abs(high - previous), np.abs(low - previous)))[-ATR_BARS:]
    ranges = ranges[~np.isnan(ranges)]
    return float(ranges.mean()) if len(ranges) else None


def offline_analysis(frames: Mapping[str, pd.DataFrame], primary: str, atr_column: str | None = None) -> ChartAnalysis:
    return analyse(inputs_from_frames(frames, primary, atr_column))


def analyse(inputs: AnalystInputs) -> ChartAnalysis:
    trends = {name: _trend(closes) for name, closes in inputs.closes.items()}
    close = float(inputs.close[-1])
    atr = inputs.atr or _atr(inputs.high, inputs.low, inputs.close) or close * 0.02
    rsi = inputs.rsi
    agreeing = list(trends.values())
    action: Verdict = "HOLD"
    if agreeing.count("up") == len(agreeing) and (rsi is None or rsi < 70):
        action = "BUY"
    elif agreeing.count("down") == len(agreeing) and (rsi is None or rsi > 30):
        action = "SELL"
    confidence = 0.5
    if action != "HOLD":
        confidence = 0.65 + (0.15 if rsi is not None and 40 <= rsi <= 60 else 0.0)
    low, high = inputs.low[-LEVEL_BARS:], inputs.high[-LEVEL_BARS:]
    support = sorted({round(float(low[-20:].min()), 2), round(float(low.min()), 2)})
    resistance = sorted({round(float(high[-20:].max()), 2), round(float(high.max()), 2)})
    direction = {"BUY": 1, "SELL": -1}.get(action, 0)
    reasons = [f"{name} trend {trend}" for name, trend in trends.items()]
    if rsi is not None:
        reasons.append(f"RSI {rsi:.1f}")
    reasons.append(f"ATR {atr:.2f}")
    return ChartAnalysis(
        trend=trends,
        action=action,
        confidence=round(confidence, 2),
        entry=round(close, 2) if direction else None,
        stop_loss=round(close - direction * 2 * atr, 2) if direction else None,
        take_profit=round(close + direction * 3 * atr, 2) if direction else None,
        horizon="1-3 weeks" if direction else "",
        key_levels=KeyLevels(support=support, resistance=resistance),
        rationale="Offline analyst (rules, no LLM): " + "; ".join(reasons) + ".",
    )
