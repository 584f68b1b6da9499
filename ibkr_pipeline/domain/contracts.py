"""Contract records: what a symbol resolves to at IB."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator


def normalize_symbol(value: str) -> str:
    """IB symbols are upper case; an empty one is an error."""
    value = value.strip().upper()
    if not value:
        raise ValueError("symbol must not be empty")
    return value


class ContractSpec(BaseModel):
    """What the user asks for: a symbol on an exchange in a currency."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    primary_exchange: str = ""

    _symbol = field_validator("symbol")(classmethod(lambda cls, value: normalize_symbol(value)))


class ContractInfo(BaseModel):
    """A resolved contract with the details the pipeline needs."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    sec_type: str
    exchange: str
    currency: str
    con_id: int
    primary_exchange: str
    local_symbol: str
    trading_class: str
    long_name: str
    industry: str = ""
    stock_type: str = ""
    min_tick: float
    time_zone: str
    trading_hours: str = ""
    liquid_hours: str = ""
    fetched_at: datetime

    @field_validator("fetched_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("fetched_at must be timezone-aware")
        return value


@dataclass
class CacheStats:
    """A contract cache's hits and misses in one client's life (the contracts step shows them)."""

    hits: int = 0
    misses: int = 0
    expired: int = 0
