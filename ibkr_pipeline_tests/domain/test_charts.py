"""A chart is drawn into a figure its process keeps: nothing drawn before it may show in its bytes."""

import io
import multiprocessing

import pandas as pd
from PIL import Image

from ibkr_pipeline.domain import charts
from ibkr_pipeline.exchange.market import SyntheticMarket
from ibkr_pipeline.exchange.universe import Universe


def frame(symbol: str, last: int) -> pd.DataFrame:
    market = SyntheticMarket(Universe.default())
    bars = market.daily_bars(market.universe.by_symbol(symbol), True, last - 200, last)
    bars["timestamp"] = [pd.Timestamp(market.calendar.days[i], tz="UTC") for i in bars.index]
    bars = bars.reset_index(drop=True)
    bars["sma_20"] = bars["close"].rolling(20).mean()
    bars["rsi_14"] = 50 + (bars["close"].diff().rolling(14).mean() / bars["close"]).fillna(0) * 1000
    return bars


def aapl_in_a_new_process() -> bytes:
    return charts.render_chart(frame("AAPL", 2200), "AAPL daily", ["sma_20"], ["rsi_14"], 60)


def test_a_chart_is_the_same_bytes_whatever_was_drawn_before_it_in_the_process():
    aapl, msft = frame("AAPL", 2200), frame("MSFT", 2150)
    with multiprocessing.get_context("spawn").Pool(1) as fresh:
        first = fresh.apply(aapl_in_a_new_process)  # drawn on a figure nothing was drawn on before
    charts.render_chart(aapl, "AAPL daily", ["sma_20"], ["rsi_14"], 60)
    charts.render_chart(msft, "MSFT daily", ["sma_20"], ["rsi_14"], 90)  # same figure, other data
    charts.render_chart(msft, "MSFT daily", [], [], 60, style="charles")  # another style: its own settings
    charts.render_chart(msft, "MSFT daily", ["sma_20"], ["rsi_14", "sma_20"], 60, style="nightclouds")
    assert charts.render_chart(aapl, "AAPL daily", ["sma_20"], ["rsi_14"], 60) == first
    assert charts.render_chart(msft, "MSFT daily", ["sma_20"], ["rsi_14"], 60) != first


def test_a_chart_is_sized_for_the_vision_models_tiles():
    for panels, height in (([], 512), (["rsi_14"], 640), (["rsi_14", "sma_20"], 768)):
        png = charts.render_chart(frame("AAPL", 2200), "AAPL daily", ["sma_20"], panels, 60)
        with Image.open(io.BytesIO(png)) as image:
            assert image.size == (1024, height)
