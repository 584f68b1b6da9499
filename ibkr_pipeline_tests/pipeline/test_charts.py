"""Charts drawn in worker processes are the serial charts, byte for byte; chart.when chooses who is drawn."""

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ibkr_pipeline.domain.results import SymbolResults
from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline.exchange.market import SyntheticMarket
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline.objects.object_store import LocalObjectStore
from ibkr_pipeline.pipeline import charts as charts_step
from ibkr_pipeline.pipeline.charts import PARALLEL_FROM, draw_charts
from ibkr_pipeline.pipeline.indicators import compute_indicators

AS_OF = datetime(2026, 11, 17, 21, 15, tzinfo=UTC)
SYMBOLS = ["AAPL", "MSFT", "SPY", "NVDA", "AMZN"]


def spec_text(when: str = "always", rules: str = 'buy: "rsi_14 < 101", sell: "rsi_14 < 0"') -> str:
    return f"""
name: charts_test
universe: [{", ".join(f"{{symbol: {s}}}" for s in SYMBOLS)}]
schedule: {{cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}}
indicators:
  - {{kind: sma, params: {{length: 20}}}}
  - {{kind: rsi, params: {{length: 14}}}}
  - {{kind: atr, params: {{length: 14}}, name: atr_14}}
chart: {{overlays: [sma_20], panels: [rsi_14], bars: 60, when: {when}}}
signal: {{{rules}, atr: atr_14}}
"""


def bars() -> SymbolResults:
    market = SyntheticMarket(Universe.default())
    values = {}
    for symbol in SYMBOLS:
        inst = market.universe.by_symbol(symbol)
        daily = market.daily_bars(inst, True, 2000, 2200)
        daily["timestamp"] = [pd.Timestamp(market.calendar.days[i], tz="UTC") for i in daily.index]
        daily = daily.reset_index(drop=True)[["timestamp", "open", "high", "low", "close", "volume"]]
        weekly = (
            daily.set_index("timestamp")
            .resample("W-FRI")
            .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
            .dropna()
            .reset_index()
        )
        values[symbol] = {"daily": daily, "weekly": weekly}
    return SymbolResults(values, {})


def draw(spec, indicators, root: Path, workers: int):
    store = LocalObjectStore(root)
    return store, draw_charts(spec, indicators, store, lambda s, tf: f"{s}/{tf}.png", AS_OF, workers=workers)


def test_charts_drawn_by_two_workers_are_the_serial_charts_byte_for_byte(tmp_path):
    spec = parse_strategy(spec_text(), Path("charts.yaml"))
    indicators = compute_indicators(spec, bars()).results
    assert len(SYMBOLS) * 2 >= PARALLEL_FROM  # enough charts for the worker pool
    serial_store, serial = draw(spec, indicators, tmp_path / "serial", workers=1)
    assert 2 not in charts_step._pools
    parallel_store, parallel = draw(spec, indicators, tmp_path / "parallel", workers=2)
    assert 2 in charts_step._pools  # drawn by the pool's worker processes

    assert serial.new_errors == parallel.new_errors == {}

    def digests(step):
        return {s: {tf: (r["key"], r["sha256"]) for tf, r in refs.items()} for s, refs in step.results.values.items()}

    assert digests(serial) == digests(parallel)
    keys = [ref["key"] for refs in serial.results.values.values() for ref in refs.values()]
    assert len(keys) == 10
    for key in keys:
        png = serial_store.get(key)
        assert png is not None and png.startswith(b"\x89PNG") and png == parallel_store.get(key)
    # the gallery shows the first charts as thumbnails, in the universe's order
    assert [(c.symbol, c.timeframe) for c in parallel.drawn][:2] == [("AAPL", "daily"), ("AAPL", "weekly")]
    assert all(c.thumbnail and c.thumbnail.startswith(b"\x89PNG") for c in parallel.drawn)


def test_chart_when_signals_draws_only_what_the_rules_would_trade(tmp_path):
    spec = parse_strategy(spec_text("always"), Path("charts.yaml"))
    indicators = compute_indicators(spec, bars()).results
    last_close = {s: float(f["daily"]["close"].iloc[-1]) for s, f in indicators.values.items()}
    cheapest = min(last_close, key=last_close.__getitem__)
    rule = f'buy: "close < {last_close[cheapest] + 0.01}", sell: "close < 0"'
    spec = parse_strategy(spec_text("signals", rule), Path("charts.yaml"))
    _, step = draw(spec, indicators, tmp_path, workers=1)
    assert {s for s, refs in step.results.values.items() if refs} == {cheapest}
    assert set(step.results.values) == set(SYMBOLS) and step.new_errors == {}
    assert sorted(step.not_drawn) == sorted(s for s in SYMBOLS if s != cheapest)


def test_a_symbol_whose_chart_fails_is_named_and_keeps_nothing_half_drawn(tmp_path):
    spec = parse_strategy(spec_text(), Path("charts.yaml"))
    indicators = compute_indicators(spec, bars()).results
    broken = dict(indicators.values)
    weekly = broken["MSFT"]["weekly"].copy()
    weekly["open"] = "not a price"
    broken["MSFT"] = {"daily": broken["MSFT"]["daily"], "weekly": weekly}
    _, step = draw(spec, SymbolResults(broken, {}), tmp_path, workers=1)
    assert set(step.new_errors) == {"MSFT"} and step.new_errors["MSFT"].startswith("charts: weekly: ")
    assert "MSFT" not in step.results.values and step.results.errors["MSFT"] == step.new_errors["MSFT"]
    assert all(c.symbol != "MSFT" for c in step.drawn)


def _draw_in_a_child(root: str) -> None:
    spec = parse_strategy(spec_text(), Path("charts.yaml"))
    indicators = compute_indicators(spec, bars()).results
    draw(spec, indicators, Path(root), workers=2)


def drawn_in_a_child(root, daemon: bool) -> int:
    """The child's exit code once it has ended; a guard (not a measurement) kills a child that hangs."""
    child = multiprocessing.get_context("spawn").Process(target=_draw_in_a_child, args=(str(root),), daemon=daemon)
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        return -1
    return child.exitcode


def test_a_process_that_drew_in_parallel_exits_as_a_dagster_step_process_does(tmp_path):
    """A Dagster step runs in a multiprocessing child, whose exit joins the child's own children: the chart
    workers must be shut down by then, or the step never ends."""
    assert drawn_in_a_child(tmp_path, daemon=False) == 0
    assert len(list(tmp_path.rglob("*.png"))) == 10


def test_a_daemonic_process_draws_its_charts_itself(tmp_path):
    """A step in a Celery prefork worker runs in a daemonic process, which may not start chart workers."""
    assert drawn_in_a_child(tmp_path, daemon=True) == 0
    assert len(list(tmp_path.rglob("*.png"))) == 10
