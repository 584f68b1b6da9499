"""A backtest: the production tick, in order over past ticks, on point-in-time bars and a replay broker.

Indicators, signals, sizing, risk checks and order intents are the same functions the
live assets call; the analyst and the chart renderer are passed in, so this module
knows nothing of Dagster, the LLM client or the object store.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine

from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs, ReplayBroker, TradeFill
from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain.bar_history import lookback_start
from ibkr_pipeline.domain.analysis import AnalysisRecord
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.signals import combined_signal
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.store.database import upgrade
from ibkr_pipeline.store.ledger import Ledger
from ibkr_pipeline.trading.tick import trade_tick
from ibkr_pipeline.trading.views import held_in_words

Frames = dict[str, dict[str, pd.DataFrame]]
# (tick, as_of, frames with indicators, chart refs, the strategy's position per symbol in words) -> analyses
Analyst = Callable[[str, datetime, Frames, dict[str, dict[str, dict]], dict[str, str]], dict[str, AnalysisRecord]]
# (tick, symbol, timeframe, frame with indicators) -> chart ref {"key", "uri", ...}
ChartRenderer = Callable[[str, str, str, pd.DataFrame], dict]


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
    render: ChartRenderer | None = None,
    on_tick: Callable[[TickRecord], None] | None = None,
) -> BacktestResult:
    """Run ``ticks`` (partition key, as-of instant) in order; state carries from one tick to the next."""
    if not ticks:
        raise ValueError(f"{spec.name}: no ticks to backtest")
    broker = ReplayBroker(history, contracts, starting_cash, costs)
    records: list[TickRecord] = []
    with tempfile.TemporaryDirectory(prefix=f"backtest-{spec.name}-") as work:
        # A ledger of its own, on the backtest's clock: the production ledger never sees a simulated order.
        engine = create_engine(f"sqlite:///{Path(work) / 'ledger.db'}")
        upgrade(engine)
        ledger = Ledger(engine, clock=broker.now)
        try:
            for key, end in ticks:
                records.append(_tick(spec, key, end, history, contracts, broker, ledger, analyst, render, Path(work)))
                if on_tick:
                    on_tick(records[-1])
        finally:
            engine.dispose()
    return BacktestResult(spec.name, starting_cash, records, broker.fills, broker.rejections, broker.orders_sent,
                          str(history.latest_served))


def _tick(spec: StrategySpec, key: str, end: datetime, history: PointInTimeBars, contracts: dict[str, ContractInfo],
          broker: ReplayBroker, ledger: Ledger, analyst: Analyst, render: ChartRenderer | None, work: Path) -> TickRecord:
    broker.advance_to(end, ledger)
    frames: Frames = {}
    errors: dict[str, str] = {}
    for symbol in contracts:
        per_tf = {}
        for tf in spec.timeframes:
            bars = history.bars(symbol, tf.bar_size, end, tf.lookback)
            if bars.empty:
                errors[symbol] = f"bars/{tf.name}: no bars up to {end:%Y-%m-%d %H:%M} UTC"
                break
            per_tf[tf.name] = ind.with_indicators(bars, spec.indicators_for(tf.name))
        else:
            frames[symbol] = per_tf
    charts = {s: {tf: render(key, s, tf, f) for tf, f in tfs.items()} for s, tfs in frames.items()} if render else {}
    primary = spec.signal.timeframe
    analyses = analyst(key, end, frames, charts, held_in_words(spec.name, ledger, frames, primary))
    signals = {
        s: combined_signal(s, end, ind.latest_values(f[primary].drop(columns="timestamp")), spec.signal, analyses.get(s))
        for s, f in frames.items()
    }
    decisions = trade_tick(spec, key, signals, {s: contracts[s] for s in signals}, broker, ledger, tick_at=end)
    values = broker.account_values()
    return TickRecord(
        tick=key, at=end, net_liquidation=round(values["NetLiquidation"], 2), cash=round(values["TotalCashValue"], 2),
        gross=round(values["GrossPositionValue"], 2),
        positions={h.symbol: h.quantity for h in broker.holdings().values()},
        closes={s: float(f[primary]["close"].iloc[-1]) for s, f in frames.items()},
        signals={s: v.action for s, v in signals.items()},
        decisions={d.symbol: d.summary for d in decisions if d.summary != "HOLD"},
        errors=errors,
    )

