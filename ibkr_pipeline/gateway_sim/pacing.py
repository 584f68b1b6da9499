"""Historical-data pacing as IB's gateway enforces it, written from IBKR's documentation.

Deliberately separate from ``domain/pacing.py`` (the client's scheduler): a wrong number in
one is caught by the other. IB's hard limits apply to bars of 30 seconds or less:

- an identical request within 15 seconds;
- six or more requests for the same contract, exchange and tick type within 2 seconds;
- more than 60 requests in any 10-minute window.

Each is answered with error 162. Larger bars are only throttled softly: answered, a little later
when requests come faster than those limits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable

HARD_MAX_BAR_SECONDS = 30
IDENTICAL_WINDOW_S = 15.0
SAME_CONTRACT_WINDOW_S = 2.0
SAME_CONTRACT_VIOLATION_AT = 6
GLOBAL_WINDOW_S = 600.0
GLOBAL_VIOLATION_AT = 61

_SECONDS = {
    "secs": 1,
    "sec": 1,
    "min": 60,
    "mins": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86_400,
    "week": 604_800,
    "month": 2_592_000,
}


def bar_seconds(bar_size: str) -> int:
    """'30 secs' → 30, '1 hour' → 3600; an unknown size counts as large (the request is refused later)."""
    count, _, unit = bar_size.partition(" ")
    try:
        return int(count) * _SECONDS[unit]
    except (ValueError, KeyError):
        return 10**9


class HistoricalPacing:
    """Windows over the requests the gateway has accepted; ``admit`` answers with a violation or records."""

    def __init__(self, time_scale: float, clock: Callable[[], float], soft_delay_s: float = 0.5):
        self.scale = time_scale
        self.clock = clock
        self.soft_delay_s = soft_delay_s * time_scale
        self._identical: dict[Hashable, float] = {}
        self._per_contract: dict[Hashable, deque[float]] = {}
        self._all: deque[float] = deque()
        self._large: deque[float] = deque()

    def _trim(self, now: float) -> None:
        for times, window in ((self._all, GLOBAL_WINDOW_S), (self._large, GLOBAL_WINDOW_S)):
            while times and now - times[0] >= window * self.scale:
                times.popleft()
        for times in self._per_contract.values():
            while times and now - times[0] >= SAME_CONTRACT_WINDOW_S * self.scale:
                times.popleft()
        self._identical = {k: t for k, t in self._identical.items() if now - t < IDENTICAL_WINDOW_S * self.scale}

    def admit(self, identical: Hashable, contract: Hashable, bar_size: str) -> str | None:
        """The hard rule a request breaks (it is then refused with 162), or None (it is recorded)."""
        now = self.clock()
        self._trim(now)
        if bar_seconds(bar_size) > HARD_MAX_BAR_SECONDS:
            self._large.append(now)
            return None
        if identical in self._identical:
            return f"identical request within {IDENTICAL_WINDOW_S:g} s"
        recent = self._per_contract.setdefault(contract, deque())
        if len(recent) + 1 >= SAME_CONTRACT_VIOLATION_AT:
            return f"{SAME_CONTRACT_VIOLATION_AT} or more requests for one contract within {SAME_CONTRACT_WINDOW_S:g} s"
        if len(self._all) + 1 >= GLOBAL_VIOLATION_AT:
            return f"more than {GLOBAL_VIOLATION_AT - 1} requests within {GLOBAL_WINDOW_S:g} s"
        self._identical[identical] = now
        recent.append(now)
        self._all.append(now)
        return None

    def soft_delay(self) -> float:
        """How long a large-bar answer waits: nothing within the hard limits' pace, a little past it."""
        excess = len(self._large) - (GLOBAL_VIOLATION_AT - 1)
        return self.soft_delay_s if excess > 0 else 0.0
