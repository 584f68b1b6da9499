"""A tick end to end: signal → sized bracket → fill → position → P&L equal to the simulator's account."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from ibkr_pipeline.assets.order_audit import order_audit
from ibkr_pipeline.assets.portfolio import portfolio
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.audit import audit_record
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline.sensors.order_audits import order_audits
from ibkr_pipeline.sensors.order_tracking import order_tracking
from ibkr_pipeline.trading.reconcile import reconcile
from ibkr_pipeline_tests.conftest import make_gateway

CLOCK = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)  # Thursday 10:00 New York: orders fill
TICK = "2026-11-19-10:00"  # the tick that runs at CLOCK, named by that instant
# The rules decide (no weight on the analysis), and the (offline) analyst is asked: the audit shows its prompt.
STRATEGY = """
name: trader
universe: [{symbol: AAPL}, {symbol: MSFT}, {symbol: SPY}]
schedule: {cron: "0 10 * * 1-5", timezone: America/New_York, start: 2026-01-01}
timeframes: [{name: daily, bar_size: 1 day, lookback: 1 Y}]
indicators: [{kind: atr, params: {length: 14}, name: atr_14}]
chart: {bars: 40}
signal: {mode: weighted, llm_weight: 0, buy: "close > 0", atr: atr_14}
risk: {max_position_value: 20000, max_position_pct: 5, min_confidence: 0.5}
order: {entry: MKT, sizing: risk, risk_pct: 0.5}
"""


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("IBKR_PIPELINE_HOME", str(tmp_path / "home"))
    with make_gateway(clock_start=CLOCK, pacing=False) as gw:
        db = f"sqlite:///{tmp_path / 'db.sqlite'}"
        resources = {
            "ibkr": IBKRResource(port=gw.port),
            "database": DatabaseResource(url=db),
            "objects": ObjectStoreResource(local_dir=str(tmp_path / "objects")),
            "llm": LLMResource(),
            "alerts": AlertWebhook(),
        }
        yield gw, resources, Ledger(engine_for(db))


def tick(spec_text: str, resources, instance, tags: dict[str, str] | None = None, partition: str = TICK):
    spec = parse_strategy(spec_text, Path("trader.yaml"))
    defs = build_strategy_definitions(spec)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups(spec.name),
        partition_key=partition,
        resources=resources,
        instance=instance,
        tags=tags,
    )
    assert result.success
    return result


def test_tick_to_fills_positions_and_pnl(setup):
    gw, resources, ledger = setup
    with dg.instance_for_test() as instance:
        result = tick(STRATEGY, resources, instance)
        orders = result.output_for_node("trader__orders").values
        assert {s: d.placement.outcome for s, d in orders.items()} == {
            "AAPL": "placed",
            "MSFT": "placed",
            "SPY": "placed",
        }
        for decision in orders.values():
            i = decision.intent
            assert i.order_ref == f"trader:{decision.symbol}:2026-11-19-1000"
            assert i.quantity * gw.sim.market.price_at(gw.sim.universe.by_symbol(i.symbol), CLOCK) <= 20_000 * 1.01
            assert all(c.passed for c in decision.checks)
        # From the order back to every reason, in one record.
        ref = orders["AAPL"].intent.order_ref
        sections = {a.title: "\n".join(a.lines) for a in audit_record(instance, ledger, ref)}
        assert f"{ref}: BUY {orders['AAPL'].intent.quantity} AAPL MKT" in sections["order"]
        assert "sent and acknowledged by IB" in sections["status history"]
        assert sections["signal"].startswith("BUY confidence") and "rule values: {" in sections["signal"]
        assert "system prompt:" in sections["analysis"] and "answer:" in sections["analysis"]
        assert "pass  position_value: " in sections["risk checks"]
        assert sections["data"].startswith("| AAPL | daily |") and "chart daily: " in sections["data"]
        assert "data versions: contracts " in sections["data"] and ", signals " in sections["data"]
        assert (
            "file as it was at the tick:" in sections["strategy and code"]
            and "name: trader" in sections["strategy and code"]
        )
        assert sections["runs"].count("run ") == 7
        # Re-executing the same tick sends nothing new, even when it would size the orders differently now,
        # and the orders table shows what was sent.
        rerun = tick(STRATEGY.replace("max_position_value: 20000", "max_position_value: 10000"), resources, instance)
        again = rerun.output_for_node("trader__orders").values
        assert {d.placement.outcome for d in again.values()} == {"already_done"}
        [event] = [
            e
            for e in rerun.get_asset_materialization_events()
            if e.materialization.asset_key == dg.AssetKey(["trader", "orders"])
        ]
        table = event.materialization.metadata["orders"].value
        sent, now = orders["AAPL"].intent.quantity, again["AAPL"].intent.quantity
        assert now < sent and f"| AAPL | BUY | {sent} (sent; sized {now} now) |" in table
        assert f"[{ref}](/assets/order_audit?view=partitions&partition={ref.replace(':', '%3A')})" in table
        assert ledger.get(ref).quantity == sent
        parents = gw.call(lambda: [o for o in gw.sim.engine.orders.values() if o.parent_id == 0 and o.released])
        assert len(parents) == 3 and all(o.status == "Filled" for o in parents)

        with dg.build_sensor_context(
            instance=instance,
            resources={"ibkr": resources["ibkr"], "database": resources["database"], "alerts": AlertWebhook()},
        ) as context:
            evaluation = order_tracking(context)
        assert isinstance(evaluation, dg.RunRequest)  # new fills → a portfolio snapshot is requested
        assert {(f.order_ref, f.side, f.shares) for f in ledger.fills()} == {
            (d.intent.order_ref, "BUY", d.intent.quantity) for d in orders.values()
        }
        assert all(f.commission >= 1.0 for f in ledger.fills())
        with dg.build_sensor_context(
            instance=instance,
            cursor=context.cursor,
            resources={"ibkr": resources["ibkr"], "database": resources["database"], "alerts": AlertWebhook()},
        ) as context:
            assert isinstance(order_tracking(context), dg.SkipReason)  # nothing new since the last snapshot
        with resources["ibkr"].get_client(resources["database"]) as client:
            assert reconcile(client, ledger).fills == []  # idempotent
        snapshot = dg.materialize([portfolio], resources=resources, instance=instance)
        audit_order_through_its_partition(instance, resources, ref, orders["AAPL"].intent)
    meta = {k: v.value for k, v in snapshot.asset_materializations_for_node("portfolio")[0].metadata.items()}
    sim = gw.account_values()
    for key, sim_key in [
        ("net_liquidation", "NetLiquidation"),
        ("cash", "TotalCashValue"),
        ("unrealized_pnl", "UnrealizedPnL"),
        ("realized_pnl", "RealizedPnL"),
    ]:
        assert meta[key] == pytest.approx(sim[sim_key], abs=0.05), key
    assert meta["open_positions"] == 3
    assert meta["attribution"]["trader"]["fills"] == 3
    assert "data:image/png;base64," in meta["equity_curve"]
    # The trader's tables, from the ledger, as Dagster table metadata with a schema.
    assert {r.data["orderRef"] for r in meta["open_orders"].records} == {d.intent.order_ref for d in orders.values()}
    assert {c.name for c in meta["fills"].schema.columns} >= {"execId", "orderRef", "price", "commission"}
    assert {r.data["orderRef"] for r in meta["fills"].records} == {d.intent.order_ref for d in orders.values()}
    [pnl] = meta["pnl_by_strategy"].records
    assert pnl.data["strategy"] == "trader" and pnl.data["fills"] == 3
    assert meta["realized_pnl/trader"] == pytest.approx(pnl.data["realized P&L"])


def test_dry_run_and_kill_switch_send_nothing(setup, monkeypatch):
    gw, resources, ledger = setup
    with dg.instance_for_test() as instance:
        dry = tick(STRATEGY.replace("name: trader", "name: trader\nmode: dry_run"), resources, instance)
        outcomes = {d.placement.status for d in dry.output_for_node("trader__orders").values.values()}
        assert outcomes == {"dry_run"}
        monkeypatch.setenv("IBKR_PIPELINE_KILL_SWITCH", "1")
        killed = tick(STRATEGY, resources, instance).output_for_node("trader__orders").values
        assert {d.placement.status for d in killed.values()} == {"blocked"}
        assert all("kill switch" in d.placement.detail for d in killed.values())
    assert gw.call(lambda: [o for o in gw.sim.engine.orders.values() if o.released]) == []


def test_a_backfill_of_past_ticks_never_sends_orders_to_the_gateway(setup):
    gw, resources, ledger = setup
    with dg.instance_for_test() as instance:
        result = tick(STRATEGY, resources, instance, tags={"dagster/backfill": "bkfl1"})
    orders = result.output_for_node("trader__orders").values
    assert {d.placement.outcome for d in orders.values()} == {"blocked"}
    assert all("backfill bkfl1" in d.placement.detail for d in orders.values())
    assert gw.call(lambda: dict(gw.sim.engine.orders)) == {}
    assert {row.status for row in [ledger.get(d.intent.order_ref) for d in orders.values()]} == {"blocked"}


def test_an_exit_cancels_the_positions_bracket_children_before_selling(setup):
    gw, resources, ledger = setup
    with dg.instance_for_test() as instance:
        tick(STRATEGY, resources, instance)  # brackets: entries fill, stops and targets left working
        children = gw.call(lambda: [o for o in gw.sim.engine.orders.values() if o.parent_id and o.released])
        assert len(children) == 6 and all(
            o.status == ("PreSubmitted" if o.order_type == "STP" else "Submitted") for o in children
        )
        exit_strategy = STRATEGY.replace('buy: "close > 0"', 'buy: "close < 0", sell: "close > 0"')
        gw.advance(timedelta(days=1))  # Friday 10:00 New York: the next tick runs
        result = tick(exit_strategy, resources, instance, partition="2026-11-20-10:00")
    exits = result.output_for_node("trader__orders").values
    assert {d.intent.action for d in exits.values()} == {"SELL"}
    told = result.output_for_node("trader__analysis").values["AAPL"].user_prompt
    assert "Current position in AAPL: long " in told and "at an average cost of " in told, told  # the analyst knew
    assert {d.placement.status for d in exits.values()} == {"working"}
    states = gw.call(
        lambda: {
            (o.instrument.symbol, o.parent_id != 0, o.action): o.status
            for o in gw.sim.engine.orders.values()
            if o.released
        }
    )
    assert all(status == "Cancelled" for (_, child, _), status in states.items() if child), states
    assert gw.call(lambda: {s.instrument.symbol: s.quantity for s in gw.sim.account.positions.values()}) == {
        "AAPL": 0,
        "MSFT": 0,
        "SPY": 0,
    }
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(
            instance=instance,
            resources={"ibkr": resources["ibkr"], "database": resources["database"], "alerts": AlertWebhook()},
        ) as context:
            order_tracking(context)
        observed = [
            r.event_log_entry.asset_observation.metadata
            for r in instance.fetch_observations(dg.AssetKey(["trader", "orders"]), limit=20).records
        ]
        changes = {m["order_ref"].value: (m["from"].value, m["to"].value) for m in observed if "from" in m}
    entries = {f"trader:{s}:2026-11-19-1000" for s in ("AAPL", "MSFT", "SPY")}
    exit_refs = {d.intent.order_ref for d in exits.values()}
    # Each bracket ended (entry filled, stop and target cancelled) and each exit filled: the exit tick and the
    # sensor reconcile the ledger; what the sensor changed shows on the orders asset.
    assert {ref: ledger.get(ref).status for ref in entries | exit_refs} == {
        ref: "filled" for ref in entries | exit_refs
    }
    assert set(changes) <= entries | exit_refs and set(changes.values()) <= {("working", "filled")}
    assert {row.status for row in ledger.open_orders()} == set()


def test_a_tick_traded_under_its_old_name_is_not_traded_again_under_its_new_one(setup):
    """Before migration 0006 this tick was named by its window's start (Wednesday 10:00); a ledger written then
    holds AAPL's order under that name and no as-of instant. Re-run under its new name, the tick leaves AAPL."""
    gw, resources, ledger = setup
    old_ref = "trader:AAPL:2026-11-18-1000"
    ledger.record_intent(
        OrderIntent(
            order_ref=old_ref,
            strategy="trader",
            symbol="AAPL",
            con_id=265598,
            tick="2026-11-18-10:00",
            mode="paper",
            action="BUY",
            quantity=10,
            entry_type="MKT",
        ),
        status="cancelled",
    )
    with dg.instance_for_test() as instance:
        orders = tick(STRATEGY, resources, instance).output_for_node("trader__orders").values
    assert orders["AAPL"].intent is None and orders["AAPL"].skipped.startswith(f"already traded as {old_ref}")
    assert {orders[s].placement.outcome for s in ("MSFT", "SPY")} == {"placed"}
    assert ledger.get(orders["MSFT"].placement.order_ref).tick_as_of == CLOCK
    assert gw.call(lambda: sorted(o.instrument.symbol for o in gw.sim.engine.orders.values() if not o.parent_id)) == [
        "MSFT",
        "SPY",
    ]


