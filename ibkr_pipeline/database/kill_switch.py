"""The project-wide kill switch, kept in the project database so every process and container sees it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ibkr_pipeline.database.models import KillSwitchEventRow


@dataclass(frozen=True)
class KillSwitchState:
    engaged: bool
    reason: str
    changed_by: str
    at: datetime


class KillSwitch:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None):
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def state(self) -> KillSwitchState | None:
        """The newest change, or None when the switch was never touched (off)."""
        with Session(self.engine) as session:
            row = session.scalars(select(KillSwitchEventRow).order_by(KillSwitchEventRow.id.desc()).limit(1)).first()
            return None if row is None else KillSwitchState(row.engaged, row.reason, row.changed_by, _utc(row.at))

    def history(self, limit: int = 20) -> list[KillSwitchState]:
        with Session(self.engine) as session:
            rows = session.scalars(select(KillSwitchEventRow).order_by(KillSwitchEventRow.id.desc()).limit(limit))
            return [KillSwitchState(r.engaged, r.reason, r.changed_by, _utc(r.at)) for r in rows]

    def set(self, engaged: bool, reason: str = "", changed_by: str = "") -> KillSwitchState:
        at = self.clock()
        with Session(self.engine) as session, session.begin():
            session.add(KillSwitchEventRow(engaged=engaged, reason=reason, changed_by=changed_by, at=at))
        return KillSwitchState(engaged, reason, changed_by, at)


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
