"""A walk through IB Gateway with nothing but ib_async: contracts, bars, a quote, a bracket order.

Run it against a real paper IB Gateway/TWS or the bundled simulator:

    ibkr-pipeline gateway-sim --port 4002 --clock-start 2026-11-24T15:00:00 --clock-speed 120
    python examples/ib_async_walkthrough.py --port 4002

It places a small paper bracket order (BUY 10 AAPL with a tight target and stop)
and waits for it to resolve, then checks positions and account values against the fills.
"""

from __future__ import annotations

import argparse
import sys

from ib_async import IB, Stock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4002)
    parser.add_argument("--client-id", type=int, default=77)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the bracket")
    args = parser.parse_args()

    ib = IB()
    ib.connect(args.host, args.port, clientId=args.client_id, timeout=10)
    account = ib.managedAccounts()[0]
    if not account.startswith("D"):
        print(f"refusing to trade: {account} is not a paper account", file=sys.stderr)
        return 2
    contracts = ib.qualifyContracts(*(Stock(s, "SMART", "USD") for s in ("AAPL", "MSFT", "SPY")))
    print(f"connected to {args.host}:{args.port} as client {args.client_id}, account {account}")
    for c in contracts:
        daily = ib.reqHistoricalData(c, "", "1 Y", "1 day", "TRADES", True, 1)
        hourly = ib.reqHistoricalData(c, "", "5 D", "1 hour", "TRADES", True, 2)
        print(
            f"  {c.symbol:5} conId {c.conId:>10} {c.primaryExchange:7} daily bars {len(daily):4} "
            f"hourly bars {len(hourly):3} last close {daily[-1].close:.2f}"
        )

    aapl = contracts[0]
    [ticker] = ib.reqTickers(aapl)
    ref = ticker.marketPrice()
    print(f"AAPL quote: bid {ticker.bid} ask {ticker.ask} last {ticker.last} close {ticker.close}")
    bracket = ib.bracketOrder(
        "BUY", 10, round(ref * 1.001, 2), takeProfitPrice=round(ref * 1.003, 2), stopLossPrice=round(ref * 0.997, 2)
    )
    for order in bracket:
        order.orderRef = "walkthrough:AAPL"
    parent, target, stop = (ib.placeOrder(aapl, o) for o in bracket)
    waited = 0.0
    while waited < args.timeout:
        done = parent.orderStatus.status == "Filled" and {target.orderStatus.status, stop.orderStatus.status} == {
            "Filled",
            "Cancelled",
        }
        if done:
            break
        ib.sleep(0.5)
        waited += 0.5
    for name, trade in (("entry", parent), ("target", target), ("stop", stop)):
        s = trade.orderStatus
        print(
            f"  {name:6} {trade.order.action:4} {trade.order.orderType:3} {s.status:10} avg fill {s.avgFillPrice:.2f}"
        )
    if not done:
        print("bracket did not resolve in time", file=sys.stderr)
        return 1

    ib.sleep(1.0)
    fills = [f for f in ib.fills() if f.execution.orderRef == "walkthrough:AAPL"]
    realized = sum(f.commissionReport.realizedPNL for f in fills)
    values = {v.tag: float(v.value) for v in ib.accountValues() if v.currency == "USD" and v.tag != "Currency"}
    position = sum(p.position for p in ib.positions() if p.contract.symbol == "AAPL")
    print(f"fills {len(fills)}, realized P&L {realized:.2f}, AAPL position {position:g}")
    print(
        f"NetLiquidation {values['NetLiquidation']:.2f}  TotalCashValue {values['TotalCashValue']:.2f}  "
        f"RealizedPnL {values['RealizedPnL']:.2f}"
    )
    ok = position == 0 and abs(values["NetLiquidation"] - values["TotalCashValue"]) < 0.01 and len(fills) == 2
    print("positions and account values agree with the fills" if ok else "MISMATCH between fills and account")
    ib.disconnect()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
