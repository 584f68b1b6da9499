"""What one order-tracking pass reports, decided apart from Dagster: the sensor (sensors/order_tracking.py) turns
the report into asset observations, an alert, a failed evaluation and a run request, in that order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from ibkr_pipeline.trading.reconcile import Reconciliation

LOST_TITLE = "ibkr_pipeline: orders lost: IB does not know them"


@dataclass(frozen=True)
class Observation:
    """One line of an order's history: a status change or a fill, observed on its strategy's orders asset."""

    order_ref: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class TrackingReport:
    observations: list[Observation] = field(default_factory=list)
    lost_alert: list[str] = field(default_factory=list)  # one line per lost order; empty: no alert
    failure: str = ""  # rejected or lost orders: the evaluation fails, so the sensor shows red
    run_key: str = ""  # a portfolio snapshot is called for (a new fill, or a status change)
    cursor: str | None = None  # the newest fill's execId, when it moved past the cursor
    skip: str = ""  # why no snapshot is called for


def tracking_report(
    result: Reconciliation | None, lost_errors: dict[str, str], latest_fill: str, cursor: str | None
) -> TrackingReport:
    """``result``: this pass's reconciliation (None when no order was live); ``lost_errors``: the ledger's
    error of each lost order; ``latest_fill``: the execId of the ledger's newest fill ('' when none).

    A failing pass leaves the cursor where it was, so the snapshot its fills call for is requested by the next
    evaluation, even when no live order is left by then."""
    tracking = result is not None
    result = result or Reconciliation()
    observations = [Observation(ref, {"order_ref": ref, "from": old, "to": new}) for ref, old, new in result.changes]
    observations += [
        Observation(ref, {"order_ref": ref, "fill": exec_id, "side": side, "shares": shares, "price": price})
        for ref, exec_id, side, shares, price in result.fills
    ]
    lost_alert = [f"{ref}: {lost_errors.get(ref, 'not in the ledger')}" for ref in result.lost]
    failure = "; ".join(
        part
        for part in (
            f"orders rejected by IB: {', '.join(result.rejects)}" if result.rejects else "",
            f"orders lost (IB does not know them): {', '.join(result.lost)}" if result.lost else "",
        )
        if part
    )
    report = TrackingReport(observations, lost_alert, failure)
    if failure:
        return report
    if latest_fill and latest_fill != cursor:
        return replace(report, run_key=f"fills-{latest_fill}", cursor=latest_fill)
    if result.changes:
        changed = hashlib.sha256(repr(sorted(result.changes)).encode()).hexdigest()[:16]
        return replace(report, run_key=f"status-{changed}")
    return replace(report, skip="no status change, no new fills" if tracking else "no live orders to track")
