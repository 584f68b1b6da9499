"""Order tracking: reconcile the ledger's live orders with the broker, record fills, surface rejects."""

import hashlib

import dagster as dg

from ibkr_pipeline import settings as env
from ibkr_pipeline.assets.portfolio import portfolio_job
from ibkr_pipeline.domain.orders import strategy_of
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.trading.reconcile import reconcile

INTERVAL_S = int(env.ORDER_TRACKING_S.read())


@dg.sensor(
    name="order_tracking",
    minimum_interval_seconds=INTERVAL_S,
    job=portfolio_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reconciles live orders with IB, records fills, marks orders IB does not know as lost, "
    "snapshots the portfolio after fills.",
)
def order_tracking(
    context: dg.SensorEvaluationContext, ibkr: IBKRResource, database: DatabaseResource, alerts: AlertWebhook
):
    ledger = database.ledger()
    changes: list[tuple[str, str, str]] = []
    tracking = bool(ledger.open_orders())
    if tracking:
        with ibkr.get_client(database) as client:
            result = reconcile(client, ledger)
        changes = result.changes
        for ref, old, new in result.changes:
            context.instance.report_runless_asset_event(
                dg.AssetObservation(
                    asset_key=dg.AssetKey([strategy_of(ref), "orders"]),
                    metadata={"order_ref": ref, "from": old, "to": new},
                )
            )
        for ref, exec_id, side, shares, price in result.fills:
            context.instance.report_runless_asset_event(
                dg.AssetObservation(
                    asset_key=dg.AssetKey([strategy_of(ref), "orders"]),
                    metadata={"order_ref": ref, "fill": exec_id, "side": side, "shares": shares, "price": price},
                )
            )
        if result.lost:
            alerts.send(
                "ibkr_pipeline: orders lost: IB does not know them",
                [f"{ref}: {row.error if (row := ledger.get(ref)) else 'not in the ledger'}" for ref in result.lost],
            )
        if result.rejects or result.lost:
            # The sensor goes red; the snapshot its fills call for is requested by the next evaluation (the
            # cursor below has not moved), even when no live order is left by then.
            raise dg.Failure(
                description="; ".join(
                    part
                    for part in (
                        f"orders rejected by IB: {', '.join(result.rejects)}" if result.rejects else "",
                        f"orders lost (IB does not know them): {', '.join(result.lost)}" if result.lost else "",
                    )
                    if part
                )
            )
    # Ticks record their own fills too: a snapshot (and with it the orders, fills and P&L tables) follows
    # whatever fill is newest since the last one, and any status change seen here.
    fills = ledger.fills()
    latest = fills[-1].exec_id if fills else ""
    if latest and latest != context.cursor:
        context.update_cursor(latest)
        return dg.RunRequest(run_key=f"fills-{latest}")
    if changes:
        changed = hashlib.sha256(repr(sorted(changes)).encode()).hexdigest()[:16]
        return dg.RunRequest(run_key=f"status-{changed}")
    return dg.SkipReason("no status change, no new fills" if tracking else "no live orders to track")
