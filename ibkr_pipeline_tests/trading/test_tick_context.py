"""What a tick hands the risk checks and the ledger: the day's opening snapshot, the market session, this
strategy's own orders and marks (never another's), the mode's block, a stale tick, and a symbol already traded
under the tick's old name. Against the gateway simulator, ``trade_tick`` driven directly."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from ib_async import MarketOrder

from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.orders import OrderIntent, order_ref
from ibkr_pipeline.trading.broker import GatewayBroker
from ibkr_pipeline.trading.tick import trade_tick
from ibkr_pipeline_tests.eventually import caught_up, until
from ibkr_pipeline_tests.trading.test_positions_per_strategy import (  # noqa: F401 (world is a fixture)
    CLOCK,
    run,
    signal,
    spec,
    world,
)

SATURDAY = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)  # 12:00 New York; the next open is Monday 09:30


def checks_of(decision) -> dict[str, tuple]:
    return {c.name: (c.passed, c.value, c.detail) for c in decision.checks}


def trade_by_hand(gw, client, action: str, quantity: int) -> None:
    """The trader's own order, no orderRef of ours."""
    client.place_order(client.resolve(ContractSpec(symbol="AAPL")), MarketOrder(action, quantity))
    gw.step()
    until(caught_up(gw, client.ib), "the client heard the fill", client.sleep)


def test_the_days_first_tick_records_the_accounts_opening_values_and_counts_no_loss(world):  # noqa: F811
    gw, client, ledger, _, _ = world
    trade_by_hand(gw, client, "BUY", 30)
    trade_by_hand(gw, client, "SELL", 10)  # a realised P&L (the spread and two commissions) and an open one
    opening = gw.account_values()
    assert all(opening[k] not in (0.0, 1.0) for k in ("TotalCashValue", "UnrealizedPnL", "RealizedPnL"))
    decisions = run(spec("alpha", universe="[{symbol: AAPL}, {symbol: MSFT}]"), world, {"AAPL": "BUY", "MSFT": "HOLD"})
    [snapshot] = ledger.snapshots()
    assert (snapshot.at, snapshot.account) == (CLOCK, client.managed_accounts()[0])
    assert (snapshot.net_liquidation, snapshot.cash, snapshot.unrealized_pnl, snapshot.realized_pnl) == pytest.approx(
        (opening["NetLiquidation"], opening["TotalCashValue"], opening["UnrealizedPnL"], opening["RealizedPnL"]),
        abs=0.005,  # IB's account values come in whole cents
    )
    assert json.loads(snapshot.positions_json) == {}
    aapl = decisions["AAPL"]
    assert (aapl.signal, aapl.notes, aapl.placement.status) == ("BUY", [], "working")
    checks = checks_of(aapl)
    assert checks["daily_loss"] == (True, 0.0, "")  # no opening snapshot before this tick: the day starts here
    assert checks["market_session"] == (True, "open", "")
    assert checks["trading_enabled"] == (True, "paper", "")
    # A HOLD is decided without a quote: IB was asked for AAPL's only.
    assert (decisions["MSFT"].signal, decisions["MSFT"].skipped) == ("HOLD", "HOLD")
    assert gw.sim.market_data_requests == {"AAPL": 1}


def test_another_strategys_orders_and_fills_are_not_this_strategys(world):  # noqa: F811
    gw, _, ledger, _, _ = world
    assert run(spec("beta"), world, {"AAPL": "BUY"})["AAPL"].placement.status == "working"
    first = run(spec("alpha"), world, {"AAPL": "BUY"}, tick="t2")["AAPL"]
    checks = checks_of(first)
    assert checks["orders_today"] == (True, 0, "")  # beta's order is beta's count
    assert checks["no_other_open_order"] == (True, "none", "")  # and beta's to manage
    assert checks["open_positions"] == (True, 0, "")
    # alpha now holds 100 at its own cost: a second entry adds to that mark, at the quote it is sized at.
    held = ledger.positions()[("alpha", "AAPL")]
    assert held.quantity == 100
    second = run(spec("alpha"), world, {"AAPL": "BUY"}, tick="t3")["AAPL"]
    checks = checks_of(second)
    quote = checks["price_sanity"][1]
    assert checks["position_value"][1] == round(100 * held.average_cost + 100 * quote, 2)
    assert checks["orders_today"] == (True, 1, "")
    assert checks["open_positions"] == (True, 1, "")
    assert checks["no_other_open_order"] == (False, first.placement.order_ref, "")


def test_an_exit_of_shares_the_account_no_longer_holds_is_refused_with_the_accounts_zero(world):  # noqa: F811
    gw, client, ledger, _, _ = world
    gamma = spec("gamma")
    run(gamma, world, {"AAPL": "BUY"})
    trade_by_hand(gw, client, "SELL", 100)  # sold by hand: the account is flat, the ledger says gamma holds 100
    refused = run(gamma, world, {"AAPL": "SELL"}, tick="t2")["AAPL"]
    assert refused.skipped == (
        "AAPL: exit refused: the account holds 0, this strategy's fills 100 and other strategies' fills 0; "
        "selling 100 would take shares that are not this strategy's (reconcile the ledger with the account first)"
    )
    assert refused.notes == ["AAPL: ledger says strategies hold 100 (gamma 100) but the account holds 0"]


def legacy_intent(strategy: str, symbol: str, tick: str) -> OrderIntent:
    return OrderIntent(
        order_ref=order_ref(strategy, symbol, tick),
        strategy=strategy,
        symbol=symbol,
        con_id=265598,
        tick=tick,
        tick_as_of=None,  # recorded before ticks were named by their instant
        mode="paper",
        action="BUY",
        quantity=10,
        entry_type="MKT",
    )


def test_a_dry_run_on_a_closed_market_with_a_stale_tick_says_every_reason_and_sends_nothing(world):  # noqa: F811
    gw, client, ledger, switch, tmp = world
    gw.call(lambda: gw.sim.clock.set(SATURDAY, speed=0))
    dry = spec("dry", "mode: dry_run", universe="[{symbol: AAPL}, {symbol: MSFT}]")
    ledger.record_intent(legacy_intent("dry", "AAPL", "2026-11-18"))
    contracts = {s: client.resolve(ContractSpec(symbol=s)) for s in ("AAPL", "MSFT")}
    decisions = trade_tick(
        dry,
        "t1",
        {s: signal(s, "BUY") for s in ("AAPL", "MSFT")},
        contracts,
        GatewayBroker(client, tmp, switch),
        ledger,
        tick_at=SATURDAY - timedelta(days=3),
        legacy_tick="2026-11-18",
    )
    assert [d.symbol for d in decisions] == ["AAPL", "MSFT"]  # a symbol already traded holds up no other
    assert decisions[0].skipped == ("already traded as dry:AAPL:2026-11-18 (this tick's name before migration 0006)")
    msft = checks_of(decisions[1])
    blocked, detail = msft["trading_enabled"][0], msft["trading_enabled"][2]
    mode, stale = detail.split("; ")
    assert not blocked and mode == "mode is dry_run: everything is computed, nothing is sent"
    assert stale.startswith("signals are stale: tick as of 2026-11-18 17:00 UTC is ")
    assert stale.endswith(" (run tag ibkr_pipeline/allow_stale_signals=true sends anyway)")
    assert msft["market_session"] == (True, "closed", "next open 2026-11-23 14:30 UTC")
    assert decisions[1].placement.status == "dry_run"
    assert gw.call(lambda: len(gw.sim.engine.orders)) == 0
