"""Health sensor, run-failure alerts and order-reject alerts, against real parts and a local webhook."""

import json
import logging
from datetime import UTC, datetime

import dagster as dg
import pytest

from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.kill_switch import KillSwitch
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline.sensors.health import CHECK, HEALTH_KEY, health
from ibkr_pipeline.sensors.run_failure import run_failure_alert
from ibkr_pipeline_tests.conftest import free_port, make_gateway
from ibkr_pipeline_tests.openai_server import FakeOpenAI
from ibkr_pipeline_tests.webhook_server import WebhookReceiver


@pytest.fixture
def webhook():
    with WebhookReceiver() as receiver:
        yield receiver


def evaluate(instance, resources: dict, cursor: str | None):
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        result = health(context)
        return result, context.cursor


def test_health_sees_a_silent_gateway_a_dead_one_and_recovery_and_alerts_on_each_change(tmp_path, webhook, monkeypatch):
    monkeypatch.setenv("IBKR_PIPELINE_HOME", str(tmp_path / "home"))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with make_gateway(pacing=False) as gw, FakeOpenAI() as llm_server, dg.instance_for_test() as instance:
        resources = {
            "ibkr": IBKRResource(port=gw.port, connect_timeout_s=2),
            "database": DatabaseResource(url=db),
            "objects": ObjectStoreResource(local_dir=str(tmp_path / "objects")),
            "llm": LLMResource(base_url=llm_server.base_url, api_key="sk-test-not-logged"),
            "alerts": AlertWebhook(url=webhook.url),
        }
        result, cursor = evaluate(instance, resources, None)
        assert result.skip_message == "gateway ok; object_store ok; llm ok; kill_switch ok"
        assert webhook.posts == []  # healthy on first sight: nothing to say
        [observation] = instance.fetch_observations(HEALTH_KEY, limit=1).records
        seen = observation.asset_observation.metadata
        assert seen["gateway"].value.startswith("ok: 127.0.0.1:") and "gateway_latency_ms" in seen
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(HEALTH_KEY, CHECK)]
        )[dg.AssetCheckKey(HEALTH_KEY, CHECK)]
        assert check.evaluation.passed

        gw.sim.faults.unresponsive = True  # connected, but answering nothing: IB's nightly restart
        result, cursor = evaluate(instance, resources, cursor)
        assert result.skip_message == "UNHEALTHY: gateway unresponsive; object_store ok; llm ok; kill_switch ok"
        assert "gateway: unresponsive" in webhook.texts()[-1] and "did not answer within 2 s" in webhook.texts()[-1]
        evaluate(instance, resources, cursor)
        assert len(webhook.posts) == 1, "an unchanged state is not re-alerted every minute"

        gw.sim.faults.clear()
        llm_server.models_status = 503
        result, cursor = evaluate(instance, resources, cursor)
        assert result.skip_message == "UNHEALTHY: gateway ok; object_store ok; llm down; kill_switch ok"
        text = webhook.texts()[-1]
        assert "gateway: ok" in text and "llm: down" in text and "HTTP 503" in text
        assert "sk-test-not-logged" not in json.dumps(webhook.posts)

        llm_server.models_status = 200
        KillSwitch(engine_for(db)).set(True, "earnings week", "alice")  # a trader's decision shows, and is not a fault
        result, cursor = evaluate(instance, resources, cursor)
        assert result.skip_message == "gateway ok; object_store ok; llm ok; kill_switch engaged"
        assert "kill_switch: engaged (kill switch is on (set by alice at " in webhook.texts()[-1]
        [observation] = instance.fetch_observations(HEALTH_KEY, limit=1).records
        assert observation.asset_observation.metadata["kill_switch"].value.endswith(": earnings week)")
    # The gateway process is gone now: refused, not silent.
    port = free_port()
    resources["ibkr"] = IBKRResource(port=port, connect_timeout_s=2)
    with dg.instance_for_test() as instance:
        result, _ = evaluate(instance, resources, cursor)
    assert "gateway down" in result.skip_message
    assert f"gateway: down (127.0.0.1:{port}: Connection refused)" in webhook.texts()[-1]


def test_a_failed_run_is_posted_with_its_strategy_partition_and_error(webhook):
    @dg.op
    def breaks():
        raise RuntimeError("bars for ZZZQ: no data")

    @dg.job(tags={"strategy": "demo"})
    def tick():
        breaks()

    with dg.instance_for_test() as instance:
        result = tick.execute_in_process(instance=instance, raise_on_error=False, tags={"dagster/partition": "p1"})
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={"alerts": AlertWebhook(url=webhook.url)},
        ).for_run_failure()
        run_failure_alert(context)
    [text] = webhook.texts()
    assert "run failed (tick)" in text and "strategy: demo" in text and "partition: p1" in text
    assert result.run_id in text


def test_a_webhook_that_fails_is_logged_without_its_url(caplog):
    with WebhookReceiver(status=500) as receiver:
        with caplog.at_level(logging.WARNING, logger="ibkr_pipeline.alerts"):
            assert AlertWebhook(url=receiver.url).send("title", ["line"]) is False
        assert len(receiver.posts) == 3  # retried
    assert "alert webhook failed" in caplog.text and "secret-token" not in caplog.text


def test_an_order_rejected_at_placement_is_posted(tmp_path, webhook, monkeypatch):
    from pathlib import Path

    from ibkr_pipeline.assets.strategy import build_strategy_definitions
    from ibkr_pipeline.domain.strategy import parse_strategy
    from ibkr_pipeline.gateway_sim.faults import FaultPlan

    monkeypatch.setenv("IBKR_PIPELINE_HOME", str(tmp_path / "home"))
    spec = parse_strategy(
        """
name: rejecter
universe: [{symbol: AAPL}]
schedule: {cron: "0 10 * * 1-5", timezone: America/New_York, start: 2026-01-01}
timeframes: [{name: daily, bar_size: 1 day, lookback: 1 Y}]
indicators: [{kind: atr, params: {length: 14}, name: atr_14}]
chart: {bars: 40}
signal: {buy: "close > 0", atr: atr_14}
risk: {min_confidence: 0.5}
order: {entry: MKT, sizing: fixed_quantity, quantity: 10}
""",
        Path("rejecter.yaml"),
    )
    defs = build_strategy_definitions(spec)
    clock = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    with (
        make_gateway(clock_start=clock, pacing=False, faults=FaultPlan(reject_orders={"AAPL"})) as gw,
        dg.instance_for_test() as instance,
    ):
        db = f"sqlite:///{tmp_path / 'db.sqlite'}"
        resources = {
            "ibkr": IBKRResource(port=gw.port),
            "database": DatabaseResource(url=db),
            "objects": ObjectStoreResource(local_dir=str(tmp_path / "objects")),
            "llm": LLMResource(),
            "alerts": AlertWebhook(url=webhook.url),
        }
        dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.groups("rejecter"),
            partition_key="2026-11-19-10:00",
            resources=resources,
            instance=instance,
        )
    [text] = webhook.texts()
    assert "rejecter orders need attention at tick 2026-11-19-10:00" in text and "AAPL" in text
