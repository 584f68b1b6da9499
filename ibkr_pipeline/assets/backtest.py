"""Backtests as Dagster assets: a backfill of past ticks is a backtest.

``[strategy, backtest]`` shares the strategy's tick partitions and has a single-run
backfill policy, so a backfill over a year of ticks is one run that replays them in
order (state carries from tick to tick) with point-in-time bars and the replay broker.
It never sends an order to a gateway. ``[strategy, backtest_report]`` turns the latest
backtest into figures, plots and tables against an equal-weight buy-and-hold baseline.
"""

import base64
import json
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import pandas as pd

from ibkr_pipeline.assets.markdown import table
from ibkr_pipeline.assets.ticks import tick_instants
from ibkr_pipeline.backtest.point_in_time import SUPPORTED_BAR_SIZES, PointInTimeBars
from ibkr_pipeline.broker.errors import IBKRError
from ibkr_pipeline.domain.bar_history import merge
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.objects import keys
from ibkr_pipeline.objects.bar_files import PARQUET, from_parquet, to_parquet
from ibkr_pipeline.pipeline.analysis import analyst_for
from ibkr_pipeline.pipeline.contracts import resolved
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

if TYPE_CHECKING:
    from ibkr_pipeline.backtest.runner import BacktestResult

# The replay machinery (gateway simulator, matching engine, calendars) is imported when a backtest runs,
# not when the code location loads: ``from ibkr_pipeline.backtest import ...`` inside the functions below.


QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


class BacktestConfig(dg.Config):
    analyst: Literal["offline", "llm"] = "offline"
    history: Literal["store", "files"] = "store"
    files_dir: str = ""
    charts: Literal["auto", "always", "never"] = "auto"
    path: Literal["auto", "tick"] = "auto"  # tick: recompute every indicator on every tick even when none reads a chart


def _offline_contract(symbol: str) -> ContractInfo:
    """For history from files with no gateway to ask: US stock defaults (min tick one cent)."""
    return ContractInfo(
        symbol=symbol,
        sec_type="STK",
        exchange="SMART",
        currency="USD",
        con_id=0,
        primary_exchange="",
        local_symbol=symbol,
        trading_class=symbol,
        long_name=symbol,
        min_tick=0.01,
        time_zone="US/Eastern",
        fetched_at=datetime.now(UTC),
    )


def _daily_history(
    spec: StrategySpec,
    config: BacktestConfig,
    ibkr: IBKRResource,
    database: DatabaseResource,
    store: ObjectStoreResource,
    start: datetime,
    end: datetime,
    log: Any,
) -> tuple[dict[str, ContractInfo], dict[str, pd.DataFrame], dict[str, int]]:
    from ibkr_pipeline.backtest import history as hist

    symbols = [u.symbol for u in spec.universe]
    if config.history == "files":
        if not config.files_dir:
            raise dg.Failure(f"{spec.name}: history 'files' needs files_dir (a directory of SYMBOL.csv/.parquet)")
        try:
            daily = hist.read_files(Path(config.files_dir), symbols)
        except hist.HistoryError as exc:
            raise dg.Failure(str(exc)) from exc
        return {s: _offline_contract(s) for s in symbols}, daily, {"requests": 0}
    with ibkr.get_client(database) as client:
        found = client.run(client.resolve_many_async([u.contract_spec() for u in spec.universe]))
        resolution = resolved(symbols, found)
        if resolution.errors:
            raise dg.Failure(f"{spec.name}: contracts not resolved: {resolution.errors}")
        contracts = resolution.values
        daily = {s: from_parquet(store.get(keys.daily_history(s))) for s in symbols}
        missing = {s: contracts[s] for s in symbols if not hist.covers(daily[s], start, end)}
        if missing:
            log.info(
                "fetching daily history %s..%s for %s (paced)", f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}", list(missing)
            )
            for symbol, got in hist.fetch_daily(client, missing, start, end).items():
                if isinstance(got, IBKRError):
                    raise dg.Failure(f"{spec.name}: daily history for {symbol}: {got}")
                daily[symbol] = merge(daily[symbol], got)
                store.put(keys.daily_history(symbol), to_parquet(daily[symbol]), PARQUET)
    return contracts, daily, {"requests": len(missing)}


