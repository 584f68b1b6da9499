"""Placing an order exactly once, whatever retries, re-executions, crashes or drops happen.

1. The intent is written to the ledger under its deterministic orderRef before anything is sent.
2. Before sending, the broker's open orders, completed orders and executions are searched for that
   orderRef: if IB already has it (a crash or a drop after placeOrder), it is adopted, not re-sent.
3. Only then is the bracket sent, and the ledger updated with IB's ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ib_async import Trade

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.store.ledger import TERMINAL, Ledger

log = logging.getLogger("ibkr_pipeline.trading")


@dataclass(frozen=True)
class Placement:
    order_ref: str
    outcome: str  # placed | adopted | already_done | dry_run | blocked | rejected
    status: str
    order_ids: tuple[int, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class BrokerOrder:
    order_ref: str
    order_id: int
    perm_id: int
    status: str


def broker_orders(client: IBKRClient, order_ref: str) -> list[BrokerOrder]:
    """Everything IB knows under an orderRef: open, completed, or only as executions."""
    found: dict[int, BrokerOrder] = {}
    for trade in client.open_trades() + client.completed_trades():
        if trade.order.orderRef == order_ref:
            found[trade.order.permId] = BrokerOrder(order_ref, trade.order.orderId, trade.order.permId,
                                                    trade.orderStatus.status)
    for fill in client.executions():
        e = fill.execution
        if e.orderRef == order_ref and e.permId not in found:
            found[e.permId] = BrokerOrder(order_ref, e.orderId, e.permId, "Filled")
    return list(found.values())


def status_of(orders: list[BrokerOrder]) -> str:
    """The ledger status of an order group (a bracket is done when every leg is)."""
    statuses = {o.status for o in orders}
    if statuses <= {"Filled", "Cancelled", "ApiCancelled", "Inactive"}:
        return "filled" if "Filled" in statuses else "cancelled"
    return "working"


def place_exactly_once(
    client: IBKRClient,
    ledger: Ledger,
    intent: OrderIntent,
    contract: ContractInfo,
    blocked_reason: str = "",
    before_send: Callable[[], None] | None = None,
) -> Placement:
    """Send ``intent`` unless the ledger or the broker shows it was already sent."""
    existing = ledger.get(intent.order_ref)
    if blocked_reason and (existing is None or existing.status not in TERMINAL | {"working"}):
        status = "dry_run" if intent.mode == "dry_run" else "blocked"
        if existing is None:
            ledger.record_intent(intent, status=status, error=blocked_reason)
        else:
            ledger.set_status(intent.order_ref, status, blocked_reason)
        return Placement(intent.order_ref, status, status, detail=blocked_reason)
    if existing is not None and existing.status in TERMINAL | {"working"}:
        return Placement(intent.order_ref, "already_done", existing.status,
                         tuple(int(i) for i in existing.broker_order_ids.split(",") if i))
    if existing is None:
        ledger.record_intent(intent)
    known = broker_orders(client, intent.order_ref)
    if known:
        status = status_of(known)
        ledger.set_status(intent.order_ref, status, "adopted from the broker after an interrupted placement",
                          [o.order_id for o in known], [o.perm_id for o in known])
        log.warning("%s was already at the broker; adopted, not re-sent", intent.order_ref)
        return Placement(intent.order_ref, "adopted", status, tuple(o.order_id for o in known))
    if before_send is not None:
        before_send()
    trades = _send(client, intent, contract)
    client.sleep(0.2)
    rejected = [t for t in trades if any(e.errorCode == 201 for e in t.log)]
    ids = [t.order.orderId for t in trades]
    if rejected:
        message = next(e.message for t in rejected for e in t.log if e.errorCode == 201)
        ledger.set_status(intent.order_ref, "rejected", message, ids)
        return Placement(intent.order_ref, "placed", "rejected", tuple(ids), message)
    ledger.set_status(intent.order_ref, "working", "sent", ids, [t.order.permId for t in trades])
    return Placement(intent.order_ref, "placed", "working", tuple(ids))


def _send(client: IBKRClient, intent: OrderIntent, contract: ContractInfo) -> list[Trade]:
    if intent.is_bracket:
        return client.place_bracket(
            contract, intent.action, intent.quantity,
            intent.limit_price if intent.entry_type == "LMT" else None,
            take_profit=intent.take_profit, stop_loss=intent.stop_loss,  # type: ignore[arg-type]
            order_ref=intent.order_ref, tif=intent.tif, outside_rth=intent.outside_rth,
        )
    from ib_async import LimitOrder, MarketOrder

    order = (LimitOrder(intent.action, intent.quantity, intent.limit_price) if intent.entry_type == "LMT"
             else MarketOrder(intent.action, intent.quantity))
    order.orderRef, order.tif, order.outsideRth = intent.order_ref, intent.tif, intent.outside_rth
    if client.settings.account:
        order.account = client.settings.account
    return [client.place_order(contract, order)]
