"""IB's objects parsed into the project's records at the broker boundary: nothing past ``broker/`` reads an
ib_async object."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class BrokerOrder:
    """One order as IB reports it, by the orderRef the pipeline gave it."""

    order_ref: str
    order_id: int
    perm_id: int
    status: str
    con_id: int = 0
    action: str = ""
    quantity: float = 0.0
    parent_id: int = 0
    reason: str = ""  # IB's message when it rejected the order (error 201)
    done: bool = False  # filled, cancelled or rejected: nothing more will happen to it


def broker_order(trade: Any) -> BrokerOrder:
    """From an ib_async ``Trade``, with IB's reason when it rejected the order."""
    o = trade.order
    reason = next((e.message for e in trade.log if e.errorCode == 201), "")
    return BrokerOrder(
        o.orderRef,
        o.orderId,
        o.permId,
        trade.orderStatus.status,
        trade.contract.conId,
        o.action,
        float(o.totalQuantity),
        o.parentId,
        reason,
        trade.isDone(),
    )


@dataclass(frozen=True)
class Execution:
    """One execution of one order (keyed by IB's execId), with its commission once IB has reported it."""

    exec_id: str
    order_ref: str
    order_id: int
    perm_id: int
    con_id: int
    symbol: str
    side: str  # BUY or SELL
    shares: float
    cumulative: float
    price: float
    commission: float
    realized_pnl: float
    time: datetime


def execution(fill: Any) -> Execution:
    """From an ib_async ``Fill`` (its execution, contract and, when it has come, commission report)."""
    e, report = fill.execution, fill.commissionReport
    side = "BUY" if e.side == "BOT" else "SELL" if e.side == "SLD" else e.side
    return Execution(
        e.execId,
        e.orderRef,
        e.orderId,
        e.permId,
        fill.contract.conId,
        fill.contract.symbol,
        side,
        float(e.shares),
        float(e.cumQty or e.shares),
        float(e.price),
        float(report.commission) if report else 0.0,
        float(report.realizedPNL) if report else 0.0,
        e.time,
    )


@dataclass(frozen=True)
class Position:
    """What the account holds of one contract, as IB's positions report it."""

    symbol: str
    con_id: int
    quantity: float
    average_cost: float


def position(item: Any) -> Position:
    """From an ib_async ``Position``."""
    return Position(item.contract.symbol, item.contract.conId, float(item.position), float(item.avgCost))
