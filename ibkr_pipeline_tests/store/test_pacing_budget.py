"""Two processes' clients fetching small bars from one gateway at once: with the budget in the project
database together they stay inside IB's windows; each with only its own budget, IB answers 162."""

import asyncio

import pytest

from ibkr_pipeline.broker.client import BarsRequest, IBKRClient, IBKRSettings
from ibkr_pipeline.broker.pacing import with_margin
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.pacing import PacingRules
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline.store.database import engine_for
from ibkr_pipeline.store.pacing_budget import DatabasePacingBudget
from ibkr_pipeline_tests.conftest import make_gateway

SCALE = 0.02  # IB's windows scaled: 10 minutes -> 12 s, 15 s -> 0.3 s


def fetch_together(gw, budgets) -> list:
    """Each client's own scheduler (as in two processes), 40 requests each, all started at once."""
    symbols = Universe.default().symbols[:40]
    clients = [IBKRClient(IBKRSettings(port=gw.port, client_id=10 + i, pacing_time_scale=SCALE, request_attempts=1),
                          pacing_budget=budget) for i, budget in enumerate(budgets)]
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
