"""Contract cache with a TTL, persisted in the project database, with hit/miss counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from ibkr_pipeline.database.models import ContractCacheRow
from ibkr_pipeline.domain.contracts import CacheStats, ContractInfo, ContractSpec

DEFAULT_TTL = timedelta(days=7)


def _info(row: ContractCacheRow) -> ContractInfo:
    return ContractInfo(**{c: getattr(row, c) for c in ContractInfo.model_fields})


def _key(spec: ContractSpec) -> tuple[str, str, str, str]:
    return (spec.symbol, spec.sec_type, spec.exchange, spec.currency)


class ContractCache:
    def __init__(self, engine: Engine, ttl: timedelta = DEFAULT_TTL):
        self.engine = engine
        self.ttl = ttl
        self.stats = CacheStats()

    def get(self, spec: ContractSpec, now: datetime | None = None) -> ContractInfo | None:
        now = now or datetime.now(UTC)
        with Session(self.engine) as session:
            row = session.get(ContractCacheRow, _key(spec))
            if row is None:
                self.stats.misses += 1
                return None
            fetched = row.fetched_at
            if now - fetched >= self.ttl:
                self.stats.expired += 1
                self.stats.misses += 1
                return None
            self.stats.hits += 1
            return _info(row)

    def put(self, spec: ContractSpec, info: ContractInfo) -> None:
        symbol, sec_type, exchange, currency = _key(spec)
        values = info.model_dump()
        values.update(symbol=symbol, sec_type=sec_type, exchange=exchange, currency=currency)
        with Session(self.engine) as session, session.begin():
            session.merge(ContractCacheRow(**values))

    def search(self, text: str) -> list[ContractInfo]:
        """Cached contracts whose symbol starts with, or name contains, ``text``."""
        needle = text.upper()
        query = select(ContractCacheRow).where(
            or_(ContractCacheRow.symbol.startswith(needle), func.upper(ContractCacheRow.long_name).contains(needle))
        )
        with Session(self.engine) as session:
            return [_info(row) for row in session.scalars(query)]
