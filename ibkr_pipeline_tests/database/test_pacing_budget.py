"""Two processes' clients fetching small bars from one gateway at once: with the budget in the project
database together they stay inside IB's windows; each with only its own budget, IB answers 162."""

import asyncio

import pytest

from ibkr_pipeline.broker.client import BarsRequest, IBKRClient, IBKRSettings
from ibkr_pipeline.broker.pacing import with_margin
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.pacing_budget import DatabasePacingBudget
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.pacing import PacingRules
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline_tests.conftest import make_gateway

SCALE = 0.02  # IB's windows scaled: 10 minutes -> 12 s, 15 s -> 0.3 s


def fetch_together(gw, budgets) -> list:
    """Each client's own scheduler (as in two processes), 40 requests each, all started at once."""
    symbols = Universe.default().symbols[:40]
    clients = [
        IBKRClient(
            IBKRSettings(port=gw.port, client_id=10 + i, pacing_time_scale=SCALE, request_attempts=1),
            pacing_budget=budget,
        )
        for i, budget in enumerate(budgets)
    ]
    for client in clients:
        client.connect()
    infos = clients[0].run(clients[0].resolve_many_async([ContractSpec(symbol=s) for s in symbols]))
    requests = [BarsRequest(info, None, "1800 S", "30 secs") for info in infos]

    async def both():
        return await asyncio.gather(*(c.bars_many_async(requests) for c in clients))

    try:
        return [r for results in clients[0].run(both()) for r in results]
    finally:
        for client in clients:
            client.disconnect()


def test_a_budget_shared_in_the_database_keeps_two_clients_free_of_162(database_url):
    rules = with_margin(PacingRules().scaled(SCALE))
    with make_gateway(pacing=True, pacing_time_scale=SCALE) as gw:
        engine = engine_for(database_url)
        shared = [DatabasePacingBudget(engine, f"127.0.0.1:{gw.port}", rules) for _ in range(2)]
        results = fetch_together(gw, shared)
        assert gw.sim.pacing_violations == 0
        assert all(not isinstance(r, Exception) and len(r) > 0 for r in results)


def test_the_baseline_two_private_budgets_trip_ibs_limits():
    with make_gateway(pacing=True, pacing_time_scale=SCALE) as gw:
        fetch_together(gw, [None, None])
        # 80 requests over one gateway, each client keeping to 60 per window on its own: IB refuses some.
        assert gw.sim.pacing_violations > 0


def test_the_cap_of_open_requests_counts_every_process_and_only_small_bars_count_in_the_windows(database_url):
    now = [1_000_000.0]
    engine = engine_for(database_url)
    rules = PacingRules()  # IB's own numbers: 15 s identical, 60 per 10 minutes
    one, two = (DatabasePacingBudget(engine, "gw:4002", rules, clock=lambda: now[0], max_open=3) for _ in range(2))
    tokens = [
        one.try_reserve("daily-AAPL", "AAPL", hard=False)[1],
        two.try_reserve("daily-MSFT", "MSFT", hard=False)[1],
        one.try_reserve("5s-AAPL", "AAPL", hard=True)[1],
    ]
    assert all(t is not None for t in tokens)
    wait, token = two.try_reserve("daily-NVDA", "NVDA", hard=False)
    assert token is None and wait > 0  # three open across the two processes
    one.release(tokens[0])
    assert two.try_reserve("daily-NVDA", "NVDA", hard=False)[1] is not None
    # The daily requests are not in IB's windows; the small-bar one is, and in flight it counts as now.
    wait, token = two.try_reserve("5s-AAPL", "AAPL", hard=True)
    assert token is None
    one.release(tokens[2])
    now[0] += 10
    wait, token = two.try_reserve("5s-AAPL", "AAPL", hard=True)
    assert token is None and wait == pytest.approx(5.0)  # 15 s from the answer, not from the send
