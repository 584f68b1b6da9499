"""How old a tick's signals may be when its orders are sent.

A signal is a reading of the market as of its tick. Sent later, it trades on a market
that has moved: a tick older than its allowed age, or one whose market has opened or
closed since, computes everything but sends nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from croniter import croniter

from ibkr_pipeline.domain.calendar import nyse_calendar

FUTURE_TOLERANCE = timedelta(minutes=5)


def cron_period(cron: str, timezone: str, at: datetime) -> timedelta:
    """The gap from the tick at ``at`` to the schedule's next tick."""
    local = at.astimezone(ZoneInfo(timezone))
    following = croniter(cron, local).get_next(datetime)
    return following - local


def session_boundaries(start: datetime, end: datetime) -> list[datetime]:
    """NYSE opens and closes in (start, end]."""
    if end <= start:
        return []
    cal = nyse_calendar()
    first, last = pd.Timestamp(start.date()) - pd.Timedelta(days=1), pd.Timestamp(end.date()) + pd.Timedelta(days=1)
    first, last = max(first, cal.first_session), min(last, cal.last_session)
    if first > last:
        return []
    found = []
    for session in cal.sessions_in_range(first, last):
        for instant in (cal.session_open(session), cal.session_close(session)):
            moment = instant.to_pydatetime()
            if start < moment <= end:
                found.append(moment)
    return sorted(found)


def stale_reason(tick_at: datetime, now: datetime, max_age: timedelta) -> str:
    """Why this tick's signals must not be sent at ``now`` ('' when they are fresh)."""
    if tick_at - now > FUTURE_TOLERANCE:
        return (
            f"tick as of {tick_at:%Y-%m-%d %H:%M} UTC is ahead of the broker's clock {now:%Y-%m-%d %H:%M} UTC; "
            "its signals describe a market that has not happened"
        )
    age = now - tick_at
    if age > max_age:
        return (
            f"signals are stale: tick as of {tick_at:%Y-%m-%d %H:%M} UTC is {_span(age)} old at "
            f"{now:%Y-%m-%d %H:%M} UTC (allowed {_span(max_age)})"
        )
    crossed = session_boundaries(tick_at, now)
    if crossed:
        return (
            f"signals are stale: the market {'opened' if _is_open(crossed[0]) else 'closed'} at "
            f"{crossed[0]:%Y-%m-%d %H:%M} UTC, after the tick as of {tick_at:%Y-%m-%d %H:%M} UTC"
        )
    return ""


def _is_open(moment: datetime) -> bool:
    cal = nyse_calendar()
    return bool(cal.is_open_on_minute(pd.Timestamp(moment) + pd.Timedelta(minutes=1)))


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return " ".join(p for p in (f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m") if p)
