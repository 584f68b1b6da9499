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
    value: int | float | str | None  # counts stay whole numbers in the audit record
    limit: int | float | str | None
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
    strategy_position: float = 0.0  # this strategy's own shares in the symbol, from its fills
    queue_when_closed: bool = True
    max_price_deviation_pct: float = 5.0


# Checks that limit new exposure. An exit reduces exposure, so it passes them, and says it did.
EXPOSURE_CHECKS = (
    "position_value",
    "position_pct_of_net_liq",
    "gross_exposure_pct",
    "open_positions",
    "orders_today",
    "daily_loss",
)


def is_exit(intent: OrderIntent, strategy_position: float) -> bool:
    """A plain SELL of no more than the strategy's own long: it closes risk, it never opens any."""
    return intent.action == "SELL" and not intent.is_bracket and 0 < intent.quantity <= strategy_position + 1e-9


def _waive(check: RiskCheck) -> RiskCheck:
    if check.passed:
        return check.model_copy(update={"detail": "an exit: not limited by this check"})
    return check.model_copy(
        update={"passed": True, "detail": f"waived for an exit, which reduces risk ({check.value} vs {check.limit})"}
    )


def check_order(intent: OrderIntent, limits: RiskLimits, ctx: RiskContext) -> list[RiskCheck]:
    price = intent.limit_price or ctx.quote_price or 0.0
    value = intent.quantity * price
    held = abs(ctx.position_value.get(intent.symbol, 0.0))
    nl = ctx.net_liquidation
    exiting = is_exit(intent, ctx.strategy_position)
    others = [r for r in ctx.working_refs_by_symbol.get(intent.symbol, []) if r != intent.order_ref]
    checks = [
        RiskCheck(
            name="trading_enabled",
            passed=ctx.trading_enabled,
            value=intent.mode,
            limit="paper/live + no kill switch",
            detail=ctx.trading_block_reason,
        ),
        RiskCheck(
            name="market_session",
            passed=ctx.market_open or ctx.queue_when_closed,
            value="open" if ctx.market_open else "closed",
            limit="open" if not ctx.queue_when_closed else "open, or queued for the next session",
            detail="" if ctx.market_open else f"next open {ctx.next_open:%Y-%m-%d %H:%M} UTC" if ctx.next_open else "",
        ),
        RiskCheck(
            name="signal_confidence",
            passed=ctx.signal_confidence >= limits.min_confidence,
            value=round(ctx.signal_confidence, 4),
            limit=limits.min_confidence,
        ),
        RiskCheck(
            name="position_value",
            passed=held + value <= limits.max_position_value + 1e-6,
            value=round(held + value, 2),
            limit=limits.max_position_value,
        ),
        RiskCheck(
            name="position_pct_of_net_liq",
            passed=nl > 0 and (held + value) / nl * 100 <= limits.max_position_pct + 1e-9,
            value=round((held + value) / nl * 100, 4) if nl > 0 else None,
            limit=limits.max_position_pct,
        ),
        RiskCheck(
            name="gross_exposure_pct",
            passed=nl > 0 and (ctx.gross_exposure + value) / nl * 100 <= limits.max_gross_exposure_pct + 1e-9,
            value=round((ctx.gross_exposure + value) / nl * 100, 4) if nl > 0 else None,
            limit=limits.max_gross_exposure_pct,
        ),
        RiskCheck(
            name="open_positions",
            passed=held > 0 or ctx.open_positions < limits.max_open_positions,
            value=ctx.open_positions,
            limit=limits.max_open_positions,
        ),
        RiskCheck(
            name="orders_today",
            passed=ctx.orders_today < limits.max_orders_per_day,
            value=ctx.orders_today,
            limit=limits.max_orders_per_day,
        ),
        RiskCheck(
            name="daily_loss",
            passed=ctx.daily_pnl > -limits.daily_loss_limit,
            value=round(ctx.daily_pnl, 2),
            limit=-limits.daily_loss_limit,
        ),
        RiskCheck(
            name="no_other_open_order",
            passed=not others or exiting,
            value=", ".join(ctx.working_refs_by_symbol.get(intent.symbol, [])) or "none",
            limit="none",
            detail="the exit cancels this strategy's own working orders before it is sent"
            if others and exiting
            else "",
        ),
    ]
    if exiting:
        checks = [_waive(c) if c.name in EXPOSURE_CHECKS else c for c in checks]
    if ctx.quote_price and intent.limit_price:
        deviation = abs(intent.limit_price - ctx.quote_price) / ctx.quote_price * 100
        checks.append(
            RiskCheck(
                name="price_sanity",
                passed=deviation <= ctx.max_price_deviation_pct,
                value=round(deviation, 4),
                limit=ctx.max_price_deviation_pct,
                detail=f"limit {intent.limit_price} vs quote {ctx.quote_price}",
            )
        )
    elif ctx.quote_price is None and exiting:
        checks.append(
            RiskCheck(
                name="price_sanity",
                passed=True,
                value=None,
                limit="a quote",
                detail="no reference quote; an exit at market is sent without one",
            )
        )
    else:
        checks.append(
            RiskCheck(
                name="price_sanity",
                passed=ctx.quote_price is not None,
                value=ctx.quote_price,
                limit="a quote",
                detail="no reference quote" if ctx.quote_price is None else "market order",
            )
        )
    if intent.stop_loss is not None and intent.take_profit is not None and ctx.quote_price:  # a bracket
        low, high = (
            (intent.stop_loss, intent.take_profit) if intent.action == "BUY" else (intent.take_profit, intent.stop_loss)
        )
        checks.append(
            RiskCheck(
                name="bracket_around_quote",
                passed=low < ctx.quote_price < high,
                value=ctx.quote_price,
                limit=f"{low} < quote < {high}",
                detail="a stop or target already crossed would fill at once",
            )
        )
    return checks


def passed(checks: list[RiskCheck]) -> bool:
    return all(c.passed for c in checks)
