"""Signals from the strategy's rules: BUY/SELL/HOLD with the values that decided them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ibkr_pipeline.domain import rules
from ibkr_pipeline.domain.analysis import AnalysisRecord
from ibkr_pipeline.domain.screen import ScreenDecision
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
    reasons = []
    try:
        buy = rules.evaluate(spec.buy, values) if spec.buy else False
        sell = rules.evaluate(spec.sell, values) if spec.sell else False
    except rules.RuleError as exc:  # e.g. a division by a zero this bar happened to hold: HOLD, say why
        buy = sell = None
        reasons.append(str(exc))
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


_DIRECTION = {"BUY": 1, "SELL": -1, "HOLD": 0}


def combined_signal(
    symbol: str,
    as_of: datetime,
    values: dict[str, float | None],
    spec: SignalRules,
    record: AnalysisRecord | None,
    screened: ScreenDecision | None = None,
) -> Signal:
    """Rules and analysis per ``spec.mode``: rules, llm, both (must agree) or weighted. A symbol that
    ``llm.screen`` kept from the analyst (``screened`` not passed) is decided by the rules alone."""
    by_rules = rule_signal(symbol, as_of, values, spec)
    if spec.mode == "rules":
        return by_rules
    if screened is not None and not screened.passed:
        return by_rules.model_copy(update={"source": "screen:rules", "reasons": [screened.reason, *by_rules.reasons]})
    analysis = record.analysis if record is not None and record.accepted else None
    source = record.source if record is not None else "llm"
    if analysis is None:
        why = "no analysis" if record is None else "analysis rejected: " + "; ".join(record.problems)
        return _hold(by_rules, source, [*by_rules.reasons, why])
    reasons = [
        *by_rules.reasons,
        f"{source} analysis says {analysis.action} at confidence {analysis.confidence:.2f}: {analysis.rationale[:300]}",
    ]
    if spec.mode == "weighted":
        score = (
            spec.llm_weight * _DIRECTION[analysis.action] * analysis.confidence
            + (1 - spec.llm_weight) * _DIRECTION[by_rules.action]
        )
        action: Action = "BUY" if score >= spec.min_confidence else "SELL" if score <= -spec.min_confidence else "HOLD"
        reasons.append(f"weighted score {score:+.2f} against threshold {spec.min_confidence:.2f}")
        confidence = abs(score)
    else:
        action = analysis.action
        confidence = analysis.confidence
        if confidence < spec.min_confidence:
            reasons.append(f"confidence {confidence:.2f} below the minimum {spec.min_confidence:.2f}")
            action = "HOLD"
        if spec.mode == "both" and action != by_rules.action:
            reasons.append(f"rules say {by_rules.action}, analysis says {analysis.action}: they must agree")
            action = "HOLD"
    if action == "HOLD":
        return _hold(by_rules, f"{spec.mode}:{source}", reasons)
    from_analysis = analysis.action == action
    return Signal(
        symbol=symbol,
        as_of=as_of,
        action=action,
        confidence=round(confidence, 4),
        entry=analysis.entry if from_analysis else by_rules.entry,
        stop_loss=analysis.stop_loss if from_analysis else by_rules.stop_loss,
        take_profit=analysis.take_profit if from_analysis else by_rules.take_profit,
        source=f"{spec.mode}:{source}",
        reasons=reasons,
        values=values,
    )


def _hold(base: Signal, source: str, reasons: list[str]) -> Signal:
    return base.model_copy(
        update={
            "action": "HOLD",
            "confidence": 0.0,
            "stop_loss": None,
            "take_profit": None,
            "source": source,
            "reasons": reasons,
        }
    )


def _word(value: bool | None) -> str:
    return "unknown (indicator still warming up)" if value is None else ("true" if value else "false")
