"""LLMClient through the real openai SDK against a local chat-completions server."""

import asyncio
import io
import json
import threading
import time

import pytest
from PIL import Image

from ibkr_pipeline.database.answer_cache import AnswerCache
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.domain.analysis import sanity_problems
from ibkr_pipeline.llm.client import ChartImage, LLMClient, LLMSettings
from ibkr_pipeline_tests.openai_server import FakeOpenAI, Reply, completion

ANSWER = {
    "trend": {"daily": "up"},
    "action": "BUY",
    "confidence": 0.7,
    "entry": 100.0,
    "stop_loss": 97.0,
    "take_profit": 106.0,
    "horizon": "2 weeks",
    "key_levels": {"support": [95.0], "resistance": [110.0]},
    "rationale": "Breakout above resistance on rising volume.",
}
USER = "Symbol: TEST\nPrice range of the daily bars provided: 90.00 to 112.00."


def png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 32), color).save(out, format="PNG")
    return out.getvalue()


def client(server: FakeOpenAI, tmp_path=None, **kw) -> LLMClient:
    settings = LLMSettings(base_url=server.base_url, api_key="sk-test", model="gpt-4o-mini", **kw)
    cache = AnswerCache(engine_for(f"sqlite:///{tmp_path / 'cache.db'}")) if tmp_path else None
    return LLMClient(settings, cache)


def analyze(c: LLMClient, images=(), user: str = USER):
    async def go():
        try:
            return await c.analyze("You are an analyst.", user, list(images))
        finally:
            await c.close()

    return asyncio.run(go())


def test_request_carries_prompt_images_and_schema(tmp_path):
    with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(ANSWER)))) as server:
        attempt = analyze(
            client(server, detail="high"), [ChartImage("daily", png("red")), ChartImage("weekly", png("blue"))]
        )
    assert attempt.analysis is not None and attempt.analysis.action == "BUY"
    [body] = server.requests
    assert body["messages"][0] == {"role": "system", "content": "You are an analyst."}
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": USER}
    colors = []
    for part in parts[1:]:
        assert part["image_url"]["detail"] == "high"
        raw = part["image_url"]["url"].removeprefix("data:image/png;base64,")
        import base64

        with Image.open(io.BytesIO(base64.b64decode(raw))) as image:
            colors.append(image.getpixel((0, 0)))
    assert colors == [(255, 0, 0), (0, 0, 255)]
    assert body["response_format"]["type"] == "json_schema"
    assert set(body["response_format"]["json_schema"]["schema"]["properties"]) >= {"action", "stop_loss", "key_levels"}
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    assert attempt.prompt_tokens == 1200 and attempt.cost_usd == pytest.approx(1200 / 1e6 * 0.15 + 180 / 1e6 * 0.60)


def test_text_only_mode_sends_no_images():
    with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(ANSWER)))) as server:
        analyze(client(server, vision=False), [ChartImage("daily", png("red"))])
    assert server.requests[0]["messages"][1]["content"] == USER


def test_429_with_retry_after_is_retried():
    replies = {1: Reply(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "1"})}
    with FakeOpenAI(lambda body, n: replies.get(n, Reply(body=completion(json.dumps(ANSWER))))) as server:
        started = time.monotonic()
        attempt = analyze(client(server, max_retries=2))
        elapsed = time.monotonic() - started
    assert attempt.analysis is not None and len(server.requests) == 2
    assert elapsed >= 1.0  # waited as the server asked


def test_timeout_becomes_an_error_not_an_answer():
    with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(ANSWER)), delay_s=1.5)) as server:
        attempt = analyze(client(server, timeout_s=0.3, max_retries=1))
        # The retry was sent before the client gave up, but on a loaded host the server's thread may read it only
        # afterwards: wait for the server to have read it rather than for the scheduler to have run that thread.
        deadline = time.monotonic() + 30
        while len(server.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert attempt.analysis is None and "timed out" in attempt.error
    assert len(server.requests) == 2


def test_malformed_json_gets_one_repair():
    replies = {1: Reply(body=completion("Sure! {'action': BUY, confidence: high}"))}
    with FakeOpenAI(
        lambda body, n: replies.get(n, Reply(body=completion("```json\n" + json.dumps(ANSWER) + "\n```")))
    ) as server:
        attempt = analyze(client(server))
    assert attempt.analysis is not None and len(attempt.exchanges) == 2
    repair = server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "not valid" in repair[-1]["content"]


def test_schema_violation_twice_is_rejected():
    bad = dict(ANSWER, confidence=1.7)
    with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(bad)))) as server:
        attempt = analyze(client(server))
    assert attempt.analysis is None and "confidence" in attempt.error and "after one repair" in attempt.error
    assert len(server.requests) == 2


def test_refusal_is_an_error():
    with FakeOpenAI(lambda body, n: Reply(body=completion(None, refusal="I can't help with trading."))) as server:
        attempt = analyze(client(server))
    assert attempt.analysis is None and "refused" in attempt.error


def test_insane_levels_are_sanity_failures():
    from ibkr_pipeline.domain.analysis import ChartAnalysis

    wrong_side = ChartAnalysis.model_validate(dict(ANSWER, stop_loss=103.0))
    assert any("stop < entry < target" in p for p in sanity_problems(wrong_side, 100.0, 2.0, 90.0, 112.0))
    too_far = ChartAnalysis.model_validate(dict(ANSWER, take_profit=150.0))
    assert any("ATR from entry" in p for p in sanity_problems(too_far, 100.0, 2.0, 90.0, 112.0))
    invented = ChartAnalysis.model_validate(dict(ANSWER, key_levels={"support": [40.0], "resistance": []}))
    assert any("outside the range" in p for p in sanity_problems(invented, 100.0, 2.0, 90.0, 112.0))
    far_entry = ChartAnalysis.model_validate(dict(ANSWER, entry=120.0, stop_loss=117.0, take_profit=126.0))
    assert any("from the last close" in p for p in sanity_problems(far_entry, 100.0, 2.0, 90.0, 130.0))


def test_cache_answers_the_same_question_without_a_call(tmp_path):
    with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(ANSWER)))) as server:
        first = analyze(client(server, tmp_path))
        second = analyze(client(server, tmp_path))
        other = analyze(client(server, tmp_path), user=USER + " (different)")
    assert len(server.requests) == 2
    assert first.cache_hits == 0 and second.cache_hits == 1 and other.cache_hits == 0
    assert second.analysis == first.analysis and second.cost_usd == 0


def test_concurrency_bound_is_respected_and_calls_overlap():
    """The first answers wait until three calls are in flight (a barrier, not a delay, so a loaded machine cannot
    make the calls seem serial); then a short hold in which a fourth, past the bound, would show."""
    three_in_flight = threading.Event()

    def reply(body: dict, n: int) -> Reply:
        if server.in_flight >= 3:
            three_in_flight.set()
        three_in_flight.wait(10)  # far longer than three requests take to arrive, however loaded
        return Reply(body=completion(json.dumps(ANSWER)), delay_s=0.2)

    with FakeOpenAI(reply) as server:
        c = client(server, max_in_flight=3)

        async def many():
            try:
                return await asyncio.gather(*(c.analyze("s", f"{USER} #{i}", []) for i in range(9)))
            finally:
                await c.close()

        attempts = asyncio.run(many())
    assert all(a.analysis is not None for a in attempts)
    assert server.max_in_flight == 3  # the calls overlap, up to the bound and never past it (counted, not timed)
