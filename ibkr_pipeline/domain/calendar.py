"""The exchange calendar (holidays, early closes) from exchange_calendars, shared by every layer."""

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

HISTORY_START = date(2015, 1, 2)  # ten years and more of daily history before the simulator's reference year


@lru_cache(maxsize=1)
def nyse_calendar() -> xcals.ExchangeCalendar:
    """The NYSE calendar (holidays, early closes) from exchange_calendars."""
    end = pd.Timestamp(datetime.now(UTC).date() + timedelta(days=400))
    return xcals.get_calendar("XNYS", start=pd.Timestamp(HISTORY_START), end=end)
