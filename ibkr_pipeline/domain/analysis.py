"""The structured chart analysis an LLM (or the offline analyst) returns, and the checks it must pass.

An answer that cannot be parsed, breaks the schema or fails a sanity check never
becomes an order: it becomes HOLD with the reason recorded.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Trend = Literal["up", "down", "sideways"]
Verdict = Literal["BUY", "SELL", "HOLD"]


MAX_ANSWER_CHARS = 32_000
MAX_ANSWER_DEPTH = 6
Price = Annotated[float, Field(gt=0, le=1e7)]


class KeyLevels(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    support: list[Price] = Field(default_factory=list, max_length=6)
    resistance: list[Price] = Field(default_factory=list, max_length=6)


class ChartAnalysis(BaseModel):
    """What a careful discretionary technician would write down about one symbol."""

    # Strict: a boolean or a string is never a number, whatever the model wrote.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    trend: dict[Annotated[str, Field(max_length=32)], Trend] = Field(
        max_length=8, description="Trend per timeframe, e.g. {'daily': 'up', 'weekly': 'sideways'}"
    )
    action: Verdict
    confidence: float = Field(ge=0, le=1)
    entry: Price | None = None
    stop_loss: Price | None = None
    take_profit: Price | None = None
    horizon: str = Field(default="", max_length=100, description="Expected holding period, e.g. '1-3 weeks'")
    key_levels: KeyLevels = Field(default_factory=KeyLevels)
    rationale: str = Field(max_length=4000)


class AnswerError(ValueError):
    """The model's text is not a ChartAnalysis."""


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def _depth(text: str) -> int:
    """How deeply brackets nest, outside JSON strings; read without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_answer(text: str) -> ChartAnalysis:
    """Parse tolerantly: code fences and prose around one JSON object are allowed. Size and nesting are
    capped before parsing, so no answer can exhaust memory or the stack."""
    if not text or not text.strip():
        raise AnswerError("empty answer")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(f"answer is {len(text)} characters; at most {MAX_ANSWER_CHARS}")
    if _depth(text) > MAX_ANSWER_DEPTH:
        raise AnswerError(f"answer nests deeper than {MAX_ANSWER_DEPTH} levels")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    last_error: Exception | None = None
    for candidate in candidates:
        start, end = candidate.find("{"), candidate.rfind("}")
        if start < 0 or end <= start:
            continue
        try:
            data = json.loads(candidate[start : end + 1])
        except (json.JSONDecodeError, RecursionError, ValueError) as exc:
            last_error = exc
            continue
        try:
            return ChartAnalysis.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise AnswerError(f"answer does not match the schema: {problems}") from exc
    raise AnswerError(f"no JSON object in the answer ({last_error or 'no braces found'})")


def sanity_problems(
    analysis: ChartAnalysis,
    last_close: float,
    atr: float | None,
    range_low: float,
    range_high: float,
    max_atr_multiple: float = 6.0,
    max_entry_distance_pct: float = 3.0,
) -> list[str]:
    """Reasons to distrust an answer whose numbers do not fit the chart it was given."""
    problems = []
    a = analysis
    if a.action != "HOLD":
        if a.entry is None or a.stop_loss is None or a.take_profit is None:
            problems.append(f"{a.action} without entry, stop_loss and take_profit")
        else:
            long = a.action == "BUY"
            if long and not (a.stop_loss < a.entry < a.take_profit):
                problems.append(f"BUY needs stop < entry < target, got {a.stop_loss} / {a.entry} / {a.take_profit}")
            if not long and not (a.take_profit < a.entry < a.stop_loss):
                problems.append(f"SELL needs target < entry < stop, got {a.take_profit} / {a.entry} / {a.stop_loss}")
            distance = abs(a.entry - last_close) / last_close * 100
            if distance > max_entry_distance_pct:
                problems.append(f"entry {a.entry} is {distance:.1f}% from the last close {last_close}")
            if atr:
                for name, price in (("stop_loss", a.stop_loss), ("take_profit", a.take_profit)):
                    multiple = abs(price - a.entry) / atr
                    if multiple > max_atr_multiple:
                        problems.append(f"{name} {price} is {multiple:.1f} ATR from entry (max {max_atr_multiple})")
    margin = (range_high - range_low) * 0.02
    for kind, levels in (("support", a.key_levels.support), ("resistance", a.key_levels.resistance)):
        for level in levels:
            if not (range_low - margin <= level <= range_high + margin):
                problems.append(
                    f"{kind} level {level} lies outside the range the bars cover ({range_low:.2f}-{range_high:.2f})"
                )
    return problems


class AnalysisRecord(BaseModel):
    """One symbol's analysis with everything needed to audit it."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    source: Literal["llm", "offline"]
    model: str
    prompt_name: str
    prompt_template_hash: str = ""
    system_prompt: str
    user_prompt: str
    charts_sent: list[str]
    answers: list[str]
    analysis: ChartAnalysis | None
    accepted: bool
    problems: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0
    calls: int = 0
    latency_s: float = 0.0


def json_schema() -> dict:
    """The schema sent as response_format (strict-compatible: every property required)."""
    schema = ChartAnalysis.model_json_schema()
    return schema