def audit_order_through_its_partition(instance, resources, ref, intent):
    """The order_audits sensor adds the orderRef as a partition of order_audit and requests its record, once per
    state; the record holds the chart with the order's levels and fill, the prompt, the answer, the risk checks
    and the strategy file."""
    with dg.build_sensor_context(instance=instance, resources={"database": resources["database"]}) as context:
        result = order_audits(context)
    [add] = result.dynamic_partitions_requests
    assert add.partitions_def_name == "order_refs" and ref in add.partition_keys
    request = next(r for r in result.run_requests if r.partition_key == ref)
    assert request.run_key == f"{ref}|working|1"
    instance.add_dynamic_partitions("order_refs", list(add.partition_keys))
    run = dg.materialize([order_audit], partition_key=ref, resources=resources, instance=instance)
    meta = {k: v.value for k, v in run.asset_materializations_for_node("order_audit")[0].metadata.items()}
    record = meta["record"]
    assert record.startswith(f"## {ref.replace(':', ':')}") and record.count("data:image/png;base64,") == 2
    assert "### signal" in record and "### analysis" in record and "system prompt:" in record
    assert "| position_value | pass |" in record and "name: trader" in meta["strategy_file"]
    assert f"{intent.action} {intent.quantity} AAPL MKT" in meta["order"] and meta["fills"] == 1
    assert len(meta["prompt_template_hash"]) == 16 and meta["git_sha"] != "not recorded"
    assert {r.data["check"] for r in meta["risk_checks"].records} >= {"position_value", "trading_enabled"}
    assert set(meta) >= {"run/orders", "run/analysis", "run/charts", "chart_file"}
    with Image.open(meta["chart_file"]) as image:
        assert image.format == "PNG" and image.width >= 800


