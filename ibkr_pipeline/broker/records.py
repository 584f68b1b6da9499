"""IB's objects parsed into the project's records at the broker boundary: nothing past ``broker/`` reads an
ib_async object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PortfolioLine:
    """One position as IB's portfolio reports it, with IB's own mark and P&L."""

    symbol: str
    position: float
    average_cost: float
    market_price: float
    market_value: float
    unrealized_pnl: float
    realized_pnl: float


def portfolio_line(item: Any) -> PortfolioLine:
    """From an ib_async ``PortfolioItem``."""
    return PortfolioLine(
        symbol=item.contract.symbol,
        position=float(item.position),
        average_cost=float(item.averageCost),
        market_price=float(item.marketPrice),
        market_value=float(item.marketValue),
        unrealized_pnl=float(item.unrealizedPNL),
        realized_pnl=float(item.realizedPNL),
    )
