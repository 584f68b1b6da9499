"""Every failed run, with its strategy, partition and error, to the alert webhook."""

import dagster as dg

from ibkr_pipeline.resources.alerts import AlertWebhook


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts each failed run to the alert webhook (IBKR_PIPELINE_ALERT_WEBHOOK).",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alerts: AlertWebhook):
    run = context.dagster_run
    lines = [f"job {run.job_name}, run {run.run_id}"]
    for tag in ("strategy", "dagster/partition", "dagster/backfill"):
        if run.tags.get(tag):
            lines.append(f"{tag.split('/')[-1]}: {run.tags[tag]}")
    lines.append(f"error: {context.failure_event.message}")
    alerts.send(f"ibkr_pipeline: run failed ({run.job_name})", lines)
