"""What the ledger keeps of each step of a placement: the send and IB's acknowledgement as events with IB's ids,
an unconfirmed intent held back until its grace period has passed (to the second) and then sent again, a guard's
or a risk check's refusal on the way, and a never-sent intent that goes with the re-computed numbers."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import UNCONFIRMED, Ledger
from ibkr_pipeline.trading.executor import DEFAULT_POLICY, Placement, broker_book, place_exactly_once
from ibkr_pipeline_tests.trading.test_adoption import REF, aapl_intent, ledger_row, trading_log
from ibkr_pipeline_tests.trading.test_exactly_once import connect, gw, released_at_broker  # noqa: F401 (gw)

SENT_AT = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)


class Clock:
    """The ledger's clock, moved by hand: the grace period is counted on it."""

    def __init__(self) -> None:
        self.now = SENT_AT

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path, clock) -> Ledger:
    return Ledger(engine_for(f"sqlite:///{tmp_path / 'l.db'}"), clock=clock)


def sent_without_answer(ledger: Ledger, intent) -> None:
    """An intent a process sent before it died unanswered: unconfirmed in the ledger, nothing of it at IB."""
    ledger.record_intent(intent)
    ledger.set_status(REF, UNCONFIRMED, "no acknowledgement")


def test_a_placement_leaves_the_send_and_ibs_acknowledgement_with_ibs_ids(gw, ledger):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    placement = place_exactly_once(client, ledger, intent, info)
    [sent] = [o for o in client.seen_orders() if o.order_ref == REF]
    assert sent.perm_id in {o.perm_id for o in broker_book(client)[REF]}  # IB's own number for it
    assert placement == Placement(REF, "placed", "working", (sent.order_id,))
    assert ledger_row(ledger) == ("working", str(sent.order_id), str(sent.perm_id), "")
    assert ledger.events(REF) == [
        ("intent", ""),
        (UNCONFIRMED, "sending"),
        ("working", "sent and acknowledged by IB"),
    ]
    client.disconnect()


def test_an_unconfirmed_intent_waits_out_its_grace_period_to_the_second_then_goes_again(
    gw,  # noqa: F811
    ledger,
    clock,
    caplog,
):
    client = connect(gw)  # a new process: it never saw the first send
    info, intent = aapl_intent(client)
    sent_without_answer(ledger, intent)
    clock.now = SENT_AT + timedelta(seconds=59)
    held = place_exactly_once(client, ledger, intent, info)
    assert held == Placement(
        REF,
        "unconfirmed",
        UNCONFIRMED,
        detail=(
            "sent 59 s ago and not yet acknowledged by IB, which has nothing under the ref; "
            "it is sent again after 60 s if IB still has nothing"
        ),
    )
    assert released_at_broker(gw, REF) == [] and ledger_row(ledger)[0] == UNCONFIRMED
    clock.now = SENT_AT + timedelta(seconds=DEFAULT_POLICY.resend_grace_s)
    with caplog.at_level(logging.WARNING, logger="ibkr_pipeline.trading"):
        again = place_exactly_once(client, ledger, intent, info)
    assert (again.outcome, again.status) == ("placed", "working"), again.detail
    assert trading_log(caplog) == [("WARNING", f"{REF}: IB has nothing 60 s after the send; sending again")]
    assert len(released_at_broker(gw, REF)) == 1
    client.disconnect()


def test_an_unconfirmed_intent_a_risk_check_now_refuses_is_blocked_not_sent(gw, ledger, clock):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    sent_without_answer(ledger, intent)
    clock.now = SENT_AT + timedelta(minutes=5)
    reason = "orders_today (3 vs 3)"
    placement = place_exactly_once(client, ledger, intent, info, blocked_reason=reason)
    assert placement == Placement(REF, "blocked", "blocked", detail=reason)
    assert ledger_row(ledger) == ("blocked", "", "", reason)
    assert ledger.events(REF)[-1] == ("blocked", reason)
    assert released_at_broker(gw, REF) == []
    client.disconnect()


def test_a_guard_that_refuses_right_before_the_send_blocks_the_recorded_intent(gw, ledger):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    reason = "the kill switch is on (by ops: halt)"
    placement = place_exactly_once(client, ledger, intent, info, guard=lambda: reason)
    assert placement == Placement(REF, "blocked", "blocked", detail=reason)
    assert ledger_row(ledger) == ("blocked", "", "", reason)
    assert ledger.events(REF) == [("intent", ""), ("blocked", reason)]
    assert released_at_broker(gw, REF) == []
    client.disconnect()


def test_a_blocked_intent_sent_later_goes_with_the_recomputed_numbers(gw, ledger):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    place_exactly_once(client, ledger, intent, info, blocked_reason="market_session (closed)")
    resized = intent.model_copy(update={"quantity": 120})  # the re-run sized it again, now the checks pass
    placement = place_exactly_once(client, ledger, resized, info)
    assert (placement.outcome, placement.status) == ("placed", "working"), placement.detail
    assert ledger.get(REF).quantity == 120
    [at_ib] = released_at_broker(gw, REF)
    assert at_ib.quantity == 120
    client.disconnect()
