"""The bars a tick decides on: what to fetch beyond what is stored, the merge, each symbol's window.

The signal timeframe is fetched for every symbol; the others only for the symbols a chart or the analyst reads
this tick (``pipeline.screen.context_readers``): a screen that keeps most of an index from the LLM keeps their
weekly bars unfetched too, and the next tick that reads them fetches what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pandas as pd

from ibkr_pipeline.broker.client import BarsRequest
from ibkr_pipeline.broker.errors import IBKRError
from ibkr_pipeline.domain import bar_history
from ibkr_pipeline.domain.bars import Frames
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.results import SymbolResults
from ibkr_pipeline.domain.strategy import StrategySpec, Timeframe
from ibkr_pipeline.pipeline.screen import context_readers, reads_every_timeframe


@dataclass(frozen=True)
class BarsFetch:
    """One request to IB: the stored history it extends and how far back it must reach."""

    symbol: str
    timeframe: Timeframe
    stored: pd.DataFrame
    request: BarsRequest


@dataclass(frozen=True)
class FetchedRow:
    symbol: str
    timeframe: str
    requested: str
    fetched: int
    in_window: int
    first: pd.Timestamp
    last: pd.Timestamp


@dataclass(frozen=True)
class BarsStep:
    results: SymbolResults[Frames]
    new_errors: dict[str, str]
    rows: list[FetchedRow]
    requests: int  # made to IB, one per symbol and timeframe fetched
    not_fetched: dict[str, str]  # symbol -> which timeframes were left unfetched, and why


def plan_fetch(symbol: str, info: ContractInfo, tf: Timeframe, end: datetime, history: pd.DataFrame) -> BarsFetch:
    """The IB duration that completes ``tf``'s lookback at ``end`` given the stored ``history``."""
    known = bar_history.completed_as_of(history, end, tf.bar_size)
    duration = bar_history.missing_duration(known, end, tf.lookback, tf.bar_size)
    return BarsFetch(symbol, tf, history, BarsRequest(info, end, duration, tf.bar_size, "TRADES", tf.use_rth))


@dataclass(frozen=True)
class Merged:
    """One request's answer merged into its stored history, cut to what the tick reads (or the error, named for
    its timeframe): a series' whole history is held only while it is merged and stored."""

    symbol: str
    timeframe: str
    duration: str
    window: pd.DataFrame | str
    fetched: int


Keep = Callable[[str, str, pd.DataFrame], object]  # (symbol, timeframe, history that gained bars): store it


def merge_one(item: BarsFetch, answer: pd.DataFrame | IBKRError, end: datetime, keep: Keep) -> Merged:
    """The answer merged, the grown history kept at once (while other answers are awaited), the tick's window
    returned."""
    where = (item.symbol, item.timeframe.name, item.request.duration)
    if isinstance(answer, IBKRError):
        return Merged(*where, f"bars/{item.timeframe.name}: {answer}", 0)
    history = bar_history.merge(item.stored, answer)
    if len(answer):
        keep(item.symbol, item.timeframe.name, history)
    return Merged(*where, tick_window(history, end, item.timeframe), len(answer))


class Streamed(Protocol):
    """``IBKRClient.bars_streamed``: requests made in turn, answers handled as they arrive, follow-ups joined."""

    def __call__(
        self,
        items: Sequence[int],
        request_for: Callable[[int], BarsRequest],
        on_answer: Callable[[int, pd.DataFrame | IBKRError], Merged],
        follow_up: Callable[[int, Merged], Sequence[int]] | None = None,
    ) -> list[Merged]: ...


Target = tuple[str, ContractInfo, Timeframe]


