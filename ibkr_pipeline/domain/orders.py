"""Order intents: what a signal becomes before it meets the broker, keyed by a deterministic orderRef."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def order_ref(strategy: str, symbol: str, tick: str) -> str:
    """Same strategy, symbol and tick → same reference, whatever retries or re-executions happen."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "", f"{strategy}:{symbol.replace(' ', '.')}:{tick.replace(':', '')}")


def round_to_tick(price: float, tick: float, side: Literal["up", "down", "nearest"] = "nearest") -> float:
    steps = price / tick
    steps = math.ceil(steps - 1e-9) if side == "up" else math.floor(steps + 1e-9) if side == "down" else round(steps)
    return round(steps * tick, 8)


class OrderIntent(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_ref: str
    strategy: str
    symbol: str
    con_id: int
    tick: str
    mode: Literal["paper", "live", "dry_run"]
    action: Literal["BUY", "SELL"]
    quantity: int = Field(gt=0)
    entry_type: Literal["MKT", "LMT"]
    limit_price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    tif: Literal["DAY", "GTC"] = "DAY"
    outside_rth: bool = False

    @property
    def is_bracket(self) -> bool:
        return self.stop_loss is not None and self.take_profit is not None

    @property
    def reference_price(self) -> float | None:
        return self.limit_price
