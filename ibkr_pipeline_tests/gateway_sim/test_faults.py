"""A symbol-scoped fault applies to the symbols it names, or to every symbol with "*", and to no other."""

import pytest

from ibkr_pipeline.gateway_sim.faults import FaultPlan

FAULTS = {
    "reject_orders": FaultPlan.rejects,
    "late_reject_orders": FaultPlan.rejects_late,
    "api_pending_orders": FaultPlan.holds_as_api_pending,
}


@pytest.mark.parametrize("field", sorted(FAULTS))
@pytest.mark.parametrize(
    ("symbols", "applies_to"),
    [(set(), set()), ({"AAPL"}, {"AAPL"}), ({"AAPL", "MSFT"}, {"AAPL", "MSFT"}), ({"*"}, {"AAPL", "MSFT", "SPY"})],
)
def test_a_fault_applies_to_the_symbols_it_names_or_to_all_with_a_star(field, symbols, applies_to):
    plan = FaultPlan(**{field: symbols})
    assert {s for s in ("AAPL", "MSFT", "SPY") if FAULTS[field](plan, s)} == applies_to
    others = {name: check for name, check in FAULTS.items() if name != field}
    assert not any(check(plan, s) for check in others.values() for s in ("AAPL", "MSFT", "SPY"))
    plan.clear()
    assert not any(check(plan, s) for check in FAULTS.values() for s in ("AAPL", "MSFT", "SPY"))
