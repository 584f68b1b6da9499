"""SQLAlchemy tables of the project database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ibkr_pipeline.database.engine import Base


class UTCDateTime(TypeDecorator):
    """A timestamp that reads back UTC-aware on every database (SQLite returns naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        """Stored in UTC, so that SQLite (which keeps the wall time as text) compares instants correctly."""
        return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class ContractCacheRow(Base):
    __tablename__ = "contract_cache"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    sec_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    exchange: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    con_id: Mapped[int] = mapped_column(Integer)
    primary_exchange: Mapped[str] = mapped_column(String(16))
    local_symbol: Mapped[str] = mapped_column(String(32))
    trading_class: Mapped[str] = mapped_column(String(32))
    long_name: Mapped[str] = mapped_column(String(128))
    industry: Mapped[str] = mapped_column(String(64))
    stock_type: Mapped[str] = mapped_column(String(16))
    min_tick: Mapped[float] = mapped_column(Float)
    time_zone: Mapped[str] = mapped_column(String(32))
    trading_hours: Mapped[str] = mapped_column(Text)
    liquid_hours: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LLMCacheRow(Base):
    __tablename__ = "llm_answer_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    response_text: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderRow(Base):
    """An order intent, written before anything is sent to the broker; the key to exactly-once."""

    __tablename__ = "orders"

    order_ref: Mapped[str] = mapped_column(String(96), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    con_id: Mapped[int] = mapped_column(Integer)
    tick: Mapped[str] = mapped_column(String(32))
    # The instant the tick ran and was computed as of; NULL on rows named by the old scheme (migration 0006).
    tick_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    mode: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(Integer)
    entry_type: Mapped[str] = mapped_column(String(8))
    limit_price: Mapped[float | None] = mapped_column(Float, nullable=True)
    stop_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    take_profit: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    broker_order_ids: Mapped[str] = mapped_column(String(64), default="")
    perm_ids: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderEventRow(Base):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_ref: Mapped[str] = mapped_column(String(96), index=True)
    status: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class FillRow(Base):
    __tablename__ = "fills"

    exec_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_ref: Mapped[str] = mapped_column(String(96), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    shares: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    commission: Mapped[float] = mapped_column(Float, default=0.0)
    realized_pnl: Mapped[float] = mapped_column(Float, default=0.0)
    time: Mapped[datetime] = mapped_column(UTCDateTime)


class PortfolioSnapshotRow(Base):
    __tablename__ = "portfolio_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    account: Mapped[str] = mapped_column(String(32))
    net_liquidation: Mapped[float] = mapped_column(Float)
    cash: Mapped[float] = mapped_column(Float)
    unrealized_pnl: Mapped[float] = mapped_column(Float)
    realized_pnl: Mapped[float] = mapped_column(Float)
    positions_json: Mapped[str] = mapped_column(Text)


class KillSwitchEventRow(Base):
    """Every change of the project-wide kill switch; the newest row is its state (shared by every process)."""

    __tablename__ = "kill_switch_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    engaged: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_by: Mapped[str] = mapped_column(String(128), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ClaimRow(Base):
    """A lease: while it runs, only ``owner`` may act under ``key`` (an orderRef, or a strategy's trading)."""

    __tablename__ = "claims"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    owner: Mapped[str] = mapped_column(String(160))
    expires_at: Mapped[float] = mapped_column(Float)  # epoch seconds: compared in SQL the same on every database


class PacingGatewayRow(Base):
    """One row per gateway: updating it is the lock every process takes before reserving a request."""

    __tablename__ = "pacing_gateways"

    gateway: Mapped[str] = mapped_column(String(160), primary_key=True)
    reservations: Mapped[int] = mapped_column(Integer, default=0)


class PacingRequestRow(Base):
    """A historical request counted against IB's pacing windows, by every process sharing the gateway."""

    __tablename__ = "pacing_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gateway: Mapped[str] = mapped_column(String(160), index=True)
    identical: Mapped[str] = mapped_column(String(400))
    contract: Mapped[str] = mapped_column(String(200))
    at: Mapped[float] = mapped_column(Float, index=True)  # epoch seconds: sent, then answered
    in_flight: Mapped[bool] = mapped_column(Boolean, default=True)
    hard: Mapped[bool] = mapped_column(Boolean, default=True)  # bars of 30 s or less: counted in IB's windows
