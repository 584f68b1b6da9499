"""The analysis step in a tick: prompts and charts sent, answers validated, cached, costed; no secrets leak."""

import base64
import io
import json
from collections.abc import Iterator

import dagster as dg
import pytest
from PIL import Image

from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline_tests.assets.test_strategy_assets import (
    CLOCK,
    STRATEGY,  # noqa: F401 - fixture
    TUESDAY_TICK,
    metadata,
    out,
    resources,
    strategy,
)
from ibkr_pipeline_tests.conftest import make_gateway
from ibkr_pipeline_tests.openai_server import FakeOpenAI, Reply, completion, sensible_analysis, user_text

SECRET = "sk-live-DO-NOT-LEAK-0123456789"
LLM_STRATEGY = STRATEGY.replace(
    'signal: {buy: "rsi_14 < 101", sell: "rsi_14 < 0", atr: atr_14}',
    'signal: {mode: llm, min_confidence: 0.6, atr: atr_14}\nllm: {notes: "Prefer pullbacks."}',
)


def run(spec, res, instance) -> dg.ExecuteInProcessResult:
    defs = build_strategy_definitions(spec)
    result = dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups(spec.name),
        partition_key=TUESDAY_TICK,
        resources=res,
        instance=instance,
    )
    assert result.success
    return result


