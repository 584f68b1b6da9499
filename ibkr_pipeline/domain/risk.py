"""Pre-trade risk checks. Each check records its numbers and passes or fails; any failure blocks the order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.domain.strategy import RiskLimits


class RiskCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    passed: bool
    value: float | str | None
    limit: float | str | None
    detail: str = ""


@dataclass(frozen=True)
class RiskContext:
    """Account and market state at the moment of the decision."""

    now: datetime
    trading_enabled: bool  # mode allows sending and no kill switch
    trading_block_reason: str
    market_open: bool
    next_open: datetime | None
    net_liquidation: float
    gross_exposure: float
    open_positions: int
    orders_today: int
    daily_pnl: float
    position_value: dict[str, float] = field(default_factory=dict)
    working_refs_by_symbol: dict[str, list[str]] = field(default_factory=dict)
    quote_price: float | None = None
    signal_confidence: float = 1.0
    queue_when_closed: bool = True
    max_price_deviation_pct: float = 5.0


def check_order(intent: OrderIntent, limits: RiskLimits, ctx: RiskContext) -> list[RiskCheck]:
    price = intent.limit_price or ctx.quote_price or 0.0
    value = intent.quantity * price
    held = abs(ctx.position_value.get(intent.symbol, 0.0))
    opening = intent.action == "BUY" or held == 0
    nl = ctx.net_liquidation
    # An exit (a SELL closing a long) replaces the position's own working bracket: the broker cancels it first.
    is_exit = intent.action == "SELL" and not intent.is_bracket
    others = [r for r in ctx.working_refs_by_symbol.get(intent.symbol, []) if r != intent.order_ref]
    checks = [
        RiskCheck(name="trading_enabled", passed=ctx.trading_enabled, value=intent.mode, limit="paper/live + no kill switch",
                  detail=ctx.trading_block_reason),
        RiskCheck(
            name="market_session", passed=ctx.market_open or ctx.queue_when_closed,
            value="open" if ctx.market_open else "closed",
            limit="open" if not ctx.queue_when_closed else "open, or queued for the next session",
            detail="" if ctx.market_open else f"next open {ctx.next_open:%Y-%m-%d %H:%M} UTC" if ctx.next_open else "",
        ),
        RiskCheck(name="signal_confidence", passed=ctx.signal_confidence >= limits.min_confidence,
                  value=round(ctx.signal_confidence, 4), limit=limits.min_confidence),
        RiskCheck(name="position_value", passed=held + value <= limits.max_position_value + 1e-6,
                  value=round(held + value, 2), limit=limits.max_position_value),
        RiskCheck(name="position_pct_of_net_liq", passed=nl > 0 and (held + value) / nl * 100 <= limits.max_position_pct + 1e-9,
                  value=round((held + value) / nl * 100, 4) if nl > 0 else None, limit=limits.max_position_pct),
        RiskCheck(name="gross_exposure_pct", passed=nl > 0 and (ctx.gross_exposure + value) / nl * 100 <= limits.max_gross_exposure_pct + 1e-9,
                  value=round((ctx.gross_exposure + value) / nl * 100, 4) if nl > 0 else None, limit=limits.max_gross_exposure_pct),
        RiskCheck(name="open_positions", passed=not opening or held > 0 or ctx.open_positions < limits.max_open_positions,
                  value=ctx.open_positions, limit=limits.max_open_positions),
        RiskCheck(name="orders_today", passed=ctx.orders_today < limits.max_orders_per_day,
                  value=ctx.orders_today, limit=limits.max_orders_per_day),
        RiskCheck(name="daily_loss", passed=ctx.daily_pnl > -limits.daily_loss_limit,
                  value=round(ctx.daily_pnl, 2), limit=-limits.daily_loss_limit),
        RiskCheck(name="no_other_open_order", passed=not others or is_exit,
                  value=", ".join(ctx.working_refs_by_symbol.get(intent.symbol, [])) or "none", limit="none",
                  detail="the exit cancels these before it is sent" if others and is_exit else ""),
    ]
    if ctx.quote_price and intent.limit_price:
        deviation = abs(intent.limit_price - ctx.quote_price) / ctx.quote_price * 100
        checks.append(RiskCheck(name="price_sanity", passed=deviation <= ctx.max_price_deviation_pct,
                                value=round(deviation, 4), limit=ctx.max_price_deviation_pct,
                                detail=f"limit {intent.limit_price} vs quote {ctx.quote_price}"))
    else:
        checks.append(RiskCheck(name="price_sanity", passed=ctx.quote_price is not None, value=ctx.quote_price, limit="a quote",
                                detail="no reference quote" if ctx.quote_price is None else "market order"))
    if intent.is_bracket and ctx.quote_price:
        low, high = (intent.stop_loss, intent.take_profit) if intent.action == "BUY" else (intent.take_profit, intent.stop_loss)
        checks.append(RiskCheck(
            name="bracket_around_quote", passed=low < ctx.quote_price < high, value=ctx.quote_price,
            limit=f"{low} < quote < {high}", detail="a stop or target already crossed would fill at once",
        ))
    return checks


def passed(checks: list[RiskCheck]) -> bool:
    return all(c.passed for c in checks)
