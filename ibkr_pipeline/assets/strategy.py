"""The strategy factory: a StrategySpec in, Dagster Definitions out.

Per strategy: assets ``[name, contracts] → [name, bars] → [name, indicators] →
[name, charts] → [name, signals]`` partitioned by the strategy's ticks, one job
over them, and a schedule built from that partitioned job. A tick is one run for
all symbols; a symbol that fails is recorded and flagged by each step's
``symbols_ok`` check while the others carry on.
"""

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from ibkr_pipeline import __version__
from ibkr_pipeline import settings as env
from ibkr_pipeline.assets import presenters as show
from ibkr_pipeline.assets.backtest import build_backtest_assets
from ibkr_pipeline.assets.markdown import code_block
from ibkr_pipeline.assets.ticks import as_of_label, legacy_name, partitions_for, tick_at
from ibkr_pipeline.database.claims import ClaimHeld
from ibkr_pipeline.database.engine import data_dir
from ibkr_pipeline.domain.results import SymbolResults
from ibkr_pipeline.domain.strategy import StrategySpec, file_hash, read_strategy_text
from ibkr_pipeline.objects import keys
from ibkr_pipeline.objects.bar_files import StrategyBars
from ibkr_pipeline.pipeline.analysis import analyse_symbols
from ibkr_pipeline.pipeline.bars import fetch_and_merge
from ibkr_pipeline.pipeline.charts import draw_charts
from ibkr_pipeline.pipeline.contracts import resolved
from ibkr_pipeline.pipeline.indicators import compute_indicators
from ibkr_pipeline.pipeline.screen import not_asked, screen_symbols
from ibkr_pipeline.pipeline.signals import decide_signals
from ibkr_pipeline.provenance import git_sha
from ibkr_pipeline.resources.database import DatabaseResource
from ibkr_pipeline.resources.ibkr import IBKRResource
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource
from ibkr_pipeline.trading.broker import GatewayBroker
from ibkr_pipeline.trading.tick import STALE_OVERRIDE_TAG, trade_tick
from ibkr_pipeline.trading.views import held_in_words

CHECK_NAME = "symbols_ok"


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _check(key: dg.AssetKey, step: str, results: SymbolResults[Any], new_errors: dict[str, str]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CHECK_NAME,
        passed=not results.errors,
        severity=dg.AssetCheckSeverity.WARN,
        description=show.check_description(step, len(results.values) + len(results.errors), results.errors),
        metadata={
            "failed_symbols": dg.MetadataValue.json(results.errors),
            "failed_here": dg.MetadataValue.json(new_errors),
        },
    )


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 4)


