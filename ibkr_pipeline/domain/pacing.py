"""IB's historical-data pacing rules as the client obeys them (the simulator enforces its own copy,
``gateway_sim/pacing.py``, so a wrong number here is caught there).

IB's documented hard limits, for bars of 30 seconds or less: no identical request within
15 seconds; no six or more requests for the same contract, exchange and tick type within
2 seconds; no more than 60 requests in any 10-minute window. Larger bars are only throttled
softly, with at most 50 historical requests open at once. ``time_scale`` shrinks every window
proportionally so tests can exercise the rules in seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from itertools import chain, count

HARD_PACING_MAX_BAR_SECONDS = 30
_UNIT_SECONDS = {
    "sec": 1,
    "secs": 1,
    "min": 60,
    "mins": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86_400,
    "week": 604_800,
    "month": 2_592_000,
}


def hard_paced(bar_size: str) -> bool:
    """Whether IB's hard limits apply to requests for this bar size (30 seconds or less)."""
    count, _, unit = bar_size.partition(" ")
    try:
        return int(count) * _UNIT_SECONDS[unit] <= HARD_PACING_MAX_BAR_SECONDS
    except (ValueError, KeyError):
        return True  # unknown: the cautious side


@dataclass(frozen=True)
class PacingRules:
    identical_window_s: float = 15.0
    same_contract_window_s: float = 2.0
    same_contract_max: int = 5
    global_window_s: float = 600.0
    global_max: int = 60

    def scaled(self, time_scale: float) -> PacingRules:
        return PacingRules(
            self.identical_window_s * time_scale,
            self.same_contract_window_s * time_scale,
            self.same_contract_max,
            self.global_window_s * time_scale,
            self.global_max,
        )

    def minimum_duration(self, requests: int) -> float:
        """The least wall time in which ``requests`` distinct requests fit inside the global rule.

        Request k (from 0) can go no earlier than floor(k / global_max) windows after the first.
        """
        if requests <= 0:
            return 0.0
        return (requests - 1) // self.global_max * self.global_window_s


@dataclass(frozen=True)
class PacedRequest:
    """A request as IB's windows see it: ``at`` is when IB counted it, at the latest (its answer; "now" while
    it is in flight, since IB may count it at any instant until the answer comes back)."""

    identical: Hashable
    contract: Hashable
    at: float


def wait_time(
    rules: PacingRules, requests: Iterable[PacedRequest], identical: Hashable, contract: Hashable, now: float
) -> float:
    """Seconds until a request with these keys would break none of the rules, given the requests made (0 = now)."""
    waits = [0.0]
    same: list[float] = []
    recent: list[float] = []
    for request in requests:
        if request.identical == identical and request.at > now - rules.identical_window_s:
            waits.append(request.at + rules.identical_window_s - now)
        if request.contract == contract and request.at > now - rules.same_contract_window_s:
            same.append(request.at)
        if request.at > now - rules.global_window_s:
            recent.append(request.at)
    for times, window, most in (
        (same, rules.same_contract_window_s, rules.same_contract_max),
        (recent, rules.global_window_s, rules.global_max),
    ):
        if len(times) >= most:
            times.sort()
            waits.append(times[len(times) - most] + window - now)
    return max(waits)


class PacingLedger:
    """One process's requests: answered ones at their answer, those in flight as "now"."""

    def __init__(self, rules: PacingRules):
        self.rules = rules
        self._answered: deque[PacedRequest] = deque()
        self._in_flight: dict[int, tuple[Hashable, Hashable]] = {}
        self._tokens = count(1)

    def wait_time(self, identical_key: Hashable, contract_key: Hashable, now: float) -> float:
        """Seconds until a request with these keys would break none of the rules (0 = now)."""
        r = self.rules
        longest = max(r.identical_window_s, r.same_contract_window_s, r.global_window_s)
        while self._answered and self._answered[0].at <= now - longest:
            self._answered.popleft()
        in_flight = (PacedRequest(identical, contract, now) for identical, contract in self._in_flight.values())
        return wait_time(r, chain(self._answered, in_flight), identical_key, contract_key, now)

    def record(self, identical_key: Hashable, contract_key: Hashable, now: float) -> None:
        """A request IB counted at ``now``."""
        self._answered.append(PacedRequest(identical_key, contract_key, now))

    def sent(self, identical_key: Hashable, contract_key: Hashable) -> int:
        """A request on its way: it counts as "now" in every window until ``answered``. Returns its token (≥ 1)."""
        token = next(self._tokens)
        self._in_flight[token] = (identical_key, contract_key)
        return token

    def answered(self, token: int, now: float) -> None:
        """The answer to a sent request came back: IB counted it no later than ``now``."""
        identical_key, contract_key = self._in_flight.pop(token)
        self.record(identical_key, contract_key, now)