def build_backtest_assets(
    spec: StrategySpec, partitions: dg.TimeWindowPartitionsDefinition, code_version: str
) -> list[dg.AssetsDefinition]:
    unsupported = [t.name for t in spec.timeframes if t.bar_size not in SUPPORTED_BAR_SIZES]
    backtest_key = dg.AssetKey([spec.name, "backtest"])

    @dg.asset(
        key=backtest_key,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        code_version=code_version,
        group_name=f"{spec.name}_backtest",
        description=(
            f"Backtest of {spec.name}: a backfill of past ticks, replayed in order in one run on point-in-time "
            "daily bars; orders go to the simulator's matching engine, never to a gateway."
        ),
        required_resource_keys={"ibkr", "database", "objects", "llm"},
        kinds={"python"},
        tags={"strategy": spec.name},
    )
    def backtest(context: dg.AssetExecutionContext, config: BacktestConfig) -> dg.MaterializeResult:
        from ibkr_pipeline.backtest.columns import fast_path_refusal
        from ibkr_pipeline.backtest.replay_broker import Costs
        from ibkr_pipeline.backtest.runner import ChartsTo, history_start, run_backtest, run_fast_backtest

        if unsupported:
            raise dg.Failure(
                f"{spec.name}: timeframes {unsupported} are intraday; backtests replay {SUPPORTED_BAR_SIZES} bars only"
            )
        tick_keys = list(context.partition_keys)
        ticks = tick_instants(partitions, tick_keys)
        now = datetime.now(UTC)
        if ticks[-1][1] > now:
            raise dg.Failure(
                f"{spec.name}: tick {tick_keys[-1]} is as of {ticks[-1][1]:%Y-%m-%d %H:%M} UTC, after now: "
                "backtests replay past ticks only"
            )
        store: ObjectStoreResource = context.resources.objects
        started = time.perf_counter()
        database: DatabaseResource = context.resources.database
        contracts, daily, fetched = _daily_history(
            spec,
            config,
            context.resources.ibkr,
            database,
            store,
            history_start(spec, ticks[0][1]).to_pydatetime(),
            ticks[-1][1],
            context.log,
        )
        folder = keys.backtest_folder(spec.name, tick_keys[0], tick_keys[-1])
        llm: LLMResource = context.resources.llm if config.analyst == "llm" else LLMResource()
        if config.analyst == "llm" and llm.offline:
            raise dg.Failure("analyst 'llm' needs an LLM endpoint (OPENAI_BASE_URL); use analyst 'offline' without one")
        draw = config.charts == "always" or (config.charts == "auto" and not llm.offline and spec.llm.vision)
        b = spec.backtest
        costs = Costs.of(b)
        refusal = (
            "asked for (config path: tick)"
            if config.path == "tick"
            else fast_path_refusal(spec, "offline" if llm.offline else "llm", draw)
        )
        if refusal:
            result = run_backtest(
                spec,
                ticks,
                PointInTimeBars(daily),
                contracts,
                analyst_for(spec, llm, database.answer_cache(), store, contracts),
                costs,
                b.starting_cash,
                charts_to=ChartsTo(store, folder) if draw else None,
                on_tick=_progress(context, len(ticks)),
            )
        else:
            result = run_fast_backtest(
                spec,
                ticks,
                PointInTimeBars(daily),
                contracts,
                costs,
                b.starting_cash,
                on_tick=_progress(context, len(ticks)),
            )
        stored = store.put(keys.backtest_result(folder), result.to_json(), "application/json")
        pointer = {
            "result": keys.backtest_result(folder),
            "first": tick_keys[0],
            "last": tick_keys[-1],
            "run_id": context.run.run_id,
        }
        store.put(keys.latest_backtest(spec.name), json.dumps(pointer).encode(), "application/json")
        equity = result.equity()
        return dg.MaterializeResult(
            metadata={
                "ticks": len(ticks),
                "first_tick": tick_keys[0],
                "last_tick": tick_keys[-1],
                "analyst": "offline analyst" if llm.offline else f"{spec.llm.model or llm.model} (answers cached)",
                "charts_rendered": draw,
                "path": f"{result.path}: {refusal}" if refusal else result.path,
                "recomputed_per_tick": dg.MetadataValue.json(result.per_tick_indicators),
                "history_requests_to_ibkr": fetched["requests"],
                "orders_to_replay_engine": result.orders_sent,
                "orders_to_gateway": 0,
                "fills": len(result.fills),
                "final_equity": float(equity.iloc[-1]),
                "total_return": float(equity.iloc[-1] / equity.iloc[0] - 1),
                "latest_bar_read": result.latest_bar_read,
                "result": dg.MetadataValue.path(stored.path or stored.uri),
                "duration_s": round(time.perf_counter() - started, 2),
            }
        )

    @dg.asset(
        key=dg.AssetKey([spec.name, "backtest_report"]),
        deps=[backtest_key],
        group_name=f"{spec.name}_backtest",
        description=f"The latest backtest of {spec.name}: equity and drawdown against equal-weight buy and hold, "
        "return, CAGR, Sharpe, Sortino, max drawdown, win rate, exposure, trades, per-symbol results.",
        required_resource_keys={"objects"},
        kinds={"python"},
        tags={"strategy": spec.name},
    )
    def backtest_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from ibkr_pipeline.backtest.runner import BacktestResult

        store: ObjectStoreResource = context.resources.objects
        pointer = store.get(keys.latest_backtest(spec.name))
        if pointer is None:
            raise dg.Failure(
                f"{spec.name}: no backtest yet; backfill [{spec.name}, backtest] over past ticks first "
                f"(ibkr-pipeline backtest {spec.name} --start ... --end ...)"
            )
        latest = json.loads(pointer)
        stored = store.get(latest["result"])
        if stored is None:
            raise dg.Failure(
                f"{spec.name}: the latest backtest's result {latest['result']} is missing from the store; "
                "run the backtest again"
            )
        result = BacktestResult.from_json(stored)
        return report_metadata(spec, result, latest, store)

    return [backtest, backtest_report]


