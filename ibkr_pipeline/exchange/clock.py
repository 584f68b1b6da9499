"""The simulator's clock: real time by default, settable and faster for replays."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """UTC clock that runs at ``speed`` times real time from an anchor.

    ``SimClock()`` follows the wall clock. ``SimClock(start=..., speed=60)`` starts
    at a chosen instant and runs a simulated minute per real second. ``set`` and
    ``advance`` move it (thread-safe) for tests and replays.
    """

    def __init__(self, start: datetime | None = None, speed: float = 1.0):
        if start is not None and start.tzinfo is None:
            raise ValueError("SimClock start must be timezone-aware")
        if speed < 0:
            raise ValueError("SimClock speed must be >= 0")
        self._lock = threading.Lock()
        self._anchor_sim = start or datetime.now(UTC)
        self._anchor_real = time.monotonic()
        self._speed = speed
        self._follows_wall_clock = start is None and speed == 1.0

    def now(self) -> datetime:
        with self._lock:
            if self._follows_wall_clock:
                return datetime.now(UTC)
            elapsed = (time.monotonic() - self._anchor_real) * self._speed
            return (self._anchor_sim + timedelta(seconds=elapsed)).astimezone(UTC)

    def set(self, instant: datetime, speed: float | None = None) -> None:
        if instant.tzinfo is None:
            raise ValueError("SimClock.set needs a timezone-aware datetime")
        with self._lock:
            self._anchor_sim = instant
            self._anchor_real = time.monotonic()
            if speed is not None:
                self._speed = speed
            self._follows_wall_clock = False

    def advance(self, delta: timedelta) -> datetime:
        new = self.now() + delta
        self.set(new)
        return new

    @property
    def speed(self) -> float:
        return 1.0 if self._follows_wall_clock else self._speed
