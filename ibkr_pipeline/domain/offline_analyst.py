"""The offline analyst: a deterministic ChartAnalysis from indicators, for runs without an LLM.

It reads the same inputs the LLM gets (bars and indicator values per timeframe)
and answers in the same schema, so everything downstream is exercised offline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ibkr_pipeline.domain.analysis import ChartAnalysis, KeyLevels, Trend


def _trend(frame: pd.DataFrame) -> Trend:
    closes = frame["close"].dropna().tail(50).to_numpy()
    if len(closes) < 10:
        return "sideways"
    slope = np.polyfit(np.arange(len(closes)), closes, 1)[0] * len(closes)
    spread = closes.std() or 1.0
    if slope > 0.5 * spread and closes[-1] > closes.mean():
        return "up"
    if slope < -0.5 * spread and closes[-1] < closes.mean():
        return "down"
    return "sideways"


def _atr(frame: pd.DataFrame, length: int = 14) -> float | None:
    high, low, close = frame["high"], frame["low"], frame["close"]
    ranges = pd.concat([high - low, (high - close.shift()).abs(), (low - close.shift()).abs()], axis=1).max(axis=1)
    value = ranges.tail(length).mean()
    return float(value) if value == value else None


def _rsi(frame: pd.DataFrame) -> float | None:
    columns = [c for c in frame.columns if c.startswith("rsi")]
    if not columns:
        return None
    value = frame[columns[0]].iloc[-1]
    return float(value) if value == value else None


def offline_analysis(frames: dict[str, pd.DataFrame], primary: str, atr_column: str | None = None) -> ChartAnalysis:
    frame = frames[primary]
    trends = {name: _trend(f) for name, f in frames.items()}
    close = float(frame["close"].iloc[-1])
    atr = None
    if atr_column and atr_column in frame and frame[atr_column].iloc[-1] == frame[atr_column].iloc[-1]:
        atr = float(frame[atr_column].iloc[-1])
    atr = atr or _atr(frame) or close * 0.02
    rsi = _rsi(frame)
    agreeing = list(trends.values())
    action = "HOLD"
    if agreeing.count("up") == len(agreeing) and (rsi is None or rsi < 70):
        action = "BUY"
    elif agreeing.count("down") == len(agreeing) and (rsi is None or rsi > 30):
        action = "SELL"
    confidence = 0.5
    if action != "HOLD":
        confidence = 0.65 + (0.15 if rsi is not None and 40 <= rsi <= 60 else 0.0)
    recent = frame.tail(60)
    support = sorted({round(float(recent["low"].tail(20).min()), 2), round(float(recent["low"].min()), 2)})
    resistance = sorted({round(float(recent["high"].tail(20).max()), 2), round(float(recent["high"].max()), 2)})
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
