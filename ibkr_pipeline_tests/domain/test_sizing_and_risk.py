"""Sizing and risk: property tests that no sized order ever breaches a limit."""

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ibkr_pipeline.domain.orders import MAX_ORDER_SHARES, OrderIntent, order_ref, round_to_tick
from ibkr_pipeline.domain.risk import RiskContext, check_order, passed
from ibkr_pipeline.domain.sizing import position_size
from ibkr_pipeline.domain.strategy import OrderTemplate, RiskLimits

NOW = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)

templates = st.one_of(
    st.builds(OrderTemplate, sizing=st.just("fixed_quantity"), quantity=st.integers(1, 100_000)),
    st.builds(OrderTemplate, sizing=st.just("fixed_notional"), notional=st.floats(1, 1e7)),
    st.builds(OrderTemplate, sizing=st.just("pct_equity"), pct_equity=st.floats(0.01, 100)),
    st.builds(OrderTemplate, sizing=st.just("risk"), risk_pct=st.floats(0.01, 10)),
)
limits = st.builds(RiskLimits, max_position_value=st.floats(100, 1e6), max_position_pct=st.floats(0.1, 100))


@settings(max_examples=300, deadline=None)
@given(
    templates,
    limits,
    st.floats(1_000, 1e8),
    st.floats(0.5, 5_000),
    st.floats(0.001, 0.5),
    st.sampled_from([1, 10, 100]),
)
def test_sized_orders_never_breach_limits(template, risk_limits, equity, price, stop_frac, lot):
    quantity = position_size(template, risk_limits, equity, price, price * (1 - stop_frac), lot)
    assert isinstance(quantity, int) and quantity >= 0 and quantity % lot == 0
    value = quantity * price
    assert value <= risk_limits.max_position_value + 1e-6
    assert value <= equity * risk_limits.max_position_pct / 100 + 1e-6
    if quantity:
        intent = OrderIntent(
            order_ref="s:X:t",
            strategy="s",
            symbol="X",
            con_id=1,
            tick="t",
            mode="paper",
            action="BUY",
            quantity=quantity,
            entry_type="LMT",
            limit_price=price,
        )
        ctx = RiskContext(
            now=NOW,
            trading_enabled=True,
            trading_block_reason="",
            market_open=True,
            next_open=None,
            net_liquidation=equity,
            gross_exposure=0.0,
            open_positions=0,
            orders_today=0,
            daily_pnl=0.0,
            quote_price=price,
        )
        checks = {c.name: c for c in check_order(intent, risk_limits, ctx)}
        assert checks["position_value"].passed and checks["position_pct_of_net_liq"].passed


def test_risk_sizing_needs_a_stop_and_rounds_down():
    template = OrderTemplate(sizing="risk", risk_pct=1.0)
    wide = RiskLimits(max_position_value=1e9, max_position_pct=100)
    assert position_size(template, wide, 100_000, 50.0, None) == 0
    assert position_size(template, wide, 100_000, 50.0, 48.0) == 500  # 1000 $ risk / 2 $ a share


def intent_(action: str = "BUY", quantity: float = 10, **extra) -> OrderIntent:
    fields = dict(
        order_ref=order_ref("s", "AAPL", "2026-11-16-16:15"),
        strategy="s",
        symbol="AAPL",
        con_id=1,
        tick="t",
        mode="paper",
        action=action,
        quantity=quantity,
        entry_type="LMT",
        limit_price=100.0,
    )
    return OrderIntent(**{**fields, **extra})


def context(**change) -> RiskContext:
    base = dict(
        now=NOW,
        trading_enabled=True,
        trading_block_reason="",
        market_open=True,
        next_open=None,
        net_liquidation=100_000,
        gross_exposure=0.0,
        open_positions=0,
        orders_today=0,
        daily_pnl=0.0,
        quote_price=100.0,
        signal_confidence=0.8,
    )
    return RiskContext(**{**base, **change})


