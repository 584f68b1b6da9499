"""A full session with nothing but IBKR's official Python client (``ibapi-stable``), as an independent check.

Run it against a real paper IB Gateway/TWS or the bundled simulator at an open-market clock:

    ibkr-pipeline gateway-sim --port 4002 --clock-start 2026-11-24T15:00:00 --clock-speed 120
    python examples/ibapi_session.py --port 4002

It asks for contract details (and an unknown symbol, which must be error 200), matching symbols, daily
and intraday bars with formatDate 1 and 2, the head timestamp and a snapshot quote; places a small paper
bracket (BUY 10 AAPL, market entry, target and stop in one OCA group) and waits for the fill, its
execution and commission report; then reads open and completed orders, positions and the account summary.
It exits 0 only if every request was answered and none failed.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import defaultdict
from decimal import Decimal

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.order_cancel import OrderCancel
from ibapi.wrapper import EWrapper

# Notices, not failures: farm connections OK, and what a market order's bracket children say.
NOTICES = {2104, 2106, 2107, 2108, 2158, 2119, 399, 202}


def stock(symbol: str) -> Contract:
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = symbol, "STK", "SMART", "USD"
    return contract


class Session(EWrapper, EClient):
    def __init__(self) -> None:
        EClient.__init__(self, self)
        self.done: dict[object, threading.Event] = defaultdict(threading.Event)
        self.data: dict[object, list] = defaultdict(list)
        self.errors: list[tuple[int, int, str]] = []
        self.next_id = 0
        self.account = ""

    def wait(self, key: object, what: str, timeout: float = 30.0) -> list:
        if not self.done[key].wait(timeout):
            raise TimeoutError(f"no answer to {what} within {timeout:g} s")
        return self.data[key]

    # -- callbacks ------------------------------------------------------------------------------------
    def nextValidId(self, orderId: int) -> None:
        self.next_id = orderId
        self.done["ready"].set()

    def managedAccounts(self, accountsList: str) -> None:
        self.account = accountsList.split(",")[0]

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson="") -> None:
        if errorCode in NOTICES:
            return
        self.errors.append((reqId, errorCode, errorString))
        self.done[reqId].set()

    def contractDetails(self, reqId, contractDetails) -> None:
        self.data[reqId].append(contractDetails)

    def contractDetailsEnd(self, reqId) -> None:
        self.done[reqId].set()

    def symbolSamples(self, reqId, contractDescriptions) -> None:
        self.data[reqId].extend(contractDescriptions)
        self.done[reqId].set()

    def historicalData(self, reqId, bar) -> None:
        self.data[reqId].append(bar)

    def historicalDataEnd(self, reqId, start, end) -> None:
        self.done[reqId].set()

    def headTimestamp(self, reqId, headTimestamp) -> None:
        self.data[reqId].append(headTimestamp)
        self.done[reqId].set()

    def tickPrice(self, reqId, tickType, price, attrib) -> None:
        self.data[reqId].append((tickType, price))

    def tickSnapshotEnd(self, reqId) -> None:
        self.done[reqId].set()

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, *rest) -> None:
        self.data[("status", orderId)].append(status)
        if status == "Filled":
            self.done[("filled", orderId)].set()

    def openOrder(self, orderId, contract, order, orderState) -> None:
        self.data["open"].append((orderId, order.orderRef, order.ocaGroup, orderState.status))

    def openOrderEnd(self) -> None:
        self.done["open"].set()

    def completedOrder(self, contract, order, orderState) -> None:
        self.data["completed"].append((order.orderRef, orderState.status))

    def completedOrdersEnd(self) -> None:
        self.done["completed"].set()

    def execDetails(self, reqId, contract, execution) -> None:
        self.data["executions"].append(execution)
        self.data[("executions", reqId)].append(execution)

    def execDetailsEnd(self, reqId) -> None:
        self.done[("executions", reqId)].set()

    def commissionAndFeesReport(self, commissionAndFeesReport) -> None:
        self.data["commissions"].append(commissionAndFeesReport)
        self.done["commission"].set()

    def position(self, account, contract, position, avgCost) -> None:
        self.data["positions"].append((contract.symbol, Decimal(position), avgCost))

    def positionEnd(self) -> None:
        self.done["positions"].set()

    def accountSummary(self, reqId, account, tag, value, currency) -> None:
        self.data[reqId].append((tag, value))

    def accountSummaryEnd(self, reqId) -> None:
        self.done[reqId].set()

    def updateAccountValue(self, key, val, currency, accountName) -> None:
        self.data["account values"].append((key, val))

    def updatePortfolio(self, contract, position, *rest) -> None:
        self.data["portfolio"].append((contract.symbol, Decimal(position)))

    def accountDownloadEnd(self, accountName) -> None:
        self.done["account download"].set()


def bracket(first_id: int, quantity: int, target: float, stop: float, ref: str) -> list[Order]:
    parent, take, loss = Order(), Order(), Order()
    parent.orderId, parent.action, parent.orderType, parent.totalQuantity, parent.transmit = (
        first_id,
        "BUY",
        "MKT",
        quantity,
        False,
    )
    take.orderId, take.action, take.orderType, take.totalQuantity, take.lmtPrice = (
        first_id + 1,
        "SELL",
        "LMT",
        quantity,
        target,
    )
    loss.orderId, loss.action, loss.orderType, loss.totalQuantity, loss.auxPrice = (
        first_id + 2,
        "SELL",
        "STP",
        quantity,
        stop,
    )
    for child in (take, loss):
        child.parentId, child.tif, child.ocaGroup, child.ocaType = first_id, "GTC", f"{ref}:oca", 1
    take.transmit, loss.transmit = False, True
    for order in (parent, take, loss):
        order.orderRef = ref
        order.eTradeOnly = order.firmQuoteOnly = False
    return [parent, take, loss]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4002)
    parser.add_argument("--client-id", type=int, default=78)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    app = Session()
    app.connect(args.host, args.port, args.client_id)
    threading.Thread(target=app.run, daemon=True).start()
    app.wait("ready", "the handshake", 15)
    print(f"connected: server version {app.serverVersion()}, account {app.account}")

    app.reqContractDetails(1, stock("AAPL"))
    [details] = app.wait(1, "contract details")
    print(f"AAPL conId {details.contract.conId}, min tick {details.minTick}")
    app.reqContractDetails(2, stock("ZZZZQX"))
    app.wait(2, "an unknown symbol")
    unknown = [e for e in app.errors if e[0] == 2]
    assert [code for _, code, _ in unknown] == [200], f"an unknown symbol must be error 200, got {unknown}"
    app.errors = [e for e in app.errors if e[0] != 2]
    app.reqMatchingSymbols(3, "AAP")
    print(f"matching 'AAP': {[d.contract.symbol for d in app.wait(3, 'matching symbols')][:5]}")

    requests = {10: ("1 M", "1 day", 1), 11: ("1 M", "1 day", 2), 12: ("2 D", "1 hour", 1), 13: ("2 D", "5 mins", 2)}
    for req_id, (duration, size, fmt) in requests.items():
        app.reqHistoricalData(req_id, stock("AAPL"), "", duration, size, "TRADES", 1, fmt, False, [])
        bars = app.wait(req_id, f"{size} bars (formatDate={fmt})", args.timeout)
        assert bars, f"no {size} bars with formatDate={fmt}"
        print(f"{size} bars, formatDate={fmt}: {len(bars)}, last {bars[-1].date} close {bars[-1].close}")
    app.reqHeadTimeStamp(20, stock("AAPL"), "TRADES", 1, 1)
    print(f"head timestamp: {app.wait(20, 'the head timestamp')[0]}")
    app.reqMktData(21, stock("AAPL"), "", True, False, [])
    prices = {t: p for t, p in app.wait(21, "a snapshot quote", args.timeout) if p > 0}
    last = prices.get(4) or prices.get(9) or prices.get(1)
    assert last, f"the snapshot has no price: {prices}"
    print(f"snapshot: last/close {last}")

    ref = f"ibapi-session:{int(time.time())}"
    legs = bracket(app.next_id, 10, round(last * 1.10, 2), round(last * 0.90, 2), ref)
    for order in legs:
        app.placeOrder(order.orderId, stock("AAPL"), order)
    app.wait(("filled", legs[0].orderId), "the entry's fill", args.timeout)
    app.wait("commission", "the commission report", args.timeout)
    print(f"entry filled; commission {app.data['commissions'][0].commissionAndFees}")
    print(f"entry statuses: {', '.join(app.data[('status', legs[0].orderId)])}")
    app.reqExecutions(30, ExecutionFilter())
    executions = app.wait(("executions", 30), "executions")
    assert any(e.orderRef == ref for e in executions), "the fill is missing from reqExecutions"
    app.data["open"].clear()  # what placing the orders reported so far; ask for what works now
    app.reqAllOpenOrders()
    working = list({o[0]: o for o in app.wait("open", "open orders") if o[1] == ref}.values())  # latest per order
    assert sorted(o[0] for o in working) == [legs[1].orderId, legs[2].orderId], working  # the entry has filled
    assert {o[2] for o in working} == {f"{ref}:oca"}, working
    print(f"open orders under {ref}: {len(working)} (stop and target in one OCA group)")
    target = legs[1]
    target.lmtPrice = round(last * 1.12, 2)  # modify: same id, new price
    app.data["open"].clear()
    app.placeOrder(target.orderId, stock("AAPL"), target)
    time.sleep(0.5)
    modified = [o for o in app.data["open"] if o[0] == target.orderId]
    assert modified, "the modified target was not reported back"
    print(f"target modified to {target.lmtPrice}")
    app.cancelOrder(legs[1].orderId, OrderCancel())
    time.sleep(1.0)
    app.reqCompletedOrders(False)
    completed = app.wait("completed", "completed orders")
    print(f"completed orders: {len(completed)}")
    app.reqPositions()
    positions = app.wait("positions", "positions")
    assert any(symbol == "AAPL" and qty >= 10 for symbol, qty, _ in positions), positions
    app.reqAccountSummary(40, "All", "NetLiquidation,TotalCashValue")
    summary = dict(app.wait(40, "the account summary"))
    app.reqAccountUpdates(True, app.account)
    app.wait("account download", "account updates")
    values = dict(app.data["account values"])
    assert "NetLiquidation" in values and ("AAPL", Decimal(10)) in app.data["portfolio"], app.data["portfolio"]
    print(f"account updates: {len(values)} values, portfolio {app.data['portfolio']}")
    app.reqAccountUpdates(False, app.account)
    print(f"account summary: NetLiquidation {summary.get('NetLiquidation')}, cash {summary.get('TotalCashValue')}")
    app.disconnect()
    if app.errors:
        print(f"FAILED requests: {app.errors}")
        return 1
    print("full session: every request answered, none failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
