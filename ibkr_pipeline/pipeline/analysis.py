"""The analysis step: each symbol's prompt and charts to the vision LLM (or the offline analyst), all at once.

Live ticks and tick-by-tick backtests both call ``analyse_symbols``; the LLM and the object
store come in through the small protocols below, so this module needs neither Dagster nor a resource.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import pandas as pd

from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain.analysis import AnalysisRecord, ChartAnalysis, json_schema, sanity_problems
from ibkr_pipeline.domain.bars import Frames
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.offline_analyst import offline_analysis
from ibkr_pipeline.domain.prompts import RenderedPrompt, bars_table, render_prompt
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.llm.client import AnalysisAttempt, AnswerStore, ChartImage, LLMClient
from ibkr_pipeline.objects.object_store import ObjectStore
from ibkr_pipeline.pipeline.charts import ChartRefs
from ibkr_pipeline.pipeline.screen import asks_analyst, screen_symbols

RECENT_BARS = 20


class Analysts(Protocol):
    """Where analyses come from: an OpenAI-compatible endpoint, or the offline analyst when ``offline``."""

    @property
    def offline(self) -> bool: ...

    @property
    def model(self) -> str: ...

    @property
    def vision(self) -> bool: ...

    def client(
        self,
        temperature: float = 0.0,
        model: str | None = None,
        detail: str | None = None,
        vision: bool | None = None,
        answers: AnswerStore | None = None,
    ) -> LLMClient: ...


# (tick, as_of, frames with indicators, chart refs, the strategy's position per symbol in words) -> analyses
Analyst = Callable[[str, datetime, dict[str, Frames], dict[str, ChartRefs], dict[str, str]], dict[str, AnalysisRecord]]


@dataclass(frozen=True)
class AnalysisRequest:
    symbol: str
    prompt: RenderedPrompt
    images: list[ChartImage]
    chart_keys: list[str]
    frames: dict[str, pd.DataFrame]
    last_close: float
    atr: float | None
    range_low: float
    range_high: float


def build_analysis_request(
    spec: StrategySpec,
    symbol: str,
    contract: ContractInfo,
    frames: dict[str, pd.DataFrame],
    charts: ChartRefs,
    as_of: datetime,
    store: ObjectStore,
    position: str,
) -> AnalysisRequest:
    """``position`` is what the strategy holds in the symbol, in words (``domain.positions.position_summary``)."""
    primary = spec.signal.timeframe
    frame = frames[primary]
    latest = ind.latest_values(frame)
    recent = [
        {
            "date": f"{row.timestamp:%Y-%m-%d}",
            "open": row.open,
            "high": row.high,
            "low": row.low,
            "close": row.close,
            "volume": row.volume,
        }
        for row in frame.tail(RECENT_BARS).itertuples()
    ]
    low, high = float(frame["low"].min()), float(frame["high"].max())
    prompt = render_prompt(
        spec.llm.prompt,
        {
            "symbol": symbol,
            "contract": contract,
            "as_of": f"{as_of:%Y-%m-%d %H:%M} UTC",
            "timeframes": list(charts),
            "primary": primary,
            "bars": bars_table(recent),
            "indicators": {k: v for k, v in latest.items() if k not in ind.PRICE_COLUMNS},
            "range_low": low,
            "range_high": high,
            "position": position,
            "notes": spec.llm.notes,
            "schema": json.dumps(json_schema()),
        },
    )
    images = []
    for timeframe, chart in charts.items():
        png = store.get(chart["key"])
        if png is not None:
            images.append(ChartImage(timeframe, png))
    atr = latest.get(spec.signal.atr) if spec.signal.atr else None
    return AnalysisRequest(
        symbol,
        prompt,
        images,
        [c["key"] for c in charts.values()],
        frames,
        float(frame["close"].iloc[-1]),
        atr,
        low,
        high,
    )


def _record(
    spec: StrategySpec,
    req: AnalysisRequest,
    source: Literal["llm", "offline"],
    model: str,
    analysis: ChartAnalysis | None,
    error: str,
    attempt: AnalysisAttempt | None,
    latency: float,
) -> AnalysisRecord:
    problems = [error] if error else []
    if analysis is not None:
        problems += sanity_problems(analysis, req.last_close, req.atr, req.range_low, req.range_high)
    return AnalysisRecord(
        symbol=req.symbol,
        source=source,
        model=model,
        prompt_name=req.prompt.name,
        prompt_template_hash=req.prompt.template_hash,
        system_prompt=req.prompt.system,
        user_prompt=req.prompt.user,
        charts_sent=[img.name for img in req.images] if source == "llm" else [],
        answers=[e.text for e in attempt.exchanges] if attempt else [],
        analysis=analysis,
        accepted=analysis is not None and not problems,
        problems=problems,
        prompt_tokens=attempt.prompt_tokens if attempt else 0,
        completion_tokens=attempt.completion_tokens if attempt else 0,
        cost_usd=attempt.cost_usd if attempt else 0.0,
        cache_hits=attempt.cache_hits if attempt else 0,
        calls=len(attempt.exchanges) - attempt.cache_hits if attempt else 0,
        latency_s=latency,
    )


def run_analyses(
    spec: StrategySpec, llm: Analysts, requests: dict[str, AnalysisRequest], answers: AnswerStore | None
) -> dict[str, AnalysisRecord]:
    """Every symbol concurrently, bounded by the resource's max_in_flight; offline when no endpoint.
    ``answers`` keeps what the model said by question, so a re-run or a backtest asks once."""
    if llm.offline:
        return {
            s: _record(
                spec,
                r,
                "offline",
                "offline-analyst",
                offline_analysis(r.frames, spec.signal.timeframe, spec.signal.atr),
                "",
                None,
                0.0,
            )
            for s, r in requests.items()
        }
    model = spec.llm.model or llm.model

    async def all_symbols() -> dict[str, AnalysisRecord]:
        client = llm.client(
            temperature=spec.llm.temperature,
            model=model,
            detail=spec.llm.detail,
            vision=spec.llm.vision and llm.vision,
            answers=answers,
        )
        try:

            async def one(req: AnalysisRequest) -> AnalysisRecord:
                started = time.perf_counter()
                try:
                    attempt = await client.analyze(req.prompt.system, req.prompt.user, req.images)
                except Exception as exc:  # one symbol's failure stays with that symbol: it becomes HOLD
                    latency = round(time.perf_counter() - started, 3)
                    return _record(spec, req, "llm", model, None, f"{type(exc).__name__}: {exc}"[:500], None, latency)
                latency = round(time.perf_counter() - started, 3)
                return _record(spec, req, "llm", model, attempt.analysis, attempt.error, attempt, latency)

            records = await asyncio.gather(*(one(r) for r in requests.values()))
        finally:
            await client.close()
        return {r.symbol: r for r in records}

    return asyncio.run(all_symbols())


def analyse_symbols(
    spec: StrategySpec,
    llm: Analysts,
    answers: AnswerStore | None,
    store: ObjectStore,
    contracts: dict[str, ContractInfo],
    frames: dict[str, Frames],
    charts: dict[str, ChartRefs],
    as_of: datetime,
    held: dict[str, str],
) -> dict[str, AnalysisRecord]:
    """Every symbol of ``frames`` that ``llm.screen`` passes, asked at once (rules mode asks nobody); ``held``
    says what the strategy holds in each, in words."""
    screened = screen_symbols(spec, frames)
    requests = {
        s: build_analysis_request(spec, s, contracts[s], f, charts.get(s, {}), as_of, store, held[s])
        for s, f in frames.items()
        if asks_analyst(spec, screened.get(s))
    }
    return run_analyses(spec, llm, requests, answers)


def analyst_for(
    spec: StrategySpec,
    llm: Analysts,
    answers: AnswerStore | None,
    store: ObjectStore,
    contracts: dict[str, ContractInfo],
) -> Analyst:
    """``analyse_symbols`` bound to one strategy's endpoint, store and contracts, as a backtest calls it each tick."""

    def analyse(
        tick: str, as_of: datetime, frames: dict[str, Frames], charts: dict[str, ChartRefs], held: dict[str, str]
    ) -> dict[str, AnalysisRecord]:
        return analyse_symbols(spec, llm, answers, store, contracts, frames, charts, as_of, held)

    return analyse
