"""What a real IB Gateway does to its clients, observed through ib_async as a client sees it."""

import asyncio
import socket
import threading
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from zoneinfo import ZoneInfo

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, StopOrder

from ibkr_pipeline.gateway_sim.history import BarRequest
from ibkr_pipeline_tests.conftest import make_gateway
from ibkr_pipeline_tests.eventually import acknowledged, until

CLOCK = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York


def connect(port: int, client_id: int = 4) -> IB:
    ib = IB()
    ib.connect("127.0.0.1", port, clientId=client_id, timeout=5)
    return ib


def dropped(ib: IB) -> bool:
    """Let ib_async's loop run a moment; a dropped socket surfaces there as ConnectionError."""
    try:
        ib.sleep(0.05)
    except ConnectionError:
        return True
    return not ib.isConnected()


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_a_restart_drops_sessions_refuses_connections_and_keeps_orders():
    with make_gateway(clock_start=CLOCK, clock_speed=0, pacing=False) as gw:
        port = gw.port
        ib = connect(port)
        [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
        resting = ib.placeOrder(aapl, LimitOrder("BUY", 10, 1.00, tif="GTC", orderRef="night:AAPL:1"))
        filled = ib.placeOrder(aapl, MarketOrder("BUY", 5, orderRef="night:AAPL:2"))
        until(lambda: filled.orderStatus.status == "Filled" and acknowledged(resting)(), "the fill, the ack", ib.sleep)
        restart = threading.Thread(target=gw.restart, kwargs={"downtime_s": 1.5})
        restart.start()
        until(lambda: dropped(ib), "the client notices the dropped session")
        until(lambda: refused(port), "connections are refused while it restarts")
        restart.join(30)
        ib = connect(port)  # the same port answers again
        assert {t.order.orderRef: t.orderStatus.status for t in ib.reqAllOpenOrders()} == {"night:AAPL:1": "Submitted"}
        assert [f.execution.orderRef for f in ib.reqExecutions()] == ["night:AAPL:2"]
        assert {p.contract.symbol: p.position for p in ib.reqPositions()} == {"AAPL": 5}
        assert gw.sim.restarts == 1 and resting.order.permId and filled.orderStatus.status == "Filled"
        ib.disconnect()


def test_the_nightly_restart_happens_at_its_configured_time():
    at = CLOCK.astimezone(ZoneInfo("America/New_York")) + timedelta(minutes=5)
    with make_gateway(
        clock_start=CLOCK, clock_speed=0, pacing=False, restart_at=dt_time(at.hour, at.minute), restart_downtime_s=0.5
    ) as gw:
        ib = connect(gw.port)
        gw.advance(timedelta(minutes=4))
        assert not any(dropped(ib) for _ in range(6)) and gw.sim.restarts == 0
        gw.advance(timedelta(minutes=2))
        until(lambda: dropped(ib), "the 10:05 restart drops the session")
        assert gw.sim.restarts == 1
        ib.disconnect()


def test_reusing_the_id_of_a_completed_order_is_error_103(gateway):
    ib = connect(gateway.port, client_id=6)
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    done = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    until(lambda: done.orderStatus.status == "Filled", "the first order fills", ib.sleep)
    ib.disconnect()
    restarted = connect(gateway.port, client_id=6)  # a process that restarted and counts ids from scratch
    again = MarketOrder("BUY", 1)
    again.orderId = done.order.orderId
    trade = restarted.placeOrder(aapl, again)
    until(lambda: any(e.errorCode for e in trade.log), "the gateway answers the reused id", restarted.sleep)
    restarted.sleep(0.2)  # nothing else follows the refusal
    assert [e.errorCode for e in trade.log if e.errorCode] == [103]
    assert gateway.call(lambda: len(gateway.sim.engine.fills)) == 1
    restarted.disconnect()


def test_a_gateway_can_swallow_an_order_and_go_silent(gateway):
    ib = connect(gateway.port)
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    gateway.faults.silent_on_order = True
    ib.placeOrder(aapl, MarketOrder("BUY", 1, orderRef="lost:AAPL:1"))
    ib.sleep(0.3)
    assert gateway.call(lambda: [o.order_ref for o in gateway.sim.engine.orders.values()]) == []
    with pytest.raises(TimeoutError):
        ib.run(asyncio.wait_for(ib.reqCurrentTimeAsync(), 1.0))  # connected, and answering nothing
    assert ib.isConnected()
    ib.disconnect()


def test_a_market_order_goes_presubmitted_submitted_filled_with_repeats(gateway):
    ib = connect(gateway.port, client_id=8)
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    seen: list[str] = []
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 3))
    trade.statusEvent += lambda t: seen.append(t.orderStatus.status)
    until(lambda: "Filled" in seen, "the market order fills", ib.sleep)
    ib.sleep(0.2)  # and no status after it
    # ib_async passes on changes only; IBKR's own client sees the repeated Filled (examples/ibapi_session.py).
    assert seen == ["PreSubmitted", "Submitted", "Filled"]
    assert len(ib.fills()) == 1
    ib.disconnect()


