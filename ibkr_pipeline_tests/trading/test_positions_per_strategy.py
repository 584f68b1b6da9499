"""Each strategy trades its own position: exits sell only its own fills, never another's, never short.

Against the gateway simulator with real ib_async clients; ``trade_tick`` is driven directly so
each test chooses the signals.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ib_async import MarketOrder

from ibkr_pipeline.broker.client import IBKRClient, IBKRSettings
from ibkr_pipeline.database.claims import Claims
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.kill_switch import KillSwitch
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.orders import OrderIntent, order_ref
from ibkr_pipeline.domain.signals import Signal
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.trading.broker import GatewayBroker, Holding
from ibkr_pipeline.trading.reconcile import reconcile
from ibkr_pipeline.trading.tick import trade_tick
from ibkr_pipeline_tests.conftest import make_gateway
from ibkr_pipeline_tests.eventually import caught_up, commissions_known, until

CLOCK = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # Thursday 10:00 New York


def spec(name: str, extra: str = "", universe: str = "[{symbol: AAPL}]"):
    return parse_strategy(
        f"""
name: {name}
universe: {universe}
schedule: {{cron: "0 10 * * 1-5", timezone: America/New_York, start: 2026-01-01}}
timeframes: [{{name: daily, bar_size: 1 day, lookback: 1 Y}}]
signal: {{buy: "close > 0", sell: "close < 0"}}
risk: {{max_position_value: 50000, max_position_pct: 10, min_confidence: 0.5}}
order: {{entry: MKT, sizing: fixed_quantity, quantity: 100, stop_pct: 5, target_pct: 10}}
{extra}
""",
        Path(f"{name}.yaml"),
    )


@pytest.fixture
def world(tmp_path, database_url):
    with make_gateway(clock_start=CLOCK, pacing=False) as gw:
        client = IBKRClient(IBKRSettings(port=gw.port, connect_timeout_s=2, backoff_initial_s=0.05))
        client.connect()
        engine = engine_for(database_url)
        yield gw, client, Ledger(engine), KillSwitch(engine), tmp_path
        client.disconnect()


def signal(symbol: str, action: str, price: float = 100.0) -> Signal:
    return Signal(
        symbol=symbol,
        as_of=CLOCK,
        action=action,
        confidence=1.0,
        entry=price,
        stop_loss=None,
        take_profit=None,
        source="test",
        reasons=[],
        values={},
    )


def run(strategy, world, actions: dict[str, str], tick: str = "t1", broker=None):
    gw, client, ledger, switch, tmp = world
    contracts = {u.symbol: client.resolve(ContractSpec(symbol=u.symbol)) for u in strategy.universe}
    broker = broker or GatewayBroker(client, tmp, switch)
    signals = {s: signal(s, a) for s, a in actions.items()}
    decisions = trade_tick(strategy, tick, signals, contracts, broker, ledger, tick_at=gw.sim.clock.now())
    gw.step()
    until(caught_up(gw, client.ib), "the client heard what the step did", client.sleep)
    return {d.symbol: d for d in decisions}


def sim_statuses(gw) -> list[str]:
    return gw.call(lambda: [o.status for o in gw.sim.engine.orders.values()])


def account_position(gw, symbol: str) -> float:
    return gw.call(lambda: sum(p.quantity for p in gw.sim.account.positions.values() if p.instrument.symbol == symbol))


def test_two_strategies_on_one_symbol_each_exit_only_their_own_shares(world):
    gw, client, ledger, _, _ = world
    a, b = spec("alpha"), spec("beta")
    assert run(b, world, {"AAPL": "BUY"})["AAPL"].placement.status == "working"
    assert account_position(gw, "AAPL") == 100
    assert gw.sim.market_data_requests == {"AAPL": 1}  # a BUY is sized at the quote
    # alpha never bought AAPL: its SELL must not touch beta's shares, and costs IB no quote.
    refused = run(a, world, {"AAPL": "SELL"}, tick="t2")["AAPL"]
    assert refused.intent is None
    assert refused.skipped == "AAPL: this strategy holds no long position to close (its fills net to 0)"
    assert account_position(gw, "AAPL") == 100
    assert gw.sim.market_data_requests == {"AAPL": 1}
    # alpha buys too; then beta exits: it sells its 100, its own stop and target are cancelled, alpha's stay.
    run(a, world, {"AAPL": "BUY"}, tick="t3")
    assert account_position(gw, "AAPL") == 200
    exit_ = run(b, world, {"AAPL": "SELL"}, tick="t4")["AAPL"]
    assert (exit_.intent.action, exit_.intent.quantity, exit_.placement.status) == ("SELL", 100, "working")
    assert gw.sim.market_data_requests == {"AAPL": 3}  # alpha's BUY, and beta's exit of what it holds
    assert {c.name: c.passed for c in exit_.checks}["no_other_open_order"] is True
    assert account_position(gw, "AAPL") == 100
    legs = gw.call(
        lambda: {
            (o.order_ref.split(":")[0], o.order_type): o.status
            for o in gw.sim.engine.orders.values()
            if o.parent_id and o.released
        }
    )
    assert legs == {
        ("beta", "LMT"): "Cancelled",
        ("beta", "STP"): "Cancelled",
        ("alpha", "LMT"): "Submitted",
        ("alpha", "STP"): "PreSubmitted",
    }  # IB holds an untriggered stop
    GatewayBroker(client, world[4]).reconcile(ledger)  # what the next tick or the sensor does first
    positions = {k: p.quantity for k, p in ledger.positions().items()}
    assert positions == {("beta", "AAPL"): 0, ("alpha", "AAPL"): 100}


def test_manual_holdings_stay_and_a_short_account_refuses_the_exit(world):
    gw, client, ledger, _, _ = world
    info = client.resolve(ContractSpec(symbol="AAPL"))
    client.place_order(info, MarketOrder("BUY", 30))  # the trader's own shares, no orderRef of ours
    gw.step()
    b = spec("beta")
    run(b, world, {"AAPL": "BUY"})
    assert account_position(gw, "AAPL") == 130
    cost = gw.call(lambda: next(p.average_cost for p in gw.sim.account.positions.values() if p.quantity))
    assert GatewayBroker(client, world[4]).holdings() == {"AAPL": Holding("AAPL", 130, pytest.approx(cost))}
    exit_ = run(b, world, {"AAPL": "SELL"}, tick="t2")["AAPL"]
    assert exit_.intent.quantity == 100 and account_position(gw, "AAPL") == 30  # the manual 30 stay
    # The ledger says gamma holds 100, but someone sold them by hand: gamma's exit is refused, never a short.
    g = spec("gamma")
    run(g, world, {"AAPL": "BUY"}, tick="t3")
    client.place_order(info, MarketOrder("SELL", 120))
    gw.step()
    until(caught_up(gw, client.ib), "the client heard the manual sale", client.sleep)
    assert account_position(gw, "AAPL") == 10
    quotes = gw.sim.market_data_requests["AAPL"]
    refused = run(g, world, {"AAPL": "SELL"}, tick="t4")["AAPL"]
    assert gw.sim.market_data_requests["AAPL"] == quotes  # refused before any price matters: no quote asked
    assert refused.intent is None
    assert refused.skipped == (
        "AAPL: exit refused: the account holds 10, this strategy's fills 100 and other "
        "strategies' fills 0; selling 100 would take shares that are not this strategy's "
        "(reconcile the ledger with the account first)"
    )
    assert refused.notes == ["AAPL: ledger says strategies hold 100 (gamma 100) but the account holds 10"]
    assert account_position(gw, "AAPL") == 10


def test_exits_pass_every_exposure_limit_and_say_so(world):
    gw, _, ledger, _, _ = world
    strategy = spec("tight")
    run(strategy, world, {"AAPL": "BUY"})
    limits = strategy.risk.model_copy(
        update={
            "max_position_value": 1.0,
            "max_position_pct": 0.001,
            "max_gross_exposure_pct": 0.001,
            "max_open_positions": 1,
            "max_orders_per_day": 1,
            "daily_loss_limit": 0.01,
        }
    )
    strict = strategy.model_copy(update={"risk": limits})
    exit_ = run(strict, world, {"AAPL": "SELL"}, tick="t2")["AAPL"]
    checks = {c.name: c for c in exit_.checks}
    assert exit_.placement.status == "working" and account_position(gw, "AAPL") == 0
    for name in ("position_value", "position_pct_of_net_liq", "gross_exposure_pct", "orders_today"):
        assert checks[name].passed and checks[name].detail.startswith("waived for an exit, which reduces risk ("), name
    assert checks["orders_today"].value == 1 and checks["orders_today"].limit == 1
    # Limits that leave sizing alone block a new entry, each with its numbers.
    entry_limits = strategy.risk.model_copy(
        update={
            "max_gross_exposure_pct": 0.001,
            "max_open_positions": 1,
            "max_orders_per_day": 2,
            "daily_loss_limit": 0.01,
        }
    )
    entry = run(strategy.model_copy(update={"risk": entry_limits}), world, {"AAPL": "BUY"}, tick="t3")["AAPL"]
    failed = {c.name: (c.value, c.limit) for c in entry.checks if not c.passed}
    day_start_net_liq = ledger.snapshots()[0].net_liquidation
    loss = round(gw.account_values()["NetLiquidation"] - day_start_net_liq, 2)
    assert loss < 0  # two commissions and a spread paid
    assert failed == {
        "orders_today": (2, 2),
        "daily_loss": (loss, -0.01),
        "gross_exposure_pct": (failed["gross_exposure_pct"][0], 0.001),
    }
    assert failed["gross_exposure_pct"][0] > 0.001
    assert entry.placement.status == "blocked"


def test_open_positions_count_only_this_strategys_holdings(world):
    gw, _, ledger, _, _ = world
    two = spec("two", universe="[{symbol: AAPL}, {symbol: MSFT}, {symbol: SPY}]")
    run(spec("other", universe="[{symbol: SPY}]"), world, {"SPY": "BUY"})  # another strategy's position
    run(two, world, {"AAPL": "BUY"}, tick="t1")
    limited = two.model_copy(update={"risk": two.risk.model_copy(update={"max_open_positions": 1})})
    decisions = run(limited, world, {"MSFT": "BUY", "SPY": "BUY"}, tick="t2")
    for symbol in ("MSFT", "SPY"):
        check = {c.name: c for c in decisions[symbol].checks}["open_positions"]
        assert (check.passed, check.value, check.limit) == (False, 1, 1), symbol


def test_a_stale_tick_computes_everything_and_sends_nothing_unless_forced(world):
    gw, client, ledger, switch, tmp = world
    strategy = spec("fresh")
    contracts = {"AAPL": client.resolve(ContractSpec(symbol="AAPL"))}
    broker = GatewayBroker(client, tmp, switch)
    old = CLOCK - timedelta(days=1)  # yesterday 10:00: the market has closed and opened since
    [stale] = trade_tick(strategy, "old", {"AAPL": signal("AAPL", "BUY")}, contracts, broker, ledger, tick_at=old)
    assert stale.intent is not None and stale.placement.status == "blocked"
    assert (
        "signals are stale: the market closed at 2026-11-18 21:00 UTC, after the tick as of 2026-11-18 15:00 UTC"
        in stale.placement.detail
    )
    assert gw.call(lambda: [o for o in gw.sim.engine.orders.values() if o.released]) == []
    [forced] = trade_tick(
        strategy, "old", {"AAPL": signal("AAPL", "BUY")}, contracts, broker, ledger, tick_at=old, allow_stale=True
    )
    assert forced.placement.status == "working"


def test_the_kill_switch_set_mid_tick_stops_the_next_send(world):
    gw, client, ledger, switch, tmp = world
    strategy = spec("many", universe="[{symbol: AAPL}, {symbol: MSFT}, {symbol: SPY}]")

    class EngageAfterFirstSend(GatewayBroker):
        """A trader reaches for the switch while the tick is placing its orders."""

        def place(self, ledger, intent, contract, blocked_reason=""):
            placement = super().place(ledger, intent, contract, blocked_reason)
            switch.set(True, "trader pressed stop", "test")
            return placement

    decisions = run(
        strategy, world, {"AAPL": "BUY", "MSFT": "BUY", "SPY": "BUY"}, broker=EngageAfterFirstSend(client, tmp, switch)
    )
    assert [decisions[s].placement.status for s in ("AAPL", "MSFT", "SPY")] == ["working", "blocked", "blocked"]
    assert "kill switch is on (set by test" in decisions["MSFT"].placement.detail
    released = gw.call(lambda: {o.order_ref for o in gw.sim.engine.orders.values() if o.released})
    assert released == {decisions["AAPL"].intent.order_ref}


def test_an_order_at_ib_under_our_ref_but_not_our_intent_is_a_conflict_never_adopted(world):
    gw, client, ledger, switch, tmp = world
    strategy = spec("victim")
    info = client.resolve(ContractSpec(symbol="MSFT"))
    impostor = MarketOrder("BUY", 50)
    impostor.orderRef = "victim:AAPL:t1"  # what this tick's AAPL intent will be called
    client.place_order(info, impostor)
    gw.step()
    [decision] = run(strategy, world, {"AAPL": "BUY"}).values()
    assert decision.placement.outcome == "conflict"
    assert ledger.get("victim:AAPL:t1").status == "conflict"
    aapl = client.resolve(ContractSpec(symbol="AAPL"))
    assert decision.placement.detail == (
        "IB already holds orders under victim:AAPL:t1 that are not this intent: "
        f"order 0 is on conId {info.con_id}, the intent on {aapl.con_id} (AAPL)"
    )
    released = gw.call(lambda: [o for o in gw.sim.engine.orders.values() if o.order_ref == "victim:AAPL:t1"])
    assert len(released) == 1  # nothing of ours was sent beside it
    again = run(strategy, world, {"AAPL": "BUY"})["AAPL"]
    assert again.placement.outcome == "already_done" and again.placement.status == "conflict"


def test_the_login_decides_the_account(world, tmp_path):
    gw, _, ledger, switch, _ = world
    client = IBKRClient(IBKRSettings(port=gw.port, client_id=7, account="DU0000000", connect_timeout_s=2))
    client.connect()
    try:
        broker = GatewayBroker(client, tmp_path, switch)
        assert (
            broker.blocked_reason("paper")
            == f"configured account DU0000000 is not one of this login's accounts {broker.managed}"
        )
    finally:
        client.disconnect()


@pytest.mark.parametrize(
    ("stop", "target", "expected"),
    [
        (0.5, 1.1, "stop {stop} is 50.0% from the entry {q}, beyond order.max_stop_pct 15%"),
        (0.95, 100.0, "target {target} is 9900.0% from the entry {q}, beyond order.max_target_pct 30%"),
        (0.95, 1e306, "beyond order.max_target_pct 30%"),
        (0.95, float("inf"), "target inf is not a finite positive price"),
        (1.05, 1.1, "BUY stop {stop} is not on the losing side of the entry {q}"),
    ],
)
def test_brackets_beyond_their_bound_are_never_sent(world, stop, target, expected):
    gw, client, ledger, switch, tmp = world
    strategy = spec("bounded", universe="[{symbol: AAPL}, {symbol: MSFT}]")
    contracts = {s: client.resolve(ContractSpec(symbol=s)) for s in ("AAPL", "MSFT")}
    q = client.snapshot(contracts["AAPL"]).reference_price  # a market entry is sized and bounded at the quote
    stop, target = q * stop, q * target
    wild = Signal(
        symbol="AAPL",
        as_of=CLOCK,
        action="BUY",
        confidence=1.0,
        entry=q,
        stop_loss=stop,
        take_profit=target,
        source="test",
        reasons=[],
        values={},
    )
    decisions = {
        d.symbol: d
        for d in trade_tick(
            strategy,
            "t1",
            {"AAPL": wild, "MSFT": signal("MSFT", "BUY")},
            contracts,
            GatewayBroker(client, tmp, switch),
            ledger,
            tick_at=gw.sim.clock.now(),
        )
    }
    assert decisions["AAPL"].intent is None
    assert expected.format(stop=stop, target=target, q=q) in decisions["AAPL"].skipped
    assert decisions["MSFT"].placement.status == "working"  # the other symbol is not held up


def test_a_refused_quote_costs_that_symbol_its_order_and_nothing_else(tmp_path):
    """IB refuses MSFT's market data (354): MSFT is blocked with the reason, AAPL trades, the step goes on."""
    with make_gateway(clock_start=CLOCK, pacing=False, market_data={"MSFT": "none"}) as gw:
        client = IBKRClient(IBKRSettings(port=gw.port, connect_timeout_s=2))
        client.connect()
        try:
            engine = engine_for(f"sqlite:///{tmp_path / 'l.db'}")
            strategy = spec("quoted", universe="[{symbol: AAPL}, {symbol: MSFT}]")
            contracts = {s: client.resolve(ContractSpec(symbol=s)) for s in ("AAPL", "MSFT")}
            decisions = {
                d.symbol: d
                for d in trade_tick(
                    strategy,
                    "t1",
                    {"AAPL": signal("AAPL", "BUY"), "MSFT": signal("MSFT", "BUY")},
                    contracts,
                    GatewayBroker(client, tmp_path, KillSwitch(engine)),
                    Ledger(engine),
                    tick_at=gw.sim.clock.now(),
                )
            }
        finally:
            client.disconnect()
    assert decisions["AAPL"].placement.status == "working"
    msft = decisions["MSFT"]
    assert msft.notes == [
        "no quote: MarketDataRefusedError: IB error 354: MSFT: Requested market data is not subscribed."
    ]
    assert msft.placement.status == "blocked" and msft.placement.detail == "price_sanity (no reference quote)"


