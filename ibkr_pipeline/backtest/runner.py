"""A backtest: the production tick, in order over past ticks, on point-in-time bars and a replay broker.

The steps are the live tick's own (``ibkr_pipeline.pipeline``: indicators, charts, analysis,
signals) and its trading (``trade_tick``: sizing, risk checks, order intents); the analyst
and the chart store are passed in, so this module knows nothing of Dagster or the LLM client.

Two paths share the stateful part (replay broker, ledger, ``trade_tick``, the tick record):
``run_backtest`` recomputes every timeframe's indicators on each tick's window, as the
live tick does; ``run_fast_backtest``, for strategies that read no chart, computes the
indicators a decision reads once per symbol (after a causality check, ``columns``) and
asks the offline analyst on arrays. Both decide the same trades to the cent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from ibkr_pipeline.backtest.columns import (
    Causality,
    SymbolColumns,
    check_indicators,
    fast_path_refusal,
    needed_indicators,
)
from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs, ReplayBroker, TradeFill
from ibkr_pipeline.database.engine import upgrade
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.analysis import AnalysisRecord, sanity_problems
from ibkr_pipeline.domain.bar_history import lookback_start
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.offline_analyst import analyse, first_rsi_column
from ibkr_pipeline.domain.screen import screen
from ibkr_pipeline.domain.signals import Signal, combined_signal
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.objects import keys
from ibkr_pipeline.objects.object_store import ObjectStore
from ibkr_pipeline.pipeline.analysis import Analyst
from ibkr_pipeline.pipeline.bars import frames_by_symbol, no_bars
from ibkr_pipeline.pipeline.charts import draw_charts
from ibkr_pipeline.pipeline.indicators import compute_indicators
from ibkr_pipeline.pipeline.screen import asks_analyst
from ibkr_pipeline.pipeline.signals import decide_signals
from ibkr_pipeline.trading.tick import trade_tick
from ibkr_pipeline.trading.views import held_in_words


@dataclass(frozen=True)
class TickRecord:
    tick: str
    at: datetime
    net_liquidation: float
    cash: float
    gross: float
    positions: dict[str, float]
    closes: dict[str, float]
    signals: dict[str, str]
    decisions: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BacktestResult:
    strategy: str
    starting_cash: float
    ticks: list[TickRecord]
    fills: list[TradeFill]
    rejections: list[tuple[str, str]]
    orders_sent: int
    latest_bar_read: str
    path: str = "tick by tick"
    per_tick_indicators: dict[str, str] = field(default_factory=dict)  # indicator -> why the check failed

    def equity(self) -> pd.Series:
        return pd.Series([t.net_liquidation for t in self.ticks], index=pd.DatetimeIndex([t.at for t in self.ticks]))

    def gross(self) -> pd.Series:
        return pd.Series([t.gross for t in self.ticks], index=pd.DatetimeIndex([t.at for t in self.ticks]))

    def closes(self) -> pd.DataFrame:
        return pd.DataFrame([t.closes for t in self.ticks], index=pd.DatetimeIndex([t.at for t in self.ticks]))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), default=str).encode()

    @classmethod
    def from_json(cls, data: bytes) -> BacktestResult:
        raw = json.loads(data)
        ticks = [TickRecord(**{**t, "at": datetime.fromisoformat(t["at"])}) for t in raw.pop("ticks")]
        fills = [TradeFill(**{**f, "time": datetime.fromisoformat(f["time"])}) for f in raw.pop("fills")]
        return cls(ticks=ticks, fills=fills, rejections=[tuple(r) for r in raw.pop("rejections")], **raw)


@dataclass(frozen=True)
class ChartsTo:
    """Where a tick-by-tick backtest draws the charts its vision analyst reads."""

    store: ObjectStore
    folder: str  # storage.keys.backtest_folder


@dataclass(frozen=True)
class TickDecision:
    signals: dict[str, Signal]
    closes: dict[str, float]  # the primary timeframe's last close per symbol decided
    errors: dict[str, str]


def history_start(spec: StrategySpec, first_end: datetime) -> pd.Timestamp:
    """The earliest bar the first tick's longest lookback reaches."""
    return min(lookback_start(first_end, tf.lookback) for tf in spec.timeframes)