def test_during_1100_requests_wait_and_1102_answers_them(gateway):
    ib = connect(gateway.port, client_id=9)
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, message, contract: codes.append(code)
    gateway.outage()
    pending = asyncio.ensure_future(ib.reqCurrentTimeAsync())
    until(lambda: codes, "the 1100", ib.sleep)
    ib.sleep(0.3)
    assert codes == [1100] and not pending.done()  # connected, and waiting
    gateway.restore(data_kept=True)
    until(pending.done, "the waiting request is answered after the 1102", ib.sleep)
    assert pending.done() and pending.result().year == 2026 and codes == [1100, 1102]
    ib.disconnect()


def test_1101_restores_the_connection_but_loses_what_was_waiting(gateway):
    ib = connect(gateway.port, client_id=10)
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, message, contract: codes.append(code)
    gateway.outage()
    pending = asyncio.ensure_future(ib.reqCurrentTimeAsync())
    until(lambda: codes, "the 1100", ib.sleep)
    gateway.restore(data_kept=False)
    until(lambda: len(codes) == 2, "the 1101", ib.sleep)
    ib.sleep(0.3)
    assert codes == [1100, 1101] and not pending.done()  # the client must ask again
    pending.cancel()
    assert ib.reqCurrentTime().year == 2026
    ib.disconnect()


def test_executions_reach_the_master_client_and_commission_reports_trail_them():
    # The report trails by seconds: a loaded machine still reads the execution well before it.
    with make_gateway(clock_start=CLOCK, pacing=False, master_client_id=0, commission_delay_s=3.0) as gw:
        trader, master, other = connect(gw.port, 31), connect(gw.port, 0), connect(gw.port, 32)
        [aapl] = trader.qualifyContracts(Stock("AAPL", "SMART", "USD"))
        trader.placeOrder(aapl, MarketOrder("BUY", 2, orderRef="m:AAPL:1"))
        until(trader.fills, "the execution reaches the trader", trader.sleep)
        [fill] = trader.fills()
        assert fill.commissionReport.commission == 0.0  # the execution is here, its commission not yet
        until(
            lambda: [f.commissionReport.commission for f in trader.fills() + master.fills()] == [1.0, 1.0],
            "the commission report reaches trader and master",
            trader.sleep,
        )
        assert trader.fills()[0].commissionReport.commission == 1.0
        assert [f.execution.orderRef for f in master.fills()] == ["m:AAPL:1"]
        assert master.fills()[0].commissionReport.commission == 1.0
        other.sleep(0.1)
        assert other.fills() == []  # not the master: nothing unless it asks (reqExecutions)
        for ib in (trader, master, other):
            ib.disconnect()