def test_each_limit_blocks_with_its_numbers():
    limits_ = RiskLimits(
        max_position_value=10_000,
        max_position_pct=5,
        max_open_positions=2,
        max_orders_per_day=3,
        daily_loss_limit=1_000,
        min_confidence=0.6,
    )
    intent = intent_()
    assert passed(check_order(intent, limits_, context()))
    # Each change fails exactly the checks listed, with the numbers they compared (value, limit, detail); every
    # other check passes. 10 shares at a limit of 100 are worth 1,000 against a net liquidation of 100,000.
    cases = {
        "kill switch": (
            dict(trading_enabled=False, trading_block_reason="kill switch is on"),
            [("trading_enabled", "paper", "paper/live + no kill switch", "kill switch is on")],
        ),
        "low confidence": (dict(signal_confidence=0.5), [("signal_confidence", 0.5, 0.6, "")]),
        "two positions open": (dict(open_positions=2), [("open_positions", 2, 2, "")]),
        "three orders today": (dict(orders_today=3), [("orders_today", 3, 3, "")]),
        "lost 1,500 today": (dict(daily_pnl=-1_500.0), [("daily_loss", -1500.0, -1000.0, "")]),
        "gross 100,000 held": (dict(gross_exposure=100_000.0), [("gross_exposure_pct", 101.0, 100.0, "")]),
        "another order working": (
            dict(working_refs_by_symbol={"AAPL": ["s:AAPL:earlier"]}),
            [("no_other_open_order", "s:AAPL:earlier", "none", "")],
        ),
        "limit 16.7 % off the quote": (
            dict(quote_price=120.0),
            [("price_sanity", 16.6667, 5.0, "limit 100.0 vs quote 120.0")],
        ),
        "market closed": (dict(market_open=False, queue_when_closed=False), [("market_session", "closed", "open", "")]),
        "9,500 already held": (
            dict(position_value={"AAPL": 9_500.0}),
            [("position_value", 10500.0, 10000.0, ""), ("position_pct_of_net_liq", 10.5, 5.0, "")],
        ),
    }
    for what, (change, expected) in cases.items():
        checks = check_order(intent, limits_, context(**change))
        assert [(c.name, c.value, c.limit, c.detail) for c in checks if not c.passed] == expected, what
    assert order_ref("us megacaps", "BRK B", "2026-11-16-16:15") == "usmegacaps:BRK.B:2026-11-16-1615"
    assert round_to_tick(100.004, 0.01) == 100.0 and round_to_tick(100.001, 0.01, "up") == 100.01


WIDE = RiskLimits(max_position_value=1e9, max_position_pct=100)


def test_each_sizing_gives_its_exact_shares_rounded_down_to_whole_lots():
    equity, price = 200_000.0, 40.0
    cases = [
        (OrderTemplate(sizing="fixed_quantity", quantity=137), 1, 137),
        (OrderTemplate(sizing="fixed_quantity", quantity=137), 100, 100),
        (OrderTemplate(sizing="fixed_notional", notional=10_000), 1, 250),  # 10,000 / 40
        (OrderTemplate(sizing="fixed_notional", notional=10_039), 10, 250),  # 250.975 -> 25 lots of 10
        (OrderTemplate(sizing="pct_equity", pct_equity=3), 1, 150),  # 6,000 / 40
        (OrderTemplate(sizing="pct_equity", pct_equity=3), 100, 100),
        (OrderTemplate(sizing="risk", risk_pct=0.5), 1, 400),  # 1,000 $ risk / 2.50 $ a share
    ]
    for template, lot, shares in cases:
        assert position_size(template, WIDE, equity, price, 37.5, lot) == shares, (template.sizing, lot)
    # a stop above the price (a short's) risks the distance just the same
    assert position_size(OrderTemplate(sizing="risk", risk_pct=0.5), WIDE, equity, price, 42.5) == 400


def test_sizing_is_capped_by_the_smaller_value_limit_and_by_the_largest_order():
    template = OrderTemplate(sizing="fixed_quantity", quantity=1_000)
    by_value = RiskLimits(max_position_value=4_000, max_position_pct=100)
    by_pct = RiskLimits(max_position_value=1e9, max_position_pct=1)  # 1 % of 200,000 = 2,000
    assert position_size(template, by_value, 200_000, 40.0, None) == 100
    assert position_size(template, by_pct, 200_000, 40.0, None) == 50
    penny = OrderTemplate(sizing="fixed_notional", notional=1e8)
    assert position_size(penny, WIDE, 1e10, 0.01, None) == MAX_ORDER_SHARES
    for bad_price, bad_equity in ((0.0, 1e5), (-1.0, 1e5), (40.0, 0.0), (40.0, -5.0)):
        assert position_size(template, WIDE, bad_equity, bad_price, None) == 0
    assert position_size(OrderTemplate(sizing="risk"), WIDE, 1e5, 40.0, 40.0) == 0  # stop at the price: no risk unit


LIMITS = RiskLimits(
    max_position_value=10_000,
    max_position_pct=5,
    max_gross_exposure_pct=50,
    max_open_positions=2,
    max_orders_per_day=3,
    daily_loss_limit=1_000,
    min_confidence=0.6,
)


