"""Reconciliation of the ledger's live orders with a gateway that knows nothing of them: the grace period, then
``lost`` (or ``filled`` when their fills are recorded), each with what the trader must do."""

from datetime import UTC, datetime, timedelta

import pytest
from ib_async import LimitOrder

from ibkr_pipeline.broker.client import IBKRClient, IBKRSettings
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import LOST, UNCONFIRMED, Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.trading.reconcile import reconcile
from ibkr_pipeline_tests.trading.placement_worker import bracket_intent

SENT_AT = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
REF = "alpha:AAPL:2026-11-19-1000"


class Clock:
    def __init__(self) -> None:
        self.now = SENT_AT

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(gateway, database_url):
    """A connected client to a gateway with no orders, and a ledger on a clock the test moves."""
    client = IBKRClient(IBKRSettings(port=gateway.port, connect_timeout_s=2, backoff_initial_s=0.05))
    client.connect()
    clock = Clock()
    ledger = Ledger(engine_for(database_url), clock=clock)
    intent = bracket_intent(REF, client.resolve(ContractSpec(symbol="AAPL")))
    assert ledger.record_intent(intent)
    # Another strategy's filled order: its fills are not this order's.
    ledger.record_fill("0000.01", "beta:MSFT:2026-11-18-1000", "MSFT", "BOT", 5, 400.0, 1.0, 0.0, SENT_AT)
    yield client, ledger, clock
    client.disconnect()


def after(clock: Clock, seconds: float) -> None:
    clock.now = SENT_AT + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("last_status", "was"), [(UNCONFIRMED, "sent and never acknowledged"), ("working", "last seen working")]
)
def test_an_order_ib_does_not_know_is_lost_once_the_grace_period_has_passed(world, last_status, was):
    client, ledger, clock = world
    ledger.set_status(REF, last_status, "what the placement saw")
    after(clock, 299.9)
    quiet = reconcile(client, ledger)
    assert (quiet.changes, quiet.lost, quiet.rejects, quiet.fills) == ([], [], [], [])
    assert ledger.get(REF).status == last_status
    after(clock, 300)
    result = reconcile(client, ledger)
    assert result.changes == [(REF, last_status, LOST)] and result.lost == [REF] and result.rejects == []
    row = ledger.get(REF)
    assert row.status == LOST
    assert row.error == (
        f"IB has no open order, completed order or execution under {REF} 300 s after it was {was}; it no longer "
        "blocks AAPL: check the account in TWS before trading it again"
    )
    assert ledger.open_orders() == []  # it blocks its symbol no more
    assert reconcile(client, ledger).changes == []


def test_the_grace_period_is_the_callers(world):
    client, ledger, clock = world
    ledger.set_status(REF, UNCONFIRMED, "no acknowledgement")
    after(clock, 9)
    assert reconcile(client, ledger, lost_after_s=10).changes == []
    after(clock, 10)
    assert reconcile(client, ledger, lost_after_s=10).lost == [REF]


def test_an_order_ib_no_longer_reports_but_whose_fills_are_recorded_is_filled(world):
    """Executions are day-scoped: the next day IB reports nothing of an order that filled yesterday."""
    client, ledger, clock = world
    ledger.set_status(REF, "working")
    ledger.record_fill("0001.01", REF, "AAPL", "BOT", 10, 100.0, 1.0, 0.0, SENT_AT)
    after(clock, 86_400)
    result = reconcile(client, ledger)
    assert result.changes == [(REF, "working", "filled")] and result.lost == [] and result.rejects == []
    assert ledger.get(REF).status == "filled"
    assert ledger.events(REF)[-1] == (
        "filled",
        "IB no longer reports it (executions are day-scoped); its fills are recorded",
    )


@pytest.mark.parametrize(("recorded_fills", "expected"), [(0, "cancelled"), (1, "filled")])
def test_an_order_ib_reports_cancelled_is_filled_when_its_fills_are_recorded(world, recorded_fills, expected):
    """A bracket whose entry filled on an earlier day: today IB reports its legs cancelled and no execution."""
    client, ledger, clock = world
    resting = LimitOrder("BUY", 10, 1.0)
    resting.orderRef = REF
    sent = client.place_order(client.resolve(ContractSpec(symbol="AAPL")), resting)
    client.cancel(sent)
    for _ in range(100):
        if not client.open_orders():
            break
        client.sleep(0.05)
    ledger.set_status(REF, "working")
    for n in range(recorded_fills):
        ledger.record_fill(f"0001.0{n}", REF, "AAPL", "BOT", 10, 100.0, 1.0, 0.0, SENT_AT - timedelta(days=1))
    result = reconcile(client, ledger)
    assert result.changes == [(REF, "working", expected)] and result.lost == [] and result.rejects == []
    assert ledger.events(REF)[-1] == (expected, "reconciled with the broker")


def test_an_order_inside_its_grace_period_holds_up_no_other(world):
    client, ledger, clock = world
    other = "alpha:MSFT:2026-11-19-1000"  # written with REF, sorted after it: read after it
    assert ledger.record_intent(bracket_intent(other, client.resolve(ContractSpec(symbol="MSFT"))))
    ledger.set_status(other, "working")
    after(clock, 600)
    ledger.set_status(REF, "working", "just acknowledged")  # REF moved now: IB may not show it yet
    result = reconcile(client, ledger)
    assert result.changes == [(other, "working", LOST)] and ledger.get(REF).status == "working"
