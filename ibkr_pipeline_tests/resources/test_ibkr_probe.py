"""What the health probe asks of the gateway: the time, under its own client id, read-only; and its latency.

Message ids from IBKR's own client (``ibapi``), not from the simulator or our client.
"""

from datetime import timedelta

from ibapi.message import OUT

from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource


def test_the_probe_asks_only_for_the_time_under_its_own_id_and_reads_no_orders(gateway):
    IBKRResource(port=gateway.port, client_id=7, connect_timeout_s=2).probe()
    asked = gateway.call(lambda: {k: n for k, n in gateway.sim.requests.items() if k[0] == 907})
    assert asked[(907, OUT.REQ_CURRENT_TIME)] == 1
    # Read-only: ib_async asks a session that may trade for its open and completed orders when it connects.
    assert (907, OUT.REQ_OPEN_ORDERS) not in asked and (907, OUT.REQ_COMPLETED_ORDERS) not in asked
    assert {client for client, _ in gateway.sim.requests} <= {None, 907}  # no session under another id


def test_the_probe_measures_its_latency_in_milliseconds(gateway):
    gateway.sim.faults.response_delay_s = 0.1  # each request answered no sooner than 100 ms after it is read
    health = IBKRResource(port=gateway.port, connect_timeout_s=5).probe()
    assert health.status == "ok"
    assert health.latency_ms is not None and health.latency_ms >= 100


def test_the_contract_cache_keeps_contracts_for_the_configured_days(tmp_path):
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    cache = IBKRResource(contract_cache_ttl_days=2.5).contract_cache(database)
    assert cache.ttl == timedelta(days=2, hours=12)
