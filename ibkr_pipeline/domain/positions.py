"""A strategy's own position per symbol, from its own fills; and whether an exit may take it.

The account at IB holds one number per symbol. Several strategies (and the trader's
manual holdings) share it, so what a strategy may sell is what its own fills bought,
never the account total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ibkr_pipeline.domain.orders import strategy_of


class FillLike(Protocol):
    order_ref: str
    symbol: str
    side: str
    shares: float
    price: float


@dataclass(frozen=True)
class StrategyPosition:
    strategy: str
    symbol: str
    quantity: float
    average_cost: float


def _signed(side: str, shares: float) -> float:
    return shares if side.upper() in ("BUY", "BOT") else -shares


def positions_from_fills(fills: Iterable[FillLike]) -> dict[tuple[str, str], StrategyPosition]:
    """(strategy, symbol) → net quantity and average cost of what is held, in fill order."""
    return positions_after({}, fills)


def positions_after(
    positions: dict[tuple[str, str], StrategyPosition], fills: Iterable[FillLike]
) -> dict[tuple[str, str], StrategyPosition]:
    """``positions`` moved on by ``fills`` (later than every fill they came from), in fill order: what
    ``positions_from_fills`` of all the fills gives, without replaying the old ones."""
    state = {k: (p.quantity, p.average_cost) for k, p in positions.items()}
    for fill in fills:
        strategy = strategy_of(fill.order_ref)
        if not strategy:
            continue
        key = (strategy, fill.symbol)
        quantity, average = state.get(key, (0.0, 0.0))
        delta = _signed(fill.side, fill.shares)
        new = quantity + delta
        if quantity == 0 or (quantity > 0) != (new > 0) and new != 0:
            average = fill.price  # opened, or crossed through zero
        elif abs(new) > abs(quantity):
            average = (average * abs(quantity) + fill.price * abs(delta)) / abs(new)
        state[key] = (round(new, 6), average if new else 0.0)
    return {k: StrategyPosition(k[0], k[1], q, a) for k, (q, a) in state.items()}


def exit_refusal(symbol: str, own: float, others: float, account: float) -> str:
    """Why selling the strategy's ``own`` shares must not be sent ('' when it may).

    The account must still hold what other strategies' fills say they own after the sale; if it would
    not, the ledger and the account disagree and selling could open a short or take shares that are not ours.
    """
    if own <= 0:
        return f"{symbol}: this strategy holds no long position to close (its fills net to {own:g})"
    if account - own < max(others, 0.0) - 1e-9:
        return (
            f"{symbol}: exit refused: the account holds {account:g}, this strategy's fills {own:g} and other "
            f"strategies' fills {max(others, 0.0):g}; selling {own:g} would take shares that are not this "
            "strategy's (reconcile the ledger with the account first)"
        )
    return ""


def reconciliation(symbol: str, by_strategy: dict[str, float], account: float) -> str:
    """A mismatch between the ledger's strategies and the account ('' when the account covers them).

    More in the account than the strategies hold is the trader's own (manual) holding and fine.
    """
    total = sum(q for q in by_strategy.values())
    if account + 1e-9 < total or (account < 0 <= total):
        parts = ", ".join(f"{s} {q:g}" for s, q in sorted(by_strategy.items()) if q)
        return f"{symbol}: ledger says strategies hold {total:g} ({parts or 'none'}) but the account holds {account:g}"
    return ""


def position_summary(position: StrategyPosition | None, last_close: float, working: list[str]) -> str:
    """What the analyst is told the strategy holds in the symbol: its own shares, their cost and open P&L at the
    last close, and its working orders (an analyst that does not know the position cannot judge an exit)."""
    quantity = position.quantity if position else 0.0
    if not quantity:
        held = "flat: this strategy holds no shares"
    else:
        side = "long" if quantity > 0 else "short"
        cost = position.average_cost  # type: ignore[union-attr]
        pnl = (last_close - cost) * quantity
        held = (
            f"{side} {abs(quantity):g} shares at an average cost of {cost:.2f}; unrealized P&L {pnl:+,.2f} "
            f"({(last_close / cost - 1) * (1 if quantity > 0 else -1):+.1%}) at the last close {last_close:.2f}"
        )
    orders = f"working orders: {', '.join(working)}" if working else "no working orders"
    return f"{held}; {orders}"
