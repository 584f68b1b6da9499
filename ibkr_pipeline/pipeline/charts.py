"""Candlestick charts with the strategy's overlays and panels, one per symbol and timeframe, into the object store.

Charts are the tick's costliest step (a fraction of a second each with mplfinance), so a universe's charts are
drawn in worker processes, one per core, and stored as they arrive; a chart's bytes do not depend on where it
was drawn. ``chart.when`` says which symbols are drawn at all (``pipeline.screen.symbols_to_chart``).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.util
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ibkr_pipeline.domain import charts
from ibkr_pipeline.domain.bars import Frames
from ibkr_pipeline.domain.results import SymbolResults
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.objects.object_store import ObjectStore
from ibkr_pipeline.pipeline.screen import symbols_to_chart

ChartRefs = dict[str, dict[str, str]]  # timeframe -> {"key", "uri", "path", "sha256"}; {} when not drawn
PARALLEL_FROM = 8  # charts in a tick: below this, starting workers costs more than it saves
GALLERY_SIZE = 12  # thumbnails in a run's metadata; the rest are named by key


@dataclass(frozen=True)
class DrawnChart:
    symbol: str
    timeframe: str
    title: str
    ref: dict[str, str]
    thumbnail: bytes | None  # a small PNG for the run's gallery (the first GALLERY_SIZE charts)


@dataclass(frozen=True)
class ChartsStep:
    results: SymbolResults[ChartRefs]
    new_errors: dict[str, str]
    drawn: list[DrawnChart]
    not_drawn: list[str]  # symbols chart.when left out


@dataclass(frozen=True)
class ChartJob:
    symbol: str
    timeframe: str
    title: str
    frame: pd.DataFrame  # only the rows and columns the chart shows: it travels to a worker
    overlays: list[str]
    panels: list[str]
    bars: int
    style: str


def render(job: ChartJob) -> bytes | str:
    """The PNG, or what went wrong: one chart's failure stays with its symbol."""
    try:
        return charts.render_chart(job.frame, job.title, job.overlays, job.panels, job.bars, job.style)
    except Exception as exc:
        return f"charts: {job.timeframe}: {exc!r}"


def chart_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_pools: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """Kept for the process's life: a backtest draws every tick. Workers come from a fork server, a clean
    process, never a fork of this one's threads (Dagster's, the gateway client's)."""
    if workers not in _pools:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ibkr_pipeline.domain.charts"])
        _pools[workers] = ProcessPoolExecutor(workers, mp_context=context)
    return _pools[workers]


def _close_pools() -> None:
    for pool in _pools.values():
        pool.shutdown(cancel_futures=True)
    _pools.clear()


# Before multiprocessing's exit joins this process's children (a Dagster step runs in such a child, and would
# wait forever on idle chart workers), and at interpreter exit in a main process.
multiprocessing.util.Finalize(None, _close_pools, exitpriority=100)


def rendered(jobs: list[ChartJob], workers: int) -> Iterator[tuple[ChartJob, bytes | str]]:
    """Each job with its PNG (or error), in the jobs' order, as soon as it is drawn. A daemonic process (a Celery
    prefork worker's child) may not start processes: it draws its charts itself, Celery spreading the steps."""
    if workers < 2 or len(jobs) < PARALLEL_FROM or multiprocessing.current_process().daemon:
        yield from ((job, render(job)) for job in jobs)
        return
    done = 0
    try:
        for job, png in zip(jobs, _pool(workers).map(render, jobs, chunksize=2), strict=True):
            done += 1
            yield job, png
    except BrokenProcessPool:  # a worker died (killed, out of memory): draw the rest here
        _pools.pop(workers, None)
        yield from ((job, render(job)) for job in jobs[done:])


def chart_jobs(spec: StrategySpec, symbol: str, frames: Frames) -> list[ChartJob]:
    shown = ["timestamp", "open", "high", "low", "close", "volume", *spec.chart.overlays, *spec.chart.panels]
    return [
        ChartJob(
            symbol,
            tf,
            charts.chart_title(symbol, tf, frame),
            frame.tail(spec.chart.bars)[[c for c in dict.fromkeys(shown) if c in frame]],
            spec.chart.overlays,
            spec.chart.panels,
            spec.chart.bars,
            spec.chart.style,
        )
        for tf, frame in frames.items()
    ]


def draw_charts(
    spec: StrategySpec,
    indicators: SymbolResults[Frames],
    store: ObjectStore,
    key_for: Callable[[str, str], str],
    as_of: datetime,
    workers: int | None = None,
) -> ChartsStep:
    """``key_for(symbol, timeframe)`` names each chart in the store (``storage.keys``); ``workers`` defaults
    to one per core. A symbol ``chart.when`` leaves out gets no charts (``{}``) and is no error."""
    wanted = symbols_to_chart(spec, indicators.values, as_of)
    not_drawn = [s for s in indicators.values if s not in wanted]
    jobs: list[ChartJob] = []
    new_errors: dict[str, str] = {}
    for symbol, frames in indicators.values.items():
        if symbol not in wanted:
            continue
        try:
            jobs.extend(chart_jobs(spec, symbol, frames))
        except Exception as exc:  # e.g. an empty frame has no last close to title
            new_errors[symbol] = f"charts: {exc!r}"
    refs: dict[str, ChartRefs] = {}
    drawn: list[DrawnChart] = []
    for job, png in rendered(jobs, chart_workers() if workers is None else workers):
        if job.symbol in new_errors:
            continue
        if isinstance(png, str):
            new_errors[job.symbol] = png
            continue
        key = key_for(job.symbol, job.timeframe)
        stored = store.put(key, png, "image/png")
        ref = {"key": key, "uri": stored.uri, "path": stored.path or "", "sha256": hashlib.sha256(png).hexdigest()}
        refs.setdefault(job.symbol, {})[job.timeframe] = ref
        small = charts.thumbnail(png, 400) if len(drawn) < GALLERY_SIZE else None
        drawn.append(DrawnChart(job.symbol, job.timeframe, job.title, ref, small))
    values = {s: refs.get(s, {}) for s in indicators.values if s not in new_errors}
    return ChartsStep(
        SymbolResults(values, {**indicators.carry_errors(), **new_errors}),
        new_errors,
        [c for c in drawn if c.symbol not in new_errors],
        not_drawn,
    )
