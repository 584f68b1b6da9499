"""Ledger against broker: record new fills, move each live order to the state IB reports.

An order IB does not know (no open order, completed order or execution under its orderRef) once
the grace period has passed is ``lost``: alerted, and no longer blocking its symbol. Waiting first
matters: an order just sent, or sent into a gateway that restarted, can take a moment to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.database.ledger import LOST, UNCONFIRMED, Ledger
from ibkr_pipeline.trading.executor import broker_book, reasons_of, record_executions, status_of

LOST_AFTER_S = 300.0


@dataclass
class Reconciliation:
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (orderRef, from, to)
    fills: list[tuple[str, str, str, float, float]] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def reconcile(client: IBKRClient, ledger: Ledger, lost_after_s: float = LOST_AFTER_S) -> Reconciliation:
    """Bring every live ledger order up to date with what IB reports."""
    result = Reconciliation(fills=record_executions(client, ledger))
    book = broker_book(client)
    now = ledger.clock()
    for row in ledger.open_orders():
        known = book.get(row.order_ref, [])
        if known:
            status = status_of(known)
            if status == "cancelled" and ledger.fills(exact_ref=row.order_ref):
                status = "filled"  # its entry filled on an earlier day, which IB no longer reports
            reason = reasons_of(known)
            detail = f"reconciled with the broker{': ' + reason if reason else ''}"
        else:
            silent_for = (now - row.updated_at).total_seconds()
            if silent_for < lost_after_s:
                continue
            if ledger.fills(exact_ref=row.order_ref):
                status, detail = "filled", "IB no longer reports it (executions are day-scoped); its fills are recorded"
            else:
                status = LOST
                was = "sent and never acknowledged" if row.status == UNCONFIRMED else "last seen working"
                detail = (
                    f"IB has no open order, completed order or execution under {row.order_ref} "
                    f"{silent_for:.0f} s after it was {was}; it no longer blocks {row.symbol}: check the "
                    "account in TWS before trading it again"
                )
        if status != row.status:
            ledger.set_status(row.order_ref, status, detail)
            result.changes.append((row.order_ref, row.status, status))
            if status == "rejected":
                result.rejects.append(row.order_ref)
            if status == LOST:
                result.lost.append(row.order_ref)
    return result
