"""The order-tracking sensor on its own: a resting order that fills later and one IB rejects after accepting it."""

from datetime import timedelta

import dagster as dg
import pytest

from ibkr_pipeline.broker.client import IBKRClient, IBKRSettings
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.kill_switch import KillSwitch
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.sensors.order_tracking import order_tracking
from ibkr_pipeline.trading.broker import GatewayBroker
from ibkr_pipeline.trading.tick import trade_tick
from ibkr_pipeline_tests.conftest import make_gateway
from ibkr_pipeline_tests.trading.test_positions_per_strategy import CLOCK, signal, spec


def evaluate(instance, resources: dict, cursor: str | None):
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        return order_tracking(context), context.cursor


def observed(instance, strategy: str) -> list[dict]:
    records = instance.fetch_observations(dg.AssetKey([strategy, "orders"]), limit=50).records
    return [{k: v.value for k, v in r.asset_observation.metadata.items()} for r in records]


def test_the_sensor_sees_a_fill_after_placement_and_a_late_reject_and_loses_neither(tmp_path):
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    with make_gateway(clock_start=CLOCK, pacing=False) as gw, dg.instance_for_test() as instance:
        gw.faults.late_reject_orders = {"MSFT"}
        client = IBKRClient(IBKRSettings(port=gw.port, connect_timeout_s=2))
        client.connect()
        try:
            engine = engine_for(db)
            ledger = Ledger(engine)
            strategy = spec("tracked", universe="[{symbol: AAPL}, {symbol: MSFT}]")
            strategy = strategy.model_copy(
                update={"order": strategy.order.model_copy(update={"entry": "LMT", "bracket": False})}
            )
            contracts = {s: client.resolve(ContractSpec(symbol=s)) for s in ("AAPL", "MSFT")}
            resting = {s: round(client.snapshot(c).reference_price * 0.998, 2) for s, c in contracts.items()}
            decisions = trade_tick(
                strategy,
                "t1",
                {s: signal(s, "BUY", price=p) for s, p in resting.items()},  # below the market: both rest
                contracts,
                GatewayBroker(client, tmp_path, KillSwitch(engine)),
                ledger,
                tick_at=gw.sim.clock.now(),
            )
            assert [d.placement.status for d in decisions] == ["working", "working"]
            refs = {d.symbol: d.intent.order_ref for d in decisions}
            for _ in range(40):  # MSFT's reject comes half a second after its acceptance
                client.sleep(0.05)
        finally:
            client.disconnect()
        aapl = gw.call(lambda: next(o for o in gw.sim.engine.orders.values() if o.order_ref == refs["AAPL"]))
        for _ in range(78):  # the market dips to the limit within the session (5-minute steps)
            if gw.call(lambda: aapl.status) == "Filled":
                break
            gw.advance(timedelta(minutes=5))
        assert gw.call(lambda: aapl.status) == "Filled"

        resources = {"ibkr": IBKRResource(port=gw.port), "database": DatabaseResource(url=db), "alerts": AlertWebhook()}
        with pytest.raises(dg.Failure) as failed:
            evaluate(instance, resources, None)
        assert failed.value.description == f"orders rejected by IB: {refs['MSFT']}"
        seen = observed(instance, "tracked")
        assert {(o["order_ref"], o["from"], o["to"]) for o in seen if "to" in o} == {
            (refs["AAPL"], "working", "filled"),
            (refs["MSFT"], "working", "rejected"),
        }
        [fill] = [o for o in seen if "fill" in o]
        assert (fill["order_ref"], fill["side"], fill["shares"]) == (refs["AAPL"], "BUY", 100)
        assert fill["price"] <= resting["AAPL"]
        assert ledger.get(refs["AAPL"]).status == "filled" and ledger.get(refs["MSFT"]).status == "rejected"

        # Nothing is live any more, but the fill's portfolio snapshot was not requested yet: it is now, once.
        request, cursor = evaluate(instance, resources, None)
        assert isinstance(request, dg.RunRequest) and request.run_key == f"fills-{fill['fill']}"
        skipped, _ = evaluate(instance, resources, cursor)
        assert isinstance(skipped, dg.SkipReason) and skipped.skip_message == "no live orders to track"
