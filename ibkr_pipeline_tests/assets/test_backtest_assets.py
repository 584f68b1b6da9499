"""A backfill of past ticks is a backtest: one run, point-in-time data, the replay broker, a report."""

from datetime import UTC, datetime

import dagster as dg
import pytest
from PIL import Image

from ibkr_pipeline.assets.backtest import BacktestConfig, materialize_backtest
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.assets.ticks import partitions_for, tick_instant, ticks_between
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline_tests.backtest.history import spec, synthetic_daily
from ibkr_pipeline_tests.conftest import make_gateway

CLOCK = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)


def test_a_single_run_backfill_backtests_on_stored_history_and_reports(tmp_path):
    strategy = spec()
    defs = build_strategy_definitions(strategy)
    with make_gateway(clock_start=CLOCK, pacing=True) as gw, dg.instance_for_test() as instance:
        db = f"sqlite:///{tmp_path / 'db.sqlite'}"
        resources = {
            "ibkr": IBKRResource(port=gw.port),
            "database": DatabaseResource(url=db),
            "objects": ObjectStoreResource(local_dir=str(tmp_path / "objects")),
            "llm": LLMResource(),
        }
        keys = [k for k in partitions_for(strategy).get_partition_keys() if "2026-06-01" <= k[:10] <= "2026-08-31"]
        event = materialize_backtest(defs, strategy, keys, BacktestConfig(), resources, instance)

        runs = instance.get_runs()
        backtest_runs = [
            r
            for r in runs
            if "bt_test__backtest" in (r.step_keys_to_execute or [])
            or r.tags.get("dagster/asset_partition_range_start")
        ]
        assert len(backtest_runs) == 1, "the whole range is one run"
        done = instance.get_materialized_partitions(dg.AssetKey(["bt_test", "backtest"]))
        assert done == set(keys)
        [latest] = instance.fetch_materializations(dg.AssetKey(["bt_test", "backtest"]), limit=1).records
        meta = {k: v.value for k, v in latest.asset_materialization.metadata.items()}
        assert meta["ticks"] == len(keys) and meta["history_requests_to_ibkr"] == 4
        assert meta["orders_to_replay_engine"] > 0 and meta["orders_to_gateway"] == 0
        last_as_of = tick_instant(partitions_for(strategy), keys[-1])
        assert meta["latest_bar_read"][:10] == f"{last_as_of:%Y-%m-%d}"  # the last tick's own close, nothing later
        assert gw.call(lambda: dict(gw.sim.engine.orders)) == {}, "no order reached the gateway"

        report = {k: v.value for k, v in event.metadata.items()}
        for figure in ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "exposure"):
            assert isinstance(report[f"strategy_{figure}"], float)
        assert isinstance(report["buy_and_hold_sharpe"], float) and report["strategy_trades"] > 0
        assert "data:image/png;base64," in report["report"] and "| total_return |" in report["report"]
        with Image.open(report["plot"]) as image:
            assert image.format == "PNG"

        # A second backtest inside the same years needs no request: the history was stored.
        materialize_backtest(defs, strategy, keys[10:30], BacktestConfig(), resources, instance)
        [again] = instance.fetch_materializations(dg.AssetKey(["bt_test", "backtest"]), limit=1).records
        assert again.asset_materialization.metadata["history_requests_to_ibkr"].value == 0


def test_history_from_files_runs_without_a_gateway_and_a_missing_file_is_named(tmp_path):
    strategy = spec()
    defs = build_strategy_definitions(strategy)
    keys = [k for k in partitions_for(strategy).get_partition_keys() if "2026-09-01" <= k[:10] <= "2026-09-30"]
    files = tmp_path / "history"
    files.mkdir()
    for symbol, frame in synthetic_daily(["AAPL", "MSFT", "XOM"], datetime(2026, 10, 5, tzinfo=UTC)).items():
        frame.assign(date=frame["timestamp"].dt.strftime("%Y-%m-%d")).drop(columns="timestamp").to_csv(
            files / f"{symbol}.csv", index=False
        )
    resources = {
        "ibkr": IBKRResource(port=1),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'db.sqlite'}"),
        "objects": ObjectStoreResource(local_dir=str(tmp_path / "objects")),
        "llm": LLMResource(),
    }
    config = BacktestConfig(history="files", files_dir=str(files))
    with dg.instance_for_test() as instance:
        with pytest.raises(dg.Failure, match=r"history: no SYMBOL.csv or SYMBOL.parquet for \['JNJ'\]"):
            materialize_backtest(defs, strategy, keys, config, resources, instance)
        frame = synthetic_daily(["JNJ"], datetime(2026, 10, 5, tzinfo=UTC))["JNJ"]
        frame.to_parquet(files / "JNJ.parquet")
        event = materialize_backtest(defs, strategy, keys, config, resources, instance)
    assert event.metadata["ticks"].value == len(keys)


def test_only_ticks_whose_moment_has_passed_are_backtested():
    partitions = partitions_for(spec())
    now = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)  # Thursday after Thursday's 16:15 tick
    keys = ticks_between(partitions, datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC), now)
    # A key names the instant its tick runs: Thursday 16:15 has passed at 17:00, Friday's has not.
    assert keys == ["2026-11-16-16:15", "2026-11-17-16:15", "2026-11-18-16:15", "2026-11-19-16:15"]