def report_metadata(
    spec: StrategySpec, result: "BacktestResult", latest: dict, store: ObjectStoreResource
) -> dg.MaterializeResult:
    from ibkr_pipeline.backtest import report

    equity, gross = result.equity(), result.gross()
    trips = report.round_trips(result.fills)
    strategy = report.metrics(equity, gross, trips)
    closes = result.closes().ffill()
    first = closes.iloc[0].dropna()
    baseline_equity, baseline_gross = report.buy_and_hold(closes, first, result.starting_cash)
    baseline = report.metrics(baseline_equity, baseline_gross)
    png = report.plot(equity, baseline_equity, f"{spec.name}: {latest['first']} .. {latest['last']}")
    folder = latest["result"].rsplit("/", 1)[0]
    plot_ref = store.put(keys.backtest_report_plot(folder), png, "image/png")
    names = REPORT_FIGURES
    rows = [
        [
            n,
            format_figure(getattr(strategy, n), n),
            format_figure(getattr(baseline, n), n) if n not in ("win_rate", "trades") else "",
        ]
        for n in names
    ]
    per_symbol = report.per_symbol(trips)
    trades = [
        [
            t.symbol,
            f"{t.opened:%Y-%m-%d}",
            f"{t.closed:%Y-%m-%d}",
            f"{t.shares:g}",
            f"{t.entry_price:.2f}",
            f"{t.exit_price:.2f}",
            t.exit_leg,
            f"{t.pnl:.2f}",
        ]
        for t in trips
    ]
    signals, outcomes = report.decision_counts(result.ticks)
    summary = {f"strategy_{k}": v for k, v in strategy.as_dict().items() if isinstance(v, int | float)}
    summary |= {f"buy_and_hold_{k}": v for k, v in baseline.as_dict().items() if isinstance(v, int | float)}
    return dg.MaterializeResult(
        metadata={
            **{
                k: dg.MetadataValue.int(v) if isinstance(v, int) else dg.MetadataValue.float(float(v))
                for k, v in summary.items()
            },
            "report": dg.MetadataValue.md(
                f"![equity and drawdown](data:image/png;base64,{base64.b64encode(png).decode()})\n\n"
                + table(["figure", "strategy", "buy and hold"], rows)
            ),
            "per_symbol": dg.MetadataValue.md(table(list(per_symbol.columns), per_symbol.values.tolist())),
            "trades": dg.MetadataValue.md(
                table(["symbol", "opened", "closed", "shares", "entry", "exit", "exit by", "pnl"], trades[-200:])
            ),
            "trades_list": dg.MetadataValue.json(
                [
                    {
                        "symbol": t.symbol,
                        "opened": f"{t.opened:%Y-%m-%d}",
                        "closed": f"{t.closed:%Y-%m-%d}",
                        "shares": t.shares,
                        "entry": round(t.entry_price, 4),
                        "exit": round(t.exit_price, 4),
                        "exit_by": t.exit_leg,
                        "pnl": round(t.pnl, 2),
                    }
                    for t in trips[-200:]
                ]
            ),
            "signal_counts": dg.MetadataValue.json(signals),
            "outcomes": dg.MetadataValue.json(outcomes),
            "why_no_trades": dg.MetadataValue.text(report.why_no_trades(signals, outcomes) if not trips else ""),
            "plot": dg.MetadataValue.path(plot_ref.path or plot_ref.uri),
            "ticks": len(result.ticks),
            "range": f"{latest['first']} .. {latest['last']}",
            "backtest_run_id": latest.get("run_id", ""),
            "orders_to_gateway": 0,
            "path": result.path,
            "recomputed_per_tick": dg.MetadataValue.json(result.per_tick_indicators),
        }
    )