def test_executions_and_completed_orders_are_the_current_days_only(gateway):
    ib = connect(gateway.port, client_id=11)
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    day = ib.placeOrder(aapl, MarketOrder("BUY", 1, orderRef="day:AAPL:1"))
    until(lambda: day.orderStatus.status == "Filled", "the order fills", ib.sleep)
    assert [f.execution.orderRef for f in ib.reqExecutions()] == ["day:AAPL:1"]
    assert [t.order.orderRef for t in ib.reqCompletedOrders(apiOnly=False)] == ["day:AAPL:1"]
    gateway.advance(timedelta(days=1))  # past New York midnight: yesterday is gone from both
    assert ib.reqExecutions() == [] and ib.reqCompletedOrders(apiOnly=False) == []
    assert {p.contract.symbol: p.position for p in ib.reqPositions()} == {"AAPL": 1}  # the position is not
    ib.disconnect()


def test_untransmitted_legs_are_not_orders_and_go_with_their_client(gateway):
    """A bracket cut off before its transmitting leg: nothing works, nobody else sees it, and it is gone
    once its client is (a crash between the legs never leaves a live half-bracket)."""
    placing, observer = connect(gateway.port, client_id=13), connect(gateway.port, client_id=14)
    [aapl] = placing.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    parent = MarketOrder("BUY", 5, orderRef="half:AAPL:1", transmit=False)
    placing.placeOrder(aapl, parent)
    until(lambda: gateway.call(lambda: len(gateway.sim.engine.orders)), "the leg reaches the gateway", placing.sleep)
    gateway.step()
    assert [t.order.orderRef for t in observer.reqAllOpenOrders()] == []
    assert gateway.call(lambda: [(o.order_ref, o.released) for o in gateway.sim.engine.orders.values()]) == [
        ("half:AAPL:1", False)
    ]
    placing.disconnect()
    until(lambda: gateway.call(lambda: len(gateway.sim.engine.orders)) == 0, "the held leg is discarded")
    assert observer.reqExecutions() == [] and observer.reqPositions() == []
    observer.disconnect()


