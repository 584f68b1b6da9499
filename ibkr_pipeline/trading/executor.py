"""Placing an order exactly once, whatever retries, re-executions, crashes or drops happen.

1. One execution at a time holds the orderRef's claim (a lease in the project database); another waits
   for its outcome. The intent is written to the ledger under its deterministic orderRef.
2. Before sending, the broker's open orders, completed orders and executions are searched for that
   orderRef: if IB already has it (a crash or a drop after placeOrder), it is adopted, not re-sent,
   but only when its contract, side and quantity are the intent's; anything else is a conflict
   for a person, never an adoption.
3. The guard (kill switch) is read again right before the exit's cancels and right before the send.
4. Only then is the bracket sent (the intent is ``unconfirmed`` from just before), and it is ``working``
   once IB has acknowledged every leg; otherwise it stays ``unconfirmed`` until a search of the broker
   adopts it, or finds nothing after a grace period and sends it again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ib_async import Trade

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.orders import OrderIntent, group_status
from ibkr_pipeline.store.claims import PROCESS_OWNER, Claims, Holder, Lease
from ibkr_pipeline.store.ledger import NEVER_SENT, NOT_TO_SEND, UNCONFIRMED, Ledger

log = logging.getLogger("ibkr_pipeline.trading")


@dataclass(frozen=True)
class Placement:
    order_ref: str
    outcome: str  # placed | adopted | already_done | dry_run | blocked | conflict | unconfirmed | claimed_elsewhere
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
                o.orderRef,
                o.orderId,
                o.permId,
                trade.orderStatus.status,
                trade.contract.conId,
                o.action,
                float(o.totalQuantity),
                o.parentId,
                reasons.get(o.permId, ""),
            )
    for fill in client.executions():
        e = fill.execution
        if e.orderRef and e.permId not in found.get(e.orderRef, {}):
            found.setdefault(e.orderRef, {})[e.permId] = BrokerOrder(
                e.orderRef,
                e.orderId,
                e.permId,
                "Filled",
                fill.contract.conId,
                "BUY" if e.side == "BOT" else "SELL",
                float(e.cumQty or e.shares),
            )
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
        if ledger.record_fill(
            e.execId,
            e.orderRef,
            fill.contract.symbol,
            side,
            e.shares,
            e.price,
            report.commission if report else 0.0,
            report.realizedPNL if report else 0.0,
            e.time,
        ):
            new.append((e.orderRef, e.execId, side, e.shares, e.price))
    return new


def adoption_mismatch(intent: OrderIntent, known: list[BrokerOrder]) -> str:
    """Why the orders IB holds under the intent's orderRef are not the intent ('' when they are)."""
    entries = [o for o in known if o.parent_id == 0 and o.action == intent.action] or [
        o for o in known if o.action == intent.action
    ]
    problems = []
    if not entries:
        sides = sorted({o.action for o in known})
        problems.append(f"no {intent.action} order (IB has {', '.join(sides) or 'nothing readable'})")
    for o in entries:
        if o.con_id and o.con_id != intent.con_id:
            problems.append(
                f"order {o.order_id} is on conId {o.con_id}, the intent on {intent.con_id} ({intent.symbol})"
            )
        if o.quantity and abs(o.quantity - intent.quantity) > 1e-9 and o.status != "Filled":
            problems.append(f"order {o.order_id} is for {o.quantity:g} shares, the intent for {intent.quantity}")
        elif o.quantity > intent.quantity + 1e-9:
            problems.append(f"order {o.order_id} filled {o.quantity:g} shares, the intent is for {intent.quantity}")
    return "; ".join(problems)


def status_of(orders: list[BrokerOrder]) -> str:
    """The ledger status of an order group (a bracket is done when every leg is)."""
    return group_status({o.status for o in orders})


@dataclass(frozen=True)
class PlacementPolicy:
    """How long placement waits for IB and for other executions (seconds)."""

    confirm_s: float = 10.0  # every leg acknowledged (openOrder/orderStatus) within this, else "unconfirmed"
    resend_grace_s: float = 60.0  # an unconfirmed intent IB still has nothing of after this is sent again
    claim_lease_s: float = 300.0  # the orderRef's claim; renewed right before the send
    claim_wait_s: float = 30.0  # a second execution waits this long for the first one's outcome


DEFAULT_POLICY = PlacementPolicy()


