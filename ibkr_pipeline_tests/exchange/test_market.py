"""The synthetic market's prices are a function of the seed, the symbol and the day: not of the calendar's span."""

from __future__ import annotations

from datetime import date

import exchange_calendars as xcals
import pandas as pd

from ibkr_pipeline.exchange.market import PRICE_REFERENCE_DATE, SessionCalendar, SyntheticMarket
from ibkr_pipeline.exchange.universe import Instrument, Universe


def _market(start: str, end: str) -> SyntheticMarket:
    calendar = xcals.get_calendar("XNYS", start=pd.Timestamp(start), end=pd.Timestamp(end))
    return SyntheticMarket(Universe.default(), seed=7, calendar=SessionCalendar(calendar))


def _daily(market: SyntheticMarket, symbol: str, first: date, last: date) -> pd.DataFrame:
    cal = market.calendar
    i0 = cal.index_of(first)
    i1 = cal.index_of(last)
    assert i0 is not None and i1 is not None, (first, last)
    bars = market.daily_bars(_instrument(market, symbol), True, i0, i1)
    return bars.set_axis([cal.days[i] for i in bars.index])


def _instrument(market: SyntheticMarket, symbol: str) -> Instrument:
    found = market.universe.by_symbol(symbol)
    assert found is not None, symbol
    return found


def test_a_days_bars_do_not_depend_on_how_far_the_calendar_reaches():
    """The simulator's calendar ends 400 days after today: were prices drawn over the whole span at once, every
    new day would redraw all of history, and a longer history would shift every seeded path."""
    short = _market("2020-01-02", "2027-03-31")
    long = _market("2015-01-02", "2028-12-29")
    for symbol in ("AAPL", "MSFT", "SPY"):
        a = _daily(short, symbol, date(2024, 1, 2), date(2026, 11, 20))
        b = _daily(long, symbol, date(2024, 1, 2), date(2026, 11, 20))
        pd.testing.assert_frame_equal(a, b)
        assert len(a) > 700


def test_prices_are_anchored_at_the_reference_date_and_reach_back_ten_years():
    market = _market("2015-01-02", "2027-12-31")
    aapl = _instrument(market, "AAPL")
    ref = _daily(market, "AAPL", PRICE_REFERENCE_DATE, PRICE_REFERENCE_DATE)
    assert abs(ref["close"].iloc[0] - aapl.start_price) <= aapl.min_tick / 2 + 1e-9
    decade = _daily(market, "AAPL", date(2015, 1, 2), date(2025, 12, 31))
    assert len(decade) == 2766  # NYSE sessions 2015-2025, every one of them
    assert (decade["low"] > 0).all() and (decade["high"] >= decade[["open", "close"]].max(axis=1)).all()
