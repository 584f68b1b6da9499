"""Market model: one price path per symbol that bars, quotes, fills and marks all read.

Two sources share one interface: ``SyntheticMarket`` draws deterministic paths
from a seed (trend and volatility regimes, overnight gaps, U-shaped intraday
volume) on the NYSE calendar; ``ReplayMarket`` serves bar files a user points to.
Both expose per-session minute bars (extended hours included) and daily bars,
from which everything else is derived.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from ibkr_pipeline.domain.calendar import nyse_calendar
from ibkr_pipeline.exchange.universe import Instrument, Universe

EXCHANGE_TZ = ZoneInfo("America/New_York")
PRICE_REFERENCE_DATE = date(2026, 1, 2)
PRE_MARKET_OPEN = time(4, 0)
POST_MARKET_HOURS = 4
TRADING_DAYS_PER_YEAR = 252
OHLCV = ["open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class Session:
    """One trading day with its regular and extended windows in UTC."""

    index: int
    day: date
    open: datetime
    close: datetime
    pre_open: datetime
    post_close: datetime

    @property
    def rth_minutes(self) -> int:
        return int((self.close - self.open).total_seconds() // 60)


class SessionCalendar:
    """Fast lookups over the exchange calendar's sessions."""

    def __init__(self, calendar: xcals.ExchangeCalendar | None = None):
        cal = calendar or nyse_calendar()
        schedule = cal.schedule
        self._days = [ts.date() for ts in schedule.index]
        self._opens = [ts.to_pydatetime() for ts in schedule["open"]]
        self._closes = [ts.to_pydatetime() for ts in schedule["close"]]
        self._pre_open_s = np.array(
            [datetime.combine(d, PRE_MARKET_OPEN, tzinfo=EXCHANGE_TZ).timestamp() for d in self._days]
        )
        self._day_index = {d: i for i, d in enumerate(self._days)}
        self._sessions: dict[int, Session] = {}
        self.rth_minutes = np.array(
            [int((c - o).total_seconds() // 60) for o, c in zip(self._opens, self._closes, strict=True)]
        )
        years = np.array([d.year for d in self._days])
        self._year_bounds = {
            int(y): (int(np.searchsorted(years, y)), int(np.searchsorted(years, y, side="right")))
            for y in np.unique(years)
        }

    @property
    def years(self) -> list[int]:
        return sorted(self._year_bounds)

    def year_bounds(self, year: int) -> tuple[int, int]:
        """[first, last) session indices of a calendar year."""
        return self._year_bounds[year]

    def __len__(self) -> int:
        return len(self._days)

    def session(self, index: int) -> Session:
        found = self._sessions.get(index)
        if found is None:
            day = self._days[index]
            pre = datetime.fromtimestamp(self._pre_open_s[index], UTC)
            close = self._closes[index]
            found = self._sessions[index] = Session(
                index, day, self._opens[index], close, pre, close + timedelta(hours=POST_MARKET_HOURS)
            )
        return found

    def index_of(self, day: date) -> int | None:
        return self._day_index.get(day)

    @property
    def days(self) -> list[date]:
        return self._days

    def last_index_started_by(self, instant: datetime) -> int:
        """Index of the last session whose extended window opened at or before ``instant``.

        -1 when ``instant`` precedes the first session.
        """
        return int(np.searchsorted(self._pre_open_s, instant.timestamp(), side="right")) - 1

    def session_covering(self, instant: datetime) -> Session | None:
        """The session whose extended window (04:00 to close + 4 h) contains ``instant``."""
        i = self.last_index_started_by(instant)
        if i < 0:
            return None
        s = self.session(i)
        return s if s.pre_open <= instant < s.post_close else None

    def is_regular_hours(self, instant: datetime) -> bool:
        s = self.session_covering(instant)
        return s is not None and s.open <= instant < s.close

    def is_extended_hours(self, instant: datetime) -> bool:
        return self.session_covering(instant) is not None


MINUTE_NS = 60_000_000_000
MINUTE_CACHE_SESSIONS = 2048
PRICE_CACHE_ENTRIES = 65_536


def _remembered[T](owner: object, name: str, limit: int, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, kept under ``key`` in ``owner``'s cache ``name``, which is emptied when it holds ``limit``
    entries (the market is read forward in time: what was read long ago is rarely read again)."""
    cache: dict[Hashable, T] = owner.__dict__.setdefault(name, {})
    found = cache.get(key)
    if found is None:
        if len(cache) >= limit:
            cache.clear()
        found = cache[key] = compute()
    return found


@lru_cache(maxsize=4096)  # the matching engine asks at the same few instants for every order and symbol
def _ns(instant: datetime) -> int:
    return pd.Timestamp(instant).as_unit("ns").value


@dataclass(frozen=True)
class MinuteArrays:
    """One session's minute bars as arrays; ``ns`` is each minute's start in UTC nanoseconds."""

    ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def empty(cls) -> MinuteArrays:
        none = np.array([], dtype=float)
        return cls(np.array([], dtype=np.int64), none, none, none, none, none)


@dataclass(frozen=True)
class PriceWindow:
    """What the price did between two instants: where it started, its range, where it ended."""

    first: float
    low: float
    high: float
    last: float


class MarketModel(ABC):
    """Common logic over per-session minute bars and daily bars."""

    def __init__(self, universe: Universe, calendar: SessionCalendar | None = None):
        self.universe = universe
        self.calendar = calendar or SessionCalendar()

    @abstractmethod
    def daily_bars(self, instrument: Instrument, rth: bool, first: int, last: int) -> pd.DataFrame:
        """Daily bars of sessions ``first..last`` (inclusive): index = session index, OHLCV."""

    @abstractmethod
    def minute_frame(self, instrument: Instrument, session_index: int, rth: bool) -> pd.DataFrame:
        """Minute bars of one session: index = UTC minute start, columns = OHLCV."""

    @abstractmethod
    def first_session_index(self, instrument: Instrument) -> int:
        """The first session with data for this instrument."""

    def minute_arrays(self, instrument: Instrument, session_index: int) -> MinuteArrays:
        """``minute_frame`` (extended hours included) as arrays."""
        frame = self.minute_frame(instrument, session_index, rth=False)
        return MinuteArrays(
            pd.DatetimeIndex(frame.index).as_unit("ns").asi8, *(frame[c].to_numpy(dtype=float) for c in OHLCV)
        )

    def _minutes(self, instrument: Instrument, session_index: int) -> MinuteArrays:
        """One session's minute arrays, kept for the sessions read most recently: fills, quotes and marks read
        the same few sessions again and again."""
        return _remembered(
            self,
            "_minute_arrays_cache",
            MINUTE_CACHE_SESSIONS,
            (instrument.symbol, session_index),
            lambda: self.minute_arrays(instrument, session_index),
        )

    def price_at(self, instrument: Instrument, instant: datetime) -> float:
        """The traded price at an instant: inside a session from its minutes, else the last close. Kept for the
        instants asked most recently: marks, quotes and the matching engine's windows ask the same ones."""
        return _remembered(
            self,
            "_price_cache",
            PRICE_CACHE_ENTRIES,
            (instrument.symbol, instant),
            lambda: self._price_at(instrument, instant),
        )

    def _price_at(self, instrument: Instrument, instant: datetime) -> float:
        session = self.calendar.session_covering(instant)
        if session is None or session.index < self.first_session_index(instrument):
            i = self.calendar.last_index_started_by(instant)
            return self._close_of(instrument, max(i, self.first_session_index(instrument)))
        minutes = self._minutes(instrument, session.index)
        if not len(minutes.ns):
            return self._close_of(instrument, session.index)
        at = _ns(instant)
        pos = int(np.searchsorted(minutes.ns, at, side="right")) - 1
        if pos < 0:
            return float(minutes.open[0])
        frac = (at - int(minutes.ns[pos])) / 1e9 / 60.0
        frac = min(max(frac, 0.0), 1.0)
        return float(minutes.open[pos] + (minutes.close[pos] - minutes.open[pos]) * frac)

    def window(self, instrument: Instrument, start: datetime, end: datetime) -> PriceWindow:
        """Price path summary over [start, end], for crossing limit and stop prices."""
        first = self.price_at(instrument, start)
        last = self.price_at(instrument, end)
        low, high = min(first, last), max(first, last)
        i0 = max(self.calendar.last_index_started_by(start), self.first_session_index(instrument))
        i1 = self.calendar.last_index_started_by(end)
        from_ns = _ns(start) // MINUTE_NS * MINUTE_NS
        to_ns = _ns(end)
        for i in range(i0, i1 + 1):
            minutes = self._minutes(instrument, i)
            a = int(np.searchsorted(minutes.ns, from_ns, side="left"))
            b = int(np.searchsorted(minutes.ns, to_ns, side="left"))
            if b > a:
                low = min(low, float(minutes.low[a:b].min()))
                high = max(high, float(minutes.high[a:b].max()))
        return PriceWindow(first, low, high, last)

    def _close_of(self, instrument: Instrument, session_index: int) -> float:
        """Close of the last session at or before ``session_index`` that has data."""
        bars = self.daily_bars(instrument, True, session_index - 10, session_index)
        return float(bars["close"].iloc[-1])

    def head_timestamp(self, instrument: Instrument, rth: bool) -> datetime:
        s = self.calendar.session(self.first_session_index(instrument))
        return s.open if rth else s.pre_open


def _bridges(
    rng: np.random.Generator,
    start: np.ndarray,
    end: np.ndarray,
    steps: np.ndarray,
    width: int,
    sigma: np.ndarray,
) -> np.ndarray:
    """Brownian bridges in log price, one per row, from ``start`` to ``end`` in ``steps``.

    Rows are ``width + 1`` points wide; points past a row's own step count stay at ``end``.
    """
    k = np.arange(width + 1)[None, :]
    valid = k[:, 1:] <= steps[:, None]
    incr = rng.standard_normal((len(start), width)) * sigma[:, None] * valid
    walk = np.concatenate([np.zeros((len(start), 1)), np.cumsum(incr, axis=1)], axis=1)
    ramp = np.minimum(k / np.maximum(steps[:, None], 1), 1.0)
    return start[:, None] + (end - start)[:, None] * ramp + walk - ramp * walk[:, -1:]


def _bars_along(rng: np.random.Generator, log_path: np.ndarray, wick_sigma: np.ndarray, tick: float) -> np.ndarray:
    """(rows, minutes, 4) OHLC bars along log-price paths, rounded to the tick grid."""
    prices = np.exp(log_path)
    opens, closes = prices[:, :-1], prices[:, 1:]
    wick = np.abs(rng.standard_normal((2, *opens.shape))) * wick_sigma[:, None]
    bars = np.stack(
        [
            opens,
            np.maximum(opens, closes) * np.exp(wick[0]),
            np.minimum(opens, closes) * np.exp(-wick[1]),
            closes,
        ],
        axis=-1,
    )
    # Rounding to the grid keeps order, so the high and low stay the bar's extremes.
    return np.round(bars / tick) * tick


def _u_shape(n: int) -> np.ndarray:
    x = np.linspace(-1.0, 1.0, n)
    w = 1.0 + 2.5 * x**2
    return w / w.sum()


PRE_MINUTES = 330
FULL_DAY_MINUTES = 390
POST_MINUTES = POST_MARKET_HOURS * 60


@dataclass(frozen=True)
class _YearBlock:
    first_index: int
    pre: np.ndarray
    rth: np.ndarray
    post: np.ndarray
    n_rth: np.ndarray
    volume: np.ndarray


@dataclass(frozen=True)
class _DailyPath:
    opens: np.ndarray
    closes: np.ndarray
    prev_closes: np.ndarray
    volumes: np.ndarray
    daily_sigma: np.ndarray


SESSIONS_DRAWN = 262  # more than any calendar year's sessions
VOL_LEVELS = np.array([0.65, 1.0, 1.9])
DRIFT_LEVELS = np.array([-0.25, 0.05, 0.30])


class SyntheticMarket(MarketModel):
    """Deterministic synthetic prices: the same seed always gives the same bars."""

    def __init__(self, universe: Universe, seed: int = 7, calendar: SessionCalendar | None = None):
        super().__init__(universe, calendar)
        self.seed = seed
        self._minute_cache = lru_cache(maxsize=512)(self._build_minutes)
        self._block_cache = lru_cache(maxsize=8)(self._year_block)

    def _symbol_key(self, instrument: Instrument) -> int:
        return zlib.crc32(instrument.symbol.encode())

    def first_session_index(self, instrument: Instrument) -> int:
        if instrument.listed is None:
            return 0
        days = self.calendar.days
        return next((i for i, d in enumerate(days) if d >= instrument.listed), len(days))

    @lru_cache(maxsize=1024)  # noqa: B019 - one model per simulator, bounded cache
    def _daily_path(self, instrument: Instrument) -> _DailyPath:
        """Each calendar year's sessions drawn from a generator of their own, in draws of a fixed size, then
        chained and anchored at the reference date: a session's price never depends on how far the calendar
        reaches back or ahead (nor, since it ends a fixed span after today, on the day the simulator starts)."""
        n = len(self.calendar)
        years = [self._year_draws(instrument, y) for y in self.calendar.years]
        vol_mult, drift, gap_z, jump, intraday_z, volume_z = (
            np.concatenate(parts) for parts in zip(*years, strict=True)
        )
        sigma = instrument.annual_volatility / np.sqrt(TRADING_DAYS_PER_YEAR) * vol_mult
        mu = drift / TRADING_DAYS_PER_YEAR
        intraday = mu + intraday_z * sigma * 0.9
        log_close = np.log(instrument.start_price) + np.cumsum(gap_z * sigma * 0.35 + jump * sigma * 3.0 + intraday)
        log_open = log_close - intraday
        ref = self.calendar.index_of(PRICE_REFERENCE_DATE)
        ref = ref if ref is not None else n - 1
        shift = np.log(instrument.start_price) - log_close[min(ref, n - 1)]
        log_open += shift
        log_close += shift
        base_volume = 1e6 * (1 + zlib.crc32(instrument.symbol.encode()[::-1]) % 40)
        volumes = base_volume * vol_mult * np.exp(volume_z * 0.3) * (1 + 0.5 * np.abs(intraday) / sigma)
        closes = np.exp(log_close)
        prev = np.concatenate([[np.exp(log_open[0])], closes[:-1]])
        return _DailyPath(np.exp(log_open), closes, prev, np.round(volumes), sigma)

    def _year_draws(self, instrument: Instrument, year: int) -> tuple[np.ndarray, ...]:
        """One year's regimes and shocks: ``SESSIONS_DRAWN`` of each, of which the year's sessions use the first.
        A year opens in the regime its own generator picks, so no year's draws depend on an earlier year's."""
        rng = np.random.default_rng([self.seed, self._symbol_key(instrument), 0, year])
        switches = rng.random((SESSIONS_DRAWN, 2))
        picks = rng.integers(0, 3, size=(SESSIONS_DRAWN, 2))
        vol_state, drift_state = rng.integers(0, 3, size=2)
        vol_mult = np.empty(SESSIONS_DRAWN)
        drift = np.empty(SESSIONS_DRAWN)
        for i in range(SESSIONS_DRAWN):
            if switches[i, 0] < 0.02:
                vol_state = picks[i, 0]
            if switches[i, 1] < 0.012:
                drift_state = picks[i, 1]
            vol_mult[i] = VOL_LEVELS[vol_state]
            drift[i] = DRIFT_LEVELS[drift_state]
        gap_z = rng.standard_normal(SESSIONS_DRAWN)
        jump = (rng.random(SESSIONS_DRAWN) < 0.015) * rng.choice([-1.0, 1.0], SESSIONS_DRAWN)
        intraday_z = rng.standard_normal(SESSIONS_DRAWN)
        volume_z = rng.standard_normal(SESSIONS_DRAWN)
        first, end = self.calendar.year_bounds(year)
        return tuple(a[: end - first] for a in (vol_mult, drift, gap_z, jump, intraday_z, volume_z))

    def _year_block(self, instrument: Instrument, year: int) -> _YearBlock:
        """Minute bars of every session in a year, vectorised, from one seeded generator."""
        path = self._daily_path(instrument)
        i0, i1 = self.calendar.year_bounds(year)
        rng = np.random.default_rng([self.seed, self._symbol_key(instrument), year])
        sl = slice(i0, i1)
        n = i1 - i0
        sigma_m = path.daily_sigma[sl] / np.sqrt(390)
        lo, lc, lp = np.log(path.opens[sl]), np.log(path.closes[sl]), np.log(path.prev_closes[sl])
        n_rth = self.calendar.rth_minutes[sl]
        tick = instrument.min_tick
        pre = _bars_along(
            rng,
            _bridges(rng, lp, lo, np.full(n, PRE_MINUTES), PRE_MINUTES, sigma_m * 0.3),
            sigma_m * 0.2,
            tick,
        )
        rth = _bars_along(rng, _bridges(rng, lo, lc, n_rth, FULL_DAY_MINUTES, sigma_m), sigma_m * 0.4, tick)
        post = _bars_along(
            rng,
            _bridges(rng, lc, lc, np.full(n, POST_MINUTES), POST_MINUTES, sigma_m * 0.25),
            sigma_m * 0.2,
            tick,
        )
        volume = path.volumes[sl]
        return _YearBlock(i0, pre, rth, post, n_rth, volume)

    def _block_for(self, instrument: Instrument, session_index: int) -> _YearBlock:
        year = self.calendar.days[session_index].year
        return self._block_cache(instrument, year)

    def _build_minutes(self, instrument: Instrument, session_index: int) -> pd.DataFrame:
        block = self._block_for(instrument, session_index)
        r = session_index - block.first_index
        n_rth = int(block.n_rth[r])
        bars = np.concatenate([block.pre[r], block.rth[r, :n_rth], block.post[r]])
        day_volume = block.volume[r]
        volumes = np.round(
            np.concatenate(
                [
                    np.full(PRE_MINUTES, day_volume * 0.03 / PRE_MINUTES),
                    _u_shape(n_rth) * day_volume,
                    np.full(POST_MINUTES, day_volume * 0.02 / POST_MINUTES),
                ]
            )
        )
        s = self.calendar.session(session_index)
        frame = pd.DataFrame(bars, columns=["open", "high", "low", "close"])
        frame["volume"] = volumes
        frame["rth"] = np.r_[np.zeros(PRE_MINUTES, bool), np.ones(n_rth, bool), np.zeros(POST_MINUTES, bool)]
        frame.index = pd.date_range(s.pre_open, periods=len(frame), freq="min", tz=UTC)
        return frame

    def minute_frame(self, instrument: Instrument, session_index: int, rth: bool) -> pd.DataFrame:
        frame = self._minute_cache(instrument, session_index)
        return frame[frame["rth"]][OHLCV] if rth else frame[OHLCV]

    @lru_cache(maxsize=8192)  # noqa: B019 - bounded, one model per simulator
    def _daily_year(self, instrument: Instrument, year: int) -> tuple[np.ndarray, np.ndarray]:
        """Daily OHLCV rows of one year (regular hours, extended hours) from its minute bars."""
        b = self._block_cache(instrument, year)  # the session still trading is then rebuilt from the same block
        valid = np.arange(FULL_DAY_MINUTES)[None, :] < b.n_rth[:, None]
        rth_high = np.where(valid, b.rth[..., 1], -np.inf).max(axis=1)
        rth_low = np.where(valid, b.rth[..., 2], np.inf).min(axis=1)
        rth_close = b.rth[np.arange(len(b.n_rth)), b.n_rth - 1, 3]
        ext_high = np.maximum(rth_high, np.maximum(b.pre[..., 1].max(1), b.post[..., 1].max(1)))
        ext_low = np.minimum(rth_low, np.minimum(b.pre[..., 2].min(1), b.post[..., 2].min(1)))
        rth_volume = np.round(b.volume)
        rth_rows = np.column_stack([b.rth[:, 0, 0], rth_high, rth_low, rth_close, rth_volume])
        ext_rows = np.column_stack(
            [b.pre[:, 0, 0], ext_high, ext_low, b.post[:, -1, 3], rth_volume + np.round(b.volume * 0.05)]
        )
        return rth_rows, ext_rows

    def daily_bars(self, instrument: Instrument, rth: bool, first: int, last: int) -> pd.DataFrame:
        first, last = max(first, 0), min(last, len(self.calendar) - 1)
        if last < first:
            return pd.DataFrame(columns=OHLCV, index=pd.RangeIndex(0))
        days = self.calendar.days
        rows: list[np.ndarray] = []
        index: list[int] = []
        for year in range(days[first].year, days[last].year + 1):
            y0, y1 = self.calendar.year_bounds(year)
            lo, hi = max(y0, first), min(y1, last + 1)
            yearly = self._daily_year(instrument, year)[0 if rth else 1]
            rows.append(yearly[lo - y0 : hi - y0])
            index.extend(range(lo, hi))
        return pd.DataFrame(np.concatenate(rows), columns=OHLCV, index=pd.Index(index))


def read_bar_file(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    time_col = next((c for c in ("timestamp", "datetime", "date", "time") if c in frame), None)
    missing = [c for c in OHLCV if c not in frame]
    if time_col is None or missing:
        raise ValueError(f"{path}: needs a timestamp/date column and {OHLCV}; missing {missing or ['timestamp']}")
    stamps = pd.to_datetime(frame[time_col], utc=False)
    if getattr(stamps.dt, "tz", None) is None:
        stamps = stamps.dt.tz_localize(EXCHANGE_TZ) if (stamps.dt.hour != 0).any() else stamps
    frame = frame.assign(timestamp=stamps)[["timestamp", *OHLCV]].dropna()
    return frame.sort_values("timestamp").drop_duplicates("timestamp")


class ReplayMarket(MarketModel):
    """Serves user-provided daily bar files (``SYMBOL.csv`` or ``SYMBOL.parquet``).

    Inside a session the price runs linearly open → first extreme → second
    extreme → close, so fills and marks agree with the bars being replayed.
    """

    def __init__(self, data_dir: Path, universe: Universe, calendar: SessionCalendar | None = None):
        super().__init__(universe, calendar)
        self.data_dir = Path(data_dir)
        if not self.data_dir.is_dir():
            raise ValueError(f"replay data directory {self.data_dir} does not exist")
        self._files = {
            p.stem.upper().replace("_", " "): p
            for p in sorted(self.data_dir.iterdir())
            if p.suffix in (".csv", ".parquet")
        }
        self._daily_cache: dict[str, pd.DataFrame] = {}

    @property
    def symbols(self) -> list[str]:
        return list(self._files)

    def _daily(self, instrument: Instrument) -> pd.DataFrame:
        cached = self._daily_cache.get(instrument.symbol)
        if cached is not None:
            return cached
        raw = self._raw(instrument)
        days = [ts.date() for ts in raw["timestamp"]]
        index = [self.calendar.index_of(d) for d in days]
        keep = [i is not None for i in index]
        frame = raw[keep][OHLCV].astype(float)
        frame.index = pd.Index([i for i in index if i is not None], dtype=int)
        frame = frame[~frame.index.duplicated(keep="last")]
        self._daily_cache[instrument.symbol] = frame
        return frame

    def _raw(self, instrument: Instrument) -> pd.DataFrame:
        """The instrument's daily bars: ``timestamp`` (the session's date) and OHLCV."""
        path = self._files.get(instrument.symbol)
        if path is None:
            raise KeyError(f"no replay file for {instrument.symbol} in {self.data_dir}")
        return read_bar_file(path)

    def _rows(self, instrument: Instrument) -> dict[int, dict[str, float]]:
        """Session index → that day's OHLCV, for reading one day at a time."""
        rows: dict[str, dict[int, dict[str, float]]] = self.__dict__.setdefault("_rows_cache", {})
        found = rows.get(instrument.symbol)
        if found is None:
            found = rows[instrument.symbol] = self._daily(instrument).to_dict("index")
        return found

    def first_session_index(self, instrument: Instrument) -> int:
        return int(self._daily(instrument).index[0])

    def daily_bars(self, instrument: Instrument, rth: bool, first: int, last: int) -> pd.DataFrame:
        daily = self._daily(instrument)
        return daily[(daily.index >= first) & (daily.index <= last)]

    def minute_frame(self, instrument: Instrument, session_index: int, rth: bool) -> pd.DataFrame:
        m = self.minute_arrays(instrument, session_index)
        if not len(m.ns):
            return pd.DataFrame(columns=OHLCV)
        return pd.DataFrame(
            {"open": m.open, "high": m.high, "low": m.low, "close": m.close, "volume": m.volume},
            index=pd.to_datetime(m.ns, unit="ns", utc=True),
        )

    def minute_arrays(self, instrument: Instrument, session_index: int) -> MinuteArrays:
        """A replayed day's path: open, then the nearer extreme, the other extreme, and the close, in straight
        lines over the regular session's minutes."""
        bar = self._rows(instrument).get(session_index)
        if bar is None:
            return MinuteArrays.empty()
        s = self.calendar.session(session_index)
        n = s.rth_minutes
        first, second = (bar["low"], bar["high"]) if bar["close"] >= bar["open"] else (bar["high"], bar["low"])
        knots_x = [0, n // 3, 2 * n // 3, n]
        path = np.interp(np.arange(n + 1), knots_x, [bar["open"], first, second, bar["close"]])
        return MinuteArrays(
            _ns(s.open) + np.arange(n, dtype=np.int64) * MINUTE_NS,
            path[:-1],
            np.maximum(path[:-1], path[1:]),
            np.minimum(path[:-1], path[1:]),
            path[1:],
            np.round(np.full(n, bar["volume"] / n)),
        )
