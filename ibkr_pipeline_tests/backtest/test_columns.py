"""The fast backtest's columns: the causality check, and point-in-time reads that match the tick-by-tick view."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ibkr_pipeline.backtest.columns import (
    SymbolColumns,
    causality_problems,
    check_indicators,
    fast_path_refusal,
    needed_indicators,
)
from ibkr_pipeline.backtest.point_in_time import PointInTimeBars
from ibkr_pipeline.domain import indicators as ind
from ibkr_pipeline_tests.backtest.history import STRATEGY, spec, synthetic_daily, ticks

UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
WINDOWS = [(0, 150), (40, 260), (200, 420), (300, 600)]


@pytest.fixture(scope="module")
def daily() -> pd.DataFrame:
    return PointInTimeBars(synthetic_daily(["AAPL"], UNTIL)).full_daily("AAPL")


def _pandas_ta(kind: str, **params):
    spec = type("Spec", (), {"kind": kind, "params": params, "name": None})()
    return lambda bars: ind.with_indicators(bars, [spec]).drop(columns=["timestamp", *ind.PRICE_COLUMNS])


@pytest.mark.parametrize(
    "kind, params",
    [("sma", {"length": 20}), ("rsi", {"length": 14}), ("atr", {"length": 14}), ("bbands", {"length": 20})],
)
def test_causal_indicators_pass(daily, kind, params):
    assert causality_problems(_pandas_ta(kind, **params), daily, WINDOWS) == {}


def test_a_centred_window_looks_ahead_and_is_caught(daily):
    centred = lambda bars: bars[["close"]].rolling(9, center=True).mean().rename(columns={"close": "centred_9"})  # noqa: E731
    problems = causality_problems(centred, daily, WINDOWS)
    assert list(problems) == ["centred_9"]
    assert "on the bars known then" in problems["centred_9"] and "on the whole history" in problems["centred_9"]


def test_an_ema_seeded_inside_a_short_window_depends_on_where_the_window_starts(daily):
    assert "ema_50" in causality_problems(_pandas_ta("ema", length=50), daily, [(300, 380), (400, 470)])


def test_an_indicator_shifted_into_the_past_is_recomputed_per_tick_with_its_name():
    strategy = spec(
        STRATEGY.replace(
            "{kind: sma, params: {length: 20}}", "{kind: sma, params: {length: 20, offset: -3}, name: peek}"
        ).replace("signal: {mode: llm, atr: atr_14}", "signal: {mode: rules, buy: 'close > peek', atr: atr_14}")
    )
    history = PointInTimeBars(synthetic_daily(["AAPL", "MSFT"], UNTIL))
    period = [end for _, end in ticks(strategy, "2026-06-01-16:15", "2026-08-31-16:15")]
    failing, causality = check_indicators(strategy, history, ["AAPL", "MSFT"], period)
    assert "peek" in [f.name for f in failing]
    assert causality.per_tick[0] == "peek(length=20, offset=-3)"
    assert causality.problems["peek(length=20, offset=-3)"].startswith("AAPL: peek at 2026-06-01 it is nan on the bars")
    # Wilder's ATR seeded six months back still differs by 1e-5 from the whole history's: recomputed, not trusted.
    assert "atr_14(length=14)" in causality.per_tick
    one_year = spec(
        STRATEGY.replace("lookback: 6 M", "lookback: 1 Y").replace(
            "signal: {mode: llm, atr: atr_14}", "signal: {mode: rules, buy: 'rsi_14 < 30', atr: atr_14}"
        )
    )
    assert check_indicators(one_year, history, ["AAPL", "MSFT"], period)[1].per_tick == ()


def test_only_the_columns_decisions_read_are_computed():
    strategy = spec()  # llm mode: the offline analyst reads the first RSI column; the rules read none; ATR for stops
    assert [i.kind for i in needed_indicators(strategy)] == ["rsi", "atr"]
    rules = spec(
        STRATEGY.replace(
            "signal: {mode: llm, atr: atr_14}", "signal: {mode: rules, buy: 'close > sma_20', atr: atr_14}"
        )
    )
    assert [i.kind for i in needed_indicators(rules)] == ["sma", "atr"]


def test_the_fast_path_is_refused_when_charts_or_an_llm_are_read_or_the_signal_is_not_daily():
    strategy = spec()
    assert fast_path_refusal(strategy, "offline", charts=False) == ""
    assert "charts" in fast_path_refusal(strategy, "offline", charts=True)
    assert "llm analyst" in fast_path_refusal(strategy, "llm", charts=False)
    weekly = spec(STRATEGY.replace("signal: {mode: llm, atr: atr_14}", "signal: {mode: llm, timeframe: weekly}"))
    assert "not daily" in fast_path_refusal(weekly, "offline", charts=False)


def test_values_and_closes_read_at_a_tick_equal_the_tick_by_tick_frames():
    strategy = spec()
    symbol = "MSFT"
    history = PointInTimeBars(synthetic_daily([symbol], UNTIL))
    specs = needed_indicators(strategy)
    period = ticks(strategy, "2026-01-02-16:15", "2026-11-19-16:15")[::7]
    failing, _ = check_indicators(strategy, history, [symbol], [end for _, end in period])
    assert failing  # six months of daily bars: Wilder's smoothing still remembers where its window began
    columns = SymbolColumns(strategy, history.full_daily(symbol), [s for s in specs if s not in failing], failing)
    daily_tf, weekly_tf = strategy.timeframe("daily"), strategy.timeframe("weekly")
    checked = 0
    for _, end in period:
        history.advance_to(end)
        known = history.known_count(symbol, end)
        lo, hi = columns.window(known, end, daily_tf.lookback)
        frame = ind.with_indicators(history.bars(symbol, "1 day", end, daily_tf.lookback), specs)
        expected = ind.latest_values(frame.drop(columns="timestamp"))
        got = columns.values(lo, hi)
        assert got.keys() <= expected.keys()
        for name, value in got.items():
            assert value == pytest.approx(expected[name], rel=1e-6), (end, name)
        assert hi - lo == len(frame)
        weekly = history.bars(symbol, "1 week", end, weekly_tf.lookback)["close"].to_numpy()
        assert np.array_equal(columns.closes(weekly_tf, known, end), weekly[-50:])
        assert np.array_equal(columns.closes(daily_tf, known, end), frame["close"].to_numpy()[-50:])
        checked += 1
    assert checked > 30