def run_backtest(
    spec: StrategySpec,
    ticks: list[tuple[str, datetime]],
    history: PointInTimeBars,
    contracts: dict[str, ContractInfo],
    analyst: Analyst,
    costs: Costs,
    starting_cash: float,
    charts_to: ChartsTo | None = None,
    on_tick: Callable[[TickRecord], None] | None = None,
) -> BacktestResult:
    """Run ``ticks`` (partition key, as-of instant) in order; state carries from one tick to the next."""

    def decide(key: str, end: datetime, ledger: Ledger) -> TickDecision:
        return decide_tick(spec, key, end, history, contracts, ledger, analyst, charts_to)

    return _replay(spec, ticks, history, contracts, costs, starting_cash, decide, on_tick)


def run_fast_backtest(
    spec: StrategySpec,
    ticks: list[tuple[str, datetime]],
    history: PointInTimeBars,
    contracts: dict[str, ContractInfo],
    costs: Costs,
    starting_cash: float,
    on_tick: Callable[[TickRecord], None] | None = None,
) -> BacktestResult:
    """As ``run_backtest`` with the offline analyst and no charts, reading indicators computed once per symbol."""
    refusal = fast_path_refusal(spec, "offline", charts=False)
    if refusal:
        raise ValueError(f"{spec.name}: the fast backtest does not apply: {refusal}")
    if not ticks:
        raise ValueError(f"{spec.name}: no ticks to backtest")
    symbols = list(contracts)
    failing, causality = check_indicators(spec, history, symbols, [end for _, end in ticks])
    whole = [i for i in needed_indicators(spec) if i not in failing]
    columns = {s: SymbolColumns(spec, history.full_daily(s), whole, failing) for s in symbols}
    rsi = first_rsi_column([c for i in spec.indicators_for(spec.signal.timeframe) for c in i.columns()])

    def decide(key: str, end: datetime, ledger: Ledger) -> TickDecision:
        return _signals_from_columns(spec, end, history, contracts, columns, rsi)

    result = _replay(spec, ticks, history, contracts, costs, starting_cash, decide, on_tick)
    return replace(result, path=FAST_PATH, per_tick_indicators=_why(causality))


def _why(causality: Causality) -> dict[str, str]:
    return {name: causality.problems.get(name, "") for name in causality.per_tick}


FAST_PATH = "fast (the indicators decisions read, computed once per symbol after a causality check)"
Decide = Callable[[str, datetime, Ledger], TickDecision]


def _replay(
    spec: StrategySpec,
    ticks: list[tuple[str, datetime]],
    history: PointInTimeBars,
    contracts: dict[str, ContractInfo],
    costs: Costs,
    starting_cash: float,
    decide: Decide,
    on_tick: Callable[[TickRecord], None] | None,
) -> BacktestResult:
    """The stateful part both paths share: the clock, the replay broker, the ledger and the production trading."""
    if not ticks:
        raise ValueError(f"{spec.name}: no ticks to backtest")
    broker = ReplayBroker(history, contracts, starting_cash, costs)
    records: list[TickRecord] = []
    # A ledger of its own, in memory and on the backtest's clock: the production ledger never sees a simulated order.
    engine = create_engine("sqlite://", poolclass=StaticPool)
    upgrade(engine)
    ledger = Ledger(engine, clock=broker.now)
    try:
        for key, end in ticks:
            broker.advance_to(end, ledger)
            decided = decide(key, end, ledger)
            signals = decided.signals
            decisions = trade_tick(spec, key, signals, {s: contracts[s] for s in signals}, broker, ledger, tick_at=end)
            values = broker.account_values()
            records.append(
                TickRecord(
                    tick=key,
                    at=end,
                    net_liquidation=round(values["NetLiquidation"], 2),
                    cash=round(values["TotalCashValue"], 2),
                    gross=round(values["GrossPositionValue"], 2),
                    positions={h.symbol: h.quantity for h in broker.holdings().values()},
                    closes=decided.closes,
                    signals={s: v.action for s, v in signals.items()},
                    decisions={d.symbol: d.summary for d in decisions if d.summary != "HOLD"},
                    errors=decided.errors,
                )
            )
            if on_tick:
                on_tick(records[-1])
    finally:
        engine.dispose()
    return BacktestResult(
        spec.name,
        starting_cash,
        records,
        broker.fills,
        broker.rejections,
        broker.orders_sent,
        str(history.latest_served),
    )


