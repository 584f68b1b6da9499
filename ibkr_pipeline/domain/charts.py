"""Candlestick charts with indicator overlays and panels (mplfinance, headless)."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
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


# 1024 px wide, 512 px of candles and volume plus 128 px a panel: a vision model reads a chart in 512 px tiles
# (4 tiles up to two panels, where the old 1200 x 750 took 6), and it is as wide as the UI shows it.
DPI = 100
# zlib level 3, not PIL's 6: half the encoding time for PNGs about a tenth larger (a chart is drawn by the
# hundred per tick; the vision model's tokens depend on pixels, not bytes)
PNG_SAVE = {"compress_level": 3}
WIDTH_PX, MAIN_PX, PANEL_PX = 1024, 512, 128
MAIN_RATIOS = (4.0, 1.0)  # candles, volume
PANEL_RATIO = 1.2


def figure_size(panels: int) -> tuple[float, float]:
    """Inches at ``DPI`` for a chart with ``panels`` indicator panels under the candles and volume."""
    return WIDTH_PX / DPI, (MAIN_PX + PANEL_PX * panels) / DPI


_figures: dict[tuple[str, int], tuple[Any, list[Any], dict[str, Any]]] = {}
_figures_lock = threading.Lock()


def _reused_figure(style: str, panels: int) -> tuple[Any, list[Any], dict[str, Any]]:
    """One figure per style and panel count, kept for the process's life: building axes costs more than
    drawing into them. Axes are stacked by hand (no gridspec, no tight layout: nothing is laid out twice).

    mplfinance applies a style to matplotlib's global settings; the style's settings are kept with the figure
    (to draw under) and the global ones put back, so one style never leaks into another's charts."""
    if (style, panels) not in _figures:
        plt, mpf = plotting()
        ratios = MAIN_RATIOS + (PANEL_RATIO,) * panels
        left, right, top, bottom, gap = 0.07, 0.93, 0.93, 0.6 / figure_size(panels)[1], 0.01
        span = top - bottom - gap * (len(ratios) - 1)
        axes: list[Any] = []
        y = top
        with plt.rc_context():
            fig = mpf.figure(style=style, figsize=figure_size(panels))
            for ratio in ratios:
                height = span * ratio / sum(ratios)
                y -= height
                axes.append(
                    fig.add_axes((left, y, right - left, height), style=style, sharex=axes[0] if axes else None)
                )
                y -= gap
            settings = {k: v for k, v in plt.rcParams.items() if k != "backend"}
        _figures[(style, panels)] = (fig, axes, settings)
    return _figures[(style, panels)]


def _volume_label(value: float, _: int) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


@lru_cache(maxsize=32)
def _volume_colors(style: str) -> dict[str, str]:
    """The style's up and down volume colours (building mplfinance's style dict costs more than the lookup)."""
    _, mpf = plotting()
    return dict(mpf.make_mpf_style(base_mpf_style=style)["marketcolors"]["volume"])


def _draw_volume(ax: Any, data: pd.DataFrame, style: str) -> None:
    """Volume as one collection of bars (mplfinance's ``volume=True`` adds one artist per bar)."""
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import FuncFormatter

    colors = _volume_colors(style)
    volume = data["Volume"].to_numpy(dtype=float)
    up = (data["Close"] >= data["Open"]).to_numpy()
    half = 0.35
    ax.add_collection(
        PolyCollection(
            [[(x - half, 0), (x - half, v), (x + half, v), (x + half, 0)] for x, v in enumerate(volume)],
            facecolors=[colors["up"] if u else colors["down"] for u in up],
            linewidths=0,
        )
    )
    ax.set_ylim(0, 1.1 * float(np.nanmax(volume)) if np.isfinite(volume).any() and np.nanmax(volume) > 0 else 1)
    ax.yaxis.set_major_formatter(FuncFormatter(_volume_label))
    ax.set_ylabel("Volume")


def render_chart(
    frame: pd.DataFrame,
    title: str,
    overlays: list[str],
    panels: list[str],
    bars: int = 120,
    style: str = "yahoo",
) -> bytes:
    """PNG candlesticks of the last ``bars`` rows with volume, overlays and one panel per indicator.

    Drawn into a figure this process keeps (emptied first), so a chart's bytes do not depend on what was
    drawn before it, nor on the process that drew it (``pipeline.charts`` relies on both)."""
    data = _frame_for_mpf(frame.tail(bars))
    shown = [c for c in overlays if c in data and data[c].notna().any()]
    panel_columns = [c for c in panels if c in data and data[c].notna().any()]
    with _figures_lock:
        fig, axes, settings = _reused_figure(style, len(panel_columns))
        return _draw(fig, axes, settings, data, title, shown, panel_columns, style)


def _empty(ax: Any) -> None:
    """The axes as they were built, their tick objects kept: ``Axes.clear`` would build every tick again."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.relim()
    ax.set_ylabel("")


def _draw(
    fig: Any,
    axes: list[Any],
    settings: dict[str, Any],
    data: pd.DataFrame,
    title: str,
    shown: list[str],
    panel_columns: list[str],
    style: str,
) -> bytes:
    plt, mpf = plotting()
    from matplotlib.ticker import MaxNLocator

    with plt.rc_context(settings):
        for ax in axes:
            _empty(ax)
        addplots = [
            mpf.make_addplot(data[c], ax=axes[0], color=OVERLAY_COLORS[n % len(OVERLAY_COLORS)], width=1.0)
            for n, c in enumerate(shown)
        ] + [
            mpf.make_addplot(data[c], ax=axes[2 + n], color=PANEL_COLORS[n % len(PANEL_COLORS)], ylabel=c, width=1.0)
            for n, c in enumerate(panel_columns)
        ]
        mpf.plot(
            data[["Open", "High", "Low", "Close", "Volume"]],
            type="candle",
            ax=axes[0],
            **({"addplot": addplots} if addplots else {}),
            warn_too_much_data=10_000,
            xrotation=0,
        )
        _draw_volume(axes[1], data, style)
        for ax in axes:
            ax.yaxis.set_major_locator(MaxNLocator(6 if ax is axes[0] else 4))
        for ax in axes[:-1]:
            ax.tick_params(labelbottom=False)
        fig.suptitle(title)
        if shown:
            axes[0].legend(
                [plt.Line2D([0], [0], color=OVERLAY_COLORS[i % len(OVERLAY_COLORS)]) for i in range(len(shown))],
                shown,
                loc="upper left",
                fontsize=8,
            )
        full = io.BytesIO()
        fig.savefig(full, format="png", dpi=DPI, pil_kwargs=PNG_SAVE)
        return full.getvalue()


def thumbnail(png: bytes, width: int) -> bytes:
    """A downscaled copy for inline display in the Dagster UI (resampled, not re-rendered): halved by a box
    filter, then resized, in 64 colours; made while the worker processes draw, so it is kept cheap."""
    with Image.open(io.BytesIO(png)) as image:
        height = round(image.height * width / image.width)
        halved = image.convert("RGB").reduce(2) if image.width >= 2 * width else image.convert("RGB")
        small = halved.resize((width, height), Image.Resampling.BILINEAR).quantize(colors=64)
    out = io.BytesIO()
    small.save(out, format="PNG")
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
