"""LLMResource: a vision LLM behind any OpenAI-compatible endpoint, or the offline analyst.

With no ``base_url`` the resource is offline: the pipeline uses the deterministic
offline analyst and labels every analysis as such. The API key comes from an
environment variable (``dg.EnvVar``) and never appears in logs or metadata.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field

from ibkr_pipeline.domain.health import ComponentHealth
from ibkr_pipeline.domain.redaction import redact_url
from ibkr_pipeline.llm.client import DEFAULT_PRICES, AnswerStore, LLMClient, LLMSettings


class LLMResource(dg.ConfigurableResource):
    base_url: str = Field(
        default="", description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1; empty = offline analyst"
    )
    api_key: str = Field(default="", repr=False, description="Set through dg.EnvVar('OPENAI_API_KEY')")
    model: str = "gpt-4o-mini"
    timeout_s: float = 60.0
    max_in_flight: int = Field(default=4, ge=1, description="Requests in flight at once")
    max_retries: int = Field(default=3, ge=0, description="SDK retries on 429/5xx/timeouts (Retry-After honoured)")
    response_format: str = Field(default="json_schema", description="json_schema | json_object | text")
    detail: str = Field(default="low", description="Image detail: low | high | auto")
    vision: bool = Field(default=True, description="Attach the charts; false for text-only models")
    prices: dict[str, list[float]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_PRICES.items()},
        description="USD per million tokens [prompt, completion] by model",
    )

    @property
    def offline(self) -> bool:
        return not self.base_url

    def probe(self, timeout_s: float = 10.0) -> ComponentHealth:
        """GET {base_url}/models, which every OpenAI-compatible server answers; the key never leaves the header."""
        if self.offline:
            return ComponentHealth("llm", "offline", "no endpoint configured: the offline analyst answers")
        started = time.perf_counter()
        host = urlsplit(redact_url(self.base_url)).netloc
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            answer = requests.get(self.base_url.rstrip("/") + "/models", headers=headers, timeout=timeout_s)
        except requests.Timeout:
            return ComponentHealth("llm", "unresponsive", f"{host}: no answer within {timeout_s:g} s")
        except requests.RequestException as exc:
            return ComponentHealth("llm", "down", f"{host}: {type(exc).__name__}")  # its text may carry the URL
        if answer.status_code != 200:
            return ComponentHealth("llm", "down", f"{host}: GET /models answered HTTP {answer.status_code}")
        return ComponentHealth(
            "llm", "ok", f"{host}: GET /models answered", round((time.perf_counter() - started) * 1000, 1)
        )

    def client(
        self,
        temperature: float = 0.0,
        model: str | None = None,
        detail: str | None = None,
        vision: bool | None = None,
        answers: AnswerStore | None = None,
    ) -> LLMClient:
        """``answers``: where answers are kept (``DatabaseResource.answer_cache()``), so none is paid for twice."""
        settings = LLMSettings(
            base_url=self.base_url,
            api_key=self.api_key,
            model=model or self.model,
            timeout_s=self.timeout_s,
            max_in_flight=self.max_in_flight,
            max_retries=self.max_retries,
            response_format=self.response_format,
            detail=detail or self.detail,
            vision=self.vision if vision is None else vision,
            temperature=temperature,
            prices={k: (float(v[0]), float(v[1])) for k, v in self.prices.items()},
        )
        return LLMClient(settings, answers)
