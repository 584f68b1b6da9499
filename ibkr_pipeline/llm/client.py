"""Chat-completions over any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio).

Retries with backoff on 429/5xx/timeouts honouring Retry-After are the openai
SDK's own (``max_retries``); this module adds the in-flight bound, images as
content parts, JSON-schema answers, one repair round, an answer cache and costs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ibkr_pipeline.domain.analysis import AnswerError, ChartAnalysis, json_schema, parse_answer

# USD per million tokens (prompt, completion); override per deployment.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    api_key: str
    model: str
    timeout_s: float = 60.0
    max_in_flight: int = 4
    max_retries: int = 3
    response_format: str = "json_schema"  # json_schema | json_object | text
    detail: str = "low"
    vision: bool = True
    temperature: float = 0.0
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def __repr__(self) -> str:  # never print the key
        return f"LLMSettings(base_url={self.base_url!r}, model={self.model!r}, api_key=<redacted>)"


@dataclass(frozen=True)
class ChartImage:
    name: str
    png: bytes


@dataclass
class Exchange:
    """One call (or cache hit): what was sent, what came back, what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    cached: bool
    latency_s: float


@dataclass
class AnalysisAttempt:
    analysis: ChartAnalysis | None
    error: str
    exchanges: list[Exchange]

    @property
    def prompt_tokens(self) -> int:
        return sum(e.prompt_tokens for e in self.exchanges)

    @property
    def completion_tokens(self) -> int:
        return sum(e.completion_tokens for e in self.exchanges)

    @property
    def cost_usd(self) -> float:
        return round(sum(e.cost_usd or 0.0 for e in self.exchanges), 6)

    @property
    def cache_hits(self) -> int:
        return sum(e.cached for e in self.exchanges)


class LLMCallError(Exception):
    """The endpoint failed after the SDK's retries, or refused."""


def estimate_cost(prices: dict[str, tuple[float, float]], model: str, prompt: int, completion: int) -> float | None:
    price = prices.get(model)
    if price is None:
        return None
    return round(prompt / 1e6 * price[0] + completion / 1e6 * price[1], 6)


def answer_key(model: str, messages: list[dict], params: dict) -> str:
    """A hash of everything that determines an answer: the same question is never paid for twice."""
    payload = json.dumps({"model": model, "messages": messages, "params": params}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int


class AnswerStore(Protocol):
    """Answers kept by ``answer_key`` (``store.answer_cache``: the project database)."""

    def get(self, key: str) -> CachedAnswer | None: ...
    def put(self, key: str, model: str, text: str, prompt_tokens: int, completion_tokens: int) -> None: ...


class LLMClient:
    def __init__(self, settings: LLMSettings, cache: AnswerStore | None = None):
        self.settings = settings
        self.cache = cache
        import openai  # imported here: the SDK is large and only needed when an endpoint is used

        self._openai = openai
        self._sdk = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or "unused",
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )
        self._slots = asyncio.Semaphore(settings.max_in_flight)

    async def close(self) -> None:
        await self._sdk.close()

    def _user_content(self, text: str, images: list[ChartImage]) -> list[dict] | str:
        if not (self.settings.vision and images):
            return text
        parts: list[dict] = [{"type": "text", "text": text}]
        for image in images:
            url = "data:image/png;base64," + base64.b64encode(image.png).decode()
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": self.settings.detail}})
        return parts

    def _response_format(self) -> dict | None:
        kind = self.settings.response_format
        if kind == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "ChartAnalysis", "schema": json_schema()}}
        if kind == "json_object":
            return {"type": "json_object"}
        return None

    async def _exchange(self, messages: list[dict]) -> Exchange:
        s = self.settings
        params = {"temperature": s.temperature, "response_format": self._response_format()}
        key = answer_key(s.model, messages, params)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return Exchange(hit.text, hit.prompt_tokens, hit.completion_tokens, 0.0, True, 0.0)
        started = time.perf_counter()
        openai = self._openai
        async with self._slots:
            try:
                kwargs: dict[str, Any] = {"model": s.model, "messages": messages, "temperature": s.temperature}
                if params["response_format"] is not None:
                    kwargs["response_format"] = params["response_format"]
                response = await self._sdk.chat.completions.create(**kwargs)
            except openai.APIStatusError as exc:
                raise LLMCallError(f"LLM endpoint answered HTTP {exc.status_code} after retries") from None
            except openai.APITimeoutError:
                raise LLMCallError(
                    f"LLM endpoint timed out after {s.timeout_s:g}s (and {s.max_retries} retries)"
                ) from None
            except openai.APIConnectionError as exc:
                raise LLMCallError(f"cannot reach the LLM endpoint: {type(exc).__name__}") from None
        latency = round(time.perf_counter() - started, 3)
        choice = response.choices[0] if response.choices else None
        message = choice.message if choice else None
        if message is not None and getattr(message, "refusal", None):
            raise LLMCallError(f"the model refused: {message.refusal}")
        text = (message.content or "") if message else ""
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        if self.cache is not None and text:
            self.cache.put(key, s.model, text, prompt_tokens, completion_tokens)
        cost = estimate_cost(s.prices, s.model, prompt_tokens, completion_tokens)
        return Exchange(text, prompt_tokens, completion_tokens, cost, False, latency)

    async def analyze(self, system: str, user: str, images: list[ChartImage]) -> AnalysisAttempt:
        """Ask once; if the answer is not a valid ChartAnalysis, ask once more to repair it."""
        messages: list[dict] = [
            {"role": "system", "content": system},
            {"role": "user", "content": self._user_content(user, images)},
        ]
        exchanges: list[Exchange] = []
        try:
            first = await self._exchange(messages)
        except LLMCallError as exc:
            return AnalysisAttempt(None, str(exc), exchanges)
        exchanges.append(first)
        try:
            return AnalysisAttempt(parse_answer(first.text), "", exchanges)
        except AnswerError as exc:
            problem = str(exc)
        repair = messages + [
            {"role": "assistant", "content": first.text},
            {
                "role": "user",
                "content": f"That answer was not valid: {problem}. Reply with only the corrected JSON object.",
            },
        ]
        try:
            second = await self._exchange(repair)
        except LLMCallError as exc:
            return AnalysisAttempt(None, f"{problem}; repair failed: {exc}", exchanges)
        exchanges.append(second)
        try:
            return AnalysisAttempt(parse_answer(second.text), "", exchanges)
        except AnswerError as exc:
            return AnalysisAttempt(None, f"{problem}; after one repair: {exc}", exchanges)
