"""50 symbols against a local OpenAI-compatible server that answers after 2 s: is the overlap real?"""

from __future__ import annotations

import asyncio
import json
import time

from bench.figures import figure
from ibkr_pipeline.llm.client import LLMClient, LLMSettings
from ibkr_pipeline_tests.openai_server import FakeOpenAI, Reply, completion

SYMBOLS, LATENCY_S, BOUND = 50, 2.0, 10
ANSWER = json.dumps({"trend": {"daily": "up"}, "action": "HOLD", "confidence": 0.5, "rationale": "unclear"})


def run() -> list[dict]:
    with FakeOpenAI(lambda body, n: Reply(body=completion(ANSWER), delay_s=LATENCY_S)) as server:
        client = LLMClient(LLMSettings(base_url=server.base_url, api_key="bench", model="bench", max_in_flight=BOUND))

        async def all_symbols():
            try:
                return await asyncio.gather(*(client.analyze("s", f"symbol {i}", []) for i in range(SYMBOLS)))
            finally:
                await client.close()

        started = time.perf_counter()
        attempts = asyncio.run(all_symbols())
        wall = time.perf_counter() - started
    ideal = SYMBOLS * LATENCY_S / BOUND
    assert all(a.analysis is not None for a in attempts)
    return [
        figure(
            "LLM wall / ideal overlap",
            wall / ideal,
            1.2,
            detail=f"{SYMBOLS} symbols x {LATENCY_S:g} s, bound {BOUND}: {wall:.1f} s vs {ideal:.1f} s; "
            f"max in flight seen {server.max_in_flight}",
        )
    ]
