"""Files shipped inside the package, found through ``importlib.resources``: a built wheel installed anywhere
has them too, not only a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _path(package: str, name: str) -> Path:
    return Path(str(resources.files(package).joinpath(name)))


PROMPTS = _path("ibkr_pipeline", "prompts")  # <name>/system.j2 and user.j2
STRATEGIES = _path("ibkr_pipeline", "strategies")  # the example strategies
INSTANCE_YAML = _path("ibkr_pipeline", "dagster.yaml")  # the embedded default Dagster instance (make demo, make ui)
MIGRATIONS = _path("ibkr_pipeline.database", "migrations")  # Alembic: env.py, script.py.mako, versions/
