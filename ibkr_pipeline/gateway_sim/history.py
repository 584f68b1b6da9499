"""Historical bars for reqHistoricalData: durations, bar sizes, point-in-time aggregation.

Every bar is built only from minutes that started before the request's end, so
a bar that is still forming at ``end`` is returned as IB does (partial) and no
later data can leak into it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ibkr_pipeline.domain.bar_periods import aggregate_runs, period_starts
from ibkr_pipeline.exchange.market import EXCHANGE_TZ, OHLCV, MarketModel
from ibkr_pipeline.exchange.universe import Instrument

BAR_SIZES_MINUTES: dict[str, int] = {
    "1 min": 1,
    "2 mins": 2,
    "3 mins": 3,
    "5 mins": 5,
    "10 mins": 10,
    "15 mins": 15,
    "20 mins": 20,
    "30 mins": 30,
    "1 hour": 60,
    "2 hours": 120,
    "3 hours": 180,
    "4 hours": 240,
    "8 hours": 480,
}
BAR_SIZES_SECONDS: dict[str, int] = {"1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30}
DAILY_BAR_SIZES = ("1 day", "1 week", "1 month")
WHAT_TO_SHOW = ("TRADES", "MIDPOINT", "BID", "ASK", "ADJUSTED_LAST", "BID_ASK")
_DURATION = re.compile(r"^\s*(\d+)\s+([SDWMY])\s*$")


class HistoryRequestError(ValueError):
    """A request IB would refuse; ``code`` is IB's error code for it."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BarRequest:
    end: datetime
    duration: str
    bar_size: str
    what_to_show: str
    use_rth: bool
    format_date: int


@dataclass(frozen=True)
class Bar:
    date: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    wap: float
    count: int


def parse_end(text: str, now: datetime) -> datetime:
    """Parse IB's endDateTime: empty = now; 'yyyymmdd HH:MM:SS [TZ]' or 'yyyymmdd-HH:MM:SS' (UTC)."""
    text = text.strip()
    if not text:
        return now
    try:
        if "-" in text and " " not in text:
            return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        parts = text.split(" ")
        naive = datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S")
        zone = ZoneInfo(parts[2]) if len(parts) > 2 else EXCHANGE_TZ
        return naive.replace(tzinfo=zone).astimezone(UTC)
    except (ValueError, KeyError) as exc:
        raise HistoryRequestError(
            321, f"Error validating request:-'bO' : cause - invalid end date/time {text!r}"
        ) from exc


def parse_duration(duration: str) -> tuple[int, str]:
    """'30 D' -> (30, 'D'); IB's units are S, D, W, M and Y."""
    m = _DURATION.match(duration)
    if not m:
        raise HistoryRequestError(
            321, f"Error validating request:-'bP' : cause - Historical data query duration {duration!r} invalid"
        )
    return int(m.group(1)), m.group(2)


def duration_start(duration: str, end: datetime) -> datetime:
    n, unit = parse_duration(duration)
    if unit == "S":
        return end - timedelta(seconds=n)
    if unit == "W":
        return end - timedelta(weeks=n)
    if unit == "M":
        return end - pd.DateOffset(months=n)
    if unit == "Y":
        return end - pd.DateOffset(years=n)
    return end - timedelta(days=n)


def _format_date(stamp: datetime, daily: bool, format_date: int) -> str:
    if daily:
        return stamp.strftime("%Y%m%d")
    if format_date == 2:
        return str(int(stamp.timestamp()))
    return stamp.astimezone(EXCHANGE_TZ).strftime("%Y%m%d %H:%M:%S") + " US/Eastern"


def _quote_adjust(frame: pd.DataFrame, what: str, tick: float) -> pd.DataFrame:
    if what in ("TRADES", "ADJUSTED_LAST"):
        return frame
    half_spread = np.maximum(tick, (frame["close"] * 0.0002).round(2)) / 2
    sign = {"MIDPOINT": 0.0, "BID": -1.0, "ASK": 1.0, "BID_ASK": 0.0}[what]
    out = frame.copy()
    for col in ("open", "high", "low", "close"):
        out[col] = (out[col] + sign * half_spread).round(4)
    out["volume"] = -1.0
    return out


