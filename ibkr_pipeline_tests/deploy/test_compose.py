"""docker-compose.yml (at the project's root) checked without Docker: against the Compose Specification's JSON schema, and for safety.

The schema is the one check-jsonschema ships as ``vendor.compose-spec`` (from compose-spec/compose-spec),
so the check needs no network.
"""

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example(name: str) -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (DEPLOY / name).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {k: v for k, v in pairs}


def check(path: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True, text=True, timeout=60
    )


def test_the_compose_file_is_valid_under_the_compose_specification(tmp_path):
    done = check(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr
    # The check has teeth: a service with a misspelt key is refused.
    broken = compose()
    broken["services"]["daemon"]["comand"] = broken["services"]["daemon"].pop("command")
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    refused = check(tmp_path / "broken.yml")
    assert refused.returncode == 1 and "comand" in refused.stdout


def test_the_topology_is_all_there():
    services = compose()["services"]
    assert {
        "postgres",
        "minio",
        "minio-init",
        "ib-gateway",
        "code",
        "webserver",
        "webserver-readonly",
        "daemon",
        "redis",
        "celery-worker",
        "dagster-init",
    } <= set(services)
    assert services["dagster-init"]["command"][-1].endswith("dagster instance migrate && ibkr-pipeline init-pools")
    assert services["dagster-init"]["environment"]["IBKR_PIPELINE_STRATEGIES"] == "${IBKR_PIPELINE_STRATEGIES}"
    assert "code-server" in services["code"]["command"] and "dagster-daemon" in services["daemon"]["command"]
    assert "--read-only" in services["webserver-readonly"]["command"]
    assert "mc mb --ignore-existing" in services["minio-init"]["command"][0]
    assert services["ib-gateway"]["environment"]["TRADING_MODE"] == "paper"


def test_every_image_is_an_exact_release_and_the_helm_values_name_the_same():
    """A moving tag (latest, stable, a bare major) changes what runs without a commit."""
    data = compose()
    images = {name: s["image"] for name, s in data["services"].items() if "image" in s}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag not in ("latest", "stable", "edge") and re.search(r"\d+\.\d+|RELEASE\.", tag), f"{name}: {image}"
    own = images["code"]
    assert own == f"ibkr-pipeline:{version('ibkr_pipeline')}"
    assert {images[n] for n in ("webserver", "daemon", "celery-worker", "dagster-init")} == {own}
    assert re.search(r"FROM python:3\.12\.\d+-slim\n", (DEPLOY / "Dockerfile").read_text())
    helm = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    [user_code] = helm["dagster-user-deployments"]["deployments"]
    assert (
        user_code["image"]["repository"].endswith("/ibkr-pipeline") and user_code["image"]["tag"] == own.split(":")[1]
    )
    assert [s["name"] for s in user_code["envSecrets"]] == ["ibkr-pipeline-env"]
    assert helm["concurrency"]["pools"] == {"defaultLimit": 1, "granularity": "op"}
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    assert instance["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert helm["concurrency"]["runs"]["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]


def test_nothing_is_exposed_beyond_localhost_and_only_what_must_reaches_out():
    data = compose()
    services = data["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
    assert "ports" not in services["ib-gateway"]
    assert data["networks"]["backend"]["internal"] is True and not data["networks"]["egress"].get("internal")
    reaching_out = {name for name, service in services.items() if "egress" in service.get("networks", [])}
    # IBKR for the gateway; the LLM endpoint for the code server's run workers and the Celery workers.
    assert reaching_out == {"ib-gateway", "code", "celery-worker"}
    for name in ("postgres", "minio", "redis", "daemon", "webserver", "webserver-readonly"):
        assert "egress" not in services[name].get("networks", []), name
    assert services["ib-gateway"]["env_file"] == "deploy/ib-gateway.env"


def test_each_container_gets_only_the_variables_it_needs():
    services = compose()["services"]
    trading_secrets = {
        "OPENAI_API_KEY",
        "IBKR_PIPELINE_S3_SECRET_KEY",
        "IBKR_PIPELINE_DB_URL",
        "IBKR_PIPELINE_ALERT_WEBHOOK",
        "MINIO_ROOT_PASSWORD",
    }
    assert all("env_file" not in s for n, s in services.items() if n != "ib-gateway")  # no whole .env anywhere
    for name in ("webserver", "webserver-readonly", "daemon"):
        assert set(services[name]["environment"]) & trading_secrets == set(), name
        assert "DAGSTER_PG_PASSWORD" in services[name]["environment"]
    for name in ("code", "celery-worker"):
        env = services[name]["environment"]
        assert {"OPENAI_API_KEY", "IBKR_PIPELINE_S3_SECRET_KEY", "IBKR_PIPELINE_DB_URL"} <= set(env), name
        assert "MINIO_ROOT_PASSWORD" not in env and "MINIO_ROOT_USER" not in env, name
    assert "IBKR_PIPELINE_S3_SECRET_KEY" not in services["minio"]["environment"]


def test_the_app_uses_its_own_bucket_only_minio_user():
    services = compose()["services"]
    script = services["minio-init"]["command"][0]
    assert services["minio"]["environment"] == {
        "MINIO_ROOT_USER": "${MINIO_ROOT_USER}",
        "MINIO_ROOT_PASSWORD": "${MINIO_ROOT_PASSWORD}",
    }
    assert 'mc admin user add local "$$APP_ACCESS_KEY" "$$APP_SECRET_KEY"' in script
    assert "mc admin policy attach local ibkr-pipeline-app" in script
    assert '"Resource":["arn:aws:s3:::%s/*"]' in script and "s3:*" not in script  # one bucket, listed actions
    env = env_example(".env.example")
    assert env["IBKR_PIPELINE_S3_ACCESS_KEY"] != env["MINIO_ROOT_USER"]


def test_placeholder_secrets_stop_the_deployment_before_anything_starts():
    services = compose()["services"]
    assert services["dagster-init"]["command"] == [
        "sh",
        "-c",
        "ibkr-pipeline check-deployment && dagster instance migrate && ibkr-pipeline init-pools",
    ]
    tool = Path(sys.executable).parent / "ibkr-pipeline"
    refused = subprocess.run(
        [str(tool), "check-deployment", "--env-file", str(DEPLOY / ".env.example")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert refused.stdout.splitlines() == [
        "✗ DAGSTER_PG_PASSWORD (Dagster's and the ledger's PostgreSQL) contains the placeholder 'change-me'",
        "✗ MINIO_ROOT_PASSWORD (MinIO's administrator) contains the placeholder 'change-me'",
        "✗ IBKR_PIPELINE_S3_SECRET_KEY (the app's own MinIO user) contains the placeholder 'change-me'",
        "✗ IBKR_PIPELINE_DB_URL's password contains the placeholder 'change-me'",
    ]
    assert "change-me-root" not in refused.stdout  # names the variable, never the value


def test_strong_secrets_pass_and_weak_ones_are_named():
    from ibkr_pipeline.deployment import placeholder_problems

    strong = "9f2c4e7a1b3d5f60a8c2e4b6d8f0a1c3"
    env = {
        "DAGSTER_PG_PASSWORD": strong,
        "MINIO_ROOT_USER": "root",
        "MINIO_ROOT_PASSWORD": strong + "x",
        "IBKR_PIPELINE_S3_ACCESS_KEY": "app",
        "IBKR_PIPELINE_S3_SECRET_KEY": strong + "y",
        "IBKR_PIPELINE_DB_URL": f"postgresql+psycopg2://dagster:{strong}@postgres:5432/dagster",
    }
    assert placeholder_problems(env) == []
    assert placeholder_problems({**env, "DAGSTER_PG_PASSWORD": "short1"}) == [
        "DAGSTER_PG_PASSWORD (Dagster's and the ledger's PostgreSQL) is shorter than 16 characters"
    ]
    assert placeholder_problems({**env, "IBKR_PIPELINE_S3_ACCESS_KEY": "root"}) == [
        "IBKR_PIPELINE_S3_ACCESS_KEY is MinIO's root user: the app needs its own, bucket-only user"
    ]


def test_every_setting_the_deployment_reads_is_in_env_example():
    env = env_example(".env.example")
    text = (
        COMPOSE.read_text()
        + (DEPLOY / "dagster.yaml").read_text()
        + (DEPLOY / "workspace.yaml").read_text()
        + (DEPLOY / "celery.yaml").read_text()
    )
    used = set(re.findall(r"\$\{(\w+)\}", text)) | set(re.findall(r"\{env: (\w+)\}", text))
    assert used - set(env) == set(), f"missing from .env.example: {sorted(used - set(env))}"
    code = "\n".join(p.read_text() for p in (DEPLOY.parent / "ibkr_pipeline").rglob("*.py"))
    read_by_code = set(re.findall(r"""(?:environ\.get|environ\[|EnvVar(?:\.int)?)\(?["'](\w+)["']""", code))
    missing = (
        {v for v in read_by_code if v.startswith(("IBKR_", "OPENAI_"))}
        - set(env)
        - {
            "IBKR_PIPELINE_HOME",
            "IBKR_PIPELINE_CHART_DIR",  # set by the Dockerfile; local-store only
            "IBKR_PIPELINE_GIT_SHA",
        }
    )  # the Dockerfile's GIT_SHA build argument
    assert missing == set(), f"read by the code but not in .env.example: {sorted(missing)}"
    assert set(env_example("ib-gateway.env.example")) == {"TWS_USERID", "TWS_PASSWORD"}