def test_a_late_reject_is_seen_by_reconciliation_with_ibs_reason(tmp_path):
    """Accepted, then rejected (201, Inactive) after the placement step has moved on: the reconciliation
    (the order-tracking sensor's, and every tick's) records it as rejected with IB's reason."""
    with make_gateway(clock_start=CLOCK, pacing=False) as gw:
        gw.faults.late_reject_orders = {"AAPL"}
        client = IBKRClient(IBKRSettings(port=gw.port, connect_timeout_s=2))
        client.connect()
        try:
            engine = engine_for(f"sqlite:///{tmp_path / 'l.db'}")
            ledger = Ledger(engine)
            strategy = spec("late")
            strategy = strategy.model_copy(
                update={"order": strategy.order.model_copy(update={"entry": "LMT", "bracket": False})}
            )
            contracts = {"AAPL": client.resolve(ContractSpec(symbol="AAPL"))}
            quote = client.snapshot(contracts["AAPL"]).reference_price
            buy = signal("AAPL", "BUY", price=round(quote * 0.99, 2))  # rests below the market
            [decision] = trade_tick(
                strategy,
                "t1",
                {"AAPL": buy},
                contracts,
                GatewayBroker(client, tmp_path, KillSwitch(engine)),
                ledger,
                tick_at=gw.sim.clock.now(),
            )
            assert decision.placement.status == "working"
            ref = decision.intent.order_ref
            until(lambda: sim_statuses(gw) == ["Inactive"], "the late reject, half a second later", client.sleep)
            until(caught_up(gw, client.ib), "the client heard it", client.sleep)
            result = reconcile(client, ledger)
            assert sim_statuses(gw) == ["Inactive"]
        finally:
            client.disconnect()
    assert result.rejects == [ref] and result.changes == [(ref, "working", "rejected")]
    row = ledger.get(ref)
    assert row.status == "rejected"
    assert row.error.startswith("reconciled with the broker: Error 201, reqId ")
    assert row.error.endswith(": Order rejected - reason:simulated late rejection (fault injection)")


