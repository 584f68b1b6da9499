"""What must be true before any order leaves: mode, live switch, account type, kill switch."""

from __future__ import annotations

import os
from pathlib import Path

LIVE_SWITCH_ENV = "IBKR_PIPELINE_LIVE_TRADING"
KILL_SWITCH_ENV = "IBKR_PIPELINE_KILL_SWITCH"
KILL_SWITCH_FILE = "KILL_SWITCH"


def is_paper_account(account: str) -> bool:
    """IB paper accounts start with 'D' (DU..., DF...)."""
    return account.upper().startswith("D")


def kill_switch_reason(data_dir: Path) -> str:
    if os.environ.get(KILL_SWITCH_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return f"kill switch is on ({KILL_SWITCH_ENV})"
    if (Path(data_dir) / KILL_SWITCH_FILE).exists():
        return f"kill switch is on (file {Path(data_dir) / KILL_SWITCH_FILE})"
    return ""


def sending_blocked(mode: str, account: str, data_dir: Path) -> str:
    """Why no order may be sent now, or '' when sending is allowed."""
    reason = kill_switch_reason(data_dir)
    if reason:
        return reason
    if mode == "dry_run":
        return "mode is dry_run: everything is computed, nothing is sent"
    if mode == "live":
        if os.environ.get(LIVE_SWITCH_ENV, "") != "1":
            return f"mode is live but {LIVE_SWITCH_ENV}=1 is not set in the environment"
        if is_paper_account(account):
            return f"mode is live but account {account} is a paper account"
        return ""
    if not is_paper_account(account):
        return f"mode is paper but account {account} is not a paper account (paper ids start with D)"
    return ""