def reasons_of(orders: list[BrokerOrder]) -> str:
    """IB's own words for what it did to an order group (a reject's reason), '' when it said nothing."""
    return "; ".join(o.reason for o in orders if o.reason)


def place_exactly_once(
    client: IBKRClient,
    ledger: Ledger,
    intent: OrderIntent,
    contract: ContractInfo,
    blocked_reason: str = "",
    before_send: Callable[[], str] | None = None,
    guard: Callable[[], str] | None = None,
    policy: PlacementPolicy = DEFAULT_POLICY,
    owner: str = PROCESS_OWNER,
) -> Placement:
    """Send ``intent`` unless the ledger or the broker shows it was already sent.

    Exactly one execution at a time holds the orderRef's claim; another waits for its outcome.
    ``guard`` says why nothing may be sent right now (the kill switch); it is read again immediately
    before ``before_send`` (an exit's cancels) and before the send. ``before_send`` may refuse with a reason.
    """
    claims = Claims(ledger.engine)
    key = f"order:{intent.order_ref}"
    holder = _wait_for_claim(client, claims, key, owner, policy)
    if holder is not None:
        existing = ledger.get(intent.order_ref)
        detail = (
            f"another execution ({holder.owner}) is placing {intent.order_ref} and was still at it after "
            f"{policy.claim_wait_s:g} s; this one sent nothing"
        )
        log.warning("%s", detail)
        return Placement(
            intent.order_ref, "claimed_elsewhere", existing.status if existing else "intent", detail=detail
        )
    try:
        return _place(
            client,
            ledger,
            intent,
            contract,
            blocked_reason,
            before_send,
            guard,
            policy,
            Lease(claims, key, owner, policy.claim_lease_s),
        )
    finally:
        claims.release(key, owner)


def _wait_for_claim(client: IBKRClient, claims: Claims, key: str, owner: str, policy: PlacementPolicy) -> Holder | None:
    deadline = time.monotonic() + policy.claim_wait_s
    while True:
        holder = claims.acquire(key, owner, policy.claim_lease_s)
        if holder is None or time.monotonic() >= deadline:
            return holder
        client.sleep(0.2)


def _place(
    client: IBKRClient,
    ledger: Ledger,
    intent: OrderIntent,
    contract: ContractInfo,
    blocked_reason: str,
    before_send: Callable[[], str] | None,
    guard: Callable[[], str] | None,
    policy: PlacementPolicy,
    lease: Lease,
) -> Placement:
    existing = ledger.get(intent.order_ref)
    if existing is not None and existing.status in NOT_TO_SEND:
        return Placement(
            intent.order_ref,
            "already_done",
            existing.status,
            tuple(int(i) for i in existing.broker_order_ids.split(",") if i),
        )
    if blocked_reason and (existing is None or existing.status in NEVER_SENT):
        return _block(ledger, intent, existing, blocked_reason)
    if existing is None:
        ledger.record_intent(intent)
    known = broker_orders(client, intent.order_ref)
    if known:
        return _adopt(client, ledger, intent, known)
    if existing is not None:
        ledger.refresh_intent(intent)  # never sent: it goes with this run's numbers
    if existing is not None and existing.status == UNCONFIRMED:
        waited = (ledger.clock() - existing.updated_at).total_seconds()
        if waited < policy.resend_grace_s:
            detail = (
                f"sent {waited:.0f} s ago and not yet acknowledged by IB, which has nothing under the ref; "
                f"it is sent again after {policy.resend_grace_s:g} s if IB still has nothing"
            )
            return Placement(intent.order_ref, "unconfirmed", UNCONFIRMED, detail=detail)
        left = _cancel_leftovers(client, intent.order_ref)
        log.warning(
            "%s: IB has nothing %.0f s after the send; sending again%s",
            intent.order_ref,
            waited,
            f" (cancelled {len(left)} untransmitted leg(s))" if left else "",
        )
        if blocked_reason:
            return _block(ledger, intent, existing, blocked_reason)
    for step in (guard, before_send, guard, lease.renew):
        reason = step() if step is not None else ""
        if reason:
            return _block(ledger, intent, ledger.get(intent.order_ref), reason)
    # From here the intent may be at IB: only a search of the broker can say otherwise.
    ledger.set_status(intent.order_ref, UNCONFIRMED, "sending")
    trades = _send(client, intent, contract)
    return _confirm(client, ledger, intent, trades, policy)


