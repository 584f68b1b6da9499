"""A strategy's tick through Dagster against the simulator, with local and S3 chart stores."""

import pickle
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from minio import Minio
from PIL import Image

from ibkr_pipeline.assets.strategy import build_strategy_definitions, trading_pool
from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.backtest.runner import ChartsTo, decide_tick
from ibkr_pipeline.broker.client import BarsRequest, IBKRClient, IBKRSettings
from ibkr_pipeline.database.engine import engine_for, upgrade
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.pipeline.analysis import analyst_for
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.defaults import IO_PREFIX, io_manager_from_env, objects_from_env
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline_tests.conftest import make_gateway

# Clock: Thursday 2026-11-19 17:00 New York. A tick is named by the instant it runs: "2026-11-17-16:15"
# is Tuesday's tick, "2026-11-18-16:15" Wednesday's.
CLOCK = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
TUESDAY_TICK = "2026-11-17-16:15"
WEDNESDAY_TICK = "2026-11-18-16:15"
TUESDAY_END = datetime(2026, 11, 17, 21, 15, tzinfo=UTC)
THURSDAY_TICK = "2026-11-19-16:15"
THURSDAY_END = datetime(2026, 11, 19, 21, 15, tzinfo=UTC)

STRATEGY = """
name: test_megacaps
universe: [{symbol: AAPL}, {symbol: MSFT}, {symbol: SPY}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}
timeframes:
  - {name: daily, bar_size: 1 day, lookback: 1 Y}
  - {name: weekly, bar_size: 1 week, lookback: 2 Y}
indicators:
  - {kind: sma, params: {length: 50}}
  - {kind: rsi, params: {length: 14}}
  - {kind: atr, params: {length: 14}, name: atr_14}
chart: {overlays: [sma_50], panels: [rsi_14], bars: 60}
signal: {buy: "rsi_14 < 101", sell: "rsi_14 < 0", atr: atr_14}
"""


def strategy(text: str = STRATEGY):
    return parse_strategy(text, Path("test_strategy.yaml"))


@pytest.fixture
def gateway(tmp_path) -> Iterator:
    universe = tmp_path / "universe.yaml"
    universe.write_text(
        "- {symbol: AAPL, primary_exchange: NASDAQ, price: 190}\n"
        "- {symbol: MSFT, primary_exchange: NASDAQ, price: 410}\n"
        "- {symbol: SPY, primary_exchange: ARCA, type: ETF, price: 520}\n"
        "- {symbol: NEWCO, primary_exchange: NYSE, price: 20, listed: 2026-12-01}\n"
    )
    with make_gateway(clock_start=CLOCK, pacing=False, universe_file=universe) as gw:
        yield gw


def resources(gateway, tmp_path, store: ObjectStoreResource | None = None) -> dict:
    return {
        "ibkr": IBKRResource(port=gateway.port),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}"),
        "objects": store or ObjectStoreResource(local_dir=str(tmp_path / "objects")),
        "llm": LLMResource(),
        "alerts": AlertWebhook(),
    }


def run_tick(spec, res, partition: str, instance) -> dg.ExecuteInProcessResult:
    defs = build_strategy_definitions(spec)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups(spec.name),
        partition_key=partition,
        resources=res,
        instance=instance,
    )
    assert result.success
    return result


def out(result, step: str, name: str = "test_megacaps"):
    return result.output_for_node(f"{name}__{step}")


