"""Leases in the project database: exactly one process at a time may send an orderRef or trade a strategy.

A claim is taken with one conditional statement, atomic on SQLite (writes are serialised) and on
PostgreSQL (the row lock makes a second claimant re-read the winner's row): an INSERT when nobody
holds the key, else an UPDATE that only succeeds when the lease is ours or has run out. A process
killed while holding a lease blocks the key until the lease expires, never longer.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ibkr_pipeline.database.models import ClaimRow

PROCESS_OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Holder:
    owner: str
    seconds_left: float


class ClaimHeld(RuntimeError):
    """Another process holds the claim."""

    def __init__(self, key: str, holder: Holder):
        super().__init__(f"{key} is claimed by {holder.owner} for another {holder.seconds_left:.0f} s")
        self.key = key
        self.holder = holder


class Claims:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.clock = clock

    def acquire(self, key: str, owner: str, lease_s: float) -> Holder | None:
        """Take or renew the claim on ``key``; None when it is ours, else who holds it."""
        now = self.clock()
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(ClaimRow)
                .where(ClaimRow.key == key, (ClaimRow.owner == owner) | (ClaimRow.expires_at < now))
                .values(owner=owner, expires_at=now + lease_s)
            ).rowcount
        if taken:
            return None
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(ClaimRow).values(key=key, owner=owner, expires_at=now + lease_s))
            return None
        except IntegrityError:
            holder = self.holder(key)
            if holder is None:  # released between our two statements: try once more
                return self.acquire(key, owner, lease_s)
            return holder

    def release(self, key: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(ClaimRow).where(ClaimRow.key == key, ClaimRow.owner == owner))

    def holder(self, key: str) -> Holder | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ClaimRow.owner, ClaimRow.expires_at).where(ClaimRow.key == key)).first()
        if row is None or row.expires_at < self.clock():
            return None
        return Holder(row.owner, row.expires_at - self.clock())

    @contextmanager
    def held(self, key: str, owner: str, lease_s: float) -> Iterator[Lease]:
        """Hold ``key`` for the block, or raise ``ClaimHeld`` at once."""
        holder = self.acquire(key, owner, lease_s)
        if holder is not None:
            raise ClaimHeld(key, holder)
        try:
            yield Lease(self, key, owner, lease_s)
        finally:
            self.release(key, owner)


@dataclass(frozen=True)
class Lease:
    """A claim we hold; renewed before each send, so a run that stalls past its lease sends nothing more."""

    claims: Claims
    key: str
    owner: str
    lease_s: float

    def renew(self) -> str:
        """'' while the claim is still ours, else why not."""
        holder = self.claims.acquire(self.key, self.owner, self.lease_s)
        return "" if holder is None else f"{self.key} was taken over by {holder.owner}; nothing more is sent here"
