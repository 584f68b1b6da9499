"""The fault campaign: for every orderRef, exactly one bracket at IB or an explained end; never a hang.

Each scenario injects faults around placement (SIGKILL at every point, drops on each placeOrder
before and after IB handled it, a silent gateway, restarts, overlapping executions, late rejects
and commission reports, a re-execution on the next day), then re-executes and reconciles once.
The claims and the ledger are exercised on SQLite and on PostgreSQL.
"""

from datetime import UTC, datetime

import pytest

from ibkr_pipeline_tests.conftest import make_gateway, report_line
from ibkr_pipeline_tests.trading.fault_campaign import FAST, Campaign
from ibkr_pipeline_tests.trading.placement_worker import KILL_POINTS

CLOCK = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # Thursday 10:00 New York
SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN"]
_CAMPAIGNS: list[Campaign] = []


@pytest.fixture(scope="module", autouse=True)
def campaign_report():
    yield
    if _CAMPAIGNS:
        total = Campaign(
            _CAMPAIGNS[0].gw,
            "",
            [v for c in _CAMPAIGNS for v in c.verdicts],
            max(c.longest_silent_call_s for c in _CAMPAIGNS),
        )
        report_line(total.summary())


@pytest.fixture
def gw():
    """A gateway per test: an account that piles up every scenario's orders slows every answer."""
    with make_gateway(clock_start=CLOCK, pacing=False) as gateway:
        yield gateway


@pytest.fixture
def campaign(gw, database_url):
    c = Campaign(gw, database_url)
    _CAMPAIGNS.append(c)
    return c


def assert_good(verdicts):
    bad = [v for v in verdicts if not v.good]
    assert not bad, "\n".join(
        f"{v.scenario}: {v.brackets_at_ib} brackets at IB, ledger {v.ledger_status!r}, agrees={v.agrees}: {v.detail}"
        for v in bad
    )


def test_sigkill_at_every_point_of_placement(campaign):
    verdicts = campaign.kills(list(KILL_POINTS), SYMBOLS[:2])
    assert_good(verdicts)
    assert all(v.brackets_at_ib == 1 for v in verdicts)  # whether it died before or after the send


def test_two_and_three_overlapping_executions_of_one_tick_send_one_bracket(campaign, tmp_path):
    verdicts = [
        *campaign.overlapping(2, SYMBOLS[:2], str(tmp_path / "go2")),
        *campaign.overlapping(3, SYMBOLS[:2], str(tmp_path / "go3")),
    ]
    assert_good(verdicts)
    assert all(v.brackets_at_ib == 1 for v in verdicts)


@pytest.mark.parametrize("after_handling", [False, True], ids=["before-handling", "after-handling"])
@pytest.mark.parametrize("nth", [1, 2, 3])
def test_a_drop_on_each_place_order_of_the_bracket(campaign, nth, after_handling):
    verdicts = [campaign.drop_on_place_order(symbol, nth, after_handling) for symbol in SYMBOLS]
    assert_good(verdicts)
    assert all(v.brackets_at_ib == 1 for v in verdicts)


@pytest.fixture
def sqlite_campaign(gw, tmp_path):
    c = Campaign(gw, f"sqlite:///{tmp_path / 'ledger.db'}")
    _CAMPAIGNS.append(c)
    return c


def test_a_silent_gateway_at_the_order_then_a_restart(sqlite_campaign):
    verdict = sqlite_campaign.silent_at_order("AAPL")
    assert verdict.good and verdict.brackets_at_ib == 1  # the swallowed order is sent again, once
    # The call into the silence ended at its budget (plus one reconnect's timeout), never a hang.
    assert sqlite_campaign.longest_silent_call_s < FAST["call_budget_s"] + FAST["connect_timeout_s"] + 1


def test_an_order_ib_never_got_ends_lost_with_its_reason_when_nobody_re_executes(sqlite_campaign):
    verdict = sqlite_campaign.silent_at_order("MSFT", re_execute=False)
    assert verdict.good and verdict.brackets_at_ib == 0 and verdict.ledger_status == "lost"
    assert "IB has no open order, completed order or execution" in verdict.detail
    assert sqlite_campaign.ledger.open_orders() == []  # no longer blocking its symbol


@pytest.mark.parametrize(
    "scenario", ["restart_after_placing", "late_reject", "late_commission", "next_day_re_execution"]
)
def test_restarts_late_reports_and_the_next_day(sqlite_campaign, scenario):
    verdicts = [getattr(sqlite_campaign, scenario)(symbol) for symbol in SYMBOLS[:3]]
    assert_good(verdicts)
    expected = "rejected" if scenario == "late_reject" else "working"
    assert {v.ledger_status for v in verdicts} == {expected}, [v.detail for v in verdicts]
