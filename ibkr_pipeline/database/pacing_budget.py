"""IB's historical-data pacing budget, shared by every process that talks to one gateway.

IB counts requests per account session, not per process: two strategies fetching at once, each with
its own scheduler, together exceed limits neither breaks alone (error 162). Every reservation is
therefore a row in the project database, read and written while holding the gateway's lock row (an
UPDATE, which serialises writers on SQLite and PostgreSQL alike). A request still in flight counts as
"now" in every window, so an identical request waits for the answer and then the full window. The cap of 50 open historical
requests is counted across the processes too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ibkr_pipeline.broker.pacing import IB_MAX_CONCURRENT_HISTORICAL
from ibkr_pipeline.database.models import PacingGatewayRow, PacingRequestRow
from ibkr_pipeline.domain.pacing import PacedRequest, PacingRules, wait_time

IN_FLIGHT_STALE_S = 120.0  # a request in flight longer than this belongs to a process that died
OPEN_CAP_POLL_S = 0.1  # how soon to look again when 50 requests are open across the processes


class DatabasePacingBudget:
    def __init__(
        self,
        engine: Engine,
        gateway: str,
        rules: PacingRules,
        clock: Callable[[], float] = time.time,
        max_open: int = IB_MAX_CONCURRENT_HISTORICAL,
    ):
        self.engine = engine
        self.max_open = max_open
        self.gateway = gateway
        self.rules = rules
        self.clock = clock
        try:
            with engine.begin() as conn:
                conn.execute(insert(PacingGatewayRow).values(gateway=gateway, reservations=0))
        except IntegrityError:
            pass  # another process made the lock row first

    def try_reserve(self, identical: str, contract: str, hard: bool = True) -> tuple[float, int | None]:
        """(0, token) when the request may go now, else (seconds to wait, None). Every request counts against the
        cap of open requests; only ``hard`` ones (bars of 30 s or less) against IB's windows."""
        r = self.rules
        with self.engine.begin() as conn:
            conn.execute(
                update(PacingGatewayRow)
                .where(PacingGatewayRow.gateway == self.gateway)
                .values(reservations=PacingGatewayRow.reservations + 1)
            )  # the lock
            now = self.clock()
            fresh = now - IN_FLIGHT_STALE_S
            open_now = conn.execute(
                select(func.count()).where(
                    PacingRequestRow.gateway == self.gateway, PacingRequestRow.in_flight, PacingRequestRow.at > fresh
                )
            ).scalar_one()
            if open_now >= self.max_open:
                return OPEN_CAP_POLL_S, None
            # Only a hard request reads IB's windows (a soft one only counts as open): a tick of daily bars over
            # an index makes a thousand soft requests, each reserved here.
            rows = (
                conn.execute(
                    select(
                        PacingRequestRow.identical,
                        PacingRequestRow.contract,
                        PacingRequestRow.at,
                        PacingRequestRow.in_flight,
                    ).where(
                        PacingRequestRow.gateway == self.gateway,
                        PacingRequestRow.hard,
                        PacingRequestRow.at > now - max(r.global_window_s, IN_FLIGHT_STALE_S),
                    )
                ).all()
                if hard
                else []
            )
            requests = (
                PacedRequest(row.identical, row.contract, now if row.in_flight and row.at > fresh else row.at)
                for row in rows
            )
            wait = wait_time(r, requests, identical, contract, now)
            if wait > 0:
                return wait, None
            inserted = conn.execute(
                insert(PacingRequestRow).values(
                    gateway=self.gateway, identical=identical, contract=contract, at=now, in_flight=True, hard=hard
                )
            ).inserted_primary_key
            assert inserted is not None  # an INSERT of one row always has its key
            token = inserted[0]
            conn.execute(
                delete(PacingRequestRow).where(
                    PacingRequestRow.gateway == self.gateway,
                    PacingRequestRow.at < now - 2 * r.global_window_s,
                    PacingRequestRow.at < now - IN_FLIGHT_STALE_S,
                )
            )
            return 0.0, int(token)

    def release(self, token: int) -> None:
        """The answer came back: the request counts from now (IB counted it on arrival, never later)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(PacingRequestRow).where(PacingRequestRow.id == token).values(at=self.clock(), in_flight=False)
            )
