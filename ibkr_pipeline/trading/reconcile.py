"""Ledger against broker: record new fills, move each live order to the state IB reports."""

from __future__ import annotations

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.store.ledger import Ledger
from ibkr_pipeline.trading.executor import broker_book, record_executions, status_of


def reconcile(client: IBKRClient, ledger: Ledger) -> dict[str, list]:
    """Bring every non-terminal ledger order up to date; returns changes, new fills and rejects."""
    changes, rejects = [], []
    new_fills = record_executions(client, ledger)
    book = broker_book(client)
    for row in ledger.open_orders():
        known = book.get(row.order_ref, [])
        if not known:
            continue
        status = status_of(known)
        if status == "cancelled" and ledger.fills(exact_ref=row.order_ref):
            status = "filled"  # its entry filled on an earlier day, which IB no longer reports
        if any(o.status == "Inactive" for o in known):
            status = "rejected"
        if status != row.status:
            reason = "; ".join(o.reason for o in known if o.reason)
            ledger.set_status(row.order_ref, status, f"reconciled with the broker{': ' + reason if reason else ''}")
            changes.append((row.order_ref, row.status, status))
            if status == "rejected":
                rejects.append(row.order_ref)
    return {"changes": changes, "fills": new_fills, "rejects": rejects}
