"""The fast backtest decides exactly as the tick-by-tick one, and still never reads the future."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs
from ibkr_pipeline.backtest.runner import FAST_PATH, run_backtest, run_fast_backtest
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline_tests.backtest.history import contracts, offline_analyst, spec, synthetic_daily, ticks

UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
COSTS = Costs(slippage_bps=3, commission_per_share=0.005, min_commission=1.0)


def _rules_strategy(symbols: int):
    universe = ", ".join(f"{{symbol: {s}}}" for s in Universe.default().symbols[:symbols])
    return parse_strategy(
        f"""
name: parity
universe: [{universe}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: 2024-01-01}}
timeframes: [{{name: daily, bar_size: 1 day, lookback: 1 Y}}]
indicators:
  - {{kind: sma, params: {{length: 50}}}}
  - {{kind: rsi, params: {{length: 14}}}}
  - {{kind: atr, params: {{length: 14}}, name: atr_14}}
signal: {{mode: rules, buy: "rsi_14 < 45 and close > sma_50", sell: "rsi_14 > 62", atr: atr_14}}
risk: {{max_open_positions: 8, max_position_pct: 10}}
""",
        Path("parity.yaml"),
    )


def _both(strategy, period, history, analyst):
    slow = run_backtest(strategy, period, PointInTimeBars(history), contracts(strategy), analyst, COSTS, 100_000)
    fast = run_fast_backtest(strategy, period, PointInTimeBars(history), contracts(strategy), COSTS, 100_000)
    return slow, fast


def _assert_same(slow, fast):
    assert fast.path == FAST_PATH and slow.path == "tick by tick"
    assert fast.fills == slow.fills
    assert fast.rejections == slow.rejections and fast.orders_sent == slow.orders_sent
    for a, b in zip(slow.ticks, fast.ticks, strict=True):  # equity, cash, positions, signals, decisions per tick
        assert a == b, a.tick


def test_a_year_of_twenty_symbols_trades_the_same_to_the_cent_fast_or_tick_by_tick(tmp_path):
    strategy = _rules_strategy(20)
    period = ticks(strategy, "2025-11-17-16:15", "2026-11-16-16:15")
    history = synthetic_daily([u.symbol for u in strategy.universe], UNTIL)
    slow, fast = _both(strategy, period, history, offline_analyst(strategy, tmp_path))
    assert len(period) >= 250 and len(slow.fills) > 30, "the comparison means something only if it trades"
    _assert_same(slow, fast)
    assert fast.per_tick_indicators == {}  # a year of bars: every indicator a decision reads is read whole


def test_the_offline_analyst_with_weekly_bars_and_indicators_recomputed_per_tick_decides_the_same(tmp_path):
    strategy = spec()  # llm mode with the offline analyst; six months of daily bars and a weekly timeframe
    period = ticks(strategy, "2026-03-02-16:15", "2026-06-30-16:15")
    history = synthetic_daily([u.symbol for u in strategy.universe], UNTIL)
    slow, fast = _both(strategy, period, history, offline_analyst(strategy, tmp_path))
    assert slow.fills, "the comparison means something only if it trades"
    _assert_same(slow, fast)
    assert set(fast.per_tick_indicators) == {"rsi(length=14)", "atr_14(length=14)"}


def test_a_planted_future_bar_changes_nothing_in_a_fast_backtest():
    strategy = _rules_strategy(6)
    period = ticks(strategy, "2026-03-02-16:15", "2026-06-30-16:15")
    last_known = period[-1][1]
    clean = synthetic_daily([u.symbol for u in strategy.universe], last_known)
    future = {}
    for symbol, frame in clean.items():
        later = synthetic_daily([symbol], UNTIL)[symbol]
        later = later[later["timestamp"] > frame["timestamp"].iloc[-1]].copy()
        later[["open", "high", "low", "close"]] *= 3.0  # a very different future
        future[symbol] = pd.concat([frame, later], ignore_index=True)
    base = run_fast_backtest(strategy, period, PointInTimeBars(clean), contracts(strategy), COSTS, 100_000)
    other = PointInTimeBars(future)
    changed = run_fast_backtest(strategy, period, other, contracts(strategy), COSTS, 100_000)
    assert base.fills, "the strategy must trade for the comparison to mean something"
    assert changed.fills == base.fills and changed.ticks == base.ticks
    assert other.latest_served <= pd.Timestamp(last_known.date(), tz="UTC")


def test_a_strategy_that_reads_charts_is_refused_the_fast_path():
    strategy = spec(
        open(Path(__file__).with_name("history.py"))
        .read()
        .split('STRATEGY = """')[1]
        .split('"""')[0]
        .replace("signal: {mode: llm, atr: atr_14}", "signal: {mode: llm, timeframe: weekly}")
    )
    with pytest.raises(ValueError, match="not daily"):
        run_fast_backtest(
            strategy,
            ticks(strategy, "2026-03-02-16:15", "2026-03-06-16:15"),
            PointInTimeBars(synthetic_daily(["AAPL"], UNTIL)),
            contracts(strategy),
            COSTS,
            100_000,
        )
