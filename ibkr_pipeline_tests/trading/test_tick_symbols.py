"""One tick over several symbols: an order placed for one counts against the day's limit for the next, a symbol
that fails is recorded with its error and holds up no other, a symbol with no contract is skipped, the account's
whole exposure and the strategy's own open positions are what the checks read, and the intent carries the tick's
instant. Against the gateway simulator, ``trade_tick`` driven directly."""

import logging

from ib_async import MarketOrder

from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.trading.broker import GatewayBroker
from ibkr_pipeline.trading.tick import trade_tick
from ibkr_pipeline_tests.trading.test_positions_per_strategy import (  # noqa: F401 (world is a fixture)
    CLOCK,
    run,
    signal,
    spec,
    world,
)

PAIR = "[{symbol: AAPL}, {symbol: MSFT}]"


def test_an_order_placed_for_one_symbol_counts_for_the_next_within_the_tick(world):  # noqa: F811
    _, _, ledger, _, _ = world
    limited = spec("limited", "", PAIR)
    limited = limited.model_copy(update={"risk": limited.risk.model_copy(update={"max_orders_per_day": 1})})
    decisions = run(limited, world, {"AAPL": "BUY", "MSFT": "BUY"})
    aapl, msft = decisions["AAPL"], decisions["MSFT"]
    assert aapl.placement.status == "working"
    assert ledger.get(aapl.intent.order_ref).tick_as_of == CLOCK  # the instant the tick's signals are as of
    assert [(c.name, c.value, c.limit) for c in msft.checks if not c.passed] == [("orders_today", 1, 1)]
    assert msft.placement.status == "blocked"


def test_a_failing_symbol_is_recorded_and_the_others_go_on(world, caplog):  # noqa: F811
    gw, client, ledger, switch, tmp = world
    contracts = {s: client.resolve(ContractSpec(symbol=s)) for s in ("AAPL", "MSFT")}
    contracts["AAPL"] = contracts["AAPL"].model_copy(update={"min_tick": 0.0})  # a broken contract detail
    with caplog.at_level(logging.ERROR, logger="ibkr_pipeline.trading"):
        decisions = trade_tick(
            spec("broken", "", PAIR),
            "t1",
            {s: signal(s, "BUY") for s in ("AAPL", "MSFT", "ZZZZ")},
            contracts,
            GatewayBroker(client, tmp, switch),
            ledger,
            tick_at=CLOCK,
        )
    aapl, msft, unknown = decisions
    assert aapl.error == "ZeroDivisionError: float division by zero"
    assert [(r.getMessage(), r.exc_info is not None) for r in caplog.records if r.name == "ibkr_pipeline.trading"] == [
        ("AAPL: trading failed", True)
    ]
    assert msft.placement.status == "working"
    assert (unknown.symbol, unknown.skipped, unknown.intent) == ("ZZZZ", "no contract", None)


def test_the_accounts_whole_exposure_and_the_strategys_open_positions_are_checked(world):  # noqa: F811
    gw, client, _, _, _ = world
    info = client.resolve(ContractSpec(symbol="AAPL"))
    client.place_order(info, MarketOrder("BUY", 30))  # the trader's own shares count towards gross exposure
    gw.step()
    one = spec("single", "", PAIR)
    one = one.model_copy(update={"order": one.order.model_copy(update={"quantity": 1})})
    assert run(one, world, {"AAPL": "BUY"})["AAPL"].intent.quantity == 1
    account = gw.account_values()
    msft = run(one, world, {"MSFT": "BUY"}, tick="t2")["MSFT"]
    checks = {c.name: c for c in msft.checks}
    value = msft.intent.quantity * checks["price_sanity"].value
    expected = round((account["GrossPositionValue"] + value) / account["NetLiquidation"] * 100, 4)
    assert account["GrossPositionValue"] > 0 and checks["gross_exposure_pct"].value == expected
    assert checks["open_positions"].value == 1  # its one share of AAPL; the trader's 30 are not the strategy's
    # Its one share is a whole share to sell.
    exit_ = run(one, world, {"AAPL": "SELL"}, tick="t3")["AAPL"]
    assert (exit_.intent.action, exit_.intent.quantity) == ("SELL", 1)


def test_a_limit_entry_is_sized_by_risk_at_its_limit_and_its_stop(world):  # noqa: F811
    gw, client, ledger, switch, tmp = world
    risked = spec("risked", "", "[{symbol: AAPL}]")
    risked = risked.model_copy(
        update={"order": risked.order.model_copy(update={"entry": "LMT", "sizing": "risk", "risk_pct": 0.1})}
    )
    info = client.resolve(ContractSpec(symbol="AAPL"))
    limit = round(client.snapshot(info).reference_price * 0.99, 2)  # below the quote: sizing must use the limit
    net_liq = gw.account_values()["NetLiquidation"]
    [decision] = trade_tick(
        risked,
        "t1",
        {"AAPL": signal("AAPL", "BUY", price=limit)},
        {"AAPL": info},
        GatewayBroker(client, tmp, switch),
        ledger,
        tick_at=CLOCK,
    )
    intent = decision.intent
    assert (intent.entry_type, intent.limit_price) == ("LMT", limit)
    assert intent.stop_loss == round(limit * 0.95, 2)  # the template's 5 % under the limit
    assert intent.quantity == int(net_liq * 0.1 / 100 / (limit - intent.stop_loss))  # 0.1 % of equity at risk


def test_the_templates_time_in_force_is_kept_and_an_entry_too_small_for_a_share_is_skipped(world):  # noqa: F811
    template = {"sizing": "fixed_notional", "notional": 10.0, "tif": "GTC", "outside_rth": True}
    small = spec("small", "", PAIR)
    small = small.model_copy(update={"order": small.order.model_copy(update=template)})
    skipped = run(small, world, {"AAPL": "BUY"})["AAPL"]  # 10 dollars buy no share of AAPL
    assert (skipped.skipped, skipped.intent) == ("sized to zero shares", None)
    big = small.model_copy(update={"order": small.order.model_copy(update={"notional": 5000.0})})
    intent = run(big, world, {"AAPL": "BUY"}, tick="t2")["AAPL"].intent
    assert (intent.tif, intent.outside_rth) == ("GTC", True)
