"""Signal rules: boolean expressions over the latest indicator values, evaluated safely."""

from __future__ import annotations

import ast

from simpleeval import EvalWithCompoundTypes, InvalidExpression

ALLOWED_FUNCTIONS = {"abs": abs, "min": min, "max": max}


class RuleError(ValueError):
    """A rule that does not parse, or names a value that does not exist."""


def names_in(expression: str) -> set[str]:
    """The value names an expression reads; calls other than abs/min/max are refused."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"invalid expression {expression!r}: {exc.msg}") from exc
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    bad = [ast.unparse(c.func) for c in calls if not (isinstance(c.func, ast.Name) and c.func.id in ALLOWED_FUNCTIONS)]
    if bad:
        raise RuleError(f"{expression!r} calls {bad}; only {sorted(ALLOWED_FUNCTIONS)} are allowed")
    if any(isinstance(n, ast.Attribute) for n in ast.walk(tree)):
        raise RuleError(f"{expression!r} uses attribute access, which rules do not allow")
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(ALLOWED_FUNCTIONS)


def check(expression: str, known: set[str]) -> None:
    unknown = sorted(names_in(expression) - known - set(ALLOWED_FUNCTIONS))
    if unknown:
        raise RuleError(
            f"{expression!r} uses unknown names {unknown}; known: {sorted(known)}"
        )


def evaluate(expression: str, values: dict[str, float | None]) -> bool | None:
    """True/False, or None when a value it needs is missing (still warming up)."""
    needed = names_in(expression) - set(ALLOWED_FUNCTIONS)
    if any(values.get(name) is None for name in needed):
        return None
    evaluator = EvalWithCompoundTypes(names=dict(values), functions=ALLOWED_FUNCTIONS)
    try:
        return bool(evaluator.eval(expression))
    except (InvalidExpression, TypeError, ZeroDivisionError) as exc:
        raise RuleError(f"cannot evaluate {expression!r}: {exc}") from exc