def test_a_commission_report_that_trails_its_execution_updates_the_recorded_fill(tmp_path):
    with make_gateway(clock_start=CLOCK, pacing=False, commission_delay_s=0.5) as gw:
        client = IBKRClient(IBKRSettings(port=gw.port, connect_timeout_s=2))
        client.connect()
        try:
            engine = engine_for(f"sqlite:///{tmp_path / 'l.db'}")
            ledger = Ledger(engine)
            [decision] = trade_tick(
                spec("fees"),
                "t1",
                {"AAPL": signal("AAPL", "BUY")},
                {"AAPL": client.resolve(ContractSpec(symbol="AAPL"))},
                GatewayBroker(client, tmp_path, KillSwitch(engine)),
                ledger,
                tick_at=gw.sim.clock.now(),
            )
            [fill] = ledger.fills()  # the tick records what filled at once, before its commission is known
            assert fill.order_ref == decision.intent.order_ref and fill.commission == 0.0
            until(commissions_known(gw), "the commission report is due", client.sleep)
            again = reconcile(client, ledger)
        finally:
            client.disconnect()
    assert again.fills == []  # the same execution, not a new fill
    [fill] = ledger.fills()
    assert fill.commission == 1.0


def exit_of(world, strategy: str, quantity: int) -> tuple[OrderIntent, object]:
    """A market SELL of ``quantity`` AAPL by ``strategy``, as trade_tick would build it."""
    contract = world[1].resolve(ContractSpec(symbol="AAPL"))
    intent = OrderIntent(
        order_ref=order_ref(strategy, "AAPL", "exit"),
        strategy=strategy,
        symbol="AAPL",
        con_id=contract.con_id,
        tick="exit",
        mode="paper",
        action="SELL",
        quantity=quantity,
        entry_type="MKT",
    )
    return intent, contract


