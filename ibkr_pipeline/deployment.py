"""What the production deployment must not start with: placeholder or weak secrets.

``ibkr-pipeline check-deployment`` runs first in the compose file's ``dagster-init``; every
other Dagster service waits for it, so a ``change-me`` password stops the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

# Secrets the deployment needs, and what each protects.
SECRETS = {
    "DAGSTER_PG_PASSWORD": "Dagster's and the ledger's PostgreSQL",
    "MINIO_ROOT_PASSWORD": "MinIO's administrator",
    "IBKR_PIPELINE_S3_SECRET_KEY": "the app's own MinIO user",
}
PLACEHOLDERS = (
    "change-me",
    "changeme",
    "change_me",
    "password",
    "secret",
    "minioadmin",
    "admin",
    "example",
    "default",
    "test",
    "12345",
)
MIN_LENGTH = 16


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in Path(path).read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return {k.strip(): v.strip().strip("'\"") for k, v in pairs}


def _weak(value: str) -> str:
    lowered = value.lower()
    if not value:
        return "is empty"
    hit = next((p for p in PLACEHOLDERS if p in lowered), "")
    if hit:
        return f"contains the placeholder {hit!r}"
    if len(value) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    return ""


def placeholder_problems(env: Mapping[str, str]) -> list[str]:
    """One line per secret that is missing, a placeholder or weak; never the value itself."""
    problems = [f"{name} ({what}) {why}" for name, what in SECRETS.items() if (why := _weak(env.get(name, "")))]
    if env.get("MINIO_ROOT_USER") and env.get("MINIO_ROOT_USER") == env.get("IBKR_PIPELINE_S3_ACCESS_KEY"):
        problems.append("IBKR_PIPELINE_S3_ACCESS_KEY is MinIO's root user: the app needs its own, bucket-only user")
    url = env.get("IBKR_PIPELINE_DB_URL", "")
    if url and not url.startswith("sqlite"):
        password = urlsplit(url).password or ""
        why = _weak(password)
        if why:
            problems.append(f"IBKR_PIPELINE_DB_URL's password {why}")
    return problems
