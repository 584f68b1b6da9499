"""How a send ends, and what the ledger keeps of it: IB's reject with its reason, a dropped line as
``unconfirmed`` with what happens next, a blocked or dry-run intent with its reason, an orderRef another
execution is placing left to it, and a re-send after a silent gateway that first cancels what IB never
acknowledged (and nothing else)."""

import logging
import threading
import time
from dataclasses import replace

import pytest
from ib_async import LimitOrder, MarketOrder

from ibkr_pipeline.database.claims import Claims
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.trading.executor import DEFAULT_POLICY, Placement, broker_book, place_exactly_once, record_executions
from ibkr_pipeline_tests.eventually import until
from ibkr_pipeline_tests.trading.test_adoption import REF, aapl_intent, ledger_row, trading_log
from ibkr_pipeline_tests.trading.test_exactly_once import connect, gw, released_at_broker  # noqa: F401 (gw)

WHAT_NEXT = (
    "IB may or may not have them; the next execution or the order-tracking sensor searches IB by orderRef and "
    "adopts, re-sends or marks it lost"
)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(engine_for(f"sqlite:///{tmp_path / 'l.db'}"))


def test_ibs_reject_is_recorded_with_its_reason_and_the_orders_ids(gw, ledger):  # noqa: F811
    client = connect(gw)
    gw.faults.reject_orders = {"AAPL"}
    info, intent = aapl_intent(client)
    placement = place_exactly_once(client, ledger, intent, info)
    [sent] = [o.order_id for o in client.seen_orders() if o.order_ref == REF]
    reason = f"Error 201, reqId {sent}: Order rejected - reason:simulated rejection (fault injection)"
    assert placement == Placement(REF, "placed", "rejected", (sent,), reason)
    assert ledger_row(ledger) == ("rejected", str(sent), "", reason)
    client.disconnect()


def test_a_line_dropped_at_the_send_leaves_the_intent_unconfirmed_and_says_why(gw, ledger, caplog):  # noqa: F811
    client = connect(gw)
    gw.faults.drop_on_request = {3}  # placeOrder: the line closes before IB handles it
    info, intent = aapl_intent(client)
    with caplog.at_level(logging.WARNING, logger="ibkr_pipeline.trading"):
        placement = place_exactly_once(client, ledger, intent, info)
    [sent] = placement.order_ids  # the reconnected client no longer lists what it sent before the drop
    detail = f"sent as orders [{sent}], but the connection dropped: {WHAT_NEXT}"
    assert placement == Placement(REF, "unconfirmed", "unconfirmed", (sent,), detail)
    assert ledger_row(ledger) == ("unconfirmed", str(sent), "", detail)
    assert trading_log(caplog) == [("ERROR", f"{REF}: {detail}")]
    client.disconnect()


@pytest.mark.parametrize(("mode", "status"), [("paper", "blocked"), ("dry_run", "dry_run")])
def test_a_blocked_intent_keeps_its_reason_whether_new_or_already_recorded(gw, ledger, mode, status):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    intent = intent.model_copy(update={"mode": mode})
    blocked = place_exactly_once(client, ledger, intent, info, blocked_reason="kill switch is on")
    assert blocked == Placement(REF, status, status, (), "kill switch is on")
    assert ledger_row(ledger) == (status, "", "", "kill switch is on")
    # Recorded before (a crash after the intent was written): the next run's reason replaces the old one.
    again = place_exactly_once(client, ledger, intent, info, blocked_reason="daily_loss (-1200 vs -1000)")
    assert again == Placement(REF, status, status, (), "daily_loss (-1200 vs -1000)")
    assert ledger.events(REF)[-1] == (status, "daily_loss (-1200 vs -1000)")
    assert released_at_broker(gw, REF) == []
    client.disconnect()


def test_an_order_ref_another_execution_holds_is_left_to_it_and_ours_is_released(gw, ledger, caplog):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    claims, key = Claims(ledger.engine), f"order:{REF}"
    assert claims.acquire(key, "worker-2", 300) is None  # another run of the same step is placing it
    policy = replace(DEFAULT_POLICY, claim_wait_s=0.3)
    with caplog.at_level(logging.WARNING, logger="ibkr_pipeline.trading"):
        waited = place_exactly_once(client, ledger, intent, info, policy=policy)
    detail = f"another execution (worker-2) is placing {REF} and was still at it after 0.3 s; this one sent nothing"
    assert waited == Placement(REF, "claimed_elsewhere", "intent", detail=detail)
    assert trading_log(caplog) == [("WARNING", detail)]
    ledger.record_intent(intent.model_copy(update={"mode": "dry_run"}), status="dry_run")  # what worker-2 wrote
    again = place_exactly_once(client, ledger, intent, info, policy=policy)
    assert (again.outcome, again.status) == ("claimed_elsewhere", "dry_run")
    assert ledger.get(REF).status == "dry_run" and released_at_broker(gw, REF) == []
    assert claims.holder(key).owner == "worker-2"  # a claim that was never ours stays where it is
    client.disconnect()


