"""A bracket's stop and target: where they come from and how far from the entry they may be."""

from __future__ import annotations

import math

from ibkr_pipeline.domain.strategy import OrderTemplate


def bracket_levels(
    action: str, price: float, stop: float | None, target: float | None, template: OrderTemplate
) -> tuple[float | None, float | None, str]:
    """(stop, target, problem): the signal's levels, or the template's percentages when it has none;
    a problem ('' when none) when a level is not finite, on the wrong side, or beyond the template's bound."""
    if not (math.isfinite(price) and price > 0):
        return None, None, f"no usable entry price ({price})"
    sign = 1 if action == "BUY" else -1
    if stop is None and template.stop_pct:
        stop = round(price * (1 - sign * template.stop_pct / 100), 6)
    if target is None and template.target_pct:
        target = round(price * (1 + sign * template.target_pct / 100), 6)
    if stop is None or target is None:
        return stop, target, "no stop and target for a bracket (set signal.atr, or order.stop_pct and order.target_pct)"
    for name, level in (("stop", stop), ("target", target)):
        if not (math.isfinite(level) and level > 0):
            return None, None, f"{name} {level} is not a finite positive price"
    if sign * (price - stop) <= 0:
        return None, None, f"{action} stop {stop} is not on the losing side of the entry {price}"
    if sign * (target - price) <= 0:
        return None, None, f"{action} target {target} is not on the winning side of the entry {price}"
    stop_pct = abs(price - stop) / price * 100
    target_pct = abs(target - price) / price * 100
    if stop_pct > template.max_stop_pct + 1e-9:
        return (
            None,
            None,
            f"stop {stop} is {stop_pct:.1f}% from the entry {price}, beyond order.max_stop_pct {template.max_stop_pct:g}%",
        )
    if target_pct > template.max_target_pct + 1e-9:
        return (
            None,
            None,
            (
                f"target {target} is {target_pct:.1f}% from the entry {price}, "
                f"beyond order.max_target_pct {template.max_target_pct:g}%"
            ),
        )
    return stop, target, ""