def metadata(result, step: str, name: str = "test_megacaps") -> dict:
    [event] = [
        e for e in result.get_asset_materialization_events() if e.materialization.asset_key == dg.AssetKey([name, step])
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_tick_runs_every_step_for_every_symbol(gateway, tmp_path):
    spec = strategy()
    with dg.instance_for_test() as instance:
        result = run_tick(spec, resources(gateway, tmp_path), TUESDAY_TICK, instance)
        assert "ibkr_pipeline/failed_symbols" not in instance.get_run_by_id(result.run_id).tags
    signals = out(result, "signals")
    assert set(signals.values) == {"AAPL", "MSFT", "SPY"} and signals.errors == {}
    for signal in signals.values.values():
        assert signal.action == "BUY" and signal.stop_loss < signal.entry < signal.take_profit
        assert signal.as_of == TUESDAY_END
    charts = out(result, "charts")
    for symbol, frames in charts.values.items():
        assert set(frames) == {"daily", "weekly"}
        for chart in frames.values():
            assert f"test_megacaps/{symbol}/{TUESDAY_TICK}/" in chart["key"]
            with Image.open(chart["path"]) as image:
                assert image.format == "PNG" and image.width >= 800
    meta = metadata(result, "charts")
    assert "data:image/png;base64," in meta["charts"]
    assert len(metadata(result, "signals")["strategy_file_hash"]) == 16
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 7 and all(c.passed for c in checks)
    analysis = metadata(result, "analysis")
    assert analysis["analyst"] == "offline analyst (no LLM endpoint configured)" and analysis["llm_calls"] == 0
    # Lineage: the bars step says what it fetched, over which range.
    bars_table = metadata(result, "bars")["bars"]
    assert "| AAPL | daily | 1 Y |" in bars_table


def test_no_bar_after_the_tick_is_used_even_when_later_bars_are_stored(gateway, tmp_path):
    spec = strategy()
    res = resources(gateway, tmp_path)
    with dg.instance_for_test() as instance:
        run_tick(spec, res, WEDNESDAY_TICK, instance)  # stores Wednesday's bars first
        result = run_tick(spec, res, TUESDAY_TICK, instance)
    bars = out(result, "bars")
    sim = gateway.sim
    for symbol, frames in bars.values.items():
        for frame in frames.values():
            assert (frame["timestamp"] <= pd.Timestamp(TUESDAY_END)).all()
        daily = frames["daily"]
        inst = sim.universe.by_symbol(symbol)
        tuesday = sim.market.calendar.index_of(datetime(2026, 11, 17).date())
        expected = sim.market.daily_bars(inst, True, tuesday, tuesday)["close"].iloc[0]
        assert daily["timestamp"].iloc[-1] == pd.Timestamp("2026-11-17", tz="UTC")
        assert daily["close"].iloc[-1] == pytest.approx(expected)


def test_second_tick_fetches_only_the_missing_bars(gateway, tmp_path):
    spec = strategy()
    res = resources(gateway, tmp_path)
    with dg.instance_for_test() as instance:
        first = run_tick(spec, res, TUESDAY_TICK, instance)
        second = run_tick(spec, res, WEDNESDAY_TICK, instance)
    first_meta, second_meta = metadata(first, "bars"), metadata(second, "bars")
    assert first_meta["bars_fetched"] > 600
    assert second_meta["bars_fetched"] <= 3 * (4 + 3)  # a few days and a couple of weeks per symbol
    assert "| AAPL | daily | 1 Y |" not in second_meta["bars"]
    daily = out(second, "bars").values["AAPL"]["daily"]
    assert daily["timestamp"].iloc[-1] == pd.Timestamp("2026-11-18", tz="UTC")
    assert daily["timestamp"].is_unique


def test_unknown_symbol_and_symbol_without_bars_do_not_stop_the_others(gateway, tmp_path):
    spec = strategy(STRATEGY.replace("{symbol: SPY}]", "{symbol: SPY}, {symbol: ZZZQ}, {symbol: NEWCO}]"))
    with dg.instance_for_test() as instance:
        result = run_tick(spec, resources(gateway, tmp_path), TUESDAY_TICK, instance)
        # The run succeeded, and its tag says that 2 of its 5 symbols did not get through.
        # The run succeeded, and its tag says that 2 of its 5 symbols did not get through.
        assert instance.get_run_by_id(result.run_id).tags["ibkr_pipeline/failed_symbols"] == "2 of 5"
    signals = out(result, "signals")
    assert set(signals.values) == {"AAPL", "MSFT", "SPY"}
    assert "unknown contract 'ZZZQ'" in signals.errors["ZZZQ"] and signals.errors["ZZZQ"].startswith("contracts:")
    assert signals.errors["NEWCO"].startswith("bars/") and "no bars" in signals.errors["NEWCO"]
    checks = {c.asset_key.path[-1]: c for c in result.get_asset_check_evaluations()}
    assert not checks["contracts"].passed and not checks["bars"].passed and not checks["signals"].passed
    assert "ZZZQ" in checks["contracts"].metadata["failed_here"].value
    # What failed, counted and named, is the check's description: readable at a glance in the UI.
    assert checks["contracts"].description.startswith(
        "1 of 5 symbols did not get through contracts: ZZZQ — contracts: IB error 200: unknown contract 'ZZZQ'"
    )
    assert checks["signals"].description.startswith("2 of 5 symbols did not get through signals: ZZZQ — ")


def test_tick_with_charts_bars_and_step_outputs_in_s3(gateway, tmp_path, s3_endpoint, monkeypatch):
    """With an object store configured, nothing of the tick lands on the local disk: a step can run on any host."""
    for name, value in {
        "IBKR_PIPELINE_S3_ENDPOINT": s3_endpoint,
        "IBKR_PIPELINE_S3_BUCKET": "charts-test",
        "IBKR_PIPELINE_S3_SECURE": "false",
        "IBKR_PIPELINE_S3_ACCESS_KEY": "testing",
        "IBKR_PIPELINE_S3_SECRET_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    store = objects_from_env()
    client = Minio(s3_endpoint, access_key="testing", secret_key="testing", secure=False)
    if not client.bucket_exists("charts-test"):
        client.make_bucket("charts-test")  # as minio-init does in the deployment
    spec = strategy()
    with dg.instance_for_test() as instance:
        result = run_tick(
            spec, {**resources(gateway, tmp_path, store), "io_manager": io_manager_from_env()}, TUESDAY_TICK, instance
        )
        outputs = {
            o.object_name
            for o in client.list_objects("charts-test", prefix=f"{IO_PREFIX}/test_megacaps/", recursive=True)
        }
        assert outputs == {
            f"{IO_PREFIX}/test_megacaps/{step}/{TUESDAY_TICK}"
            for step in ("contracts", "bars", "indicators", "charts", "analysis", "signals", "orders")
        }
        stored_signals = pickle.loads(
            client.get_object("charts-test", f"{IO_PREFIX}/test_megacaps/signals/{TUESDAY_TICK}").read()
        )
        assert stored_signals.values == out(result, "signals").values
        with pytest.raises(dg.DagsterInvalidConfigError):  # the deployment's bucket, not the launchpad's
            dg.materialize(
                list(build_strategy_definitions(spec).assets),
                selection=dg.AssetSelection.assets(dg.AssetKey(["test_megacaps", "contracts"])),
                partition_key=TUESDAY_TICK,
                resources={**resources(gateway, tmp_path, store), "io_manager": io_manager_from_env()},
                run_config={"resources": {"io_manager": {"config": {"s3_bucket": "elsewhere"}}}},
                instance=instance,
            )
    charts = out(result, "charts")
    chart = charts.values["AAPL"]["daily"]
    assert chart["uri"] == f"s3://charts-test/{chart['key']}"
    body = client.get_object("charts-test", chart["key"]).read()
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    names = {o.object_name for o in client.list_objects("charts-test", prefix="test_megacaps/bars/", recursive=True)}
    assert "test_megacaps/bars/AAPL/daily.parquet" in names
    assert metadata(result, "bars")["store"] == "s3"


@pytest.mark.parametrize(
    ("cron", "partition", "tick_end", "bar_size", "last_bar"),
    [
        # Fridays 15:45: Friday's daily bar is still forming (IB returns it partial); the backtest sees it at 16:00.
        ("45 15 * * 5", "2026-11-13-15:45", datetime(2026, 11, 13, 20, 45, tzinfo=UTC), "1 day", "2026-11-12 00:00"),
        # Weekdays 10:15: the 10:00 hourly bar is still forming; the tick decides on the 09:30 one.
        ("15 10 * * 1-5", "2026-11-18-10:15", datetime(2026, 11, 18, 15, 15, tzinfo=UTC), "1 hour", "2026-11-18 14:30"),
    ],
)
def test_the_live_tick_decides_on_the_bars_its_backtest_sees(
    gateway, tmp_path, cron, partition, tick_end, bar_size, last_bar
):
    lookback = "1 Y" if bar_size == "1 day" else "5 D"
    spec = strategy(
        STRATEGY.replace('"15 16 * * 1-5"', f'"{cron}"')
        .replace(
            "  - {name: daily, bar_size: 1 day, lookback: 1 Y}\n  - {name: weekly, bar_size: 1 week, lookback: 2 Y}",
            f"  - {{name: main, bar_size: {bar_size}, lookback: {lookback}}}",
        )
        .replace("signal: {", "signal: {timeframe: main, ")
    )
    client = IBKRClient(IBKRSettings(port=gateway.port))
    with client:  # what IB answers at the tick: the forming bar included
        contract = client.resolve(ContractSpec(symbol="AAPL"))
        answered = client.bars(BarsRequest(contract, tick_end, "2 D" if bar_size != "1 day" else "1 M", bar_size))
        history = client.bars(BarsRequest(contract, CLOCK, "1 Y", "1 day"))
    assert answered["timestamp"].iloc[-1] > pd.Timestamp(last_bar, tz="UTC")
    with dg.instance_for_test() as instance:
        result = run_tick(spec, resources(gateway, tmp_path), partition, instance)
    live = out(result, "bars").values["AAPL"]["main"]
    assert live["timestamp"].iloc[-1] == pd.Timestamp(last_bar, tz="UTC")
    if bar_size == "1 day":
        view = PointInTimeBars({"AAPL": history})
        view.advance_to(tick_end)
        replayed = view.bars("AAPL", "1 day", tick_end, lookback)
        assert replayed["timestamp"].iloc[-1] == live["timestamp"].iloc[-1]
        assert replayed["close"].iloc[-1] == pytest.approx(live["close"].iloc[-1])


def test_a_tick_refuses_to_trade_while_another_run_trades_the_strategy(gateway, tmp_path):
    spec = strategy()
    res = resources(gateway, tmp_path)
    res["database"].claims().acquire("strategy:test_megacaps", "run elsewhere", lease_s=300)
    defs = build_strategy_definitions(spec)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            list(defs.assets),
            selection=dg.AssetSelection.groups(spec.name),
            partition_key=TUESDAY_TICK,
            resources=res,
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "test_megacaps__orders"
    assert re.search(
        r"another run is trading this strategy \(run elsewhere, lease \d+ s left\); this tick refuses",
        failure.step_failure_data.user_failure_data.description,
    )
    assert gateway.call(lambda: list(gateway.sim.engine.orders.values())) == []


def test_tick_runs_are_bounded_and_gateway_steps_retry():
    defs = build_strategy_definitions(strategy())
    [job] = defs.jobs
    assert job.tags["dagster/max_runtime"] == "1800"
    assets = {a.key.path[-1]: a for a in defs.assets}
    for step in ("contracts", "bars", "orders"):
        policy = assets[step].op.retry_policy
        assert (policy.max_retries, policy.delay, policy.backoff) == (3, 30, dg.Backoff.EXPONENTIAL), step
    assert assets["indicators"].op.retry_policy is None  # nothing there a retry would mend


@pytest.mark.parametrize("path", ["ibkr_pipeline/dagster.yaml", "deploy/dagster.yaml"])
def test_run_monitoring_is_on_in_both_instances(path):
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / path).read_text())
    assert config["run_monitoring"]["enabled"] is True


