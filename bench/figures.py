"""A figure: a value, optionally a target it must meet."""


def figure(name: str, value: float, target: float | None = None, comparison: str = "<=", detail: str = "") -> dict:
    ok = None if target is None else (value <= target if comparison == "<=" else value >= target)
    return {
        "figure": name,
        "value": round(value, 4),
        "target": target,
        "comparison": comparison,
        "ok": ok,
        "detail": detail,
    }