def failing(intent: OrderIntent, ctx: RiskContext) -> list[str]:
    return [c.name for c in check_order(intent, LIMITS, ctx) if not c.passed]


def test_limits_are_inclusive_where_they_say_at_most_and_exclusive_where_they_count():
    assert failing(intent_(quantity=50), context()) == []  # 5,000: at 5 % of 100,000 exactly
    assert failing(intent_(quantity=51), context()) == ["position_pct_of_net_liq"]
    assert failing(intent_(quantity=10), context(position_value={"AAPL": 9_000.0})) == ["position_pct_of_net_liq"]
    assert failing(intent_(quantity=10), context(gross_exposure=49_000.0)) == []  # 50 % exactly
    assert failing(intent_(quantity=10), context(gross_exposure=49_001.0)) == ["gross_exposure_pct"]
    assert failing(intent_(), context(open_positions=1)) == []
    assert failing(intent_(), context(orders_today=2)) == []
    assert failing(intent_(), context(daily_pnl=-999.99)) == []
    assert failing(intent_(), context(daily_pnl=-1_000.0)) == ["daily_loss"]
    assert failing(intent_(), context(signal_confidence=0.6)) == []
    assert failing(intent_(), context(quote_price=105.0)) == []  # limit 5 % off the quote exactly
    assert failing(intent_(), context(quote_price=106.0)) == ["price_sanity"]
    # adding to a symbol already held opens no new position
    assert failing(intent_(), context(open_positions=2, position_value={"AAPL": 100.0})) == []
    # a short position counts by its size
    assert failing(intent_(quantity=10), context(position_value={"AAPL": -9_500.0})) == [
        "position_value",
        "position_pct_of_net_liq",
    ]


def test_no_net_liquidation_blocks_every_percentage_check_without_dividing_by_it():
    checks = {c.name: c for c in check_order(intent_(), LIMITS, context(net_liquidation=0.0))}
    for name in ("position_pct_of_net_liq", "gross_exposure_pct"):
        assert (checks[name].passed, checks[name].value) == (False, None), name


def test_market_session_says_when_the_order_will_wait():
    opens = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    queued = {c.name: c for c in check_order(intent_(), LIMITS, context(market_open=False, next_open=opens))}
    session = queued["market_session"]
    assert (session.passed, session.value, session.limit, session.detail) == (
        True,
        "closed",
        "open, or queued for the next session",
        "next open 2026-11-20 14:30 UTC",
    )
    refused = {c.name: c for c in check_order(intent_(), LIMITS, context(market_open=False, queue_when_closed=False))}
    assert (refused["market_session"].passed, refused["market_session"].limit) == (False, "open")
    open_ = {c.name: c for c in check_order(intent_(), LIMITS, context())}["market_session"]
    assert (open_.value, open_.detail) == ("open", "")


def test_an_exit_passes_the_exposure_checks_and_says_each_was_waived():
    exit_ = intent_(action="SELL", quantity=10, entry_type="MKT", limit_price=None)
    ctx = context(
        strategy_position=10,
        orders_today=3,
        daily_pnl=-5_000.0,
        open_positions=5,
        quote_price=None,
        working_refs_by_symbol={"AAPL": ["s:AAPL:entry"]},
    )
    checks = {c.name: c for c in check_order(exit_, LIMITS, ctx)}
    assert passed(list(checks.values()))
    assert checks["orders_today"].detail == "waived for an exit, which reduces risk (3 vs 3)"
    assert checks["daily_loss"].detail == "waived for an exit, which reduces risk (-5000.0 vs -1000.0)"
    assert checks["position_value"].detail == "an exit: not limited by this check"
    assert (
        checks["no_other_open_order"].detail == "the exit cancels this strategy's own working orders before it is sent"
    )
    assert (checks["price_sanity"].limit, checks["price_sanity"].detail) == (
        "a quote",
        "no reference quote; an exit at market is sent without one",
    )
    # selling more than the strategy holds is no exit: it would open a short, and every limit applies
    over = intent_(action="SELL", quantity=11, entry_type="MKT", limit_price=None)
    assert failing(over, ctx) == ["open_positions", "orders_today", "daily_loss", "no_other_open_order", "price_sanity"]


