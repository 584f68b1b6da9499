"""Signal rules: boolean expressions over the latest indicator values, evaluated safely.

A rule may only compare, do arithmetic (+ - * /) with bounded numeric constants, use
and/or/not, and call abs/min/max. Anything else (powers, string formatting, lambdas,
comprehensions, subscripts, attribute access) is refused when the strategy file is
read, so evaluating a rule costs a few microseconds and no memory whatever the file says.
"""

from __future__ import annotations

import ast
import random
import threading
import time
from functools import lru_cache

from simpleeval import EvalWithCompoundTypes, InvalidExpression

ALLOWED_FUNCTIONS = {"abs": abs, "min": min, "max": max}
MAX_RULE_LENGTH = 500
MAX_RULE_NODES = 200
MAX_CONSTANT = 1e9
MAX_CALL_ARGS = 8
VALIDATION_BUDGET_S = 0.25

_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Compare,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Eq,
    ast.NotEq,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Call,
)


class RuleError(ValueError):
    """A rule that does not parse, is not allowed, or names a value that does not exist."""


def _tree(expression: str) -> ast.Expression:
    if not isinstance(expression, str):
        raise RuleError(f"a rule is a text expression, got {type(expression).__name__}")
    if len(expression) > MAX_RULE_LENGTH:
        raise RuleError(f"rule is {len(expression)} characters long; at most {MAX_RULE_LENGTH}")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise RuleError(f"invalid expression {expression!r}: {exc.msg}") from exc
    except (RecursionError, MemoryError, ValueError) as exc:
        raise RuleError(f"invalid expression {expression!r}: nested too deeply") from exc
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_RULE_NODES:
        raise RuleError(f"{expression!r} has {len(nodes)} parts; at most {MAX_RULE_NODES}")
    for node in nodes:
        if not isinstance(node, _ALLOWED_NODES):
            raise RuleError(
                f"{expression!r} uses {_describe(node)}, which rules do not allow "
                "(comparisons, + - * /, and/or/not, numbers and abs/min/max only)"
            )
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise RuleError(f"{expression!r} uses the constant {node.value!r}; only numbers are allowed")
            if not abs(node.value) <= MAX_CONSTANT:  # also refuses nan
                raise RuleError(f"{expression!r} uses the constant {node.value!r}; numbers up to {MAX_CONSTANT:g}")
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in ALLOWED_FUNCTIONS):
                raise RuleError(
                    f"{expression!r} calls {ast.unparse(node.func)!r}; only {sorted(ALLOWED_FUNCTIONS)} are allowed"
                )
            if node.keywords or not 1 <= len(node.args) <= MAX_CALL_ARGS:
                raise RuleError(f"{expression!r}: {node.func.id}() takes 1 to {MAX_CALL_ARGS} values and no keywords")
    return tree


def _describe(node: ast.AST) -> str:
    names = {
        ast.Pow: "'**'",
        ast.Mod: "'%'",
        ast.FloorDiv: "'//'",
        ast.Lambda: "a lambda",
        ast.Attribute: "attribute access",
        ast.Subscript: "a subscript",
        ast.IfExp: "'if ... else'",
    }
    for kind, text in names.items():
        if isinstance(node, kind):
            return text
    if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return "a comprehension"
    return f"{type(node).__name__}"


def names_in(expression: str) -> set[str]:
    """The value names an expression reads."""
    return set(_names(expression))


@lru_cache(maxsize=1024)
def _names(expression: str) -> frozenset[str]:
    tree = _tree(expression)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return frozenset({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - called)


@lru_cache(maxsize=1024)
def _parsed(expression: str) -> ast.AST:
    """The node simpleeval evaluates; a rule is checked by ``_tree`` before it is ever parsed here."""
    return EvalWithCompoundTypes.parse(expression)


def check(expression: str, known: set[str]) -> None:
    """Refuse a rule that is not allowed or names unknown values; then evaluate it once on sample values
    within a time budget, so a rule that cannot be evaluated is found when the file is read."""
    unknown = sorted(names_in(expression) - known)
    if unknown:
        raise RuleError(f"{expression!r} uses unknown names {unknown}; known: {sorted(known)}")
    sample = random.Random(expression)  # deterministic sample values per rule
    values: dict[str, float | None] = {name: sample.uniform(1.0, 2.0) for name in known}
    started = time.perf_counter()
    try:
        evaluate(expression, values)
    except RuleError as exc:
        if "division by zero" not in str(exc):
            raise
    if time.perf_counter() - started > VALIDATION_BUDGET_S:
        raise RuleError(f"{expression!r} took longer than {VALIDATION_BUDGET_S}s to evaluate once")


_per_thread = threading.local()


def _evaluator() -> EvalWithCompoundTypes:
    """This thread's evaluator: making one costs ten times an evaluation, and a backtest evaluates millions. Its
    names are set before every evaluation; one per thread, as symbols may be decided in parallel."""
    found = getattr(_per_thread, "evaluator", None)
    if found is None:
        found = _per_thread.evaluator = EvalWithCompoundTypes(names={}, functions=dict(ALLOWED_FUNCTIONS))
    return found


def evaluate(expression: str, values: dict[str, float | None]) -> bool | None:
    """True/False, or None when a value it needs is missing (still warming up)."""
    needed = _names(expression)
    if any(values.get(name) is None for name in needed):
        return None
    evaluator = _evaluator()
    evaluator.names = {n: values[n] for n in needed}
    try:
        return bool(evaluator.eval(expression, _parsed(expression)))
    except (InvalidExpression, TypeError, ZeroDivisionError, OverflowError, ValueError) as exc:
        raise RuleError(f"cannot evaluate {expression!r}: {exc}") from exc
