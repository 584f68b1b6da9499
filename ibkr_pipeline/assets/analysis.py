"""Wiring for the analysis step: build each symbol's prompt and images, ask every symbol at once."""

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline.domain.analysis import AnalysisRecord, ChartAnalysis, json_schema, sanity_problems
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.offline_analyst import offline_analysis
from ibkr_pipeline.domain.prompts import RenderedPrompt, bars_table, render_prompt
from ibkr_pipeline.domain.strategy import StrategySpec
from ibkr_pipeline.llm.client import AnalysisAttempt, ChartImage
from ibkr_pipeline.resources.chart_store import ChartStore
from ibkr_pipeline.resources.llm import LLMResource

RECENT_BARS = 20


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
    charts: dict[str, dict[str, str]],
    as_of: datetime,
    store: ChartStore,
    position: str,
) -> AnalysisRequest:
    """``position`` is what the strategy holds in the symbol, in words (``domain.positions.position_summary``)."""
    primary = spec.signal.timeframe
    frame = frames[primary]
    latest = ind.latest_values(frame.drop(columns="timestamp"))
    recent = [
        {"date": f"{row.timestamp:%Y-%m-%d}", "open": row.open, "high": row.high, "low": row.low,
         "close": row.close, "volume": row.volume}
        for row in frame.tail(RECENT_BARS).itertuples()
    ]
    low, high = float(frame["low"].min()), float(frame["high"].max())
    prompt = render_prompt(
        spec.llm.prompt,
        {
            "symbol": symbol, "contract": contract, "as_of": f"{as_of:%Y-%m-%d %H:%M} UTC",
            "timeframes": list(charts), "primary": primary, "bars": bars_table(recent),
            "indicators": {k: v for k, v in latest.items() if k not in ind.PRICE_COLUMNS},
            "range_low": low, "range_high": high, "position": position,
            "notes": spec.llm.notes, "schema": json.dumps(json_schema()),
        },
    )
    images = []
    for timeframe, chart in charts.items():
        png = store.get(chart["key"])
        if png is not None:
            images.append(ChartImage(timeframe, png))
    atr = latest.get(spec.signal.atr) if spec.signal.atr else None
    return AnalysisRequest(symbol, prompt, images, [c["key"] for c in charts.values()], frames,
                           float(frame["close"].iloc[-1]), atr, low, high)


def _record(
    spec: StrategySpec, req: AnalysisRequest, source: str, model: str, analysis: ChartAnalysis | None,
    error: str, attempt: AnalysisAttempt | None, latency: float,
) -> AnalysisRecord:
    problems = [error] if error else []
    if analysis is not None:
        problems += sanity_problems(analysis, req.last_close, req.atr, req.range_low, req.range_high)
    return AnalysisRecord(
        symbol=req.symbol, source=source, model=model, prompt_name=req.prompt.name,
        prompt_template_hash=req.prompt.template_hash, system_prompt=req.prompt.system, user_prompt=req.prompt.user,
        charts_sent=[img.name for img in req.images] if source == "llm" else [],
        answers=[e.text for e in attempt.exchanges] if attempt else [],
        analysis=analysis, accepted=analysis is not None and not problems, problems=problems,
        prompt_tokens=attempt.prompt_tokens if attempt else 0,
        completion_tokens=attempt.completion_tokens if attempt else 0,
        cost_usd=attempt.cost_usd if attempt else 0.0,
        cache_hits=attempt.cache_hits if attempt else 0,
        calls=len(attempt.exchanges) - attempt.cache_hits if attempt else 0,
        latency_s=latency,
    )


def run_analyses(spec: StrategySpec, llm: LLMResource, requests: dict[str, AnalysisRequest]) -> dict[str, AnalysisRecord]:
    """Every symbol concurrently, bounded by the resource's max_in_flight; offline when no endpoint."""
    if llm.offline:
        return {
            s: _record(spec, r, "offline", "offline-analyst",
                       offline_analysis(r.frames, spec.signal.timeframe, spec.signal.atr), "", None, 0.0)
            for s, r in requests.items()
        }
    model = spec.llm.model or llm.model

    async def all_symbols() -> dict[str, AnalysisRecord]:
        client = llm.client(temperature=spec.llm.temperature, model=model, detail=spec.llm.detail,
                            vision=spec.llm.vision and llm.vision)
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
