"""A request scheduler that keeps historical-data requests inside IB's pacing rules.

Requests for bars of 30 seconds or less wait for a slot the budget says is safe, so
under normal use IB never answers 162; a 162 that still comes (another client sharing
the account's limits) is retried after the wait the rules imply. Larger bars are not
hard-paced at IB: they only share the cap of 50 requests open at once.

The budget is this process's own (``LocalPacingBudget``) or, when processes share a gateway,
the project database's (``store.pacing_budget.DatabasePacingBudget``): IB counts per session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ibkr_pipeline.domain.pacing import PacingLedger, PacingRules

IB_MAX_CONCURRENT_HISTORICAL = 50


@dataclass
class PacingStats:
    requests: int = 0
    waited_s: float = 0.0
    violations: int = 0


class PacingBudget(Protocol):
    rules: PacingRules

    def try_reserve(self, identical: str, contract: str, hard: bool = True) -> tuple[float, Any]:
        """(0, token) when the request may go now, else (seconds to wait, None); ``hard``: IB's windows apply."""
        ...

    def release(self, token: Any) -> None:
        """The answer came back."""
        ...


class LocalPacingBudget:
    """One process's own view of IB's windows."""

    def __init__(self, rules: PacingRules):
        self.rules = rules
        self.ledger = PacingLedger(rules)

    def try_reserve(self, identical: str, contract: str, hard: bool = True) -> tuple[float, Any]:
        if not hard:  # only the cap of open requests, which the scheduler's semaphore keeps in this process
            return 0.0, ()
        wait = self.ledger.wait_time(identical, contract, time.monotonic())
        if wait > 0:
            return wait, None
        return 0.0, self.ledger.sent(identical, contract)

    def release(self, token: Any) -> None:
        if token:  # a hard request's ledger token (≥ 1); () for a soft one
            self.ledger.answered(token, time.monotonic())


def with_margin(rules: PacingRules, margin: float = 0.05) -> PacingRules:
    """A small safety margin on every window absorbs clock skew between us and IB."""
    return rules.scaled(1 + margin)


class PacingScheduler:
    def __init__(
        self, rules: PacingRules, budget: PacingBudget | None = None, max_concurrent: int = IB_MAX_CONCURRENT_HISTORICAL
    ):
        self.rules = with_margin(rules)
        self.budget = budget or LocalPacingBudget(self.rules)
        self.stats = PacingStats()
        self._concurrency = asyncio.Semaphore(max_concurrent)

    @asynccontextmanager
    async def slot(self, identical_key: Hashable, contract_key: Hashable, hard: bool = True):
        async with self._concurrency:
            while True:
                wait, token = self.budget.try_reserve(repr(identical_key), repr(contract_key), hard)
                if token is not None:
                    self.stats.requests += 1
                    break
                self.stats.waited_s += wait
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self.budget.release(token)

    def retry_wait(self) -> float:
        """How long to back off after a 162: long enough for the identical-request window."""
        return self.rules.identical_window_s
