"""Signals from the strategy's rules: BUY/SELL/HOLD with the values that decided them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ibkr_pipeline.domain import rules
from ibkr_pipeline.domain.strategy import SignalRules

Action = Literal["BUY", "SELL", "HOLD"]


class Signal(BaseModel):
    """One symbol's decision at one tick, with its provenance."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    as_of: datetime
    action: Action
    confidence: float
    entry: float | None
    stop_loss: float | None
    take_profit: float | None
    source: str
    reasons: list[str]
    values: dict[str, float | None]


def rule_signal(symbol: str, as_of: datetime, values: dict[str, float | None], spec: SignalRules) -> Signal:
    """Evaluate buy and sell rules; both true or neither true is HOLD."""
    buy = rules.evaluate(spec.buy, values) if spec.buy else False
    sell = rules.evaluate(spec.sell, values) if spec.sell else False
    reasons = []
    if spec.buy:
        reasons.append(f"buy rule `{spec.buy}` is {_word(buy)}")
    if spec.sell:
        reasons.append(f"sell rule `{spec.sell}` is {_word(sell)}")
    action: Action = "HOLD"
    if buy and not sell:
        action = "BUY"
    elif sell and not buy:
        action = "SELL"
    elif buy and sell:
        reasons.append("both rules hold: conflicting, so HOLD")
    close = values.get("close")
    atr = values.get(spec.atr) if spec.atr else None
    stop = target = None
    if action != "HOLD" and close is not None and atr:
        direction = 1 if action == "BUY" else -1
        stop = round(close - direction * spec.stop_atr * atr, 2)
        target = round(close + direction * spec.target_atr * atr, 2)
    return Signal(
        symbol=symbol,
        as_of=as_of,
        action=action,
        confidence=1.0 if action != "HOLD" else 0.0,
        entry=close,
        stop_loss=stop,
        take_profit=target,
        source="rules",
        reasons=reasons,
        values=values,
    )


def _word(value: bool | None) -> str:
    return "unknown (indicator still warming up)" if value is None else ("true" if value else "false")
