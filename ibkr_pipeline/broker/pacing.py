"""A request scheduler that keeps historical-data requests inside IB's pacing rules.

Requests for bars of 30 seconds or less wait for a slot the ledger says is safe, so
under normal use IB never answers 162; a 162 that still comes (another client sharing
the account's limits) is retried after the wait the rules imply. Larger bars are not
hard-paced at IB: they only share the cap of 50 requests open at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ibkr_pipeline.domain.pacing import PacingLedger, PacingRules

IB_MAX_CONCURRENT_HISTORICAL = 50


@dataclass
class PacingStats:
    requests: int = 0
    waited_s: float = 0.0
    violations: int = 0


class PacingScheduler:
    def __init__(self, rules: PacingRules, margin: float = 0.05, max_concurrent: int = IB_MAX_CONCURRENT_HISTORICAL):
        # A small safety margin on every window absorbs clock skew between us and IB.
        self.rules = rules.scaled(1 + margin)
        self.ledger = PacingLedger(self.rules)
        self.stats = PacingStats()
        self._lock = asyncio.Lock()
        self._concurrency = asyncio.Semaphore(max_concurrent)

    @asynccontextmanager
    async def slot(self, identical_key: Hashable, contract_key: Hashable, hard: bool = True):
        async with self._concurrency:
            if not hard:
                self.stats.requests += 1
                yield
                return
            while True:
                async with self._lock:
                    sent = time.monotonic()
                    wait = self.ledger.wait_time(identical_key, contract_key, sent)
                    if wait <= 0:
                        self.ledger.record(identical_key, contract_key, sent)
                        self.stats.requests += 1
                        break
                self.stats.waited_s += wait
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                async with self._lock:
                    self.ledger.restamp(identical_key, contract_key, sent, time.monotonic())

    def retry_wait(self) -> float:
        """How long to back off after a 162: long enough for the identical-request window."""
        return self.rules.identical_window_s
