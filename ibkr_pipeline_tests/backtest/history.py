"""Daily history for backtest tests, from the simulator's own synthetic market."""

from datetime import datetime
from pathlib import Path

import pandas as pd

from ibkr_pipeline.assets.backtest import _offline_contract
from ibkr_pipeline.assets.ticks import partitions_for, tick_instants
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.exchange.market import SyntheticMarket
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline.pipeline.analysis import analyst_for
from ibkr_pipeline.resources.llm import LLMResource
from ibkr_pipeline.resources.objects import ObjectStoreResource

STRATEGY = """
name: bt_test
universe: [{symbol: AAPL}, {symbol: MSFT}, {symbol: XOM}, {symbol: JNJ}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York, start: 2024-01-01}
timeframes:
  - {name: daily, bar_size: 1 day, lookback: 6 M}
  - {name: weekly, bar_size: 1 week, lookback: 1 Y}
indicators:
  - {kind: sma, params: {length: 20}}
  - {kind: rsi, params: {length: 14}}
  - {kind: atr, params: {length: 14}, name: atr_14}
signal: {mode: llm, atr: atr_14}
order: {entry: MKT, sizing: pct_equity, pct_equity: 10}
risk: {max_position_pct: 20, min_confidence: 0.5}
backtest: {starting_cash: 100000, slippage_bps: 5, commission_per_share: 0.01, min_commission: 2}
"""


def spec(text: str = STRATEGY):
    return parse_strategy(text, Path("bt_test.yaml"))


def synthetic_daily(symbols: list[str], until: datetime) -> dict[str, pd.DataFrame]:
    universe = Universe.default()
    market = SyntheticMarket(universe)
    cal = market.calendar
    out = {}
    for symbol in symbols:
        frame = market.daily_bars(universe.by_symbol(symbol), True, 0, cal.last_index_started_by(until))
        out[symbol] = pd.DataFrame(
            {
                "timestamp": [pd.Timestamp(cal.days[i], tz="UTC") for i in frame.index],
                **{c: frame[c].to_numpy() for c in ("open", "high", "low", "close", "volume")},
            }
        )
    return out


def ticks(strategy, first: str, last: str) -> list[tuple[str, datetime]]:
    import dagster as dg

    parts = partitions_for(strategy)
    keys = parts.get_partition_keys_in_range(dg.PartitionKeyRange(first, last))
    return tick_instants(parts, keys)


def contracts(strategy):
    return {u.symbol: _offline_contract(u.symbol) for u in strategy.universe}


def offline_analyst(strategy, tmp_path: Path):
    return analyst_for(
        strategy, LLMResource(), None, ObjectStoreResource(local_dir=str(tmp_path / "objects")), contracts(strategy)
    )
