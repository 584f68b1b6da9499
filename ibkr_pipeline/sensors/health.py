"""The health sensor: gateway, object store and LLM endpoint, as an asset check in the UI and alerts on change."""

import json

import dagster as dg

from ibkr_pipeline.database.engine import data_dir
from ibkr_pipeline.domain.health import ComponentHealth, changes
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline.trading.guards import kill_switch_reason

HEALTH_KEY = dg.AssetKey("system_health")
CHECK = "all_parts_answer"

system_health = dg.AssetSpec(
    HEALTH_KEY,
    description="What the health sensor saw last: the IB gateway (down, or connected but silent as around IB's "
    "nightly restart), the object store (write and read back), the LLM endpoint, and the kill switch "
    "(`ibkr-pipeline kill-switch on|off|status`).",
    group_name="operations",
    kinds={"python"},
)


def kill_switch_health(database: DatabaseResource) -> ComponentHealth:
    """The kill switch as every process reads it (environment, file, project database)."""
    reason = kill_switch_reason(data_dir(), database.kill_switch())
    return ComponentHealth("kill_switch", "engaged" if reason else "ok", reason or "off: orders may be sent")


def probe_all(
    ibkr: IBKRResource, database: DatabaseResource, objects: ObjectStoreResource, llm: LLMResource
) -> tuple[list[ComponentHealth], dict]:
    results = [ibkr.probe(), objects.probe(), llm.probe(), kill_switch_health(database)]
    metadata: dict[str, dg.MetadataValue] = {
        c.component: dg.MetadataValue.text(f"{c.status}: {c.detail}") for c in results
    }
    metadata |= {
        f"{c.component}_latency_ms": dg.MetadataValue.float(float(c.latency_ms))
        for c in results
        if c.latency_ms is not None
    }
    return results, metadata


@dg.asset_check(
    asset=HEALTH_KEY,
    name=CHECK,
    description="Every part a tick needs answers (also run by the health "
    "sensor every minute; execute it here to look now).",
)
def all_parts_answer(
    ibkr: IBKRResource, database: DatabaseResource, objects: ObjectStoreResource, llm: LLMResource
) -> dg.AssetCheckResult:
    results, metadata = probe_all(ibkr, database, objects, llm)
    return dg.AssetCheckResult(
        passed=all(c.healthy for c in results), metadata=metadata, severity=dg.AssetCheckSeverity.ERROR
    )


@dg.sensor(
    name="health",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Probes the gateway, object store and LLM endpoint every minute; alerts when one changes state.",
)
def health(
    context: dg.SensorEvaluationContext,
    ibkr: IBKRResource,
    database: DatabaseResource,
    objects: ObjectStoreResource,
    llm: LLMResource,
    alerts: AlertWebhook,
):
    results, metadata = probe_all(ibkr, database, objects, llm)
    healthy = all(c.healthy for c in results)
    context.instance.report_runless_asset_event(dg.AssetObservation(asset_key=HEALTH_KEY, metadata=metadata))
    context.instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=HEALTH_KEY,
            check_name=CHECK,
            passed=healthy,
            metadata=metadata,
            severity=dg.AssetCheckSeverity.ERROR,
        )
    )
    changed = changes(json.loads(context.cursor or "{}"), results)
    if changed:
        alerts.send(
            "ibkr_pipeline: health changed" if healthy else "ibkr_pipeline: a part is unhealthy",
            [f"{c.component}: {c.status} ({c.detail})" for c in changed],
        )
    context.update_cursor(json.dumps({c.component: c.status for c in results}))
    summary = "; ".join(f"{c.component} {c.status}" for c in results)
    return dg.SkipReason(summary if healthy else f"UNHEALTHY: {summary}")