class HistoricalService:
    """Answers historical bar requests from a market model, as of the request's end."""

    def __init__(self, market: MarketModel):
        self.market = market

    def head_timestamp(self, instrument: Instrument, use_rth: bool, format_date: int) -> str:
        stamp = self.market.head_timestamp(instrument, use_rth)
        if format_date == 2:
            return str(int(stamp.timestamp()))
        return stamp.strftime("%Y%m%d-%H:%M:%S")

    def bars(self, instrument: Instrument, req: BarRequest) -> list[Bar]:
        if req.what_to_show not in WHAT_TO_SHOW:
            raise HistoryRequestError(
                321, f"Error validating request:-'bS' : cause - whatToShow {req.what_to_show!r} invalid"
            )
        daily = req.bar_size in DAILY_BAR_SIZES
        if not daily and req.bar_size not in BAR_SIZES_MINUTES and req.bar_size not in BAR_SIZES_SECONDS:
            raise HistoryRequestError(
                321, f"Error validating request:-'bO' : cause - bar size {req.bar_size!r} invalid"
            )
        start = duration_start(req.duration, req.end)
        cal = self.market.calendar
        last = cal.last_index_started_by(req.end)
        if last < 0:
            return []
        first = max(cal.last_index_started_by(start), self.market.first_session_index(instrument))
        count, unit = parse_duration(req.duration)
        if unit == "D" and daily:  # IB counts 'N D' in trading sessions for daily bars
            first = max(last - count + 1, self.market.first_session_index(instrument))
        frame = (
            self._daily(instrument, req, first, last) if daily else self._intraday(instrument, req, first, last, start)
        )
        frame = frame[frame["volume"].notna()]
        frame = _quote_adjust(frame, req.what_to_show, instrument.min_tick)
        o, h, lo, c, v = (frame[col].to_numpy(dtype=float).tolist() for col in OHLCV)
        return [
            Bar(
                _format_date(stamp, daily, req.format_date),
                o[k],
                h[k],
                lo[k],
                c[k],
                v[k],
                round((h[k] + lo[k] + c[k]) / 3, 4),
                int(v[k] // 100) if v[k] > 0 else -1,
            )
            for k, stamp in enumerate(frame.index)
        ]

    def _daily(self, instrument: Instrument, req: BarRequest, first: int, last: int) -> pd.DataFrame:
        cal = self.market.calendar
        if req.bar_size != "1 day":
            first = self._period_start(first, req.bar_size)
        frame = self.market.daily_bars(instrument, req.use_rth, first, last).copy()
        if frame.empty:
            return frame
        # The session containing `end` may still be trading: rebuild it from its minutes.
        last_session = cal.session(int(frame.index[-1]))
        close_at = last_session.close if req.use_rth else last_session.post_close
        if req.end < close_at:
            partial = self._minutes(instrument, int(frame.index[-1]), req.use_rth, req.end)
            if partial.empty:
                frame = frame.iloc[:-1]
            else:
                frame.iloc[-1] = _aggregate(partial)
        frame.index = pd.DatetimeIndex([pd.Timestamp(cal.days[int(i)]) for i in frame.index], name="date")
        if req.bar_size == "1 day":
            return frame
        return aggregate_runs(frame.index, frame, period_starts(frame.index, req.bar_size))

    def _period_start(self, index: int, bar_size: str) -> int:
        """Move back to the first session of the week or month, so no period is cut short."""
        days = self.market.calendar.days

        def period(i: int) -> tuple[int, int]:
            d = days[i]
            return d.isocalendar()[:2] if bar_size == "1 week" else (d.year, d.month)

        while index > 0 and period(index - 1) == period(index):
            index -= 1
        return index

    def _minutes(self, instrument: Instrument, index: int, rth: bool, end: datetime) -> pd.DataFrame:
        minutes = self.market.minute_frame(instrument, index, rth)
        return minutes[minutes.index < pd.Timestamp(end) - pd.Timedelta(seconds=59)]

    def _intraday(
        self, instrument: Instrument, req: BarRequest, first: int, last: int, start: datetime
    ) -> pd.DataFrame:
        pieces = [self._minutes(instrument, i, req.use_rth, req.end) for i in range(first, last + 1)]
        pieces = [p for p in pieces if not p.empty]
        if not pieces:
            return pd.DataFrame(columns=OHLCV)
        minutes = pd.concat(pieces)
        minutes = minutes[minutes.index >= pd.Timestamp(start).floor("min")]
        if req.bar_size in BAR_SIZES_SECONDS:
            return _split_minutes(minutes, BAR_SIZES_SECONDS[req.bar_size])
        size = BAR_SIZES_MINUTES[req.bar_size]
        if size == 1:
            return minutes
        local = minutes.index.tz_convert(EXCHANGE_TZ)
        buckets = local.floor(f"{size}min") if size < 480 else local.normalize()
        return _resample(minutes, buckets)


def _split_minutes(minutes: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """Sub-minute bars from minute bars: a straight path from open to close through the minute's high (a third
    of the way) and low (two thirds), volume shared equally. Deterministic; the minute's OHLCV is preserved."""
    parts = 60 // seconds
    stamps, rows = [], []
    for stamp, (o, h, lo, c, v) in zip(minutes.index, minutes[OHLCV].to_numpy(dtype=float), strict=True):
        path = np.linspace(o, c, parts + 1)
        if parts >= 3:
            path[parts // 3], path[(2 * parts) // 3] = h, lo
        for k in range(parts):
            a, b = path[k], path[k + 1]
            high, low = max(a, b), min(a, b)
            if parts < 3:
                high, low = (max(high, h), min(low, lo)) if k == 0 else (high, low)
            stamps.append(stamp + pd.Timedelta(seconds=k * seconds))
            rows.append((round(a, 4), round(high, 4), round(low, 4), round(b, 4), float(v // parts)))
    return pd.DataFrame(rows, columns=OHLCV, index=pd.DatetimeIndex(stamps))


def _resample(frame: pd.DataFrame, keys) -> pd.DataFrame:
    """OHLCV per group, labelled by each group's first row (IB labels the 09:30 hourly bar 09:30)."""
    grouped = frame.groupby(keys, sort=True)
    out = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    labels = pd.DatetimeIndex(frame.index.to_series().groupby(keys, sort=True).min().to_numpy())
    if frame.index.tz is not None and labels.tz is None:  # numpy may hand back naive UTC: keep the time zone
        labels = labels.tz_localize("UTC").tz_convert(frame.index.tz)
    out.index = labels
    return out.sort_index()


def _aggregate(minutes: pd.DataFrame) -> list[float]:
    return [
        float(minutes["open"].iloc[0]),
        float(minutes["high"].max()),
        float(minutes["low"].min()),
        float(minutes["close"].iloc[-1]),
        float(minutes["volume"].sum()),
    ]
