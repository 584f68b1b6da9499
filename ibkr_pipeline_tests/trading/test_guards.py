"""The guards before any send: kill switch (environment, file, database), mode and the login's accounts."""

from datetime import UTC, datetime

import pytest

from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.kill_switch import KillSwitch
from ibkr_pipeline.trading.guards import (
    KILL_SWITCH_ENV,
    LIVE_SWITCH_ENV,
    account_problem,
    kill_switch_reason,
    sending_blocked,
    switch_engaged,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(KILL_SWITCH_ENV, raising=False)
    monkeypatch.delenv(LIVE_SWITCH_ENV, raising=False)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", "enabled", "Y", "stop", "halt", " 1 ", "2"])
def test_any_value_but_a_plain_off_engages_the_kill_switch(value):
    assert switch_engaged(value) is True


@pytest.mark.parametrize("value", [None, "", "  ", "0", "false", "False", "no", "NO", "off", " off "])
def test_only_unset_empty_or_a_plain_off_leaves_it_off(value):
    assert switch_engaged(value) is False


def test_environment_and_file_forms(tmp_path, monkeypatch):
    assert kill_switch_reason(tmp_path) == ""
    monkeypatch.setenv(KILL_SWITCH_ENV, "enabled")
    assert kill_switch_reason(tmp_path) == f"kill switch is on ({KILL_SWITCH_ENV}='enabled')"
    monkeypatch.setenv(KILL_SWITCH_ENV, "off")
    assert kill_switch_reason(tmp_path) == ""
    (tmp_path / "KILL_SWITCH").write_text("0")  # the file's presence is what counts, whatever it says
    assert kill_switch_reason(tmp_path) == f"kill switch is on (file {tmp_path / 'KILL_SWITCH'})"


def test_the_database_switch_is_shared_and_keeps_its_history(database_url, tmp_path):
    engine = engine_for(database_url)
    one, other = KillSwitch(engine), KillSwitch(engine)  # two processes, one database
    assert one.state() is None and kill_switch_reason(tmp_path, other) == ""
    one.set(True, "broker outage", "alice")
    reason = kill_switch_reason(tmp_path, other)
    assert reason.startswith("kill switch is on (set by alice at ") and reason.endswith(": broker outage)")
    other.set(False, "", "bob")
    assert kill_switch_reason(tmp_path, one) == ""
    assert [(s.engaged, s.changed_by) for s in one.history()] == [(False, "bob"), (True, "alice")]
    assert all(s.at.tzinfo is not None and s.at <= datetime.now(UTC) for s in one.history())


def test_an_unreadable_database_switch_blocks(tmp_path):
    from sqlalchemy import create_engine

    broken = KillSwitch(create_engine(f"sqlite:///{tmp_path / 'no_schema.db'}"))  # no kill_switch_events table
    assert kill_switch_reason(tmp_path, broken) == (
        "kill switch state cannot be read from the project database (OperationalError); sending stops"
    )


@pytest.mark.parametrize(
    ("mode", "configured", "managed", "expected"),
    [
        ("paper", "", ["DU111"], ""),
        ("paper", "DU111", ["DU111", "DU222"], ""),
        ("paper", "DU999", ["DU111"], "configured account DU999 is not one of this login's accounts ['DU111']"),
        (
            "paper",
            "",
            ["DU111", "DU222"],
            "this login manages several accounts ['DU111', 'DU222']: set IBKR_ACCOUNT to the one to trade",
        ),
        ("paper", "DU111", ["U123", "DU111"], "mode is paper but this login manages live account(s) ['U123']"),
        ("paper", "", [], "the gateway reported no managed accounts for this login"),
        ("live", "U123", ["U123"], ""),
        ("live", "", ["DU111"], "mode is live but account DU111 is a paper account"),
        ("dry_run", "X", [], ""),
    ],
)
def test_the_logins_own_accounts_decide(mode, configured, managed, expected):
    assert account_problem(mode, configured, managed) == expected


def test_sending_blocked_in_order_of_precedence(tmp_path, monkeypatch):
    assert sending_blocked("paper", "DU1234567", tmp_path, managed=["DU1234567"]) == ""
    assert (
        sending_blocked("paper", "U7654321", tmp_path)
        == "mode is paper but account U7654321 is not a paper account (paper ids start with D)"
    )
    # A configured paper id does not make a live login paper.
    assert (
        sending_blocked("paper", "DU1234567", tmp_path, managed=["U7654321"])
        == "configured account DU1234567 is not one of this login's accounts ['U7654321']"
    )
    # The strategy's mode is judged against the whole login, and the configured account (here none) against it.
    assert (
        sending_blocked("paper", "DU1234567", tmp_path, managed=["U7654321", "DU1234567"])
        == "mode is paper but this login manages live account(s) ['U7654321']"
    )
    assert (
        sending_blocked("paper", "DU1234567", tmp_path, managed=["DU1234567", "DU7654321"], configured="")
        == "this login manages several accounts ['DU1234567', 'DU7654321']: set IBKR_ACCOUNT to the one to trade"
    )
    assert (
        sending_blocked("live", "U7654321", tmp_path, managed=["U7654321"])
        == f"mode is live but {LIVE_SWITCH_ENV}=1 is not set in the environment"
    )
    monkeypatch.setenv(LIVE_SWITCH_ENV, "1")
    assert sending_blocked("live", "U7654321", tmp_path, managed=["U7654321"]) == ""
    assert (
        sending_blocked("dry_run", "DU1234567", tmp_path) == "mode is dry_run: everything is computed, nothing is sent"
    )
    monkeypatch.setenv(KILL_SWITCH_ENV, "yes")
    assert (
        sending_blocked("live", "U7654321", tmp_path, managed=["U7654321"])
        == f"kill switch is on ({KILL_SWITCH_ENV}='yes')"
    )


def test_a_database_switch_set_by_nobody_for_no_reason_says_so(database_url, tmp_path):
    at = datetime(2026, 3, 2, 14, 30, 59, tzinfo=UTC)
    switch = KillSwitch(engine_for(database_url), clock=lambda: at)
    switch.set(True)
    assert kill_switch_reason(tmp_path, switch) == "kill switch is on (set at 2026-03-02 14:30 UTC: no reason given)"
    switch.set(True, "margin call", "carol")
    assert (
        kill_switch_reason(tmp_path, switch) == "kill switch is on (set by carol at 2026-03-02 14:30 UTC: margin call)"
    )