def test_a_status_change_without_a_fill_refreshes_the_portfolio(setup):
    """The trader cancels a bracket's stop and target by hand: the sensor sees the order change, though nothing
    filled, and asks for a portfolio snapshot so the orders tables show it."""
    gw, resources, ledger = setup
    with dg.instance_for_test() as instance:
        tick(STRATEGY, resources, instance)
        sensor_resources = {"ibkr": resources["ibkr"], "database": resources["database"], "alerts": AlertWebhook()}
        with dg.build_sensor_context(instance=instance, resources=sensor_resources) as context:
            assert order_tracking(context).run_key.startswith("fills-")
            cursor = context.cursor
        with resources["ibkr"].get_client(
            resources["database"]
        ) as client:  # the trader cancels AAPL's stop and target by hand
            children = [
                t
                for t in client.ib.reqAllOpenOrders()
                if t.contract.symbol == "AAPL" and t.order.parentId and t.orderStatus.status != "Cancelled"
            ]
            assert len(children) == 2
            for trade in children:
                client.ib.cancelOrder(trade.order)
            for _ in range(100):  # until IB has confirmed both cancels
                if all(t.orderStatus.status == "Cancelled" for t in children):
                    break
                client.ib.waitOnUpdate(timeout=0.5)
            assert {t.orderStatus.status for t in children} == {"Cancelled"}
        before = {r.order_ref: r.status for r in ledger.orders()}
        with dg.build_sensor_context(instance=instance, resources=sensor_resources, cursor=cursor) as context:
            tracked = order_tracking(context)
        after = {r.order_ref: r.status for r in ledger.orders()}
    assert before != after, (before, after)
    assert isinstance(tracked, dg.RunRequest) and tracked.run_key.startswith("status-")
    assert len(ledger.fills()) == 3  # nothing new filled
