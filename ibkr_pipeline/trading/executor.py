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
from dataclasses import dataclass, replace

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.broker.records import BrokerOrder
from ibkr_pipeline.database.claims import PROCESS_OWNER, Claims, Holder, Lease
from ibkr_pipeline.database.ledger import NEVER_SENT, NOT_TO_SEND, UNCONFIRMED, Ledger
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.orders import OrderIntent, group_status

log = logging.getLogger("ibkr_pipeline.trading")


@dataclass(frozen=True)
class Placement:
    order_ref: str
    outcome: str  # placed | adopted | already_done | dry_run | blocked | conflict | unconfirmed | claimed_elsewhere
    status: str
    order_ids: tuple[int, ...] = ()
    detail: str = ""


def broker_book(client: IBKRClient) -> dict[str, list[BrokerOrder]]:
    """Everything IB knows, by orderRef: open, completed, or only as executions (three requests in all)."""
    found: dict[str, dict[int, BrokerOrder]] = {}
    reasons = {o.perm_id: o.reason for o in client.seen_orders() if o.reason}  # a 201 is in the sender's log only
    for o in client.open_orders() + client.completed_orders():
        if o.order_ref:
            found.setdefault(o.order_ref, {})[o.perm_id] = replace(o, reason=reasons.get(o.perm_id, o.reason))
    for e in client.executions():
        if e.order_ref and e.perm_id not in found.get(e.order_ref, {}):
            found.setdefault(e.order_ref, {})[e.perm_id] = BrokerOrder(
                e.order_ref, e.order_id, e.perm_id, "Filled", e.con_id, e.side, e.cumulative, done=True
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
    for e in client.executions():
        if not e.order_ref or ledger.get(e.order_ref) is None:
            continue
        if ledger.record_fill(
            e.exec_id, e.order_ref, e.symbol, e.side, e.shares, e.price, e.commission, e.realized_pnl, e.time
        ):
            new.append((e.order_ref, e.exec_id, e.side, e.shares, e.price))
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
    sent = client.place_intent(intent, contract)
    return _confirm(client, ledger, intent, sent, policy)


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
    left = [o for o in client.seen_orders() if o.order_ref == order_ref and not o.done]
    for order in left:
        with contextlib.suppress(Exception):
            client.cancel(order)
    return [o.order_id for o in left]


def _confirm(
    client: IBKRClient, ledger: Ledger, intent: OrderIntent, sent: list[BrokerOrder], policy: PlacementPolicy
) -> Placement:
    """Working only once IB acknowledged every leg; a reject is IB's reason; silence is ``unconfirmed``."""
    ids = [o.order_id for o in sent]
    deadline = time.monotonic() + policy.confirm_s
    while True:
        legs = client.sent_orders(ids)
        rejected = [o for o in legs if o.reason]
        acknowledged = len(legs) == len(ids) and all(o.status not in ("PendingSubmit", "ApiPending", "") for o in legs)
        if rejected or acknowledged or not client.connected or time.monotonic() >= deadline:
            break
        with contextlib.suppress(ConnectionError):
            client.sleep(0.05)
    if rejected:
        message = rejected[0].reason
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
    ledger.set_status(intent.order_ref, "working", "sent and acknowledged by IB", ids, [o.perm_id for o in legs])
    return Placement(intent.order_ref, "placed", "working", tuple(ids))


def _block(ledger: Ledger, intent: OrderIntent, existing, reason: str) -> Placement:
    status = "dry_run" if intent.mode == "dry_run" else "blocked"
    if existing is None:
        ledger.record_intent(intent, status=status, error=reason)
    else:
        ledger.refresh_intent(intent)
        ledger.set_status(intent.order_ref, status, reason)
    return Placement(intent.order_ref, status, status, detail=reason)