def working_legs(client, strategy: str) -> list:
    return [o for o in client.seen_orders() if o.order_ref.startswith(f"{strategy}:") and not o.done]


@pytest.mark.parametrize(
    ("strategy", "quantity", "refusal"),
    [
        ("beta", 100, ""),  # exactly what the strategy holds
        (
            "beta",
            101,
            "AAPL: the strategy's position changed to 100 while its working orders were cancelled; the exit of 101 "
            "was not sent (the next tick re-sizes it)",
        ),
        (
            "alpha",
            1,
            "AAPL: the strategy's position changed to 0 while its working orders were cancelled; the exit of 1 was "
            "not sent (the next tick re-sizes it)",
        ),  # no position at all
    ],
)
def test_an_exit_is_sent_only_for_what_the_strategy_holds_once_its_legs_are_cancelled(
    world, strategy, quantity, refusal
):
    gw, client, ledger, switch, tmp = world
    run(spec("beta"), world, {"AAPL": "BUY"})
    broker = GatewayBroker(client, tmp, switch)
    broker.reconcile(ledger)
    assert len(working_legs(client, "beta")) == 2  # the bracket's stop and target
    intent, contract = exit_of(world, strategy, quantity)
    assert broker.prepare_exit(ledger, intent, contract) == refusal
    assert working_legs(client, strategy) == []  # cancelled (and confirmed) whether or not the exit may go


