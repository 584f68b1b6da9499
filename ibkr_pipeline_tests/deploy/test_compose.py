"""docker-compose.yml checked without Docker: against the Compose Specification's JSON schema, and for safety.

The schema is the one check-jsonschema ships as ``vendor.compose-spec`` (from compose-spec/compose-spec),
so the check needs no network.
"""

import re
import subprocess
import sys
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def env_example(name: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (DEPLOY / name).read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {k: v for k, v in pairs}


def check(path: Path) -> subprocess.CompletedProcess[str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True,
                          text=True, timeout=60)


def test_the_compose_file_is_valid_under_the_compose_specification(tmp_path):
    done = check(DEPLOY / "docker-compose.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    # The check has teeth: a service with a misspelt key is refused.
    broken = compose()
    broken["services"]["daemon"]["comand"] = broken["services"]["daemon"].pop("command")
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    refused = check(tmp_path / "broken.yml")
    assert refused.returncode == 1 and "comand" in refused.stdout


def test_the_topology_is_all_there():
    services = compose()["services"]
    assert {"postgres", "minio", "minio-init", "ib-gateway", "code", "webserver", "webserver-readonly", "daemon",
            "redis", "celery-worker", "dagster-init"} <= set(services)
    assert services["dagster-init"]["command"] == ["dagster", "instance", "migrate"]
    assert "code-server" in services["code"]["command"] and "dagster-daemon" in services["daemon"]["command"]
    assert "--read-only" in services["webserver-readonly"]["command"]
    assert "mc mb --ignore-existing" in services["minio-init"]["command"][0]
    assert services["ib-gateway"]["environment"]["TRADING_MODE"] == "paper"


def test_nothing_is_exposed_beyond_localhost_and_the_gateway_only_internally():
    data = compose()
    for name, service in data["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
    assert "ports" not in data["services"]["ib-gateway"]
    assert data["services"]["ib-gateway"]["networks"] == ["backend"]
    assert data["networks"]["backend"]["internal"] is True
    assert data["services"]["ib-gateway"]["env_file"] == "ib-gateway.env"


def test_every_setting_the_deployment_reads_is_in_env_example():
    env = env_example(".env.example")
    text = (DEPLOY / "docker-compose.yml").read_text() + (DEPLOY / "dagster.yaml").read_text() \
        + (DEPLOY / "workspace.yaml").read_text() + (DEPLOY / "celery.yaml").read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text)) | set(re.findall(r"\{env: (\w+)\}", text))
    assert used - set(env) == set(), f"missing from .env.example: {sorted(used - set(env))}"
    code = "\n".join(p.read_text() for p in (DEPLOY.parent / "ibkr_pipeline").rglob("*.py"))
    read_by_code = set(re.findall(r"""(?:environ\.get|environ\[|EnvVar(?:\.int)?)\(?["'](\w+)["']""", code))
    missing = {v for v in read_by_code if v.startswith(("IBKR_", "OPENAI_"))} - set(env) - {
        "IBKR_PIPELINE_HOME", "IBKR_PIPELINE_CHART_DIR"}  # set by the Dockerfile; local-store only
    assert missing == set(), f"read by the code but not in .env.example: {sorted(missing)}"
    assert set(env_example("ib-gateway.env.example")) == {"TWS_USERID", "TWS_PASSWORD"}
