"""Candlestick charts with indicator overlays and panels (mplfinance, headless)."""

from __future__ import annotations

import io
from dataclasses import dataclass

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplfinance as mpf

    return plt, mpf


def _frame_for_mpf(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.set_index("timestamp").rename(columns={c: c.capitalize() for c in ("open", "high", "low", "close", "volume")})
    out.index = pd.DatetimeIndex(out.index).tz_convert("UTC").tz_localize(None)
    return out


def render_chart(
    frame: pd.DataFrame,
    title: str,
    overlays: list[str],
    panels: list[str],
    bars: int = 120,
    style: str = "yahoo",
    thumbnail_width_px: int = 400,
) -> ChartImages:
    """PNG candlesticks of the last ``bars`` rows with volume, overlays and one panel per indicator."""
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
    )
    if overlays:
        shown = [c for c in overlays if c in data and data[c].notna().any()]
        if shown:
            axes[0].legend(
                [plt.Line2D([0], [0], color=OVERLAY_COLORS[i % len(OVERLAY_COLORS)]) for i in range(len(shown))],
                shown, loc="upper left", fontsize=8,
            )
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return ChartImages(full.getvalue(), _thumbnail(full.getvalue(), thumbnail_width_px))


def _thumbnail(png: bytes, width: int) -> bytes:
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