def fetch_and_merge(
    spec: StrategySpec,
    contracts: dict[str, ContractInfo],
    end: datetime,
    stored: Callable[[str, str], pd.DataFrame],
    streamed: Streamed,
    carried: dict[str, str],
    keep: Keep,
) -> BarsStep:
    """A tick's bars, each series read from the store, planned, fetched, merged and kept in its turn: that work
    overlaps the wait for other answers, and no step holds every history. Every symbol's signal timeframe; a
    symbol's other timeframes as soon as its signal timeframe shows a chart or the analyst will read them."""
    primary = spec.timeframe(spec.signal.timeframe)
    others = [tf for tf in spec.timeframes if tf.name != primary.name]
    every = not others or reads_every_timeframe(spec)
    first = spec.timeframes if every else [primary]
    targets: list[Target] = [(s, info, tf) for s, info in contracts.items() for tf in first]
    plans: dict[int, BarsFetch] = {}
    not_fetched: dict[str, str] = {}
    unread = ", ".join(tf.name for tf in others)
    why = f"{unread} not fetched: neither charted nor asked about this tick (chart.when: {spec.chart.when})"

    def request_for(n: int) -> BarsRequest:
        symbol, info, tf = targets[n]
        plans[n] = plan_fetch(symbol, info, tf, end, stored(symbol, tf.name))
        return plans[n].request

    def follow_up(n: int, merged: Merged) -> list[int]:
        """The symbol's other timeframes, when its signal timeframe's window says they will be read."""
        symbol, info, tf = targets[n]
        if tf.name != primary.name or isinstance(merged.window, str) or merged.window.empty:
            return []
        if symbol not in context_readers(spec, {symbol: merged.window}, end):
            not_fetched[symbol] = why
            return []
        targets.extend((symbol, info, tf) for tf in others)
        return list(range(len(targets) - len(others), len(targets)))

    merged = streamed(
        range(len(targets)),
        request_for,
        lambda n, answer: merge_one(plans.pop(n), answer, end, keep),
        None if every else follow_up,
    )
    return assemble(spec, merged, end, carried, not_fetched)


def assemble(
    spec: StrategySpec, merged_items: list[Merged], end: datetime, carried: dict[str, str], not_fetched: dict[str, str]
) -> BarsStep:
    """Each symbol's windows, with what was fetched for each; a symbol has the timeframes fetched for it
    (``not_fetched`` says why a symbol has fewer)."""
    merged = {(item.symbol, item.timeframe): item for item in merged_items}
    symbols = list(dict.fromkeys(item.symbol for item in merged_items))
    results, new_errors = frames_by_symbol(
        spec,
        symbols,
        end,
        lambda s, tf: merged[(s, tf.name)].window,
        carried,
        lambda s: [tf for tf in spec.timeframes if (s, tf.name) in merged],
    )
    rows = [
        FetchedRow(s, tf, merged[(s, tf)].duration, merged[(s, tf)].fetched, len(f), *f["timestamp"].iloc[[0, -1]])
        for s, frames in results.values.items()
        for tf, f in frames.items()
    ]
    return BarsStep(results, new_errors, rows, len(merged_items), not_fetched)


def tick_window(history: pd.DataFrame, end: datetime, tf: Timeframe) -> pd.DataFrame:
    """Complete bars only, never the one still forming, inside the timeframe's lookback: as the backtest reads."""
    return bar_history.window(bar_history.as_of_tick(history, end, tf.bar_size), end, tf.lookback)


def frames_by_symbol(
    spec: StrategySpec,
    symbols: list[str],
    end: datetime,
    frame_for: Callable[[str, Timeframe], pd.DataFrame | str],
    carried: dict[str, str],
    timeframes_of: Callable[[str], list[Timeframe]] | None = None,
) -> tuple[SymbolResults[Frames], dict[str, str]]:
    """Every timeframe of every symbol (or those ``timeframes_of`` it), or the symbol's first problem (an error,
    or no bars up to ``end``)."""
    values: dict[str, Frames] = {}
    new_errors: dict[str, str] = {}
    for symbol in symbols:
        frames: Frames = {}
        for tf in timeframes_of(symbol) if timeframes_of else spec.timeframes:
            got = frame_for(symbol, tf)
            if isinstance(got, str) or got.empty:
                new_errors[symbol] = got if isinstance(got, str) else no_bars(tf.name, end)
                break
            frames[tf.name] = got
        else:
            values[symbol] = frames
    return SymbolResults(values, {**carried, **new_errors}), new_errors


def no_bars(timeframe: str, end: datetime) -> str:
    return f"bars/{timeframe}: no bars up to {end:%Y-%m-%d %H:%M} UTC"
