"""Which code made a record: the package version and the git commit it was built from.

The commit comes from ``IBKR_PIPELINE_GIT_SHA`` (set by the image build, ``--build-arg GIT_SHA``), else
from the source tree when it is a git checkout (with ``-dirty`` when it has uncommitted changes),
else it is unknown and says so.
"""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path

from ibkr_pipeline import __version__
from ibkr_pipeline import settings as env

SOURCE_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def git_sha() -> str:
    if env.GIT_SHA.is_set():
        return env.GIT_SHA.read()
    if not (SOURCE_ROOT / ".git").exists():
        return "unknown (not a git checkout; set IBKR_PIPELINE_GIT_SHA)"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=SOURCE_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git is not available)"
    return f"{sha}-dirty" if dirty else sha


def code_description() -> str:
    return f"ibkr_pipeline {__version__}, commit {git_sha()}"
