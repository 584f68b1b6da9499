"""Backtest figures against values worked out by hand."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ibkr_pipeline.backtest import report
from ibkr_pipeline.backtest.replay_broker import TradeFill


def curve(values: list[float], step_days: int = 1) -> pd.Series:
    start = datetime(2025, 1, 1, 21, 15, tzinfo=UTC)
    return pd.Series(
        values, index=pd.DatetimeIndex([start + timedelta(days=step_days * i) for i in range(len(values))])
    )


def test_return_drawdown_and_ratios():
    equity = curve([100.0, 110.0, 99.0, 121.0, 108.9])
    m = report.metrics(equity, gross=curve([0.0, 55.0, 49.5, 0.0, 0.0]))
    returns = np.array([0.10, -0.10, 121 / 99 - 1, 108.9 / 121 - 1])
    ppy = 4 / (4 / 365.25)
    assert m.total_return == pytest.approx(0.089)
    assert m.max_drawdown == pytest.approx(-0.10)  # 110 -> 99 (and 121 -> 108.9)
    assert m.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(ppy), rel=1e-5)
    downside = math.sqrt((np.minimum(returns, 0) ** 2).mean())
    assert m.sortino == pytest.approx(returns.mean() / downside * math.sqrt(ppy), rel=1e-5)
    assert m.cagr == pytest.approx(1.089 ** (365.25 / 4) - 1, rel=1e-5)
    assert m.exposure == pytest.approx((0.5 + 0.5) / 5)
    assert m.time_in_market == pytest.approx(2 / 5)


def test_round_trips_pair_exits_with_entries_first_in_first_out():
    t = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    fills = [
        TradeFill(t, "AAA", "BUY", 10, 100.0, 1.0, None, "r1", "entry"),
        TradeFill(t + timedelta(days=1), "AAA", "BUY", 10, 110.0, 1.0, None, "r2", "entry"),
        TradeFill(t + timedelta(days=2), "AAA", "SELL", 15, 120.0, 1.5, 0.0, "r1", "target"),
        TradeFill(t + timedelta(days=3), "AAA", "SELL", 5, 90.0, 1.0, 0.0, "r2", "stop"),
    ]
    trips = report.round_trips(fills)
    assert [(x.shares, x.entry_price, x.exit_price) for x in trips] == [
        (10, 100.0, 120.0),
        (5, 110.0, 120.0),
        (5, 110.0, 90.0),
    ]
    assert trips[0].pnl == pytest.approx(200 - 1.0 - 1.0)  # both commissions, the exit's pro rata
    assert trips[2].pnl == pytest.approx(-100 - 0.5 - 1.0)
    table = report.per_symbol(trips)
    assert table.to_dict("records") == [
        {"symbol": "AAA", "trades": 3, "wins": 2, "win_rate": 0.6667, "pnl": round(sum(x.pnl for x in trips), 2)}
    ]


def test_buy_and_hold_buys_whole_shares_equally_and_keeps_the_rest_in_cash():
    closes = pd.DataFrame({"A": [10.0, 20.0], "B": [30.0, 15.0]}, index=curve([0, 0]).index)
    equity, gross = report.buy_and_hold(closes, closes.iloc[0], 1000.0)
    # 500 each: 50 A (500), 16 B (480), 20 cash
    assert equity.tolist() == [1000.0, 50 * 20 + 16 * 15 + 20]
    assert gross.tolist() == [980.0, 50 * 20 + 16 * 15]


def test_the_plot_is_a_png():
    png = report.plot(curve([100, 105, 103]), curve([100, 101, 102]), "t")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