@pytest.mark.parametrize(
    ("signal", "tick", "end"),
    [
        ('signal: {buy: "close > sma_50", sell: "close < sma_50", atr: atr_14}', TUESDAY_TICK, TUESDAY_END),
        # The offline analyst reads the charts' frames and both timeframes; on the seeded paths it decides SPY on
        # this tick (it holds the others): a change to the market model may need another tick here.
        ("signal: {mode: llm, atr: atr_14}", THURSDAY_TICK, THURSDAY_END),
    ],
)
def test_the_live_tick_and_its_backtest_decide_the_same_signals_on_the_same_bars(gateway, tmp_path, signal, tick, end):
    spec = strategy(STRATEGY.replace('signal: {buy: "rsi_14 < 101", sell: "rsi_14 < 0", atr: atr_14}', signal))
    with dg.instance_for_test() as instance:
        live = out(run_tick(spec, resources(gateway, tmp_path), tick, instance), "signals")
    assert set(live.values) == {"AAPL", "MSFT", "SPY"}
    with IBKRClient(
        IBKRSettings(port=gateway.port)
    ) as client:  # the same gateway's daily bars, as a backtest reads them
        contracts = {s: client.resolve(ContractSpec(symbol=s)) for s in live.values}
        daily = {s: client.bars(BarsRequest(c, CLOCK, "3 Y", "1 day")) for s, c in contracts.items()}
    history = PointInTimeBars(daily)
    history.advance_to(end)
    engine = engine_for(f"sqlite:///{tmp_path / 'replay.sqlite'}")
    upgrade(engine)
    store = ObjectStoreResource(local_dir=str(tmp_path / "replay_objects"))
    replayed = decide_tick(
        spec,
        tick,
        end,
        history,
        contracts,
        Ledger(engine),
        analyst_for(spec, LLMResource(), None, store, contracts),
        ChartsTo(store, "replay"),
    )
    assert replayed.errors == {}
    assert replayed.signals == live.values  # action, confidence, entry, stop, target, reasons and every value read
    assert any(s.action != "HOLD" for s in live.values.values()), "the comparison means something only if it decides"


