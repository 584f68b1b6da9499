"""Keeps every order's audit record current: a new orderRef becomes a partition of ``order_audit`` and is
materialized; an order whose status or fills change is materialized again."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from ibkr_pipeline.assets.order_audit import ORDER_REFS, ORDER_REFS_NAME, order_audit_job
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.resources.database import DatabaseResource

RECENT = timedelta(days=7)  # older orders keep the record they have; ``ibkr-pipeline audit`` reads any


def audit_requests(ledger: Ledger, known: set[str], now: datetime) -> tuple[list[str], list[dg.RunRequest]]:
    """New partitions to add, and one run per order whose state (status, fills) has not been audited yet: the
    run key carries that state, so Dagster launches each state once."""
    fills = Counter(f.order_ref for f in ledger.fills())
    rows = [r for r in ledger.orders() if r.updated_at >= now - RECENT or r.order_ref not in known]
    new = [r.order_ref for r in rows if r.order_ref not in known]
    requests = [
        dg.RunRequest(run_key=f"{r.order_ref}|{r.status}|{fills[r.order_ref]}", partition_key=r.order_ref) for r in rows
    ]
    return new, requests


@dg.sensor(
    name="order_audits",
    job=order_audit_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds each new orderRef as a partition of order_audit and writes its record; writes it again "
    "when the order's status or fills change.",
)
def order_audits(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult | dg.SkipReason:
    ledger = database.ledger()
    known = set(context.instance.get_dynamic_partitions(ORDER_REFS_NAME))
    new, requests = audit_requests(ledger, known, datetime.now(UTC))
    if not requests:
        return dg.SkipReason("no orders")
    return dg.SensorResult(
        run_requests=requests, dynamic_partitions_requests=[ORDER_REFS.build_add_request(new)] if new else []
    )
