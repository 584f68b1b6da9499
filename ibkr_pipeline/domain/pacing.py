"""IB's historical-data pacing rules as the client obeys them (the simulator enforces its own copy,
``gateway_sim/pacing.py``, so a wrong number here is caught there).

IB's documented hard limits, for bars of 30 seconds or less: no identical request within
15 seconds; no six or more requests for the same contract, exchange and tick type within
2 seconds; no more than 60 requests in any 10-minute window. Larger bars are only throttled
softly, with at most 50 historical requests open at once. ``time_scale`` shrinks every window
proportionally so tests can exercise the rules in seconds.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

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


class PacingLedger:
    """Sliding windows of past requests; answers how long to wait before the next one."""

    def __init__(self, rules: PacingRules):
        self.rules = rules
        self._identical: dict[Hashable, float] = {}
        self._per_contract: dict[Hashable, deque[float]] = {}
        self._all: deque[float] = deque()

    def _trim(self, now: float) -> None:
        r = self.rules
        while self._all and now - self._all[0] >= r.global_window_s:
            self._all.popleft()
        for key in [k for k, t in self._identical.items() if now - t >= r.identical_window_s]:
            del self._identical[key]
        for key, times in list(self._per_contract.items()):
            while times and now - times[0] >= r.same_contract_window_s:
                times.popleft()
            if not times:
                del self._per_contract[key]

    def wait_time(self, identical_key: Hashable, contract_key: Hashable, now: float) -> float:
        """Seconds until a request with these keys would break none of the rules (0 = now)."""
        self._trim(now)
        r = self.rules
        waits = [0.0]
        if identical_key in self._identical:
            waits.append(self._identical[identical_key] + r.identical_window_s - now)
        times = self._per_contract.get(contract_key)
        if times and len(times) >= r.same_contract_max:
            waits.append(times[len(times) - r.same_contract_max] + r.same_contract_window_s - now)
        if len(self._all) >= r.global_max:
            waits.append(self._all[len(self._all) - r.global_max] + r.global_window_s - now)
        return max(waits)

    def record(self, identical_key: Hashable, contract_key: Hashable, now: float) -> None:
        self._trim(now)
        self._identical[identical_key] = now
        self._per_contract.setdefault(contract_key, deque()).append(now)
        self._all.append(now)

    def restamp(self, identical_key: Hashable, contract_key: Hashable, sent: float, now: float) -> None:
        """Move a request recorded at ``sent`` to ``now`` (when its answer came back).

        IB counts a request when it arrives, which is never after its answer: windows measured
        from the answer are never shorter than IB's, whatever the latency or queueing on the way.
        """
        if self._identical.get(identical_key) == sent:
            self._identical[identical_key] = now
        for times in (self._per_contract.get(contract_key), self._all):
            if times is None:
                continue
            try:
                times.remove(sent)
            except ValueError:
                continue
            insort(times, now)
