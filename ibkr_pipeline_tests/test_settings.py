"""The one home of the environment: every variable the package reads is declared there, secrets never shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ibkr_pipeline import settings

PACKAGE = Path(settings.__file__).parent
CLI = str(Path(sys.executable).parent / "ibkr-pipeline")
# Reads that are not the project's settings: Dagster's own home (the demo prepares it), the deployment check
# (it inspects the whole environment), and the simulator's port handed to the resources (a write).
ALLOWED = {"demo.py": 3, "cli.py": 2}


def test_no_module_reads_the_environment_but_the_settings_module():
    reads: dict[str, int] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "settings.py":
            continue
        found = len(re.findall(r"os\.environ|os\.getenv", path.read_text()))
        if found:
            reads[str(path.relative_to(PACKAGE))] = found
    assert reads == ALLOWED


def test_every_setting_is_named_once_and_documented():
    names = [s.name for s in settings.ALL]
    assert len(names) == len(set(names)) == 26
    assert all(s.meaning for s in settings.ALL)
    assert {s.name for s in settings.ALL if s.secret} == {
        "IBKR_PIPELINE_DB_URL",
        "IBKR_PIPELINE_S3_ACCESS_KEY",
        "IBKR_PIPELINE_S3_SECRET_KEY",
        "OPENAI_API_KEY",
        "IBKR_PIPELINE_ALERT_WEBHOOK",
        "IBKR_PIPELINE_CELERY_BROKER",
        "IBKR_PIPELINE_CELERY_BACKEND",
    }


def test_the_settings_command_shows_values_but_never_a_secret():
    env = {
        **os.environ,
        "COLUMNS": "250",
        "OPENAI_API_KEY": "sk-never-shown-123",
        "IBKR_PORT": "4010",
        "IBKR_PIPELINE_DB_URL": "postgresql://trader:hunter2@db/ibkr",
    }
    shown = subprocess.run([CLI, "settings"], capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert "sk-never-shown-123" not in shown and "hunter2" not in shown
    assert re.search(r"OPENAI_API_KEY +│ +│ set \(secret\)", shown)
    assert re.search(r"IBKR_PORT +│ 4002 +│ 4010 ", shown)
