"""Sizing and risk: property tests that no sized order ever breaches a limit."""

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ibkr_pipeline.domain.orders import OrderIntent, order_ref, round_to_tick
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


def test_each_limit_blocks_with_its_numbers():
    limits_ = RiskLimits(
        max_position_value=10_000,
        max_position_pct=5,
        max_open_positions=2,
        max_orders_per_day=3,
        daily_loss_limit=1_000,
        min_confidence=0.6,
    )
    intent = OrderIntent(
        order_ref=order_ref("s", "AAPL", "2026-11-16-16:15"),
        strategy="s",
        symbol="AAPL",
        con_id=1,
        tick="t",
        mode="paper",
        action="BUY",
        quantity=10,
        entry_type="LMT",
        limit_price=100.0,
    )
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
    assert passed(check_order(intent, limits_, RiskContext(**base)))
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
        checks = check_order(intent, limits_, RiskContext(**{**base, **change}))
        assert [(c.name, c.value, c.limit, c.detail) for c in checks if not c.passed] == expected, what
    assert order_ref("us megacaps", "BRK B", "2026-11-16-16:15") == "usmegacaps:BRK.B:2026-11-16-1615"
    assert round_to_tick(100.004, 0.01) == 100.0 and round_to_tick(100.001, 0.01, "up") == 100.01