def test_a_slow_historical_data_service_answers_later_not_never():
    with make_gateway(clock_start=CLOCK, pacing=False, hmds_delay_s=1.0) as gw:
        ib = connect(gw.port, client_id=15)
        [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
        pending = asyncio.ensure_future(ib.reqHistoricalDataAsync(aapl, "", "1 M", "1 day", "TRADES", True, 2))
        ib.sleep(0.2)
        assert not pending.done()  # still waiting on HMDS
        until(pending.done, "the bars arrive", ib.sleep)
        assert len(pending.result()) > 15
        ib.disconnect()


def test_a_gateway_can_go_silent_after_n_requests(gateway):
    ib = connect(gateway.port, client_id=16)
    gateway.faults.silent_after_requests = 2
    assert ib.reqCurrentTime().year == 2026 and ib.reqCurrentTime().year == 2026
    with pytest.raises(TimeoutError):
        ib.run(asyncio.wait_for(ib.reqCurrentTimeAsync(), 1.0))
    assert ib.isConnected()
    ib.disconnect()


def test_a_resting_limit_is_submitted_and_a_stop_is_held_presubmitted_until_it_triggers(gateway):
    ib = connect(gateway.port, client_id=12)
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    price = gateway.sim.market.price_at(gateway.sim.universe.by_symbol("AAPL"), gateway.sim.clock.now())
    seen: dict[str, list[str]] = {"limit": [], "stop": []}
    limit = ib.placeOrder(aapl, LimitOrder("BUY", 1, round(price * 0.5, 2)))
    stop = ib.placeOrder(aapl, StopOrder("BUY", 1, round(price * 0.999, 2)))  # just below: it triggers at once
    limit.statusEvent += lambda t: seen["limit"].append(t.orderStatus.status)
    stop.statusEvent += lambda t: seen["stop"].append(t.orderStatus.status)
    until(lambda: seen["limit"][-1:] == ["Submitted"] and "Filled" in seen["stop"], "both answered", ib.sleep)
    ib.sleep(0.2)  # and nothing more
    assert seen["limit"] == ["PreSubmitted", "Submitted"]  # resting far below the market
    assert seen["stop"] == ["PreSubmitted", "Submitted", "Filled"]  # held, triggered, filled
    far = ib.placeOrder(aapl, StopOrder("BUY", 1, round(price * 2, 2)))
    until(acknowledged(far), "the far stop is answered", ib.sleep)
    gateway.step()
    ib.sleep(0.2)
    assert far.orderStatus.status == "PreSubmitted"  # not triggered: still held
    ib.disconnect()


def test_more_than_50_open_historical_requests_is_error_162():
    with make_gateway(pacing=True, hmds_delay_s=5.0) as gw:  # long enough for all 51 to arrive while 50 are open
        ib = connect(gw.port, client_id=13)
        contracts = ib.qualifyContracts(*[Stock(s, "SMART", "USD") for s in gw.sim.universe.symbols[:51]])
        errors: list[tuple[int, str]] = []
        ib.errorEvent += lambda req_id, code, message, contract: errors.append((code, message))
        # Every symbol's bars computed before the burst (not over the wire: no pacing counted), so the 51 requests
        # all arrive within the 5 s the first stays open however loaded the machine; cold, they took seconds each.
        now = gw.call(lambda: gw.sim.clock.now())
        warm = BarRequest(now, "5 D", "1 day", "TRADES", True, 2)
        gw.call(lambda: [gw.sim.history.bars(gw.sim.universe.by_symbol(c.symbol), warm) for c in contracts], 300)

        async def all_at_once():
            return await asyncio.gather(
                *(ib.reqHistoricalDataAsync(c, "", "5 D", "1 day", "TRADES", True, 2, timeout=60) for c in contracts)
            )

        answers = ib.run(all_at_once())
        assert sum(1 for a in answers if a) == 50  # the 51st, sent while 50 were open, was refused
        assert [e for e in errors if e[0] == 162] == [
            (162, "Historical Market Data Service error message:more than 50 simultaneous historical data requests")
        ]
        assert gw.sim.open_historical == 0
        ib.disconnect()


def test_a_cancel_or_a_closed_session_frees_its_open_historical_requests():
    """At a real gateway a request dies with its cancel or its socket: a client that reconnects after a timeout
    gets the whole cap of 50 back, not what its dead session left open."""
    with make_gateway(pacing=True, hmds_delay_s=60.0) as gw:  # every answer held back far beyond this test
        ib = connect(gw.port, client_id=17)
        contracts = ib.qualifyContracts(*[Stock(s, "SMART", "USD") for s in ("AAPL", "MSFT", "SPY")])
        req_ids = [ib.client.getReqId() for _ in contracts]
        for req_id, contract in zip(req_ids, contracts, strict=True):
            ib.client.reqHistoricalData(req_id, contract, "", "5 D", "1 day", "TRADES", True, 2, False, [])

        def open_now() -> int:
            return gw.call(lambda: gw.sim.open_historical)

        until(lambda: open_now() == 3, "three requests open", ib.sleep)
        ib.client.cancelHistoricalData(req_ids[0])
        until(lambda: open_now() == 2, "the cancelled one freed", ib.sleep)
        ib.disconnect()
        until(lambda: open_now() == 0, "the closed session's two freed")
        again = connect(gw.port, client_id=17)
        [aapl] = again.qualifyContracts(Stock("AAPL", "SMART", "USD"))
        again.client.reqHistoricalData(again.client.getReqId(), aapl, "", "5 D", "1 day", "TRADES", True, 2, False, [])
        until(lambda: open_now() == 1, "the new session's request open", again.sleep)
        again.disconnect()
