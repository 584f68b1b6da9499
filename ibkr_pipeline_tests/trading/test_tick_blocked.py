"""An intent that fails the pre-trade checks is recorded blocked, and its reason names every failed check with its
value and limit, in the checks' order: what a trader reads in the ledger and the run's metadata."""

from ibkr_pipeline_tests.trading.test_positions_per_strategy import run, spec, world  # noqa: F401 (world)


def test_every_failed_check_is_named_with_its_value_and_limit(world):  # noqa: F811
    _, _, ledger, _, _ = world
    full = spec("full")
    full = full.model_copy(
        update={"risk": full.risk.model_copy(update={"max_orders_per_day": 0, "max_open_positions": 0})}
    )
    aapl = run(full, world, {"AAPL": "BUY"})["AAPL"]
    reason = "open_positions (0 vs 0); orders_today (0 vs 0)"
    assert (aapl.placement.outcome, aapl.placement.detail) == ("blocked", reason)
    row = ledger.get(aapl.intent.order_ref)
    assert (row.status, row.error) == ("blocked", reason)