class StrategyAssets:
    """Builds the Dagster objects of one strategy; every asset closes over its spec."""

    def __init__(self, spec: StrategySpec, source: Path | None = None):
        self.spec = spec
        self.source = source
        self.file_hash = file_hash(source) if source else _digest(spec.model_dump())
        # The strategy as it was at the tick, kept on every orders materialization: the audit shows it.
        self.source_text = read_strategy_text(source) if source else yaml.safe_dump(spec.model_dump(mode="json"))
        self.code_version = f"{__version__}+{self.file_hash}"
        self.partitions = partitions_for(spec)
        self.key = lambda step: dg.AssetKey([spec.name, step])
        self.common = {
            "strategy": dg.MetadataValue.text(spec.name),
            "strategy_file": dg.MetadataValue.path(str(source)) if source else dg.MetadataValue.text("(inline)"),
            "strategy_file_hash": dg.MetadataValue.text(self.file_hash),
            "code_version": dg.MetadataValue.text(self.code_version),
            "git_sha": dg.MetadataValue.text(git_sha()),
        }

    def _asset(
        self, step: str, deps: list[str], description: str, resources: set[str], pool: str | None = None
    ) -> Callable:
        ins = {dep: dg.AssetIn(key=self.key(dep)) for dep in deps}
        return dg.asset(
            pool=pool,
            # Steps that talk to the gateway are retried with a delay: IB Gateway's nightly restart, a silent
            # gateway and a dropped session fail a step with a retryable error; a retry is safe (exactly-once).
            retry_policy=GATEWAY_RETRY if "ibkr" in resources else None,
            key=self.key(step),
            ins=ins,
            partitions_def=self.partitions,
            code_version=self.code_version,
            group_name=self.spec.name,
            description=description,
            required_resource_keys=resources,
            check_specs=[dg.AssetCheckSpec(CHECK_NAME, asset=self.key(step))],
            kinds={"python"},
            tags={"strategy": self.spec.name},
        )

    def _emit(
        self,
        context: dg.AssetExecutionContext,
        step: str,
        results: SymbolResults[Any],
        new_errors: dict[str, str],
        metadata: dict[str, Any],
        version: Any,
    ) -> Iterator[Any]:
        tick = dg.MetadataValue.text(as_of_label(tick_at(context), self.spec.schedule.timezone))
        with warnings.catch_warnings():  # data versions are beta in Dagster; the notice says nothing to a trader
            warnings.simplefilter("ignore", dg.BetaWarning)
            output = dg.Output(
                results,
                metadata={"tick": tick, **self.common, **metadata, "errors": dg.MetadataValue.json(results.errors)},
                data_version=dg.DataVersion(_digest(version)),
            )
        yield output
        yield _check(self.key(step), step, results, new_errors)

    def build(self) -> dg.Definitions:
        spec = self.spec
        assets = [
            self._contracts(),
            self._bars(),
            self._indicators(),
            self._charts(),
            self._analysis(),
            self._signals(),
            self._orders(),
        ]
        job = dg.define_asset_job(
            f"{spec.name}_tick",
            selection=dg.AssetSelection.assets(*assets),
            partitions_def=self.partitions,
            description=f"One tick of {spec.name}: every symbol, every step.",
            # A hung tick is stopped by run monitoring (on in both dagster.yaml files) and marked failed.
            tags={"strategy": spec.name, "dagster/max_runtime": str(TICK_MAX_RUNTIME_S)},
        )
        schedule = dg.build_schedule_from_partitioned_job(
            job, name=f"{spec.name}_schedule", default_status=dg.DefaultScheduleStatus.STOPPED
        )
        backtests = build_backtest_assets(spec, self.partitions, self.code_version)
        return dg.Definitions(assets=[*assets, *backtests], jobs=[job], schedules=[schedule])

    def _contracts(self):
        spec = self.spec

        @self._asset(
            "contracts", [], "Each symbol resolved to its IBKR contract (cached, 7-day TTL).", {"ibkr", "database"}
        )
        def contracts(context: dg.AssetExecutionContext) -> Iterator[Any]:
            ibkr: IBKRResource = context.resources.ibkr
            with ibkr.get_client(context.resources.database) as client:
                specs = [u.contract_spec() for u in spec.universe]
                found, seconds = _timed(lambda: client.run(client.resolve_many_async(specs)))
                stats = client.cache.stats if client.cache else None
            results = resolved([u.symbol for u in spec.universe], found)
            for symbol, problem in results.errors.items():
                context.log.warning("%s: %s", symbol, problem)
            values = results.values
            yield from self._emit(
                context,
                "contracts",
                results,
                results.errors,
                {
                    "contracts": dg.MetadataValue.md(show.contracts_table(values)),
                    "cache_hits": stats.hits if stats else 0,
                    "cache_misses": stats.misses if stats else 0,
                    "duration_s": seconds,
                },
                {s: c.con_id for s, c in values.items()},
            )

        return contracts

    def _bars(self):
        spec = self.spec

        @self._asset(
            "bars",
            ["contracts"],
            "Historical bars per symbol and timeframe as of the tick, fetched incrementally.",
            {"ibkr", "database", "objects"},
        )
        def bars(context: dg.AssetExecutionContext, contracts: SymbolResults) -> Iterator[Any]:
            ibkr: IBKRResource = context.resources.ibkr
            store: ObjectStoreResource = context.resources.objects
            end = tick_at(context)
            histories = StrategyBars(store, spec.name)
            with ibkr.get_client(context.resources.database) as client:
                step, seconds = _timed(
                    lambda: fetch_and_merge(
                        spec,
                        contracts.values,
                        end,
                        histories.get,
                        client.bars_streamed,
                        contracts.carry_errors(),
                        histories.put,
                    )
                )
            for symbol, problem in step.new_errors.items():
                context.log.warning("%s: %s", symbol, problem)
            yield from self._emit(
                context,
                "bars",
                step.results,
                step.new_errors,
                {
                    "as_of": dg.MetadataValue.timestamp(end),
                    "bars": dg.MetadataValue.md(show.bars_table(step.rows)),
                    "requests": step.requests,
                    "bars_fetched": sum(r.fetched for r in step.rows),
                    "signal_timeframe_only": len(step.not_fetched),
                    "not_fetched": dg.MetadataValue.json(step.not_fetched),
                    "fetch_duration_s": seconds,
                    "store": dg.MetadataValue.text(store.kind),
                },
                {
                    s: {t: [len(f), str(f["timestamp"].iloc[-1]), float(f["close"].iloc[-1])] for t, f in tfs.items()}
                    for s, tfs in step.results.values.items()
                },
            )

        return bars

    def _indicators(self):
        spec = self.spec

        @self._asset(
            "indicators", ["bars"], "pandas-ta indicators per symbol and timeframe; latest values summarised.", set()
        )
        def indicators(context: dg.AssetExecutionContext, bars: SymbolResults) -> Iterator[Any]:
            step = compute_indicators(spec, bars)
            latest = show.latest_values(step.results.values)
            primary = spec.signal.timeframe
            yield from self._emit(
                context,
                "indicators",
                step.results,
                step.new_errors,
                {
                    f"latest_{primary}": dg.MetadataValue.md(
                        show.latest_table(latest, primary, spec.columns_for(primary))
                    ),
                    "latest_values": dg.MetadataValue.json(latest),
                    "duration_s_per_symbol": dg.MetadataValue.json(step.seconds),
                },
                latest,
            )

        return indicators

    def _charts(self):
        spec = self.spec

        @self._asset(
            "charts",
            ["indicators"],
            "Candlestick charts with the strategy's overlays and panels, per timeframe.",
            {"objects"},
        )
        def charts_asset(context: dg.AssetExecutionContext, indicators: SymbolResults) -> Iterator[Any]:
            store: ObjectStoreResource = context.resources.objects
            tick = context.partition_key
            step, seconds = _timed(
                lambda: draw_charts(
                    spec,
                    indicators,
                    store,
                    lambda symbol, tf: keys.chart(spec.name, symbol, tick, tf),
                    tick_at(context),
                )
            )
            values = step.results.values
            images = sum(len(refs) for refs in values.values())
            yield from self._emit(
                context,
                "charts",
                step.results,
                step.new_errors,
                {
                    "charts": dg.MetadataValue.md(show.chart_gallery(step.drawn, step.not_drawn)),
                    "images": images,
                    "not_drawn": len(step.not_drawn),
                    "chart_when": dg.MetadataValue.text(spec.chart.when),
                    "duration_s": seconds,
                    "images_per_second": round(images / seconds, 2) if seconds else 0.0,
                    "chart_keys": dg.MetadataValue.json(
                        {s: {t: v["uri"] for t, v in tfs.items()} for s, tfs in values.items()}
                    ),
                    "chart_store_keys": dg.MetadataValue.json(
                        {s: {t: v["key"] for t, v in tfs.items()} for s, tfs in values.items()}
                    ),
                    "store": dg.MetadataValue.text(store.kind),
                },
                {s: {t: v["sha256"] for t, v in tfs.items()} for s, tfs in values.items()},
            )

        return charts_asset

    def _analysis(self):
        spec = self.spec

        @self._asset(
            "analysis",
            ["contracts", "indicators", "charts"],
            "Vision-LLM (or offline) chart analysis per symbol: prompt, charts sent, validated answer, tokens, cost.",
            {"llm", "database", "objects"},
        )
        def analysis(
            context: dg.AssetExecutionContext,
            contracts: SymbolResults,
            indicators: SymbolResults,
            charts: SymbolResults,
        ) -> Iterator[Any]:
            llm: LLMResource = context.resources.llm
            database: DatabaseResource = context.resources.database
            frames = {s: indicators.values[s] for s in charts.values}
            held = held_in_words(spec.name, database.ledger(), frames, spec.signal.timeframe)
            records, wall = _timed(
                lambda: analyse_symbols(
                    spec,
                    llm,
                    database.answer_cache(),
                    context.resources.objects,
                    contracts.values,
                    frames,
                    charts.values,
                    tick_at(context),
                    held,
                )
            )
            new_errors = {s: f"analysis: {'; '.join(r.problems)}" for s, r in records.items() if not r.accepted}
            results = SymbolResults(records, {**charts.carry_errors(), **new_errors})
            kept_out = not_asked(spec, screen_symbols(spec, frames))
            funnel = show.funnel_figures(records, kept_out)
            for symbol, problem in new_errors.items():
                context.log.warning("%s: %s (becomes HOLD)", symbol, problem)
            yield from self._emit(
                context,
                "analysis",
                results,
                new_errors,
                {
                    "analyst": dg.MetadataValue.text(
                        show.analyst_label(llm.offline, spec.llm.model or llm.model, llm.base_url)
                    ),
                    "analysis": dg.MetadataValue.md(show.analysis_markdown(records)),
                    "records": dg.MetadataValue.json({s: r.model_dump(mode="json") for s, r in records.items()}),
                    "prompt_tokens": sum(r.prompt_tokens for r in records.values()),
                    "completion_tokens": sum(r.completion_tokens for r in records.values()),
                    "cost_usd": round(sum(r.cost_usd for r in records.values()), 6),
                    "cost_usd_per_symbol": dg.MetadataValue.json({s: r.cost_usd for s, r in records.items()}),
                    "llm_calls": sum(r.calls for r in records.values()),
                    "cache_hits": sum(r.cache_hits for r in records.values()),
                    "wall_time_s": round(wall, 3),
                    "max_in_flight": llm.max_in_flight,
                    "screen": dg.MetadataValue.text(spec.llm.screen or "(none)"),
                    "asked": len(records),
                    "screened_out": len(kept_out),
                    "screened_out_reasons": dg.MetadataValue.json(kept_out),
                    **funnel,
                },
                {
                    s: [r.accepted, r.analysis.model_dump(mode="json") if r.analysis else None]
                    for s, r in records.items()
                },
            )

        return analysis

    def _signals(self):
        spec = self.spec

        @self._asset(
            "signals",
            ["indicators", "analysis"],
            "BUY/SELL/HOLD per symbol from rules and analysis, with the values and reasons that decided it.",
            set(),
        )
        def signals(
            context: dg.AssetExecutionContext,
            indicators: SymbolResults,
            analysis: SymbolResults,
        ) -> Iterator[Any]:
            values = decide_signals(spec, tick_at(context), indicators.values, analysis.values)
            results = SymbolResults(values, {**indicators.carry_errors(), **analysis.carry_errors()})
            yield from self._emit(
                context,
                "signals",
                results,
                {},
                {
                    "signals": dg.MetadataValue.md(show.signals_table(values)),
                    "buy": sum(s.action == "BUY" for s in values.values()),
                    "sell": sum(s.action == "SELL" for s in values.values()),
                    "hold": sum(s.action == "HOLD" for s in values.values()),
                    "detail": dg.MetadataValue.json({s: v.model_dump(mode="json") for s, v in values.items()}),
                },
                {s: [v.action, v.entry, v.stop_loss, v.take_profit] for s, v in values.items()},
            )

        return signals

    def _orders(self):
        """Signals → sized bracket orders after pre-trade risk checks, each placed exactly once."""
        spec = self.spec

        @self._asset(
            "orders",
            ["contracts", "signals"],
            f"Orders for {spec.name} (mode {spec.mode}): sizing, risk checks with their numbers, exactly-once placement.",
            {"ibkr", "database", "alerts"},
            # One orders step per strategy at a time (its pool's limit is 1: `ibkr-pipeline init-pools`, or the
            # instance's pools default_limit), whatever runs of it (a backfill's partitions) execute side by side.
            pool=trading_pool(spec.name),
        )
        def orders(
            context: dg.AssetExecutionContext, contracts: SymbolResults, signals: SymbolResults
        ) -> Iterator[Any]:
            ibkr: IBKRResource = context.resources.ibkr
            database: DatabaseResource = context.resources.database
            ledger = database.ledger()
            replay = backfill_block(context.run.tags)
            if replay:
                context.log.warning(replay)
            allow_stale = context.run.tags.get(STALE_OVERRIDE_TAG, "").strip().lower() in ("1", "true", "yes")
            try:
                with (
                    database.claims().held(f"strategy:{spec.name}", f"run {context.run_id}", STRATEGY_LEASE_S) as lease,
                    ibkr.get_client(database) as client,
                ):
                    broker = GatewayBroker(client, data_dir(), database.kill_switch(), extra_block=replay, lease=lease)
                    decisions = trade_tick(
                        spec,
                        context.partition_key,
                        signals.values,
                        contracts.values,
                        broker,
                        ledger,
                        tick_at=tick_at(context),
                        allow_stale=allow_stale,
                        legacy_tick=legacy_name(self.partitions, context.partition_key),
                    )
            except ClaimHeld as exc:  # runs launched outside the queue (CLI, execute_in_process) overlap too
                raise dg.Failure(
                    description=f"{spec.name}: another run is trading this strategy ({exc.holder.owner}, lease "
                    f"{exc.holder.seconds_left:.0f} s left); this tick refuses to trade beside it. "
                    "Re-execute it once that run has ended.",
                    allow_retries=False,
                ) from exc
            values = {d.symbol: d for d in decisions}
            new_errors = {d.symbol: f"orders: {d.error}" for d in decisions if d.error}
            new_errors.update(
                {
                    d.symbol: f"orders: {d.placement.status}: {d.placement.detail}"
                    for d in decisions
                    if d.placement is not None
                    and (d.placement.status in ATTENTION or d.placement.outcome == "claimed_elsewhere")
                }
            )
            results = SymbolResults(values, {**signals.carry_errors(), **new_errors})
            failed = set(results.errors)
            if failed:  # a green run that lost symbols on the way says so in the runs list
                total = len(failed | set(values))
                context.instance.add_run_tags(context.run_id, {FAILED_SYMBOLS_TAG: f"{len(failed)} of {total}"})
            notes = [n for d in decisions for n in d.notes]
            if new_errors or notes:
                context.resources.alerts.send(
                    f"ibkr_pipeline: {spec.name} orders need attention at tick {context.partition_key}",
                    [f"{s}: {e}" for s, e in new_errors.items()] + notes,
                )
            placed = [
                d
                for d in decisions
                if d.placement and d.placement.outcome == "placed" and d.placement.status == "working"
            ]
            yield from self._emit(
                context,
                "orders",
                results,
                new_errors,
                {
                    "mode": dg.MetadataValue.text(spec.mode),
                    "orders": dg.MetadataValue.md(show.orders_table(ledger, decisions)),
                    "risk_checks": dg.MetadataValue.json(
                        {d.symbol: [c.model_dump() for c in d.checks] for d in decisions if d.checks}
                    ),
                    "placed": len(placed),
                    "notes": dg.MetadataValue.json(notes),
                    "order_refs": dg.MetadataValue.json([d.intent.order_ref for d in decisions if d.intent]),
                    "outcomes": dg.MetadataValue.json(
                        {
                            d.symbol: d.placement.outcome if d.placement else (d.skipped or d.error or "none")
                            for d in decisions
                        }
                    ),
                    "strategy_file_text": dg.MetadataValue.md(code_block(self.source_text, "yaml")),
                },
                {d.symbol: [d.summary, d.intent.order_ref if d.intent else None] for d in decisions},
            )

        return orders


