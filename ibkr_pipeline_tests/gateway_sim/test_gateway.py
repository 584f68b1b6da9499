"""The real ib_async client against the simulator over loopback, request by request."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, StopOrder
from ib_async.wrapper import RequestError

from ibkr_pipeline.exchange.account import ibkr_fixed_commission
from ibkr_pipeline_tests.conftest import MARKET_OPEN_INSTANT, make_gateway
from ibkr_pipeline_tests.eventually import acknowledged, until


def test_connect_completes_fast_with_paper_account(gateway):
    """Every request ib_async makes while connecting is answered: one left unanswered would hold each connect for
    its whole timeout (counted by ib_async, which raises naming it, rather than timed)."""
    ib = IB()
    ib.connect("127.0.0.1", gateway.port, clientId=3, timeout=30, raiseSyncErrors=True)
    try:
        assert ib.managedAccounts() == ["DU1234567"]
        assert ib.reqCurrentTime() == MARKET_OPEN_INSTANT
    finally:
        ib.disconnect()


def test_contract_details_search_and_unknown_symbol(ib):
    aapl, spy = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"), Stock("SPY", "SMART", "USD"))
    assert aapl.conId and aapl.primaryExchange == "NASDAQ"
    assert spy.primaryExchange == "ARCA"
    [details] = ib.reqContractDetails(Stock("SPY", "SMART", "USD"))
    assert details.stockType == "ETF" and details.minTick == 0.01 and details.timeZoneId == "US/Eastern"
    errors = []
    ib.errorEvent += lambda req_id, code, message, contract: errors.append(code)
    assert ib.reqContractDetails(Stock("NOPE", "SMART", "USD")) == []
    assert 200 in errors
    found = ib.reqMatchingSymbols("MS")
    assert found and found[0].contract.symbol == "MS"


def test_historical_bars_cover_sizes_formats_and_what_to_show(ib):
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    daily = ib.reqHistoricalData(aapl, "", "1 Y", "1 day", "TRADES", True, 1)
    assert 248 <= len(daily) <= 254
    assert isinstance(daily[-1].date, date) and daily[-1].date == date(2026, 11, 24)
    assert all(d.date.weekday() < 5 for d in daily)
    assert date(2025, 12, 25) not in {d.date for d in daily}  # Christmas
    hourly = ib.reqHistoricalData(aapl, "", "5 D", "1 hour", "TRADES", True, 2)
    assert all(b.date.tzinfo is not None for b in hourly)
    assert hourly[-1].date == MARKET_OPEN_INSTANT - timedelta(minutes=30)  # the 09:30 bar, still forming
    weekly = ib.reqHistoricalData(aapl, "", "2 Y", "1 week", "TRADES", True, 1)
    monthly = ib.reqHistoricalData(aapl, "", "2 Y", "1 month", "TRADES", True, 1)
    assert 100 <= len(weekly) <= 106 and 24 <= len(monthly) <= 26
    minutes = ib.reqHistoricalData(aapl, "", "1800 S", "1 min", "MIDPOINT", True, 1)
    assert len(minutes) == 30 and minutes[0].volume == -1
    bid = ib.reqHistoricalData(aapl, "20261120 16:00:00 US/Eastern", "1 D", "1 day", "BID", True, 1)
    ask = ib.reqHistoricalData(aapl, "20261120 16:00:00 US/Eastern", "1 D", "1 day", "ASK", True, 1)
    assert bid[-1].close < ask[-1].close
    extended = ib.reqHistoricalData(aapl, "20261120 21:00:00 UTC", "1 D", "1 day", "TRADES", False, 1)
    regular = ib.reqHistoricalData(aapl, "20261120 21:00:00 UTC", "1 D", "1 day", "TRADES", True, 1)
    assert extended[-1].high >= regular[-1].high and extended[-1].low <= regular[-1].low
    head = ib.reqHeadTimeStamp(aapl, "TRADES", True, 1)
    assert head == datetime(2015, 1, 2, 14, 30)


def test_daily_bars_agree_with_minutes_and_never_pass_the_clock(ib, gateway):
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    daily = ib.reqHistoricalData(aapl, "20261124 21:00:00 UTC", "2 D", "1 day", "TRADES", True, 1)
    # The end lies after the clock: the last bar is today's, built only from minutes before 10:00.
    minutes = ib.reqHistoricalData(aapl, "", "1800 S", "1 min", "TRADES", True, 2)
    today = daily[-1]
    assert today.open == minutes[0].open
    assert today.high == max(m.high for m in minutes) and today.low == min(m.low for m in minutes)
    assert today.close == minutes[-1].close
    assert minutes[-1].date < MARKET_OPEN_INSTANT


def test_snapshot_quote(ib):
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    [ticker] = ib.reqTickers(aapl)
    assert ticker.bid < ticker.last < ticker.ask
    assert ticker.close > 0 and ticker.close != ticker.last


def _path_after(gateway, symbol: str, start: datetime, minutes: int):
    sim = gateway.sim
    inst = sim.universe.by_symbol(symbol)
    index = sim.market.calendar.last_index_started_by(start)
    frame = sim.market.minute_frame(inst, index, rth=True)
    return frame[(frame.index >= start) & (frame.index < start + timedelta(minutes=minutes))]


def test_bracket_parent_fills_target_fills_stop_cancelled(ib, gateway):
    """Entry MKT, target LMT, stop STP; checked against hand-computed cash, P&L and NetLiquidation."""
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    sim = gateway.sim
    inst = sim.universe.by_symbol("AAPL")
    price_now = sim.market.price_at(inst, MARKET_OPEN_INSTANT)
    entry_fill = round(round(price_now * (1 + 1 / 10_000) / 0.01) * 0.01, 2)
    path = _path_after(gateway, "AAPL", MARKET_OPEN_INSTANT + timedelta(minutes=1), 240)
    # A target the path reaches, and a stop below everything it visits before reaching it.
    target = round(entry_fill + max(0.05, round((path["high"].max() - entry_fill) / 2, 2)), 2)
    hit_at = path.index[path["high"] >= target][0]
    stop = round(min(path.loc[:hit_at, "low"].min(), entry_fill) - 1.0, 2)
    assert target > entry_fill > stop

    bracket = ib.bracketOrder("BUY", 100, 0, target, stop)
    bracket.parent.orderType, bracket.parent.lmtPrice = "MKT", 0.0
    for o in bracket:
        o.orderRef = "test:AAPL:bracket"
    trades = [ib.placeOrder(aapl, o) for o in bracket]
    parent, take_profit, stop_loss = trades

    def worked() -> bool:
        return [t.orderStatus.status for t in trades] == ["Filled", "Submitted", "PreSubmitted"] and bool(
            ib.positions()
        )

    until(worked, "the entry fills, the target works, the stop is held", ib.sleep)
    assert parent.orderStatus.status == "Filled"
    assert parent.orderStatus.avgFillPrice == pytest.approx(entry_fill)
    # The target works at the exchange; IB holds the stop (PreSubmitted) until it triggers.
    assert take_profit.orderStatus.status == "Submitted" and stop_loss.orderStatus.status == "PreSubmitted"
    assert [p.position for p in ib.positions()] == [100.0]

    gateway.advance(hit_at - MARKET_OPEN_INSTANT + timedelta(minutes=2))
    until(lambda: stop_loss.orderStatus.status == "Cancelled", "the target's fill cancels the stop", ib.sleep)
    until(lambda: not ib.positions(), "the flat position is reported", ib.sleep)
    assert take_profit.orderStatus.status == "Filled"
    assert take_profit.orderStatus.avgFillPrice == pytest.approx(target)
    assert stop_loss.orderStatus.status == "Cancelled"
    assert {f.execution.orderRef for f in ib.fills()} == {"test:AAPL:bracket"}

    c_in = ibkr_fixed_commission(100, entry_fill)
    c_out = ibkr_fixed_commission(100, target)
    cash = 1_000_000 - 100 * entry_fill - c_in + 100 * target - c_out
    realized = (target - (entry_fill + c_in / 100)) * 100 - c_out
    values = {v.tag: float(v.value) for v in ib.accountValues() if v.currency == "USD" and v.tag != "Currency"}
    assert values["TotalCashValue"] == pytest.approx(cash, abs=0.01)
    assert values["NetLiquidation"] == pytest.approx(cash, abs=0.01)
    assert values["RealizedPnL"] == pytest.approx(realized, abs=0.01)
    assert values["UnrealizedPnL"] == pytest.approx(0.0, abs=0.01)
    assert ib.positions() == []  # ib_async drops a position once it is flat
    summary = {v.tag: float(v.value) for v in ib.accountSummary() if v.currency == "USD"}
    assert summary["NetLiquidation"] == pytest.approx(cash, abs=0.01)
    completed = ib.reqCompletedOrders(False)
    assert {t.orderStatus.status for t in completed} >= {"Filled", "Cancelled"}
    executions = ib.reqExecutions()
    assert sorted(e.execution.side for e in executions) == ["BOT", "SLD"]


def test_limit_and_stop_orders_wait_then_cancel(ib, gateway):
    [msft] = ib.qualifyContracts(Stock("MSFT", "SMART", "USD"))
    price = gateway.sim.market.price_at(gateway.sim.universe.by_symbol("MSFT"), MARKET_OPEN_INSTANT)
    codes = []
    ib.errorEvent += lambda req_id, code, message, contract: codes.append((req_id, code))
    low_limit = ib.placeOrder(msft, LimitOrder("BUY", 10, round(price * 0.5, 2)))
    far_stop = ib.placeOrder(msft, StopOrder("BUY", 10, round(price * 1.5, 2)))
    until(acknowledged(low_limit, far_stop), "both orders are answered", ib.sleep)
    assert low_limit.orderStatus.status == "Submitted" and far_stop.orderStatus.status == "PreSubmitted"
    assert {t.order.orderId for t in ib.reqAllOpenOrders()} == {low_limit.order.orderId, far_stop.order.orderId}
    ib.cancelOrder(low_limit.order)
    until(lambda: low_limit.orderStatus.status == "Cancelled" and codes, "the cancel is confirmed", ib.sleep)
    assert low_limit.orderStatus.status == "Cancelled"
    assert (low_limit.order.orderId, 202) in codes
    assert far_stop.orderStatus.status == "PreSubmitted"  # still held, untriggered


def test_rejected_order_and_connectivity_notices(ib, gateway):
    [aapl] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    gateway.faults.reject_orders = {"AAPL"}
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
    until(lambda: any(e.errorCode == 201 for e in trade.log), "the rejection, with its reason", ib.sleep)
    until(lambda: trade.orderStatus.status == "Inactive", "the rejected order's status", ib.sleep)
    assert trade.orderStatus.status == "Inactive"  # IB ends a rejected order Inactive
    assert any(e.errorCode == 201 for e in trade.log)
    codes = []
    ib.errorEvent += lambda req_id, code, message, contract: codes.append(code)
    gateway.connectivity_blip()
    until(lambda: len(codes) >= 2, "the 1100 and the 1102", ib.sleep)
    assert codes[:2] == [1100, 1102]


def test_duplicate_client_id_is_refused_with_326(gateway, ib):
    second = IB()
    codes = []
    second.errorEvent += lambda req_id, code, message, contract: codes.append(code)
    with pytest.raises((ConnectionError, TimeoutError)):
        second.connect("127.0.0.1", gateway.port, clientId=1, timeout=1)
    assert 326 in codes
    assert ib.isConnected()


def test_same_seed_same_bars_other_seed_other_bars():
    def closes(seed: int) -> list[float]:
        with make_gateway(seed=seed) as gw:
            ib = IB()
            ib.connect("127.0.0.1", gw.port, clientId=1, timeout=5)
            try:
                [c] = ib.qualifyContracts(Stock("NVDA", "SMART", "USD"))
                return [b.close for b in ib.reqHistoricalData(c, "", "3 M", "1 day", "TRADES", True, 1)]
            finally:
                ib.disconnect()

    assert closes(11) == closes(11)
    assert closes(11) != closes(12)


def test_intraday_bars_with_format_date_1_as_both_clients_ask_by_default(ib):
    [contract] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    hourly = ib.reqHistoricalData(contract, "", "5 D", "1 hour", "TRADES", True, formatDate=1, timeout=10)
    assert len(hourly) > 20
    assert all(b.date.tzinfo is not None and b.date.utcoffset() == timedelta(hours=-5) for b in hourly)
    assert hourly[0].date.time().minute in (0, 30)


def test_a_request_the_simulator_fails_on_is_answered_with_an_error_not_silence(gateway, ib):
    def broken(*_args, **_kwargs):
        raise ValueError("a bug in the simulator")

    gateway.sim.history.bars = broken  # the simulator's own code, not a client's
    ib.RaiseRequestErrors = True
    [contract] = ib.qualifyContracts(Stock("AAPL", "SMART", "USD"))
    with pytest.raises(RequestError) as raised:
        ib.reqHistoricalData(contract, "", "5 D", "1 hour", "TRADES", True, formatDate=1, timeout=10)
    assert raised.value.code == 322 and "a bug in the simulator" in raised.value.message