def test_an_execution_waits_for_the_claim_and_releases_it_once_placed(gw, ledger):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    claims, key = Claims(ledger.engine), f"order:{REF}"
    assert claims.acquire(key, "worker-2", 300) is None
    finished = threading.Thread(target=lambda: (time.sleep(0.3), claims.release(key, "worker-2")))
    finished.start()  # worker-2 gives up the ref without sending it, while this execution waits
    placement = place_exactly_once(client, ledger, intent, info)  # waits up to 30 s, looking every 0.2 s
    finished.join()
    assert (placement.outcome, placement.status) == ("placed", "working")
    assert claims.holder(key) is None  # released: the next execution need not wait out a lease
    again = place_exactly_once(client, ledger, intent, info)
    assert again == Placement(REF, "already_done", "working", placement.order_ids)
    client.disconnect()


def test_only_executions_of_orders_in_the_ledger_are_recorded(gw, ledger):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    foreign = MarketOrder("BUY", 5)
    foreign.orderRef = "another-system:AAPL:1"  # an orderRef, but not one of ours
    client.place_order(info, foreign)
    gw.step()
    until(lambda: client.executions(), "IB reports the fill", client.sleep)
    assert record_executions(client, ledger) == []
    place_exactly_once(client, ledger, intent, info)
    gw.step()
    until(lambda: len(client.executions()) == 2, "IB reports our fill", client.sleep)
    assert [(ref, side, shares) for ref, _, side, shares, _ in record_executions(client, ledger)] == [(REF, "BUY", 100)]
    client.disconnect()


def test_an_order_the_gateway_holds_as_api_pending_is_not_acknowledged(gw, ledger):  # noqa: F811
    client = connect(gw)
    gw.faults.api_pending_orders = {"AAPL"}  # IB's server never sees it
    info, intent = aapl_intent(client)
    placement = place_exactly_once(client, ledger, intent, info, policy=replace(DEFAULT_POLICY, confirm_s=0.3))
    [sent] = [o for o in client.seen_orders() if o.order_ref == REF]
    assert sent.status == "ApiPending"  # the gateway answered, but only that it holds the order
    detail = f"sent as orders [{sent.order_id}], but no acknowledgement within 0.3 s: {WHAT_NEXT}"
    assert placement == Placement(REF, "unconfirmed", "unconfirmed", (sent.order_id,), detail)
    client.disconnect()


def test_a_resend_after_silence_cancels_only_the_legs_ib_never_released(gw, ledger, caplog):  # noqa: F811
    client = connect(gw)
    info, intent = aapl_intent(client)
    quote = client.snapshot(info).reference_price
    bracket = intent.model_copy(update={"stop_loss": round(quote * 0.9, 2), "take_profit": round(quote * 1.1, 2)})
    others = LimitOrder("BUY", 1, round(quote * 0.5, 2))
    others.orderRef = "other:AAPL:t0"  # another strategy's working order on the same contract
    client.place_order(info, others)
    gw.step()
    until(lambda: "other:AAPL:t0" in broker_book(client), "IB lists the other order", client.sleep)
    policy = replace(DEFAULT_POLICY, confirm_s=0.3, resend_grace_s=0.0)
    gw.faults.silent_on_order = True  # the entry vanishes and the gateway reads nothing more
    first = place_exactly_once(client, ledger, bracket, info, policy=policy)
    legs = [o.order_id for o in client.seen_orders() if o.order_ref == REF]
    assert len(legs) == 3
    assert first == Placement(
        REF,
        "unconfirmed",
        "unconfirmed",
        tuple(legs),
        f"sent as orders {legs}, but no acknowledgement within 0.3 s: {WHAT_NEXT}",
    )
    gw.faults.clear()  # the gateway answers again; it never had the bracket
    assert REF not in broker_book(client)  # what this connection sent and IB never acknowledged is not "at IB"
    with caplog.at_level(logging.WARNING, logger="ibkr_pipeline.trading"):
        again = place_exactly_once(client, ledger, bracket, info, policy=policy)
    assert (again.outcome, again.status) == ("placed", "working"), again.detail
    assert trading_log(caplog) == [
        ("ERROR", f"{REF}: {first.detail}"),
        ("WARNING", f"{REF}: IB has nothing 0 s after the send; sending again (cancelled 3 untransmitted leg(s))"),
    ]
    old = {o.order_id: o.status for o in client.seen_orders() if o.order_id in legs}
    assert "PendingSubmit" not in old.values(), old
    assert len(released_at_broker(gw, REF)) == 3
    [kept] = released_at_broker(gw, "other:AAPL:t0")
    assert kept.status == "Submitted"
    client.disconnect()
