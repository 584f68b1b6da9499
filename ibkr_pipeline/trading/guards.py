"""What must be true before any order leaves: mode, live switch, the login's accounts, kill switch.

Every reading fails closed: a kill-switch value that is not plainly "off", or a kill
switch that cannot be read, stops sending.
"""

from __future__ import annotations

from pathlib import Path

from ibkr_pipeline import settings as env
from ibkr_pipeline.database.kill_switch import KillSwitch

LIVE_SWITCH_ENV = env.LIVE_TRADING.name
KILL_SWITCH_ENV = env.KILL_SWITCH.name
KILL_SWITCH_FILE = "KILL_SWITCH"
OFF_VALUES = frozenset({"0", "false", "no", "off"})


def is_paper_account(account: str) -> bool:
    """IB paper accounts start with 'D' (DU..., DF...)."""
    return account.upper().startswith("D")


def switch_engaged(value: str | None) -> bool:
    """An unset or empty value is off; any value other than 0/false/no/off is on."""
    return bool(value and value.strip()) and value.strip().lower() not in OFF_VALUES  # type: ignore[union-attr]


def kill_switch_reason(data_dir: Path, switch: KillSwitch | None = None) -> str:
    """Why the kill switch stops sending ('' when it is off), from the environment, the file and the database."""
    value = env.KILL_SWITCH.read() or None
    if switch_engaged(value):
        return f"kill switch is on ({KILL_SWITCH_ENV}={value!r})"
    path = Path(data_dir) / KILL_SWITCH_FILE
    if path.exists() or path.is_symlink():
        return f"kill switch is on (file {path})"
    if switch is not None:
        try:
            state = switch.state()
        except Exception as exc:  # an unreadable switch must not read as "off"
            return f"kill switch state cannot be read from the project database ({type(exc).__name__}); sending stops"
        if state is not None and state.engaged:
            by = f" by {state.changed_by}" if state.changed_by else ""
            return f"kill switch is on (set{by} at {state.at:%Y-%m-%d %H:%M} UTC: {state.reason or 'no reason given'})"
    return ""


def account_problem(mode: str, configured: str, managed: list[str]) -> str:
    """The login's own accounts (``managedAccounts()``), not the configuration, decide paper or live."""
    if mode == "dry_run":
        return ""
    if not managed:
        return "the gateway reported no managed accounts for this login"
    if configured and configured not in managed:
        return f"configured account {configured} is not one of this login's accounts {managed}"
    if not configured and len(managed) > 1:
        return f"this login manages several accounts {managed}: set IBKR_ACCOUNT to the one to trade"
    account = configured or managed[0]
    if mode == "paper":
        live = [a for a in managed if not is_paper_account(a)]
        if live:
            return f"mode is paper but this login manages live account(s) {live}"
    if mode == "live" and is_paper_account(account):
        return f"mode is live but account {account} is a paper account"
    return ""


def sending_blocked(
    mode: str,
    account: str,
    data_dir: Path,
    switch: KillSwitch | None = None,
    managed: list[str] | None = None,
    configured: str | None = None,
) -> str:
    """Why no order may be sent now, or '' when sending is allowed.

    ``account`` is the one orders go to; ``configured`` what the settings named ('' for none: the login's only
    account), checked against ``managed``, the login's own accounts.
    """
    reason = kill_switch_reason(data_dir, switch)
    if reason:
        return reason
    if mode == "dry_run":
        return "mode is dry_run: everything is computed, nothing is sent"
    if managed is not None:
        problem = account_problem(mode, account if configured is None else configured, managed)
        if problem:
            return problem
    if mode == "live":
        if env.LIVE_TRADING.read() != "1":
            return f"mode is live but {LIVE_SWITCH_ENV}=1 is not set in the environment"
        if is_paper_account(account):
            return f"mode is live but account {account} is a paper account"
        return ""
    if not is_paper_account(account):
        return f"mode is paper but account {account} is not a paper account (paper ids start with D)"
    return ""