def test_a_second_run_of_a_strategy_waits_for_the_first_to_finish_trading(gateway, tmp_path):
    """The orders step's pool (limit 1): a run computes everything, then waits while another run trades."""
    spec = strategy()
    pool = trading_pool(spec.name)
    results: list[dg.ExecuteInProcessResult] = []
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        assert instance.event_log_storage.get_concurrency_info(pool).slot_count == 1
        held = instance.event_log_storage.claim_concurrency_slot(pool, "another-run", "test_megacaps__orders")
        assert held.is_claimed  # another run of the strategy is placing its orders
        worker = threading.Thread(
            target=lambda: results.append(run_tick(spec, resources(gateway, tmp_path), TUESDAY_TICK, instance))
        )
        worker.start()
        deadline = time.monotonic() + 180  # a guard against a hang, not a measurement
        blocked = False
        while not blocked and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
            runs = instance.get_runs()
            logs = instance.all_logs(runs[0].run_id) if runs else []
            blocked = any(e.message == f"Step blocked by limit for pool {pool}" for e in logs)
        assert blocked, "the orders step did not wait for the pool"
        [run] = instance.get_runs()
        done = {
            e.step_key for e in instance.all_logs(run.run_id) if e.dagster_event and e.dagster_event.is_step_success
        }
        assert done == {
            f"test_megacaps__{s}" for s in ("contracts", "bars", "indicators", "charts", "analysis", "signals")
        }
        instance.event_log_storage.free_concurrency_slots_for_run("another-run")
        worker.join(180)
    [result] = results
    assert result.success and out(result, "orders").values
