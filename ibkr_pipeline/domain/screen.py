"""The LLM funnel's pre-screen: a rule over the latest values decides which symbols the vision model is asked about.

A tick over an index sends most symbols nowhere interesting; the screen (``llm.screen``, the rules' own
expression language) keeps them away from the paid model. A symbol the screen keeps out is decided by the
rules alone, and its signal says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ibkr_pipeline.domain import rules


@dataclass(frozen=True)
class ScreenDecision:
    passed: bool
    reason: str


def screen(expression: str | None, values: dict[str, float | None]) -> ScreenDecision:
    """No screen passes every symbol; a rule that cannot be decided (warming up, a division by zero) keeps it out."""
    if expression is None:
        return ScreenDecision(True, "no llm.screen: every symbol goes to the analyst")
    try:
        result = rules.evaluate(expression, values)
    except rules.RuleError as exc:
        return ScreenDecision(False, f"llm.screen kept it out: {exc}")
    if result is None:
        return ScreenDecision(False, f"llm.screen `{expression}` is unknown (indicator still warming up)")
    if result:
        return ScreenDecision(True, f"llm.screen `{expression}` is true")
    return ScreenDecision(False, f"llm.screen `{expression}` is false")
