"""SQLAlchemy tables of the project database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ibkr_pipeline.store.database import Base


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
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LLMCacheRow(Base):
    __tablename__ = "llm_answer_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    response_text: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
