"""The package as a user installs it: a built wheel, in a clean venv, run from outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_carries_prompts_strategies_and_migrations_and_runs_outside_the_source_tree(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "ibkr_pipeline", source / "ibkr_pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        tmp_path / "dist",
        source,
        cwd=tmp_path,
    )
    [wheel] = (tmp_path / "dist").glob("ibkr_pipeline-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    # The clean venv holds the wheel alone; its dependencies come from the test's environment (no network).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"], "IBKR_PIPELINE_HOME": str(tmp_path / "home")}
    env.pop("IBKR_PIPELINE_STRATEGIES", None)
    installed = venv / "lib" / "python3.12" / "site-packages" / "ibkr_pipeline"

    where = run(
        venv / "bin" / "python", "-c", "import ibkr_pipeline; print(ibkr_pipeline.__file__)", cwd=elsewhere, env=env
    )
    assert Path(where.strip()).parent == installed

    validated = run(venv / "bin" / "ibkr-pipeline", "validate", cwd=elsewhere, env=env)
    assert f"✓ {installed}/strategies/us_megacaps_daily.yaml: us_megacaps_daily" in validated
    assert f"✓ {installed}/strategies/sector_etf_rotation.yaml: sector_etf_rotation" in validated

    loaded = run(
        venv / "bin" / "python",
        "-c",
        """
from ibkr_pipeline.definitions import defs
from ibkr_pipeline.domain.prompts import DEFAULT_PROMPTS_DIR, _environment
from ibkr_pipeline.database.engine import default_url, engine_for
from sqlalchemy import inspect
print(sorted(j.name for j in defs.jobs if j.name.endswith('_tick')))
print(_environment(DEFAULT_PROMPTS_DIR).get_template('technical_analyst/user.j2').filename)
print(' '.join(sorted(inspect(engine_for(default_url())).get_table_names())))
""",
        cwd=elsewhere,
        env=env,
    )
    jobs, template, tables = loaded.strip().splitlines()
    assert jobs == "['sector_etf_rotation_tick', 'us_megacaps_daily_tick']"
    assert template == f"{installed}/prompts/technical_analyst/user.j2"
    # The migrations ran from the wheel: every table of the ledger, and Alembic's record of the last revision.
    assert {"orders", "fills", "claims", "pacing_requests", "ibkr_pipeline_alembic_version"} <= set(tables.split())