def _adopt(client: IBKRClient, ledger: Ledger, intent: OrderIntent, known: list[BrokerOrder]) -> Placement:
    mismatch = adoption_mismatch(intent, known)
    ids, perms = [o.order_id for o in known], [o.perm_id for o in known]
    if mismatch:
        detail = f"IB already holds orders under {intent.order_ref} that are not this intent: {mismatch}"
        ledger.set_status(intent.order_ref, "conflict", detail, ids, perms)
        log.error("%s", detail)
        return Placement(intent.order_ref, "conflict", "conflict", tuple(ids), detail)
    status = status_of(known)
    reason = reasons_of(known)
    ledger.set_status(
        intent.order_ref,
        status,
        "adopted from the broker after an interrupted placement" + (f": {reason}" if reason else ""),
        ids,
        perms,
    )
    record_executions(client, ledger)  # an adopted order's fills are ours too
    log.warning("%s was already at the broker; adopted, not re-sent", intent.order_ref)
    return Placement(intent.order_ref, "adopted", status, tuple(ids), reason)


def _cancel_leftovers(client: IBKRClient, order_ref: str) -> list[int]:
    """Legs this connection sent under the ref that IB never released (the transmitting leg was lost): cancel them,
    so a late transmit can never release them next to the new bracket."""
    left = [t for t in client.session_trades() if t.order.orderRef == order_ref and not t.isDone()]
    for trade in left:
        with contextlib.suppress(Exception):
            client.cancel(trade.order)
    return [t.order.orderId for t in left]


def _confirm(
    client: IBKRClient, ledger: Ledger, intent: OrderIntent, trades: list[Trade], policy: PlacementPolicy
) -> Placement:
    """Working only once IB acknowledged every leg; a reject is IB's reason; silence is ``unconfirmed``."""
    ids = [t.order.orderId for t in trades]
    deadline = time.monotonic() + policy.confirm_s
    while True:
        rejected = [t for t in trades if any(e.errorCode == 201 for e in t.log)]
        acknowledged = all(t.orderStatus.status not in ("PendingSubmit", "ApiPending", "") for t in trades)
        if rejected or acknowledged or not client.connected or time.monotonic() >= deadline:
            break
        with contextlib.suppress(ConnectionError):
            client.sleep(0.05)
    if rejected:
        message = next(e.message for t in rejected for e in t.log if e.errorCode == 201)
        ledger.set_status(intent.order_ref, "rejected", message, ids)
        return Placement(intent.order_ref, "placed", "rejected", tuple(ids), message)
    if not acknowledged:
        why = "the connection dropped" if not client.connected else f"no acknowledgement within {policy.confirm_s:g} s"
        detail = (
            f"sent as orders {ids}, but {why}: IB may or may not have them; the next execution or the "
            "order-tracking sensor searches IB by orderRef and adopts, re-sends or marks it lost"
        )
        ledger.set_status(intent.order_ref, UNCONFIRMED, detail, ids)
        log.error("%s: %s", intent.order_ref, detail)
        return Placement(intent.order_ref, "unconfirmed", UNCONFIRMED, tuple(ids), detail)
    ledger.set_status(intent.order_ref, "working", "sent and acknowledged by IB", ids, [t.order.permId for t in trades])
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
    if intent.take_profit is not None and intent.stop_loss is not None:  # a bracket
        return client.place_bracket(
            contract,
            intent.action,
            intent.quantity,
            intent.limit_price if intent.entry_type == "LMT" else None,
            take_profit=intent.take_profit,
            stop_loss=intent.stop_loss,
            order_ref=intent.order_ref,
            tif=intent.tif,
            outside_rth=intent.outside_rth,
        )
    from ib_async import LimitOrder, MarketOrder, Order

    order: Order = MarketOrder(intent.action, intent.quantity)
    if intent.entry_type == "LMT":
        if intent.limit_price is None:  # never sent as a market order instead
            raise ValueError(f"{intent.order_ref}: a LMT entry without a limit price")
        order = LimitOrder(intent.action, intent.quantity, intent.limit_price)
    order.orderRef, order.tif, order.outsideRth = intent.order_ref, intent.tif, intent.outside_rth
    if client.settings.account:
        order.account = client.settings.account
    return [client.place_order(contract, order)]