BACKTEST_TAG = "ibkr_pipeline/backtest"
TICK_MAX_RUNTIME_S = int(env.TICK_MAX_RUNTIME_S.read())
GATEWAY_RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL)
STRATEGY_LEASE_S = 300.0  # renewed before each send: a killed run holds the strategy this long at most
ATTENTION = {"rejected", "conflict", "unconfirmed"}
FAILED_SYMBOLS_TAG = "ibkr_pipeline/failed_symbols"  # placement states a person must hear about


def trading_pool(strategy: str) -> str:
    """The Dagster concurrency pool a strategy's orders step runs in."""
    return f"{strategy}_trading"


TRADING_POOL_LIMIT = 1  # two runs of one strategy never place orders at once


def create_trading_pools(instance: dg.DagsterInstance, strategies: Iterable[str]) -> list[str]:
    """Give each strategy's trading pool its limit before any run claims it.

    Left to Dagster, a pool is created on its first claim, and on PostgreSQL two claims racing to create it fail
    one of the steps (dagster-io/dagster#33552); a deployment therefore creates them once, up front.
    """
    pools = [trading_pool(name) for name in strategies]
    for pool in pools:
        instance.event_log_storage.set_concurrency_slots(pool, TRADING_POOL_LIMIT)
    return pools


def backfill_block(tags: Mapping[str, str]) -> str:
    """Why this run must not send orders: a backfill replays past ticks, and past ticks are backtested, not traded."""
    if tags.get("dagster/backfill"):
        return (
            f"run is part of backfill {tags['dagster/backfill']}: backfills never send orders to the gateway "
            "(use the strategy's backtest asset to simulate past ticks)"
        )
    if tags.get(BACKTEST_TAG, "").lower() in ("1", "true", "yes"):
        return f"run is tagged {BACKTEST_TAG}: nothing is sent to the gateway"
    return ""


def build_strategy_definitions(spec: StrategySpec, source: Path | None = None) -> dg.Definitions:
    """The one factory: a strategy spec in, its assets, job and schedule out."""
    return StrategyAssets(spec, source).build()


__all__ = ["build_strategy_definitions"]