# The figures a backtest report shows, in order (the report asset's table and the CLI's).
REPORT_FIGURES = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "volatility",
    "win_rate",
    "exposure",
    "time_in_market",
    "trades",
    "final_equity",
)
PERCENT_FIGURES = {"total_return", "cagr", "max_drawdown", "volatility", "win_rate", "exposure", "time_in_market"}


def format_figure(value: Any, name: str = "") -> str:
    """A report figure as the report table and the CLI print it: fractions as percentages."""
    if value is None:
        return "n/a"
    if name in PERCENT_FIGURES and isinstance(value, int | float):
        return f"{value:.2%}"
    return f"{value:,.4f}" if isinstance(value, float) else str(value)


def _progress(context: dg.AssetExecutionContext, total: int):
    """Each replayed tick is reported to in-process listeners (the CLI's bar) and every tenth logged."""
    from ibkr_pipeline.backtest import progress

    done = [0]
    step = max(total // 10, 1)

    def on_tick(_record: Any) -> None:
        done[0] += 1
        progress.report(done[0], total)
        if done[0] % step == 0 or done[0] == total:
            context.log.info(f"backtest: {done[0]} of {total} ticks ({done[0] / total:.0%})")

    return on_tick


def materialize_backtest(
    defs: dg.Definitions,
    spec: StrategySpec,
    tick_keys: list[str],
    config: BacktestConfig,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
) -> dg.AssetMaterialization:
    """One run for the whole range (as a single-run backfill would launch it), then the report."""
    by_key = {a.key: a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)}
    backtest_def = by_key[dg.AssetKey([spec.name, "backtest"])]
    report_def = by_key[dg.AssetKey([spec.name, "backtest_report"])]
    run = dg.materialize(
        [backtest_def],
        instance=instance,
        resources=resources,
        raise_on_error=True,
        tags={
            "dagster/asset_partition_range_start": tick_keys[0],
            "dagster/asset_partition_range_end": tick_keys[-1],
            "strategy": spec.name,
        },
        run_config={"ops": {f"{spec.name}__backtest": {"config": config.model_dump()}}, **QUIET},
    )
    assert run.success
    reported = dg.materialize(
        [report_def],
        instance=instance,
        resources=resources,
        raise_on_error=True,
        tags={"strategy": spec.name},
        run_config=QUIET,
    )
    return reported.asset_materializations_for_node(f"{spec.name}__backtest_report")[0]
