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

import dagster as dg

from ibkr_pipeline import settings as env
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

IO_PREFIX = "dagster/io"


def ibkr_from_env() -> IBKRResource:
    return IBKRResource(
        host=env.IBKR_HOST.read(),
        port=int(env.IBKR_PORT.read()),
        client_id=int(env.IBKR_CLIENT_ID.read()),
        account=env.IBKR_ACCOUNT.read(),
    )


def database_from_env() -> DatabaseResource:
    # The URL carries the database password: an EnvVar, read when a run starts, never stored with the run.
    return DatabaseResource(url=dg.EnvVar(env.DB_URL.name) if env.DB_URL.is_set() else "")


def objects_from_env() -> ObjectStoreResource:
    endpoint = env.S3_ENDPOINT.read()
    if not endpoint:
        return ObjectStoreResource(local_dir=env.CHART_DIR.read())
    return ObjectStoreResource(
        endpoint=endpoint,
        bucket=env.S3_BUCKET.read(),
        access_key=dg.EnvVar(env.S3_ACCESS_KEY.name),
        secret_key=dg.EnvVar(env.S3_SECRET_KEY.name),
        secure=env.S3_SECURE.read().lower() == "true",
    )


def io_manager_from_env() -> dg.IOManagerDefinition | None:
    """With an object store configured, step outputs go to its bucket (under ``dagster/io/``) through dagster-aws's
    S3 IO manager, so a step can run on any host: Celery workers share no filesystem. Without one, Dagster's
    default (pickles under the instance's storage directory) stays the embedded default."""
    endpoint = env.S3_ENDPOINT.read()
    if not endpoint:
        return None
    from dagster_aws.s3 import PickledObjectS3IOManager, S3Resource

    scheme = "https" if env.S3_SECURE.read().lower() == "true" else "http"
    bucket = env.S3_BUCKET.read()
    s3 = S3Resource(
        endpoint_url=f"{scheme}://{endpoint}",
        aws_access_key_id=dg.EnvVar(env.S3_ACCESS_KEY.name),
        aws_secret_access_key=dg.EnvVar(env.S3_SECRET_KEY.name),
        region_name="us-east-1",
    )

    @dg.io_manager(
        config_schema={},
        description=f"Step outputs in s3://{bucket}/{IO_PREFIX}/ (dagster-aws), configured by the deployment's "
        "environment (not per run)",
    )
    def locked_io_manager(_context: dg.InitResourceContext) -> dg.IOManager:
        return PickledObjectS3IOManager(bucket, s3.process_config_and_initialize().get_client(), IO_PREFIX)

    return locked_io_manager


def llm_from_env() -> LLMResource:
    """OPENAI_BASE_URL (+ OPENAI_API_KEY, OPENAI_MODEL) selects a live endpoint; without it, the offline analyst."""
    base_url = env.OPENAI_BASE_URL.read()
    if not base_url:
        return LLMResource()
    return LLMResource(
        base_url=base_url,
        api_key=dg.EnvVar(env.OPENAI_API_KEY.name) if env.OPENAI_API_KEY.is_set() else "",
        model=env.OPENAI_MODEL.read(),
        max_in_flight=int(env.LLM_MAX_IN_FLIGHT.read()),
    )


def alerts_from_env() -> AlertWebhook:
    """IBKR_PIPELINE_ALERT_WEBHOOK (a Slack-compatible incoming webhook) turns alerts on."""
    if not env.ALERT_WEBHOOK.is_set():
        return AlertWebhook()
    return AlertWebhook(url=dg.EnvVar(env.ALERT_WEBHOOK.name))


def resources_from_env() -> dict[str, dg.ConfigurableResource]:
    return {
        "ibkr": ibkr_from_env(),
        "database": database_from_env(),
        "objects": objects_from_env(),
        "llm": llm_from_env(),
        "alerts": alerts_from_env(),
    }


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
    locked_ones = {key: locked(resource) for key, resource in resources_from_env().items()}
    io_manager = io_manager_from_env()
    return {**locked_ones, "io_manager": io_manager} if io_manager else locked_ones


def executor_from_env() -> dg.ExecutorDefinition | None:
    """IBKR_PIPELINE_EXECUTOR=celery runs every step on Celery workers (broker and backend from the environment);
    =in_process runs a tick's steps in one process (``make ui``: a handful of symbols start in seconds, not a
    process per step); otherwise Dagster's default multiprocess executor."""
    choice = env.EXECUTOR.read()
    if choice == "in_process":
        return dg.in_process_executor
    if choice != "celery":
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {
            "broker": {"env": env.CELERY_BROKER.name},
            "backend": {"env": env.CELERY_BACKEND.name},
        }
    )
