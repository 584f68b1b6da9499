"""Every encoder decoded by ib_async's own Decoder (the ground truth for field positions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ib_async.decoder import Decoder

from ibkr_pipeline.exchange.market import SessionCalendar
from ibkr_pipeline.exchange.matching import Fill, SimOrder
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.protocol import SERVER_VERSION, encode_field, frame, split_fields

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class Recorder:
    """A wrapper that records what the decoder hands it."""

    defaultTimezone = UTC

    def __init__(self):
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        def record(*args):
            self.calls.append((name, args))

        return record


def decode(fields) -> tuple[str, tuple]:
    recorder = Recorder()
    decoder = Decoder(recorder, SERVER_VERSION)
    wire = frame(fields)
    decoder.interpret(split_fields(wire[4:]))
    assert recorder.calls, f"decoder dropped the message {fields[:3]}"
    return recorder.calls[0]


@pytest.fixture(scope="module")
def aapl():
    return Universe.default().by_symbol("AAPL")


def order(aapl, **kw) -> SimOrder:
    base = dict(
        client_id=7,
        order_id=42,
        perm_id=1000042,
        instrument=aapl,
        action="BUY",
        quantity=100.0,
        order_type="LMT",
        lmt_price=101.25,
        aux_price=None,
        tif="GTC",
        oca_group="",
        oca_type=0,
        account="DU1234567",
        order_ref="strat:AAPL:20261124",
        transmit=True,
        parent_id=41,
        outside_rth=True,
        placed_at=NOW,
        status="Submitted",
    )
    base.update(kw)
    return SimOrder(**base)


def test_field_encoding():
    assert encode_field(None) == ""
    assert encode_field(True) == "1"
    assert encode_field(1.5) == "1.5"
    assert encode_field(float("inf")) == "Infinite"
    import numpy as np

    assert encode_field(np.float64(2.25)) == "2.25"
    assert encode_field(np.int64(3)) == "3"


def test_open_order_has_127_fields_and_decodes(aapl):
    fields = msg.open_order(order(aapl))
    assert len(fields) == 127
    name, (order_id, contract, o, state) = decode(fields)
    assert name == "openOrder"
    assert (order_id, contract.symbol, contract.conId) == (42, "AAPL", aapl.con_id)
    assert (o.action, o.totalQuantity, o.orderType, o.lmtPrice) == ("BUY", 100.0, "LMT", 101.25)
    assert (o.orderRef, o.parentId, o.clientId, o.permId, o.outsideRth) == ("strat:AAPL:20261124", 41, 7, 1000042, True)
    assert state.status == "Submitted"


def test_completed_order_has_96_fields_and_decodes(aapl):
    o = order(aapl, status="Filled", filled=100.0, completed_at=NOW, completed_status="Filled Size: 100")
    fields = msg.completed_order(o)
    assert len(fields) == 96
    name, (contract, decoded, state) = decode(fields)
    assert name == "completedOrder"
    assert (contract.symbol, decoded.orderRef, decoded.permId, decoded.filledQuantity) == (
        "AAPL",
        o.order_ref,
        1000042,
        100.0,
    )
    assert (state.status, state.completedStatus) == ("Filled", "Filled Size: 100")


def test_order_status_exec_and_commission(aapl):
    o = order(aapl, status="Filled", filled=100.0, avg_fill_price=101.0, last_fill_price=101.0)
    name, args = decode(msg.order_status(o))
    assert name == "orderStatus" and args[:5] == (42, "Filled", 100.0, 0.0, 101.0)
    fill = Fill("abc.01", o, NOW, 100.0, 101.0, 1.0, None)
    name, (req_id, contract, execution) = decode(msg.exec_details(-1, fill))
    assert name == "execDetails" and req_id == -1
    assert (execution.execId, execution.side, execution.shares, execution.price, execution.orderRef) == (
        "abc.01",
        "BOT",
        100.0,
        101.0,
        o.order_ref,
    )
    assert execution.time == NOW
    fields = msg.commission_report(fill)
    assert len(fields) == 8
    name, (report,) = decode(fields)
    assert (report.execId, report.commission, report.currency) == ("abc.01", 1.0, "USD")


def test_contract_details_decodes(aapl):
    name, (req_id, cd) = decode(msg.contract_details(5, aapl, SessionCalendar(), NOW))
    assert name == "contractDetails" and req_id == 5
    c = cd.contract
    assert (c.symbol, c.conId, c.primaryExchange, c.exchange, c.currency) == (
        "AAPL",
        aapl.con_id,
        "NASDAQ",
        "SMART",
        "USD",
    )
    assert (cd.minTick, cd.timeZoneId, cd.longName, cd.stockType) == (0.01, "US/Eastern", "APPLE INC", "COMMON")
    assert cd.liquidHours.startswith("20261124:0930-20261124:1600")
    assert "20261126:CLOSED" in cd.tradingHours  # Thanksgiving


def test_position_portfolio_and_ticks_have_exact_field_counts(aapl):
    fields = msg.position("DU1", aapl, 10.0, 100.5)
    assert len(fields) == 16
    name, (account, contract, pos, avg) = decode(fields)
    assert (name, account, contract.symbol, pos, avg) == ("position", "DU1", "AAPL", 10.0, 100.5)
    fields = msg.portfolio_value("DU1", aapl, 10.0, 101.0, 100.5, 3.0)
    assert len(fields) == 20
    name, args = decode(fields)
    assert name == "updatePortfolio" and args[1:] == (10.0, 101.0, 1010.0, 100.5, 5.0, 3.0, "DU1")
    assert len(msg.tick_price(1, 4, 100.0, 5)) == 7