def test_an_exit_waits_for_ib_to_confirm_each_cancel(world):
    gw, client, ledger, switch, tmp = world
    run(spec("beta"), world, {"AAPL": "BUY"})
    legs = {o.order_ref for o in working_legs(client, "beta")}
    intent, contract = exit_of(world, "beta", 100)
    gw.faults.response_delay_s = 0.3  # IB confirms a cancel late, as it does when busy
    assert set(GatewayBroker(client, tmp, switch).cancel_working_orders(intent, contract)) == legs
    assert working_legs(client, "beta") == []  # on return, not later


def test_cancels_ib_never_confirms_stop_the_exit_with_the_orders_named(world):
    gw, client, ledger, switch, tmp = world
    run(spec("beta"), world, {"AAPL": "BUY"})
    ids = sorted(o.order_id for o in working_legs(client, "beta"))
    intent, contract = exit_of(world, "beta", 100)
    gw.faults.silent_after_requests = 1  # the open-orders request is answered, the cancels are not
    with pytest.raises(RuntimeError) as refused:
        GatewayBroker(client, tmp, switch).cancel_working_orders(intent, contract, wait_s=0.5)
    assert str(refused.value) == f"AAPL: IB did not confirm cancelling working orders {ids}; the exit was not sent"
    gw.faults.clear()


def test_a_run_whose_trading_claim_was_taken_over_sends_nothing(world):
    gw, client, ledger, switch, tmp = world
    now = [1_000_000.0]
    claims = Claims(ledger.engine, clock=lambda: now[0])
    with claims.held("strategy:beta", "run-a", lease_s=300) as lease:
        now[0] += 301  # run-a stalled past its lease, and run-b took the strategy over
        assert claims.acquire("strategy:beta", "run-b", lease_s=300) is None
        broker = GatewayBroker(client, tmp, switch, lease=lease)
        placement = run(spec("beta"), world, {"AAPL": "BUY"}, broker=broker)["AAPL"].placement
    assert (placement.outcome, placement.detail) == (
        "blocked",
        "strategy:beta was taken over by run-b; nothing more is sent here",
    )
    assert gw.call(lambda: len(gw.sim.engine.orders)) == 0