def decide_tick(
    spec: StrategySpec,
    key: str,
    end: datetime,
    history: PointInTimeBars,
    contracts: dict[str, ContractInfo],
    ledger: Ledger,
    analyst: Analyst,
    charts_to: ChartsTo | None = None,
) -> TickDecision:
    """The live tick's steps (``pipeline``) on the bars known at ``end``: indicators, charts, analysis, signals."""
    bars, _ = frames_by_symbol(
        spec, list(contracts), end, lambda symbol, tf: history.bars(symbol, tf.bar_size, end, tf.lookback), {}
    )
    indicators = compute_indicators(spec, bars).results
    frames, refs, errors = indicators.values, {}, indicators.errors
    if charts_to is not None:
        drawn = draw_charts(
            spec,
            indicators,
            charts_to.store,
            lambda symbol, tf: keys.backtest_chart(charts_to.folder, symbol, key, tf),
            end,
        ).results
        frames, refs, errors = {s: frames[s] for s in drawn.values}, drawn.values, drawn.errors
    primary = spec.signal.timeframe
    analyses = (
        {}
        if spec.signal.mode == "rules"
        else analyst(  # rules alone decide: nobody to ask
            key, end, frames, refs, held_in_words(spec.name, ledger, frames, primary)
        )
    )
    closes = {s: float(f[primary]["close"].iloc[-1]) for s, f in frames.items()}
    return TickDecision(decide_signals(spec, end, frames, analyses), closes, errors)


def _signals_from_columns(
    spec: StrategySpec,
    end: datetime,
    history: PointInTimeBars,
    contracts: dict[str, ContractInfo],
    columns: dict[str, SymbolColumns],
    rsi: str | None,
) -> TickDecision:
    primary = spec.timeframe(spec.signal.timeframe)
    signals: dict[str, Signal] = {}
    closes: dict[str, float] = {}
    errors: dict[str, str] = {}
    for symbol in contracts:
        cols = columns[symbol]
        known = history.known_count(symbol, end)
        lo, hi = cols.window(known, end, primary.lookback)
        trend_closes = {tf.name: cols.closes(tf, known, end) for tf in spec.timeframes}
        missing = next((tf.name for tf in spec.timeframes if not len(trend_closes[tf.name])), None)
        if missing:
            errors[symbol] = no_bars(missing, end)
            continue
        values = cols.values(lo, hi)
        record = None
        screened = screen(spec.llm.screen, values)
        if asks_analyst(spec, screened):
            inputs = cols.analyst_inputs(lo, hi, trend_closes, values, rsi)
            analysis = analyse(inputs)
            last_close = float(cols.close[hi - 1])
            problems = sanity_problems(
                analysis,
                last_close,
                values.get(spec.signal.atr) if spec.signal.atr else None,
                float(np.nanmin(cols.low[lo:hi])),
                float(np.nanmax(cols.high[lo:hi])),
            )
            record = AnalysisRecord(
                symbol=symbol,
                source="offline",
                model="offline-analyst",
                prompt_name="",
                system_prompt="",
                user_prompt="",
                charts_sent=[],
                answers=[],
                analysis=analysis,
                accepted=not problems,
                problems=problems,
            )
        signals[symbol] = combined_signal(symbol, end, values, spec.signal, record, screened)
        closes[symbol] = float(cols.close[hi - 1])
    return TickDecision(signals, closes, errors)
