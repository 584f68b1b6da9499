"""The paper account outlives the simulator, as a real paper account outlives IB Gateway's restarts."""

import json

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock

from ibkr_pipeline.exchange.state import StateError
from ibkr_pipeline.gateway_sim.server import SimulatorThread
from ibkr_pipeline_tests.conftest import make_gateway
from ibkr_pipeline_tests.eventually import acknowledged, until


def connect(gw: SimulatorThread, client_id: int = 5) -> IB:
    ib = IB()
    ib.connect("127.0.0.1", gw.port, clientId=client_id, timeout=5)
    return ib


def test_cash_positions_orders_and_executions_survive_a_restart(tmp_path):
    state = tmp_path / "DU1234567.json"
    with make_gateway(pacing=False, state_file=state) as gw:
        ib = connect(gw)
        [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
        bought = ib.placeOrder(aapl, MarketOrder("BUY", 25, orderRef="keep:AAPL:1"))
        until(lambda: bought.orderStatus.status == "Filled", "the purchase fills", ib.sleep)
        quote = bought.orderStatus.avgFillPrice
        resting = ib.placeOrder(aapl, LimitOrder("SELL", 25, round(quote * 1.5, 2), tif="GTC", orderRef="keep:AAPL:2"))
        until(acknowledged(resting), "the resting order is answered", ib.sleep)
        before = gw.account_values()
        next_id = ib.client.getReqId()
        ib.disconnect()
    assert json.loads(state.read_text())["account"]["positions"][0]["quantity"] == 25

    with make_gateway(pacing=False, state_file=state) as again:  # a new process, the same paper account
        ib = connect(again)
        assert {p.contract.symbol: p.position for p in ib.reqPositions()} == {"AAPL": 25}
        assert again.account_values()["TotalCashValue"] == pytest.approx(before["TotalCashValue"])
        open_refs = {t.order.orderRef: t.orderStatus.status for t in ib.reqAllOpenOrders()}
        assert open_refs == {"keep:AAPL:2": "Submitted"}  # the GTC order still works
        fills = ib.reqExecutions()
        assert [(f.execution.orderRef, f.execution.shares) for f in fills] == [("keep:AAPL:1", 25)]
        assert ib.client.getReqId() >= next_id  # order ids are never reused
        later = ib.placeOrder(fills[0].contract, MarketOrder("BUY", 5, orderRef="keep:AAPL:3"))
        until(lambda: later.orderStatus.status == "Filled", "the later order fills", ib.sleep)
        assert later.order.permId != resting.order.permId
        exec_ids = [f.execution.execId for f in ib.reqExecutions()]
        assert len(exec_ids) == len(set(exec_ids)) == 2
        ib.disconnect()


def test_a_broken_state_file_is_named_never_replaced(tmp_path):
    state = tmp_path / "DU1234567.json"
    state.write_text("{ not json")
    with pytest.raises(StateError, match="cannot read the simulator's account state"):
        make_gateway(pacing=False, state_file=state)
    assert state.read_text() == "{ not json"
