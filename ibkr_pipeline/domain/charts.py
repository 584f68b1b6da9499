"""Candlestick charts with indicator overlays and panels (mplfinance, headless)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from PIL import Image

OVERLAY_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
PANEL_COLORS = ("#2ca02c", "#d62728", "#7f7f7f", "#bcbd22")


@dataclass(frozen=True)
class ChartImages:
    full: bytes
    thumbnail: bytes


def plotting():
    """matplotlib (headless) and mplfinance, imported on first use: they are slow to import."""
    import logging

    import matplotlib

    matplotlib.use("Agg")
    # mplfinance's styles ask for a 'semibold' DejaVu weight the font lacks; matplotlib substitutes bold and logs it.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    import matplotlib.pyplot as plt
    import mplfinance as mpf

    return plt, mpf


def _frame_for_mpf(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.set_index("timestamp").rename(
        columns={c: c.capitalize() for c in ("open", "high", "low", "close", "volume")}
    )
    out.index = pd.DatetimeIndex(out.index).tz_convert("UTC").tz_localize(None)
    return out


def render_chart(
    frame: pd.DataFrame,
    title: str,
    overlays: list[str],
    panels: list[str],
    bars: int = 120,
    style: str = "yahoo",
) -> bytes:
    """PNG candlesticks of the last ``bars`` rows with volume, overlays and one panel per indicator.

    The same input gives the same bytes, in this process or a worker's (``pipeline.charts`` relies on it)."""
    plt, mpf = plotting()
    data = _frame_for_mpf(frame.tail(bars))
    addplots = []
    for n, column in enumerate(c for c in overlays if c in data and data[c].notna().any()):
        addplots.append(mpf.make_addplot(data[column], color=OVERLAY_COLORS[n % len(OVERLAY_COLORS)], width=1.0))
    panel_columns = [c for c in panels if c in data and data[c].notna().any()]
    for n, column in enumerate(panel_columns):
        addplots.append(
            mpf.make_addplot(
                data[column], panel=2 + n, color=PANEL_COLORS[n % len(PANEL_COLORS)], ylabel=column, width=1.0
            )
        )
    ratios = (4, 1) + (1.2,) * len(panel_columns)
    extra = {"addplot": addplots} if addplots else {}
    fig, axes = mpf.plot(
        data[["Open", "High", "Low", "Close", "Volume"]],
        type="candle",
        style=style,
        volume=True,
        panel_ratios=ratios,
        **extra,
        figsize=(12, 6 + 1.5 * len(panel_columns)),
        title=title,
        returnfig=True,
        warn_too_much_data=10_000,
        # Margins set here, before drawing: bbox_inches="tight" at save time would draw the figure twice.
        scale_padding={"left": 0.25, "right": 0.9, "top": 0.6, "bottom": 0.6},
    )
    if overlays:
        shown = [c for c in overlays if c in data and data[c].notna().any()]
        if shown:
            axes[0].legend(
                [plt.Line2D([0], [0], color=OVERLAY_COLORS[i % len(OVERLAY_COLORS)]) for i in range(len(shown))],
                shown,
                loc="upper left",
                fontsize=8,
            )
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=100)
    plt.close(fig)
    return full.getvalue()


def thumbnail(png: bytes, width: int) -> bytes:
    """A downscaled copy for inline display in the Dagster UI (resampled, not re-rendered)."""
    with Image.open(io.BytesIO(png)) as image:
        height = round(image.height * width / image.width)
        small = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS).quantize(colors=64)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def chart_title(symbol: str, timeframe: str, frame: pd.DataFrame) -> str:
    last = frame.iloc[-1]
    stamp = pd.Timestamp(last["timestamp"]).strftime("%Y-%m-%d")
    return f"{symbol}  {timeframe}  last close {last['close']:.2f}  ({stamp})"


@dataclass(frozen=True)
class FillMark:
    at: datetime
    side: str
    price: float


LEVEL_STYLES = {
    "entry": "#1f77b4",
    "stop": "#d62728",
    "target": "#2ca02c",
    "support": "#7f7f7f",
    "resistance": "#bcbd22",
}


def render_trade_chart(
    frame: pd.DataFrame,
    title: str,
    levels: dict[str, list[float]],
    fills: list[FillMark],
    tick_at: datetime,
    bars: int = 80,
) -> ChartImages:
    """An order on its chart: candles up to the tick and after, the tick as a vertical line, the entry,
    stop, target, support and resistance as horizontal lines, and each fill as a marker at its bar."""
    plt, mpf = plotting()
    data = _frame_for_mpf(frame)
    tick = pd.Timestamp(tick_at).tz_convert("UTC").tz_localize(None)
    before, after = data[data.index <= tick].tail(bars), data[data.index > tick]
    data = pd.concat([before, after])
    if data.empty:
        raise ValueError(f"{title}: no bars to draw")
    addplots = []
    for side, marker, color in (("BUY", "^", "#2ca02c"), ("SELL", "v", "#d62728")):
        series = pd.Series(float("nan"), index=data.index)
        for fill in (f for f in fills if f.side == side):
            at = pd.Timestamp(fill.at).tz_convert("UTC").tz_localize(None)
            position = max(int(data.index.searchsorted(at, side="right")) - 1, 0)
            series.iloc[position] = fill.price
        if series.notna().any():
            addplots.append(mpf.make_addplot(series, type="scatter", marker=marker, markersize=120, color=color))
    lines = [(name, price) for name, prices in levels.items() for price in prices if price]
    extra: dict = {"addplot": addplots} if addplots else {}
    if lines:
        extra["hlines"] = {
            "hlines": [p for _, p in lines],
            "colors": [LEVEL_STYLES[n] for n, _ in lines],
            "linestyle": "--",
            "linewidths": 1.0,
        }
    if before.index.size and after.index.size:
        extra["vlines"] = {"vlines": [before.index[-1]], "colors": ["#444444"], "linestyle": ":", "linewidths": 1.0}
    fig, axes = mpf.plot(
        data[["Open", "High", "Low", "Close", "Volume"]],
        type="candle",
        style="yahoo",
        volume=True,
        figsize=(12, 6),
        title=title,
        returnfig=True,
        warn_too_much_data=10_000,
        **extra,
    )
    named = list(dict.fromkeys(n for n, _ in lines))
    if named:
        axes[0].legend(
            [plt.Line2D([0], [0], color=LEVEL_STYLES[n], linestyle="--") for n in named],
            named,
            loc="upper left",
            fontsize=8,
        )
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return ChartImages(full.getvalue(), thumbnail(full.getvalue(), 600))