def test_a_market_order_needs_a_quote_and_a_bracket_must_surround_it():
    market = intent_(entry_type="MKT", limit_price=None)
    assert {c.name: c.detail for c in check_order(market, LIMITS, context())}["price_sanity"] == "market order"
    assert failing(market, context(quote_price=None)) == ["price_sanity"]
    buy = intent_(limit_price=100.0, stop_loss=97.0, take_profit=103.0)
    sell = intent_(action="SELL", limit_price=100.0, stop_loss=103.0, take_profit=97.0)
    assert failing(buy, context()) == [] and failing(sell, context()) == []
    bracket = {c.name: c for c in check_order(buy, LIMITS, context(quote_price=98.0))}["bracket_around_quote"]
    assert (bracket.passed, bracket.limit) == (True, "97.0 < quote < 103.0")
    assert failing(buy, context(quote_price=97.0)) == ["bracket_around_quote"]  # the stop already touched
    assert failing(buy, context(quote_price=103.0)) == ["bracket_around_quote"]  # the target already reached
    assert failing(sell, context(quote_price=102.0)) == []
    assert failing(sell, context(quote_price=103.0)) == ["bracket_around_quote"]
    assert failing(sell, context(quote_price=97.0)) == ["bracket_around_quote"]


def test_sizing_defaults_to_single_shares_and_trades_a_small_account():
    assert position_size(OrderTemplate(sizing="fixed_quantity", quantity=137), WIDE, 1e5, 40.0, None) == 137
    # 90 cents of equity buys 90 one-cent shares: only no equity at all sizes to nothing
    assert position_size(OrderTemplate(sizing="pct_equity", pct_equity=100), WIDE, 0.9, 0.01, None) == 90


def check(intent: OrderIntent, ctx: RiskContext, name: str):
    return {c.name: c for c in check_order(intent, LIMITS, ctx)}[name]


def test_each_check_records_its_numbers_rounded_as_shown():
    big = context(net_liquidation=1e6)
    assert failing(intent_(quantity=100), big) == []  # 10,000: at the value limit exactly
    over = intent_(quantity=100, limit_price=100.005)
    assert failing(over, big) == ["position_value"]
    assert check(over, big, "position_value").value == 10000.5
    odd = context(net_liquidation=1e6, position_value={"AAPL": 234.5678})
    assert check(intent_(), odd, "position_value").value == 1234.57
    assert check(intent_(), context(net_liquidation=300_000.0), "position_pct_of_net_liq").value == 0.3333
    assert check(intent_(), context(net_liquidation=300_000.0), "gross_exposure_pct").value == 0.3333
    assert check(intent_(), context(daily_pnl=-12.3456), "daily_loss").value == -12.35
    assert check(intent_(), context(signal_confidence=0.123456), "signal_confidence").value == 0.1235
    # the value an order adds is at its limit price, not at the quote; a market order without a quote adds none
    assert failing(intent_(quantity=97, limit_price=100.0), context(net_liquidation=1e6, quote_price=104.0)) == []
    market = intent_(entry_type="MKT", limit_price=None)
    assert check(market, context(quote_price=None), "position_value").value == 0.0


def test_the_open_order_and_price_checks_say_what_they_saw():
    two = context(working_refs_by_symbol={"AAPL": ["s:AAPL:a", "s:AAPL:b"]})
    assert check(intent_(), two, "no_other_open_order").value == "s:AAPL:a, s:AAPL:b"
    assert check(intent_(), context(), "no_other_open_order").value == "none"
    assert failing(intent_(limit_price=105.0), context(quote_price=100.0)) == []  # 5 % off exactly
    market = intent_(entry_type="MKT", limit_price=None)
    sanity = check(market, context(), "price_sanity")
    assert (sanity.passed, sanity.value, sanity.limit, sanity.detail) == (True, 100.0, "a quote", "market order")
    blind = check(market, context(quote_price=None), "price_sanity")
    assert (blind.passed, blind.value, blind.limit, blind.detail) == (False, None, "a quote", "no reference quote")
    bracket = check(intent_(stop_loss=97.0, take_profit=103.0), context(quote_price=97.0), "bracket_around_quote")
    assert (bracket.value, bracket.detail) == (97.0, "a stop or target already crossed would fill at once")
    assert "bracket_around_quote" not in {c.name for c in check_order(intent_(stop_loss=97.0), LIMITS, context())}


def test_a_session_that_is_open_says_nothing_of_the_next_one():
    opens = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert check(intent_(), context(market_open=True, next_open=opens), "market_session").detail == ""


def test_a_fraction_of_a_dollar_held_is_a_position_and_a_single_share_sold_is_an_exit():
    assert failing(intent_(), context(open_positions=2, position_value={"AAPL": 0.5})) == []
    one = intent_(action="SELL", quantity=1, entry_type="MKT", limit_price=None)
    assert check(one, context(strategy_position=1, orders_today=3), "orders_today").detail.startswith("waived")