def test_llm_tick_sends_prompts_and_charts_validates_caches_and_hides_the_key(gateway, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TEST_OPENAI_KEY", SECRET)

    def responder(body, n):
        symbol = user_text(body).split()[1]
        if symbol == "MSFT":  # a stop on the wrong side: must become HOLD
            bad = sensible_analysis(body)
            bad["stop_loss"] = bad["take_profit"]
            return Reply(body=completion(json.dumps(bad)))
        return Reply(body=completion(json.dumps(sensible_analysis(body))))

    spec = strategy(LLM_STRATEGY)
    with FakeOpenAI(responder) as server:
        res = resources(gateway, tmp_path)
        res["llm"] = LLMResource(
            base_url=server.base_url, api_key=dg.EnvVar("TEST_OPENAI_KEY"), model="gpt-4o-mini", max_in_flight=2
        )
        with dg.instance_for_test() as instance:
            first = run(spec, res, instance)
            calls_after_first = len(server.requests)
            second = run(spec, res, instance)  # a re-execution pays for nothing
            logs = "\n".join(str(e) for e in instance.all_logs(first.run_id) + instance.all_logs(second.run_id))

    assert calls_after_first == 3 and len(server.requests) == 3
    for body in server.requests:
        text = user_text(body)
        symbol = text.split()[1]
        assert "Prefer pullbacks." in text and "Recent daily bars:" in text
        assert "senior discretionary technical analyst" in body["messages"][0]["content"]
        images = [p for p in body["messages"][1]["content"] if p["type"] == "image_url"]
        assert len(images) == 2  # daily and weekly
        charts = out(first, "charts").values[symbol]
        sent = [base64.b64decode(p["image_url"]["url"].split(",", 1)[1]) for p in images]
        stored = [open(charts[tf]["path"], "rb").read() for tf in ("daily", "weekly")]
        assert sent == stored
        with Image.open(io.BytesIO(sent[0])) as image:
            assert image.format == "PNG"

    analysis = out(first, "analysis")
    assert analysis.values["AAPL"].accepted and analysis.values["AAPL"].source == "llm"
    assert not analysis.values["MSFT"].accepted
    assert "stop < entry < target" in analysis.values["MSFT"].problems[0]
    signals = out(first, "signals").values
    assert signals["AAPL"].action == "BUY" and signals["AAPL"].source == "llm:llm"
    assert signals["AAPL"].entry == analysis.values["AAPL"].analysis.entry
    assert signals["MSFT"].action == "HOLD" and any("rejected" in r for r in signals["MSFT"].reasons)

    meta1, meta2 = metadata(first, "analysis"), metadata(second, "analysis")
    assert meta1["llm_calls"] == 3 and meta1["cache_hits"] == 0 and meta1["prompt_tokens"] == 3 * 1200
    assert meta1["cost_usd"] > 0 and meta2["cost_usd"] == 0
    assert meta2["llm_calls"] == 0 and meta2["cache_hits"] == 3
    assert "gpt-4o-mini via 127.0.0.1" == meta1["analyst"]
    assert "### AAPL — BUY (0.80), accepted" in meta1["analysis"]
    assert "{'" not in meta1["analysis"] and "· trend daily " in meta1["analysis"]  # read as text, not a Python repr
    everything = (
        logs + json.dumps({k: str(v) for k, v in meta1.items()}) + json.dumps({k: str(v) for k, v in meta2.items()})
    )
    assert SECRET not in everything
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"  # it was used, just never shown


def test_a_hostile_answer_stays_with_its_symbol(gateway, tmp_path):  # noqa: F811
    """A nesting bomb, a boolean confidence and a megabyte horizon: each symbol is HOLD with its reason; the rest go on."""

    def responder(body, n):
        symbol = user_text(body).split()[1]
        good = sensible_analysis(body)
        if symbol == "AAPL":
            return Reply(body=completion('{"a":' * 20_000 + "1" + "}" * 20_000))
        if symbol == "MSFT":
            return Reply(body=completion(json.dumps({**good, "confidence": True})))
        return Reply(body=completion(json.dumps(good)))

    with FakeOpenAI(responder) as server:
        res = resources(gateway, tmp_path)
        res["llm"] = LLMResource(base_url=server.base_url, model="gpt-4o-mini", max_retries=0)
        with dg.instance_for_test() as instance:
            result = run(strategy(LLM_STRATEGY), res, instance)
    records = out(result, "analysis").values
    assert records["AAPL"].problems == [
        "answer is 120001 characters; at most 32000; after one repair: answer is 120001 characters; at most 32000"
    ]
    assert records["MSFT"].problems == [
        "answer does not match the schema: confidence: Input should be a valid number; after one repair: answer does "
        "not match the schema: confidence: Input should be a valid number"
    ]
    assert records["SPY"].accepted
    signals = out(result, "signals").values
    assert (signals["AAPL"].action, signals["MSFT"].action, signals["SPY"].action) == ("HOLD", "HOLD", "BUY")


FUNNEL_SYMBOLS = ["BIGA", "BIGB", *(f"SML{c}" for c in "CDEFGHIJ")]
FUNNEL_STRATEGY = f"""
name: test_funnel
universe: [{", ".join(f"{{symbol: {s}}}" for s in FUNNEL_SYMBOLS)}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}}
indicators:
  - {{kind: rsi, params: {{length: 14}}}}
  - {{kind: atr, params: {{length: 14}}, name: atr_14}}
chart: {{panels: [rsi_14], bars: 60, when: screened}}
signal: {{mode: llm, min_confidence: 0.6, atr: atr_14, sell: "close < 0"}}
llm: {{screen: "close > 500"}}
"""


@pytest.fixture
def funnel_gateway(tmp_path) -> Iterator:
    universe = tmp_path / "universe.yaml"
    universe.write_text(
        "".join(
            f"- {{symbol: {s}, primary_exchange: NYSE, price: {2000 if s.startswith('BIG') else 20}}}\n"
            for s in FUNNEL_SYMBOLS
        )
    )
    with make_gateway(clock_start=CLOCK, pacing=False, universe_file=universe) as gw:
        yield gw


def test_a_screen_that_passes_2_of_10_symbols_asks_the_llm_twice_and_draws_only_their_charts(funnel_gateway, tmp_path):
    with FakeOpenAI(lambda body, n: Reply(body=completion(json.dumps(sensible_analysis(body))))) as server:
        res = resources(funnel_gateway, tmp_path)
        res["llm"] = LLMResource(base_url=server.base_url, model="gpt-4o-mini")
        with dg.instance_for_test() as instance:
            result = run(strategy(FUNNEL_STRATEGY), res, instance)

    assert sorted(user_text(body).split()[1] for body in server.requests) == ["BIGA", "BIGB"]
    signals = out(result, "signals", "test_funnel").values
    assert set(signals) == set(FUNNEL_SYMBOLS)
    for symbol in ("BIGA", "BIGB"):
        assert signals[symbol].action == "BUY" and signals[symbol].source == "llm:llm"
    for symbol in FUNNEL_SYMBOLS[2:]:
        assert signals[symbol].action == "HOLD" and signals[symbol].source == "screen:rules"
        assert signals[symbol].reasons[0] == "llm.screen `close > 500` is false"

    charts = out(result, "charts", "test_funnel").values
    assert {s for s, refs in charts.items() if refs} == {"BIGA", "BIGB"}
    assert all(set(charts[s]) == {"daily", "weekly"} for s in ("BIGA", "BIGB"))
    chart_meta = metadata(result, "charts", "test_funnel")
    assert (chart_meta["images"], chart_meta["not_drawn"]) == (4, 8)

    # Weekly bars are read only by the charts and the analyst: fetched for the 2 the screen passes, not the 8.
    assert funnel_gateway.sim.historical_requests == 10 + 2
    bars = out(result, "bars", "test_funnel").values
    assert {s: sorted(frames) for s, frames in bars.items()} == {
        s: ["daily", "weekly"] if s.startswith("BIG") else ["daily"] for s in FUNNEL_SYMBOLS
    }
    bars_meta = metadata(result, "bars", "test_funnel")
    assert (bars_meta["requests"], bars_meta["signal_timeframe_only"]) == (12, 8)
    assert bars_meta["not_fetched"] == {
        s: "weekly not fetched: neither charted nor asked about this tick (chart.when: screened)"
        for s in FUNNEL_SYMBOLS[2:]
    }

    meta = metadata(result, "analysis", "test_funnel")
    assert (meta["asked"], meta["screened_out"], meta["llm_calls"]) == (2, 8, 2)
    assert meta["screened_out_reasons"] == {s: "llm.screen `close > 500` is false" for s in FUNNEL_SYMBOLS[2:]}
    assert meta["llm_calls_saved_estimate"] == 8.0
    assert meta["tokens_saved_estimate"] == 8 * meta["tokens_per_symbol"] > 0
    assert (
        meta["cost_usd_saved_estimate"] == pytest.approx(8 * meta["cost_usd_per_asked_symbol"])
        and meta["cost_usd_saved_estimate"] > 0
    )
