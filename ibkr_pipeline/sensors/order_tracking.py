"""Order tracking: reconcile the ledger's live orders with the broker, record fills, surface rejects (what a pass
reports is decided in ``trading.tracking``)."""

import dagster as dg

from ibkr_pipeline import settings as env
from ibkr_pipeline.assets.portfolio import portfolio_job
from ibkr_pipeline.domain.orders import strategy_of
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.trading.reconcile import reconcile
from ibkr_pipeline.trading.tracking import LOST_TITLE, tracking_report

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
    result = None
    if ledger.open_orders():
        with ibkr.get_client(database) as client:
            result = reconcile(client, ledger)
    # Ticks record their own fills too: a snapshot (and with it the orders, fills and P&L tables) follows
    # whatever fill is newest since the last one, and any status change seen here.
    fills = ledger.fills()
    lost = result.lost if result else []
    report = tracking_report(
        result,
        {ref: row.error for ref in lost if (row := ledger.get(ref)) is not None},
        fills[-1].exec_id if fills else "",
        context.cursor,
    )
    for seen in report.observations:
        context.instance.report_runless_asset_event(
            dg.AssetObservation(asset_key=dg.AssetKey([strategy_of(seen.order_ref), "orders"]), metadata=seen.metadata)
        )
    if report.lost_alert:
        alerts.send(LOST_TITLE, report.lost_alert)
    if report.failure:
        raise dg.Failure(description=report.failure)
    if report.cursor is not None:
        context.update_cursor(report.cursor)
    return dg.RunRequest(run_key=report.run_key) if report.run_key else dg.SkipReason(report.skip)
