"""Backtest figures: returns, risk-adjusted ratios, drawdown, trades, and the plot a trader looks at first.

Ratios use per-tick returns of the equity curve, annualised by the number of ticks per
year the backtest actually had (252-ish for a weekday daily strategy), risk-free rate 0.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from ibkr_pipeline.backtest.replay_broker import TradeFill


@dataclass(frozen=True)
class Metrics:
    start: datetime
    end: datetime
    start_equity: float
    final_equity: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    volatility: float
    win_rate: float | None
    trades: int
    exposure: float
    time_in_market: float

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RoundTrip:
    symbol: str
    opened: datetime
    closed: datetime
    shares: float
    entry_price: float
    exit_price: float
    pnl: float  # after commissions on both legs
    exit_leg: str


def periods_per_year(index: pd.DatetimeIndex) -> float:
    years = (index[-1] - index[0]).total_seconds() / (365.25 * 86_400)
    return (len(index) - 1) / years if years > 0 else 252.0


def drawdown(equity: pd.Series) -> pd.Series:
    return equity / equity.cummax() - 1.0


def _clean(value: float) -> float:
    return 0.0 if value is None or not math.isfinite(value) else round(float(value), 6)


def metrics(equity: pd.Series, gross: pd.Series | None = None, trips: list[RoundTrip] | None = None) -> Metrics:
    """Figures of an equity curve indexed by UTC time (one point per tick)."""
    if len(equity) < 2:
        raise ValueError("a backtest needs at least two ticks to measure anything")
    returns = equity.pct_change().dropna()
    ppy = periods_per_year(pd.DatetimeIndex(equity.index))
    years = (equity.index[-1] - equity.index[0]).total_seconds() / (365.25 * 86_400)
    total = equity.iloc[-1] / equity.iloc[0] - 1.0
    std = returns.std(ddof=1)
    downside = math.sqrt(float((np.minimum(returns, 0.0) ** 2).mean())) if len(returns) else 0.0
    mean = returns.mean()
    exposure = (gross / equity).fillna(0.0) if gross is not None else pd.Series(0.0, index=equity.index)
    wins = [t for t in trips or [] if t.pnl > 0]
    return Metrics(
        start=equity.index[0].to_pydatetime(),
        end=equity.index[-1].to_pydatetime(),
        start_equity=_clean(equity.iloc[0]),
        final_equity=_clean(equity.iloc[-1]),
        total_return=_clean(total),
        cagr=_clean((equity.iloc[-1] / equity.iloc[0]) ** (1 / years) - 1.0) if years > 0 else 0.0,
        sharpe=_clean(mean / std * math.sqrt(ppy)) if std > 0 else 0.0,
        sortino=_clean(mean / downside * math.sqrt(ppy)) if downside > 0 else 0.0,
        max_drawdown=_clean(drawdown(equity).min()),
        volatility=_clean(std * math.sqrt(ppy)),
        win_rate=round(len(wins) / len(trips), 4) if trips else None,
        trades=len(trips or []),
        exposure=_clean(exposure.mean()),
        time_in_market=_clean((exposure > 0).mean()),
    )


def round_trips(fills: list[TradeFill]) -> list[RoundTrip]:
    """Entries matched first-in first-out with the exits that closed them, per symbol (long only)."""
    open_lots: dict[str, list[list]] = {}
    trips: list[RoundTrip] = []
    for f in sorted(fills, key=lambda f: f.time):
        lots = open_lots.setdefault(f.symbol, [])
        if f.side == "BUY":
            lots.append([f.time, f.shares, f.price, f.commission / f.shares if f.shares else 0.0])
            continue
        remaining = f.shares
        while remaining > 1e-9 and lots:
            opened, shares, price, fee = lots[0]
            take = min(shares, remaining)
            exit_fee = f.commission * take / f.shares
            pnl = (f.price - price) * take - fee * take - exit_fee
            trips.append(RoundTrip(f.symbol, opened, f.time, take, price, f.price, round(pnl, 4), f.leg))
            lots[0][1] -= take
            remaining -= take
            if lots[0][1] <= 1e-9:
                lots.pop(0)
    return trips


def per_symbol(trips: list[RoundTrip]) -> pd.DataFrame:
    if not trips:
        return pd.DataFrame(columns=["symbol", "trades", "wins", "win_rate", "pnl"])
    frame = pd.DataFrame([asdict(t) for t in trips])
    out = (
        frame.groupby("symbol")
        .agg(trades=("pnl", "size"), wins=("pnl", lambda p: int((p > 0).sum())), pnl=("pnl", "sum"))
        .reset_index()
    )
    out["win_rate"] = (out["wins"] / out["trades"]).round(4)
    out["pnl"] = out["pnl"].round(2)
    return out[["symbol", "trades", "wins", "win_rate", "pnl"]]


def buy_and_hold(closes: pd.DataFrame, first_prices: pd.Series, starting_cash: float) -> tuple[pd.Series, pd.Series]:
    """Equal-weight the universe at ``first_prices`` (whole shares), hold, mark at each tick's known closes.

    Returns the equity curve and the invested (gross) value, for exposure."""
    weight = starting_cash / len(first_prices)
    shares = np.floor(weight / first_prices)
    cash = starting_cash - float((shares * first_prices).sum())
    gross = (closes[first_prices.index] * shares).sum(axis=1)
    return gross + cash, gross


def plot(equity: pd.Series, baseline: pd.Series, title: str) -> bytes:
    """Equity of the strategy and the buy-and-hold baseline, with both drawdowns below, as PNG."""
    from ibkr_pipeline.domain.charts import plotting

    plt, _ = plotting()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": (3, 1.4)})
    try:
        index = pd.DatetimeIndex(equity.index).tz_convert("UTC").tz_localize(None)
        top.plot(index, equity.to_numpy(), label="strategy", color="#1f77b4")
        top.plot(index, baseline.to_numpy(), label="buy and hold (equal weight)", color="#7f7f7f", linestyle="--")
        top.set_ylabel("equity")
        top.set_title(title)
        top.legend(loc="upper left")
        top.grid(alpha=0.3)
        bottom.fill_between(index, drawdown(equity).to_numpy() * 100, 0, color="#d62728", alpha=0.4, label="strategy")
        bottom.plot(index, drawdown(baseline).to_numpy() * 100, color="#7f7f7f", linestyle="--", label="buy and hold")
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def decision_counts(ticks: list) -> tuple[dict[str, int], dict[str, int]]:
    """How many signals of each action the ticks produced, and what became of them (placed, or why not), with
    each symbol's name taken out so that the same reason counts once."""
    signals: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for tick in ticks:
        signals.update(tick.signals.values())
        for symbol, summary in tick.decisions.items():
            outcomes[summary.removeprefix(f"{symbol}: ").replace(f" {symbol} ", " ")] += 1
    return dict(signals.most_common()), dict(outcomes.most_common())


def why_no_trades(signals: dict[str, int], outcomes: dict[str, int]) -> str:
    """The reason a backtest made no trade, from its counts."""
    if not any(signals.get(a) for a in ("BUY", "SELL")):
        return (
            f"no BUY or SELL signal in {sum(signals.values())} signals (all HOLD): the rules never fired, "
            "or the analyst never agreed"
        )
    shown = "; ".join(f"{reason} ×{n}" for reason, n in list(outcomes.items())[:5])
    return f"{signals.get('BUY', 0)} BUY and {signals.get('SELL', 0)} SELL signals, none traded: {shown}"
