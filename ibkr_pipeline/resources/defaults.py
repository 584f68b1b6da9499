"""Resources for the code location, from the environment; with nothing set, the embedded default.

Set ``IBKR_HOST``/``IBKR_PORT``/``IBKR_CLIENT_ID``/``IBKR_ACCOUNT`` for a real gateway, and
``IBKR_PIPELINE_S3_ENDPOINT`` (+ ``IBKR_PIPELINE_S3_ACCESS_KEY``/``IBKR_PIPELINE_S3_SECRET_KEY``,
read through ``dg.EnvVar`` so they never enter logs or metadata) for MinIO/S3.

The code location's resources are locked: they take no run config, so nobody can point the
LLM key at another host, or read an environment variable into a field (Dagster's ``{env: ...}``),
from the launchpad. They are configured by the deployment's environment alone, read when a run starts.
"""

from __future__ import annotations

import functools
import os

import dagster as dg

from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.chart_store import ChartStore
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource


def ibkr_from_env() -> IBKRResource:
    return IBKRResource(
        host=os.environ.get("IBKR_HOST", "127.0.0.1"),
        port=int(os.environ.get("IBKR_PORT", "4002")),
        client_id=int(os.environ.get("IBKR_CLIENT_ID", "1")),
        account=os.environ.get("IBKR_ACCOUNT", ""),
        # The URL carries the database password: an EnvVar, read when a run starts, never stored with the run.
        database_url=dg.EnvVar("IBKR_PIPELINE_DB_URL") if os.environ.get("IBKR_PIPELINE_DB_URL") else "",
    )


def chart_store_from_env() -> ChartStore:
    endpoint = os.environ.get("IBKR_PIPELINE_S3_ENDPOINT", "")
    if not endpoint:
        return ChartStore(local_dir=os.environ.get("IBKR_PIPELINE_CHART_DIR", ""))
    return ChartStore(
        endpoint=endpoint,
        bucket=os.environ.get("IBKR_PIPELINE_S3_BUCKET", "ibkr-pipeline"),
        access_key=dg.EnvVar("IBKR_PIPELINE_S3_ACCESS_KEY"),
        secret_key=dg.EnvVar("IBKR_PIPELINE_S3_SECRET_KEY"),
        secure=os.environ.get("IBKR_PIPELINE_S3_SECURE", "true").lower() == "true",
    )


def llm_from_env() -> LLMResource:
    """OPENAI_BASE_URL (+ OPENAI_API_KEY, OPENAI_MODEL) selects a live endpoint; without it, the offline analyst."""
    base_url = os.environ.get("OPENAI_BASE_URL", "")
    if not base_url:
        return LLMResource()
    return LLMResource(
        base_url=base_url,
        api_key=dg.EnvVar("OPENAI_API_KEY") if os.environ.get("OPENAI_API_KEY") else "",
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        max_in_flight=int(os.environ.get("IBKR_PIPELINE_LLM_MAX_IN_FLIGHT", "4")),
    )


def alerts_from_env() -> AlertWebhook:
    """IBKR_PIPELINE_ALERT_WEBHOOK (a Slack-compatible incoming webhook) turns alerts on."""
    if not os.environ.get("IBKR_PIPELINE_ALERT_WEBHOOK"):
        return AlertWebhook()
    return AlertWebhook(url=dg.EnvVar("IBKR_PIPELINE_ALERT_WEBHOOK"))


def resources_from_env() -> dict[str, dg.ConfigurableResource]:
    return {"ibkr": ibkr_from_env(), "chart_store": chart_store_from_env(), "llm": llm_from_env(),
            "alerts": alerts_from_env()}


def locked(resource: dg.ConfigurableResource) -> dg.ResourceDefinition:
    """The resource as the deployment configured it, with an empty run-config schema: a launchpad that tries
    to set any of its fields is refused. ``dg.EnvVar`` fields are read when the first run in a process starts,
    once: initialising per run left SQLite connections behind that failed noisily at exit."""
    initialized = functools.cache(resource.process_config_and_initialize)
    return dg.ResourceDefinition(
        resource_fn=lambda _context: initialized(),
        config_schema={},
        description=f"{type(resource).__name__}, configured by the deployment's environment (not per run)",
    )


def locked_resources_from_env() -> dict[str, dg.ResourceDefinition]:
    return {key: locked(resource) for key, resource in resources_from_env().items()}


def executor_from_env() -> dg.ExecutorDefinition | None:
    """IBKR_PIPELINE_EXECUTOR=celery runs every step on Celery workers (broker and backend from the environment);
    =in_process runs a tick's steps in one process (``make ui``: a handful of symbols start in seconds, not a
    process per step); otherwise Dagster's default multiprocess executor."""
    choice = os.environ.get("IBKR_PIPELINE_EXECUTOR", "multiprocess")
    if choice == "in_process":
        return dg.in_process_executor
    if choice != "celery":
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured({
        "broker": {"env": "IBKR_PIPELINE_CELERY_BROKER"},
        "backend": {"env": "IBKR_PIPELINE_CELERY_BACKEND"},
    })
