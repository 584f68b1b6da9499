"""Position sizing: fixed quantity, fixed notional, % of equity or risk per trade, capped by limits."""

from __future__ import annotations

import math

from ibkr_pipeline.domain.orders import MAX_ORDER_SHARES
from ibkr_pipeline.domain.strategy import OrderTemplate, RiskLimits


def position_size(
    template: OrderTemplate,
    limits: RiskLimits,
    equity: float,
    price: float,
    stop: float | None,
    lot_size: int = 1,
) -> int:
    """Whole lots of shares; never negative, never above the per-symbol value limits."""
    if price <= 0 or equity <= 0:
        return 0
    if template.sizing == "fixed_quantity":
        raw = float(template.quantity or 0)
    elif template.sizing == "fixed_notional":
        raw = (template.notional or 0) / price
    elif template.sizing == "pct_equity":
        raw = equity * (template.pct_equity or 0) / 100 / price
    else:
        if stop is None or stop == price:
            return 0  # risk sizing needs a stop; no stop, no trade
        raw = equity * template.risk_pct / 100 / abs(price - stop)
    cap_value = min(limits.max_position_value, equity * limits.max_position_pct / 100)
    raw = min(raw, cap_value / price, MAX_ORDER_SHARES)
    lots = math.floor(raw / lot_size + 1e-9)
    return max(lots * lot_size, 0)
