"""Placing an order exactly once, whatever retries, re-executions, crashes or drops happen.

1. The intent is written to the ledger under its deterministic orderRef before anything is sent.
2. Before sending, the broker's open orders, completed orders and executions are searched for that
   orderRef: if IB already has it (a crash or a drop after placeOrder), it is adopted, not re-sent,
   but only when its contract, side and quantity are the intent's; anything else is a conflict
   for a person, never an adoption.
3. The guard (kill switch) is read again right before the exit's cancels and right before the send.
4. Only then is the bracket sent, and the ledger updated with IB's ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ib_async import Trade

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.store.ledger import NOT_TO_SEND, Ledger

log = logging.getLogger("ibkr_pipeline.trading")


@dataclass(frozen=True)
class Placement:
    order_ref: str
    outcome: str  # placed | adopted | already_done | dry_run | blocked | conflict
    status: str
    order_ids: tuple[int, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class BrokerOrder:
    order_ref: str
    order_id: int
    perm_id: int
    status: str
    con_id: int = 0
    action: str = ""
    quantity: float = 0.0
    parent_id: int = 0
    reason: str = ""  # IB's message when it rejected the order


def broker_book(client: IBKRClient) -> dict[str, list[BrokerOrder]]:
    """Everything IB knows, by orderRef: open, completed, or only as executions (three requests in all)."""
    found: dict[str, dict[int, BrokerOrder]] = {}
    open_and_done = client.open_trades() + client.completed_trades()
    reasons = {t.order.permId: e.message for t in client.session_trades() for e in t.log if e.errorCode == 201}
    for trade in open_and_done:
        o = trade.order
        if o.orderRef:
            found.setdefault(o.orderRef, {})[o.permId] = BrokerOrder(
                o.orderRef, o.orderId, o.permId, trade.orderStatus.status, trade.contract.conId, o.action,
                float(o.totalQuantity), o.parentId, reasons.get(o.permId, ""))
    for fill in client.executions():
        e = fill.execution
        if e.orderRef and e.permId not in found.get(e.orderRef, {}):
            found.setdefault(e.orderRef, {})[e.permId] = BrokerOrder(
                e.orderRef, e.orderId, e.permId, "Filled", fill.contract.conId, "BUY" if e.side == "BOT" else "SELL",
                float(e.cumQty or e.shares))
    return {ref: list(orders.values()) for ref, orders in found.items()}


def broker_orders(client: IBKRClient, order_ref: str) -> list[BrokerOrder]:
    """Everything IB knows under one orderRef."""
    return broker_book(client).get(order_ref, [])


def record_executions(client: IBKRClient, ledger: Ledger) -> list[tuple[str, str, str, float, float]]:
    """Record every execution of an order in the ledger (keyed by execId); the new ones are returned.

    A commission report that arrives after its execution updates the fill recorded without it.
    """
    new = []
    for fill in client.executions():
        e = fill.execution
        if not e.orderRef or ledger.get(e.orderRef) is None:
            continue
        report = fill.commissionReport
        side = "BUY" if e.side == "BOT" else "SELL" if e.side == "SLD" else e.side
        if ledger.record_fill(e.execId, e.orderRef, fill.contract.symbol, side, e.shares, e.price,
                              report.commission if report else 0.0, report.realizedPNL if report else 0.0, e.time):
            new.append((e.orderRef, e.execId, side, e.shares, e.price))
    return new


def adoption_mismatch(intent: OrderIntent, known: list[BrokerOrder]) -> str:
    """Why the orders IB holds under the intent's orderRef are not the intent ('' when they are)."""
    entries = [o for o in known if o.parent_id == 0 and o.action == intent.action] or \
              [o for o in known if o.action == intent.action]
    problems = []
    if not entries:
        sides = sorted({o.action for o in known})
        problems.append(f"no {intent.action} order (IB has {', '.join(sides) or 'nothing readable'})")
    for o in entries:
        if o.con_id and o.con_id != intent.con_id:
            problems.append(f"order {o.order_id} is on conId {o.con_id}, the intent on {intent.con_id} ({intent.symbol})")
        if o.quantity and abs(o.quantity - intent.quantity) > 1e-9 and o.status != "Filled":
            problems.append(f"order {o.order_id} is for {o.quantity:g} shares, the intent for {intent.quantity}")
        elif o.quantity > intent.quantity + 1e-9:
            problems.append(f"order {o.order_id} filled {o.quantity:g} shares, the intent is for {intent.quantity}")
    return "; ".join(problems)


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
    before_send: Callable[[], str] | None = None,
    guard: Callable[[], str] | None = None,
) -> Placement:
    """Send ``intent`` unless the ledger or the broker shows it was already sent.

    ``guard`` says why nothing may be sent right now (the kill switch); it is read again immediately
    before ``before_send`` (an exit's cancels) and before the send. ``before_send`` may refuse with a reason.
    """
    existing = ledger.get(intent.order_ref)
    if blocked_reason and (existing is None or existing.status not in NOT_TO_SEND):
        return _block(ledger, intent, existing, blocked_reason)
    if existing is not None and existing.status in NOT_TO_SEND:
        return Placement(intent.order_ref, "already_done", existing.status,
                         tuple(int(i) for i in existing.broker_order_ids.split(",") if i))
    if existing is None:
        ledger.record_intent(intent)
    else:
        ledger.refresh_intent(intent)
    known = broker_orders(client, intent.order_ref)
    if known:
        mismatch = adoption_mismatch(intent, known)
        ids, perms = [o.order_id for o in known], [o.perm_id for o in known]
        if mismatch:
            detail = f"IB already holds orders under {intent.order_ref} that are not this intent: {mismatch}"
            ledger.set_status(intent.order_ref, "conflict", detail, ids, perms)
            log.error("%s", detail)
            return Placement(intent.order_ref, "conflict", "conflict", tuple(ids), detail)
        status = status_of(known)
        ledger.set_status(intent.order_ref, status, "adopted from the broker after an interrupted placement", ids, perms)
        log.warning("%s was already at the broker; adopted, not re-sent", intent.order_ref)
        return Placement(intent.order_ref, "adopted", status, tuple(ids))
    for step in (guard, before_send, guard):
        reason = step() if step is not None else ""
        if reason:
            return _block(ledger, intent, ledger.get(intent.order_ref), reason)
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


def _block(ledger: Ledger, intent: OrderIntent, existing, reason: str) -> Placement:
    status = "dry_run" if intent.mode == "dry_run" else "blocked"
    if existing is None:
        ledger.record_intent(intent, status=status, error=reason)
    else:
        ledger.refresh_intent(intent)
        ledger.set_status(intent.order_ref, status, reason)
    return Placement(intent.order_ref, status, status, detail=reason)


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
