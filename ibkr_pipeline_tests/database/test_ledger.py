"""The ledger's positions follow its fills, whatever order the fills arrive in, and its live orders read in one
order (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from ibkr_pipeline.database.engine import engine_for, upgrade
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.orders import order_ref
from ibkr_pipeline.domain.positions import StrategyPosition, positions_from_fills
from ibkr_pipeline_tests.trading.placement_worker import bracket_intent

T0 = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)
ALPHA = order_ref("alpha", "AAPL", "2026-11-17-10:00")
BETA = order_ref("beta", "AAPL", "2026-11-17-10:00")


def _fill(ledger: Ledger, exec_id: str, ref: str, side: str, shares: float, price: float, minutes: int) -> None:
    assert ledger.record_fill(exec_id, ref, "AAPL", side, shares, price, 1.0, 0.0, T0 + timedelta(minutes=minutes))


def test_positions_move_on_with_each_fill_and_a_late_earlier_fill_replays_them(database_url):
    engine = engine_for(database_url)
    upgrade(engine)
    ledger = Ledger(engine)
    assert ledger.positions() == {}
    _fill(ledger, "e1", ALPHA, "BOT", 100, 190.0, 0)
    _fill(ledger, "e2", BETA, "BOT", 10, 191.0, 1)
    assert ledger.positions() == {
        ("alpha", "AAPL"): StrategyPosition("alpha", "AAPL", 100, 190.0),
        ("beta", "AAPL"): StrategyPosition("beta", "AAPL", 10, 191.0),
    }
    _fill(ledger, "e3", ALPHA, "BOT", 100, 194.0, 5)  # after the others: applied alone
    assert ledger.positions()[("alpha", "AAPL")] == StrategyPosition("alpha", "AAPL", 200, 192.0)
    # IB reports an execution late: it happened before e3 and sells half. In fill order the average is
    # (50 x 190 + 100 x 194) / 150, not what applying it last would give (a sale never moves the average).
    _fill(ledger, "e0", ALPHA, "SLD", 50, 195.0, 2)
    alpha = ledger.positions()[("alpha", "AAPL")]
    assert alpha.quantity == 150 and round(alpha.average_cost, 6) == round((50 * 190 + 100 * 194) / 150, 6)
    assert ledger.positions() == positions_from_fills(ledger.fills())
    _fill(ledger, "e4", BETA, "SLD", 10, 199.0, 9)
    assert ledger.positions()[("beta", "AAPL")].quantity == 0
    assert ledger.positions() == positions_from_fills(ledger.fills())
    engine.dispose()


def test_live_orders_read_oldest_first_whatever_was_updated_last(database_url):
    """PostgreSQL hands back an updated row last unless told an order: the prompt's list of working orders, and a
    reconciliation pass, must not change with it."""
    now = [T0]
    ledger = Ledger(engine_for(database_url), clock=lambda: now[0])
    for minutes, ref in ((1, "beta:MSFT:t"), (1, "alpha:MSFT:t"), (0, "gamma:MSFT:t"), (2, "delta:MSFT:t")):
        now[0] = T0 + timedelta(minutes=minutes)
        ledger.record_intent(bracket_intent(ref, SimpleNamespace(symbol="MSFT", con_id=272093)))
    now[0] = T0 + timedelta(minutes=5)
    for ref in ("delta:MSFT:t", "alpha:MSFT:t", "beta:MSFT:t", "gamma:MSFT:t"):
        ledger.set_status(ref, "filled" if ref.startswith("delta") else "working")
    assert [row.order_ref for row in ledger.open_orders()] == ["gamma:MSFT:t", "alpha:MSFT:t", "beta:MSFT:t"]
