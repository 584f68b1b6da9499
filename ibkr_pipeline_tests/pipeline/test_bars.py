"""The bars step's plan: the signal timeframe for every symbol, the others for the symbols read on them."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ibkr_pipeline.broker.client import BarsRequest
from ibkr_pipeline.broker.errors import IBKRError
from ibkr_pipeline.domain.bars import empty_bars
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.pipeline.bars import fetch_and_merge
from ibkr_pipeline_tests.database.test_contract_cache import info

END = datetime(2026, 11, 19, 21, 15, tzinfo=UTC)
PRICES = {"BIG": 900.0, "SMALL": 20.0, "BROKEN": 950.0}


def spec(when: str = "screened", screen: str = "close > 500"):
    universe = ", ".join(f"{{symbol: {s}}}" for s in PRICES)
    return parse_strategy(
        f"""
name: bars_plan
universe: [{universe}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}}
timeframes:
  - {{name: weekly, bar_size: 1 week, lookback: 2 Y}}
  - {{name: daily, bar_size: 1 day, lookback: 1 Y}}
indicators: [{{kind: rsi, params: {{length: 14}}}}]
chart: {{when: {when}}}
signal: {{mode: llm, timeframe: daily, sell: "close < 0"}}
llm: {{screen: "{screen}"}}
""",
        Path("bars_plan.yaml"),
    )


def answer(request: BarsRequest) -> pd.DataFrame | IBKRError:
    symbol = request.contract.symbol
    if symbol == "BROKEN":
        return IBKRError("HMDS query returned no data", 162)
    freq = "W-MON" if request.bar_size == "1 week" else "B"
    stamps = pd.date_range(end="2026-11-19", periods=60, freq=freq, tz="UTC")
    price = PRICES[symbol]
    return pd.DataFrame(
        {"timestamp": stamps, "open": price, "high": price, "low": price, "close": price, "volume": 1.0}
    )


def run(strategy):
    asked: list[tuple[str, str]] = []

    def streamed(items, request_for, on_answer, follow_up):
        """IBKRClient.bars_streamed one item at a time: each answer handled, then its follow-ups."""
        out = []
        for n in items:
            request = request_for(n)
            asked.append((request.contract.symbol, request.bar_size))
            handled = on_answer(n, answer(request))
            out.append(handled)
            out.extend(streamed(follow_up(n, handled) if follow_up else [], request_for, on_answer, follow_up))
        return out

    contracts = {s: info(s, s, n) for n, s in enumerate(PRICES, 1)}
    kept: list[tuple[str, str]] = []
    step = fetch_and_merge(
        strategy, contracts, END, lambda s, tf: empty_bars(), streamed, {}, lambda s, tf, history: kept.append((s, tf))
    )
    return step, asked, kept


def test_the_other_timeframes_are_fetched_only_for_what_the_screen_passes():
    step, asked, kept = run(spec())
    # BIG's weekly bars are asked for as soon as its daily answer passes the screen
    assert asked == [("BIG", "1 day"), ("BIG", "1 week"), ("SMALL", "1 day"), ("BROKEN", "1 day")]
    assert step.requests == 4
    assert kept == [("BIG", "daily"), ("BIG", "weekly"), ("SMALL", "daily")]  # stored as merged; errors keep nothing
    assert {s: sorted(f) for s, f in step.results.values.items()} == {"BIG": ["daily", "weekly"], "SMALL": ["daily"]}
    assert step.new_errors == {"BROKEN": "bars/daily: IB error 162: HMDS query returned no data"}
    assert step.not_fetched == {
        "SMALL": "weekly not fetched: neither charted nor asked about this tick (chart.when: screened)"
    }


def test_every_chart_drawn_fetches_every_timeframe_of_every_symbol():
    step, asked, kept = run(spec(when="always"))
    assert sorted(asked) == sorted((s, size) for s in PRICES for size in ("1 week", "1 day"))
    assert {s: sorted(f) for s, f in step.results.values.items()} == {
        "BIG": ["daily", "weekly"],
        "SMALL": ["daily", "weekly"],
    }
    assert step.not_fetched == {}
