"""What the analyst's prompt says the strategy holds, and what an order group's IB statuses add up to."""

from ibkr_pipeline.domain.positions import StrategyPosition, position_summary


def test_flat_long_and_short_positions_in_words():
    assert position_summary(None, 100.0, []) == "flat: this strategy holds no shares; no working orders"
    long = StrategyPosition("s", "AAPL", 10, 90.0)
    assert position_summary(long, 99.0, ["SELL 10 MKT (s:AAPL:2026-11-20-1000)"]) == (
        "long 10 shares at an average cost of 90.00; unrealized P&L +90.00 (+10.0%) at the last close 99.00; "
        "working orders: SELL 10 MKT (s:AAPL:2026-11-20-1000)"
    )
    short = StrategyPosition("s", "AAPL", -5, 100.0)
    assert position_summary(short, 110.0, []).startswith(
        "short 5 shares at an average cost of 100.00; unrealized P&L -50.00 (-10.0%)"
    )


def test_an_order_groups_status_from_its_legs():
    from ibkr_pipeline.domain.orders import group_status

    assert group_status({"Filled", "Cancelled"}) == "filled"  # entry filled, the other leg cancelled by OCA
    assert group_status({"Cancelled", "ApiCancelled"}) == "cancelled"
    assert group_status({"Filled", "Submitted"}) == "working"  # a stop or target still live
    assert group_status({"Filled", "Inactive"}) == "rejected"  # a late reject is still a reject
