"""IBKRResource inside Dagster: configured like production, used from an asset, run with dg.materialize."""

import socket
import time

import dagster as dg

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource


def test_resource_resolves_and_fetches_inside_an_asset(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_IBKR_PORT", str(gateway.port))

    @dg.asset
    def spy_closes(context: dg.AssetExecutionContext, ibkr: IBKRResource, database: DatabaseResource) -> list[float]:
        from ibkr_pipeline.broker.client import BarsRequest

        with ibkr.get_client(database) as client:
            info = client.resolve(ContractSpec(symbol="SPY"))
            bars = client.bars(BarsRequest(info, None, "1 M", "1 day"))
        context.add_output_metadata({"con_id": info.con_id, "bars": len(bars)})
        return bars["close"].tolist()

    resource = IBKRResource(port=dg.EnvVar.int("TEST_IBKR_PORT"))
    database = DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    result = dg.materialize([spy_closes], resources={"ibkr": resource, "database": database})
    assert result.success
    closes = result.output_for_node("spy_closes")
    assert 19 <= len(closes) <= 23
    materialization = result.asset_materializations_for_node("spy_closes")[0]
    assert materialization.metadata["bars"].value == len(closes)


def test_the_health_probe_answers_beside_a_connected_trading_client(gateway):
    """The probe connects under its own client id (IB refuses a second session of one id with 326), and leaves."""
    resource = IBKRResource(port=gateway.port, client_id=7, connect_timeout_s=2)
    trading = IBKRClient(resource.settings())
    trading.connect()
    try:
        started = time.perf_counter()
        health = resource.probe()
        outer_ms = (time.perf_counter() - started) * 1000
        assert (health.component, health.status) == ("gateway", "ok")
        assert health.latency_ms is not None and 0 < health.latency_ms <= outer_ms + 0.1  # measured, in ms
        assert health.detail.startswith(f"127.0.0.1:{gateway.port} answered; its clock ")
        # The trading session, the port check, one probe session: under the trading client's id the probe would
        # meet 326 and need another connection under the next id.
        assert gateway.sim.connections == 3
        sessions = [7, 907]
        for _ in range(100):  # the gateway sees the probe's socket close a moment after the probe returns
            sessions = gateway.call(lambda: sorted(gateway.sim.sessions))
            if sessions == [7]:
                break
            trading.sleep(0.02)
        assert sessions == [7]
    finally:
        trading.disconnect()


def test_the_health_probe_gives_up_on_a_host_that_answers_no_connection_attempt():
    """A listener whose backlog is full drops further SYNs, as a firewalled or hung host does: the probe says
    down at its deadline instead of waiting for the kernel's retries (minutes)."""
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(0)
    port = host.getsockname()[1]
    first = socket.create_connection(("127.0.0.1", port), timeout=2)  # fills the backlog; never accepted
    try:
        health = IBKRResource(port=port, connect_timeout_s=0.5).probe()
    finally:
        first.close()
        host.close()
    assert (health.status, health.detail) == ("down", f"127.0.0.1:{port}: TimeoutError('timed out')")


def test_the_health_probe_gives_up_on_a_gateway_silent_after_accepting_the_session(gateway):
    """The session is accepted (its first message answered), then nothing: the probe's own request has a deadline.
    Long enough for the session's handshake on a loaded machine: a handshake cut short is another failure
    (GatewayConnectionError, the test below)."""
    gateway.sim.faults.silent_after_requests = 1
    health = IBKRResource(port=gateway.port, connect_timeout_s=2).probe()
    assert (health.status, health.detail) == (
        "unresponsive",
        f"127.0.0.1:{gateway.port} accepts connections but did not answer within 2 s (TimeoutError)",
    )
    assert gateway.sim.connections == 2  # the port check, then one session: a probe never retries


def test_the_health_probe_tries_a_silent_gateway_once(gateway):
    gateway.sim.faults.unresponsive = True  # not even the session's first message is answered
    health = IBKRResource(port=gateway.port, connect_timeout_s=0.5).probe()
    assert health.status == "unresponsive" and health.detail.endswith("(GatewayConnectionError)")
    assert gateway.sim.connections == 2  # the port check, then one session: the resource's 5 attempts are not its
