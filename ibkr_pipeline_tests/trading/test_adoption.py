"""Adoption: what IB already holds under an intent's orderRef is adopted only when it is that intent (the entry on
the intent's side, its contract, its quantity); anything else is a conflict, recorded with IB's ids for a person."""

import logging

import pytest
from ib_async import MarketOrder

from ibkr_pipeline.broker.records import BrokerOrder
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.trading.executor import Placement, adoption_mismatch, broker_book, place_exactly_once, reasons_of
from ibkr_pipeline_tests.eventually import until
from ibkr_pipeline_tests.trading.test_exactly_once import connect, gw  # noqa: F401 (gw is a fixture)

REF = "s:AAPL:t1"
AAPL, MSFT = 265598, 272093

INTENT = OrderIntent(
    order_ref=REF,
    strategy="s",
    symbol="AAPL",
    con_id=AAPL,
    tick="t1",
    mode="paper",
    action="BUY",
    quantity=100,
    entry_type="MKT",
)


def order(
    order_id: int, action: str, quantity: float, parent_id: int = 0, con_id: int = AAPL, status: str = "Submitted"
) -> BrokerOrder:
    return BrokerOrder(REF, order_id, 9000 + order_id, status, con_id, action, quantity, parent_id)


@pytest.mark.parametrize(
    ("known", "expected"),
    [
        # A bracket: the parent BUY is the entry, its SELL stop and target are not.
        ([order(1, "BUY", 100), order(2, "SELL", 100, 1), order(3, "SELL", 100, 1)], ""),
        # The parent on the intent's side is the entry, not a child on the same side.
        ([order(1, "BUY", 100), order(2, "BUY", 40, parent_id=1)], ""),
        # A parentless order on the other side is not the entry either.
        ([order(1, "BUY", 100), order(2, "SELL", 30)], ""),
        # No parent on the side (only a leg is known): the order on the intent's side is the entry.
        ([order(2, "BUY", 100, parent_id=1)], ""),
        # Filled for less, as executions alone report it: not a mismatch.
        ([order(1, "BUY", 60, status="Filled")], ""),
        ([order(1, "SELL", 100)], "no BUY order (IB has SELL)"),
        ([order(1, "SELL", 100), order(2, "SSHORT", 100)], "no BUY order (IB has SELL, SSHORT)"),
        ([order(1, "", 0)], "no BUY order (IB has nothing readable)"),
        ([order(1, "BUY", 100, con_id=MSFT)], f"order 1 is on conId {MSFT}, the intent on {AAPL} (AAPL)"),
        ([order(1, "BUY", 101)], "order 1 is for 101 shares, the intent for 100"),
        ([order(1, "BUY", 101, status="Filled")], "order 1 filled 101 shares, the intent is for 100"),
        (
            [order(1, "BUY", 60, con_id=MSFT)],
            f"order 1 is on conId {MSFT}, the intent on {AAPL} (AAPL); order 1 is for 60 shares, the intent for 100",
        ),
    ],
)
def test_only_the_intent_itself_is_adoptable(known, expected):
    assert adoption_mismatch(INTENT, known) == expected


def test_ibs_reasons_are_joined_in_order():
    rejected = [
        BrokerOrder(REF, 1, 1, "Cancelled", reason="Order rejected - reason:margin"),
        BrokerOrder(REF, 2, 2, "Cancelled"),
        BrokerOrder(REF, 3, 3, "Cancelled", reason="parent rejected"),
    ]
    assert reasons_of(rejected) == "Order rejected - reason:margin; parent rejected"


def send_by_hand(gateway, client, symbol: str, quantity: int) -> None:
    """Our ref on an order the process died before recording: what the next execution finds at IB."""
    order_ = MarketOrder("BUY", quantity)
    order_.orderRef = REF
    client.place_order(client.resolve(ContractSpec(symbol=symbol)), order_)
    gateway.step()
    until(lambda: REF in broker_book(client), "IB reports the order", client.sleep)


def aapl_intent(client) -> tuple:
    info = client.resolve(ContractSpec(symbol="AAPL"))
    return info, INTENT.model_copy(update={"con_id": info.con_id})


def trading_log(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "ibkr_pipeline.trading"]


def ledger_row(ledger: Ledger):
    row = ledger.get(REF)
    return row.status, row.broker_order_ids, row.perm_ids, row.error


def test_an_impostor_is_a_conflict_with_ibs_ids_and_the_reason_logged(gw, tmp_path, caplog):  # noqa: F811
    ledger = Ledger(engine_for(f"sqlite:///{tmp_path / 'l.db'}"))
    client = connect(gw)
    send_by_hand(gw, client, "MSFT", 50)  # filled: its quantity is no mismatch, its contract is
    [seen] = broker_book(client)[REF]  # IB's ids for it, as IB reports them
    info, intent = aapl_intent(client)
    with caplog.at_level(logging.WARNING, logger="ibkr_pipeline.trading"):
        placement = place_exactly_once(client, ledger, intent, info)
    msft = client.resolve(ContractSpec(symbol="MSFT")).con_id
    detail = (
        f"IB already holds orders under {REF} that are not this intent: order {seen.order_id} is on conId "
        f"{msft}, the intent on {info.con_id} (AAPL)"
    )
    assert placement == Placement(REF, "conflict", "conflict", (seen.order_id,), detail)
    assert ledger_row(ledger) == ("conflict", str(seen.order_id), str(seen.perm_id), detail)
    assert trading_log(caplog) == [("ERROR", detail)]
    client.disconnect()


@pytest.mark.parametrize("rejected", [False, True])
def test_the_intent_found_at_ib_is_adopted_with_its_ids_and_ibs_reason(gw, tmp_path, caplog, rejected):  # noqa: F811
    ledger = Ledger(engine_for(f"sqlite:///{tmp_path / 'l.db'}"))
    client = connect(gw)
    if rejected:
        gw.faults.reject_orders = {"AAPL"}
    send_by_hand(gw, client, "AAPL", 100)
    [seen] = broker_book(client)[REF]
    assert bool(seen.reason) is rejected
    reason = seen.reason
    info, intent = aapl_intent(client)
    with caplog.at_level(logging.WARNING, logger="ibkr_pipeline.trading"):
        placement = place_exactly_once(client, ledger, intent, info)
    status = "rejected" if rejected else "filled"
    assert placement == Placement(REF, "adopted", status, (seen.order_id,), reason)
    adopted = "adopted from the broker after an interrupted placement"
    assert ledger.events(REF)[-1] == (status, f"{adopted}: {reason}" if rejected else adopted)
    assert ledger_row(ledger)[:3] == (status, str(seen.order_id), str(seen.perm_id))
    assert trading_log(caplog) == [("WARNING", f"{REF} was already at the broker; adopted, not re-sent")]
    client.disconnect()
