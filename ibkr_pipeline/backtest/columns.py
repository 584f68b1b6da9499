"""The fast backtest's inputs: each symbol's indicators computed once over its whole history, read at each tick.

A tick-by-tick backtest recomputes every indicator on every tick's window. For a strategy
that reads no chart, a tick needs only the latest values its rules, its ATR and the
offline analyst read, so those indicators are computed once per symbol and read at the
row the tick knows. That is only sound for an indicator whose value at a bar does not
depend on later bars nor on where its window starts: the causality check compares, at
sample ticks, each column computed on the tick's own point-in-time window with the
whole-history column. An indicator that differs is recomputed on each tick's window
(its name is reported), so a fast backtest decides exactly as the tick-by-tick one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain import rules
from ibkr_pipeline.domain.bar_history import lookback_start
from ibkr_pipeline.domain.bar_periods import period_starts
from ibkr_pipeline.domain.offline_analyst import LEVEL_BARS, TREND_BARS, AnalystInputs, first_rsi_column
from ibkr_pipeline.domain.strategy import IndicatorSpec, StrategySpec, Timeframe

CHECK_TICKS = 8  # sample ticks per checked symbol, spread over the backtest
CHECK_SYMBOLS = 3
# Recursive smoothing (Wilder's RSI and ATR) seeded a year back differs from the whole history's by parts per
# billion; a look-ahead or an EMA seeded inside a short window differs by far more than this.
RELATIVE_TOLERANCE = 1e-6


class FastPathRefused(ValueError):
    """The strategy cannot be backtested from columns computed once; the reason says why."""


def fast_path_refusal(spec: StrategySpec, analyst: str, charts: bool) -> str:
    """Why this backtest must go tick by tick ("" when it need not): charts drawn, an LLM that reads them, or a
    primary timeframe that is not daily (a week still forming changes its last bar every day)."""
    if charts:
        return "charts are drawn at every tick"
    if spec.signal.mode != "rules" and analyst != "offline":
        return f"signal mode {spec.signal.mode} asks the {analyst} analyst at every tick"
    primary = spec.timeframe(spec.signal.timeframe)
    if primary.bar_size != "1 day":
        return f"the signal timeframe {primary.name} is {primary.bar_size} bars, not daily"
    return ""


def needed_indicators(spec: StrategySpec) -> list[IndicatorSpec]:
    """The primary timeframe's indicators a decision reads: the rules' and the screen's names, the ATR, and (when an analysis is
    asked for) the first RSI column the offline analyst reads. The others only ever appear on charts."""
    primary = spec.signal.timeframe
    names = set()
    for expression in (spec.signal.buy, spec.signal.sell, spec.llm.screen):
        if expression:
            names |= rules.names_in(expression)
    if spec.signal.atr:
        names.add(spec.signal.atr)
    specs = spec.indicators_for(primary)
    if spec.signal.mode != "rules":
        rsi = first_rsi_column([c for s in specs for c in s.columns()])
        if rsi:
            names.add(rsi)
    return [s for s in specs if names & set(s.columns())]


def _label(spec: IndicatorSpec) -> str:
    params = ", ".join(f"{k}={v}" for k, v in spec.params.items())
    return f"{spec.name or spec.kind}({params})" if params else (spec.name or spec.kind)


def causality_problems(
    compute: Callable[[pd.DataFrame], pd.DataFrame],
    bars: pd.DataFrame,
    windows: Sequence[tuple[int, int]],
) -> dict[str, str]:
    """Columns of ``compute`` whose value at the last row of a window ``bars[lo:hi]``, computed on that window
    alone, differs from the value computed on all of ``bars``: they look ahead, or depend on where the window
    starts. ``compute`` maps bars to indicator columns on the same rows."""
    whole = compute(bars)
    problems: dict[str, str] = {}
    for lo, hi in windows:
        if hi <= lo:
            continue
        part = compute(bars.iloc[lo:hi].reset_index(drop=True))
        for column in whole.columns:
            full = float(whole[column].iloc[hi - 1])
            alone = float(part[column].iloc[-1]) if column in part and len(part) else float("nan")
            if column not in problems and not np.isclose(
                alone, full, rtol=RELATIVE_TOLERANCE, atol=1e-12, equal_nan=True
            ):
                at = bars["timestamp"].iloc[hi - 1]
                problems[column] = (
                    f"at {at:%Y-%m-%d} it is {alone:.10g} on the bars known then but {full:.10g} on the whole history"
                )
    return problems


def _indicator_columns(specs: list[IndicatorSpec]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def compute(bars: pd.DataFrame) -> pd.DataFrame:
        return ind.with_indicators(bars, specs).drop(columns=["timestamp", *ind.PRICE_COLUMNS])

    return compute


@dataclass(frozen=True)
class Causality:
    """Which indicators are read from the whole history and which are recomputed per tick, and why."""

    checked: tuple[str, ...]
    per_tick: tuple[str, ...]
    problems: dict[str, str]


def check_indicators(
    spec: StrategySpec, history: PointInTimeBars, symbols: list[str], ends: list[datetime]
) -> tuple[list[IndicatorSpec], Causality]:
    """The needed indicators that failed the check (to recompute per tick), and what the check found."""
    needed = needed_indicators(spec)
    primary = spec.timeframe(spec.signal.timeframe)
    picks = np.unique(np.linspace(0, len(ends) - 1, min(CHECK_TICKS, len(ends))).astype(int))
    failing: list[IndicatorSpec] = []
    problems: dict[str, str] = {}
    for indicator in needed:
        label = _label(indicator)
        for symbol in symbols[:CHECK_SYMBOLS]:
            bars = history.full_daily(symbol)
            ns = _ns(bars)
            windows = [
                window_rows(ns, history.rows_known_by(symbol, ends[i]), ends[i], primary.lookback) for i in picks
            ]
            found = causality_problems(_indicator_columns([indicator]), bars, windows)
            if found:
                failing.append(indicator)
                problems[label] = f"{symbol}: " + "; ".join(f"{c} {why}" for c, why in found.items())
                break
    return failing, Causality(tuple(_label(s) for s in needed), tuple(_label(s) for s in failing), problems)


def _ns(bars: pd.DataFrame) -> np.ndarray:
    return pd.DatetimeIndex(bars["timestamp"]).as_unit("ns").asi8


def window_rows(ns: np.ndarray, known: int, end: datetime, lookback: str) -> tuple[int, int]:
    """Rows [lo, hi) of the daily bars (start instants ``ns``) inside a tick's window: the ``known`` rows by
    ``end``, none before the lookback."""
    return int(np.searchsorted(ns, lookback_start(end, lookback).value, side="left")), known


class SymbolColumns:
    """One symbol's daily bars with the needed indicators computed over its whole history, as arrays."""

    def __init__(
        self, spec: StrategySpec, daily: pd.DataFrame, whole: list[IndicatorSpec], per_tick: list[IndicatorSpec]
    ):
        self.spec = spec
        self.primary = spec.timeframe(spec.signal.timeframe)
        self.per_tick = per_tick
        self.daily = daily
        frame = ind.with_indicators(daily, whole)
        self.stamps = daily["timestamp"]
        self.ns = _ns(daily)
        self.high = daily["high"].to_numpy(dtype=float)
        self.low = daily["low"].to_numpy(dtype=float)
        self.close = daily["close"].to_numpy(dtype=float)
        self.columns = {c: frame[c].to_numpy(dtype=float) for c in frame.columns if c != "timestamp"}
        self.periods = {
            tf.bar_size: period_starts(pd.DatetimeIndex(self.stamps), tf.bar_size)
            for tf in spec.timeframes
            if tf.bar_size != "1 day"
        }

    def window(self, known: int, end: datetime, lookback: str) -> tuple[int, int]:
        return window_rows(self.ns, known, end, lookback)

    def values(self, lo: int, hi: int) -> dict[str, float | None]:
        """The latest values of the primary timeframe's needed columns, as ``latest_values`` gives them."""
        out = {name: ind.plain_value(column[hi - 1]) for name, column in self.columns.items()}
        if self.per_tick:
            frame = ind.with_indicators(self.daily.iloc[lo:hi].reset_index(drop=True), self.per_tick)
            out.update(ind.latest_values(frame.drop(columns=list(ind.PRICE_COLUMNS)).tail(1)))
        return out

    def closes(self, timeframe: Timeframe, known: int, end: datetime) -> np.ndarray:
        """The last closes of ``timeframe``'s bars as the tick sees them (a week or month still forming ends at
        the latest known day's close), as many as the offline analyst reads."""
        lo, hi = self.window(known, end, timeframe.lookback)
        if timeframe.bar_size == "1 day":
            return self.close[max(lo, hi - TREND_BARS) : hi]
        starts = self.periods[timeframe.bar_size]
        count = int(np.searchsorted(starts, hi - 1, side="right"))  # periods begun by the last known day
        first = int(np.searchsorted(starts[:count], lo, side="left"))  # periods that begin inside the window
        if count <= first:
            return self.close[:0]
        first = max(first, count - TREND_BARS)
        ends = np.r_[starts[first + 1 : count] - 1, hi - 1]
        return self.close[ends]

    def analyst_inputs(
        self, lo: int, hi: int, closes: dict[str, np.ndarray], values: dict[str, float | None], rsi: str | None
    ) -> AnalystInputs:
        tail = slice(max(lo, hi - LEVEL_BARS), hi)
        atr = self.spec.signal.atr
        return AnalystInputs(
            closes=closes,
            high=self.high[tail],
            low=self.low[tail],
            close=self.close[tail],
            atr=values.get(atr) if atr else None,
            rsi=values.get(rsi) if rsi else None,
        )
