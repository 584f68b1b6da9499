"""Chart rendering per image and indicators per symbol, against matplotlib and TA-Lib floors."""

from __future__ import annotations

import io
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import talib  # noqa: E402

from bench.common import strategy  # noqa: E402
from bench.figures import figure  # noqa: E402
from ibkr_pipeline.domain import charts  # noqa: E402
from ibkr_pipeline.domain import indicators as ind  # noqa: E402
from ibkr_pipeline.exchange.market import SyntheticMarket  # noqa: E402
from ibkr_pipeline.exchange.universe import Universe  # noqa: E402

REPEAT = 5


def _frame() -> pd.DataFrame:
    market = SyntheticMarket(Universe.default())
    inst = market.universe.by_symbol("AAPL")
    bars = market.daily_bars(inst, True, 1700, 2200)
    bars["timestamp"] = [pd.Timestamp(market.calendar.days[i], tz="UTC") for i in bars.index]
    return bars.reset_index(drop=True)[["timestamp", "open", "high", "low", "close", "volume"]]


def _best(fn, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run() -> list[dict]:
    spec = strategy("bench", 1)
    frame = _frame()
    indexed = frame.set_index("timestamp")

    def ours_indicators():
        return pd.concat(
            [indexed] + [ind.compute_one(indexed, i.kind, i.params, i.name) for i in spec.indicators], axis=1
        )

    h, lo, c = indexed["high"].to_numpy(), indexed["low"].to_numpy(), indexed["close"].to_numpy()

    def talib_floor():
        talib.SMA(c, 50), talib.EMA(c, 20), talib.RSI(c, 14), talib.MACD(c, 12, 26, 9), talib.ATR(h, lo, c, 14)

    full = ours_indicators().reset_index()
    chart_data = full.tail(spec.chart.bars)

    def ours_chart():
        charts.render_chart(full, "AAPL daily", spec.chart.overlays, spec.chart.panels, spec.chart.bars)

    def matplotlib_floor():
        panels = len(spec.chart.panels)
        ratios = [*charts.MAIN_RATIOS, *(charts.PANEL_RATIO,) * panels]
        fig, axes = plt.subplots(
            2 + panels, 1, figsize=charts.figure_size(panels), sharex=True, gridspec_kw={"height_ratios": ratios}
        )
        x = range(len(chart_data))
        axes[0].vlines(x, chart_data["low"], chart_data["high"], color="k", linewidth=0.6)
        axes[0].bar(x, chart_data["close"] - chart_data["open"], bottom=chart_data["open"], width=0.6)
        for col in spec.chart.overlays:
            axes[0].plot(x, chart_data[col])
        axes[1].bar(x, chart_data["volume"])
        axes[2].plot(x, chart_data["rsi_14"])
        axes[3].plot(x, chart_data["macd_12_26_9"])
        fig.tight_layout()  # as ours: laid out once, saved without a second "tight" draw
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=charts.DPI, pil_kwargs=charts.PNG_SAVE)
        plt.close(fig)

    ours_i, floor_i = _best(ours_indicators), _best(talib_floor, 20)
    ours_c, floor_c = _best(ours_chart, 3), _best(matplotlib_floor, 3)
    return [
        figure("indicators per symbol (s)", ours_i, detail=f"5 indicators, {len(indexed)} bars"),
        figure(
            "indicators / TA-Lib floor", ours_i / floor_i, detail=f"floor {floor_i * 1000:.2f} ms (direct talib calls)"
        ),
        figure("chart render per image (s)", ours_c, detail="mplfinance, 2 overlays, 2 panels, PNG"),
        figure(
            "chart / matplotlib floor",
            ours_c / floor_c,
            1.2,
            detail=f"floor {floor_c:.3f} s (plain matplotlib, same panels, same size and save)",
        ),
    ]
