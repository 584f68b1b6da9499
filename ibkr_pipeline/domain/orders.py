"""Order intents: what a signal becomes before it meets the broker, keyed by a deterministic orderRef."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

# No order of ours is ever larger than this, whatever a sizing rule or a strategy file says.
MAX_ORDER_SHARES = 1_000_000
MAX_PRICE = 1_000_000.0


def order_ref(strategy: str, symbol: str, tick: str) -> str:
    """Same strategy, symbol and tick → same reference, whatever retries or re-executions happen."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "", f"{strategy}:{symbol.replace(' ', '.')}:{tick.replace(':', '')}")


def oca_group(ref: str) -> str:
    """The OCA group of a bracket's stop and target: whichever fills first cancels the other."""
    return f"{ref}:oca"


IB_DONE_STATUSES = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})  # IB sends no more after these


def group_status(statuses: set[str]) -> str:
    """The ledger status of an order group from its legs' IB statuses: a bracket is done when every leg is;
    IB ends a rejected order Inactive, also when the reject comes late."""
    if "Inactive" in statuses:
        return "rejected"
    if statuses and statuses <= IB_DONE_STATUSES:
        return "filled" if "Filled" in statuses else "cancelled"
    return "working"


def strategy_of(ref: str) -> str:
    """The strategy an orderRef belongs to ('' for an order that is not ours)."""
    strategy, sep, _ = ref.partition(":")
    return strategy if sep and re.fullmatch(r"[a-z][a-z0-9_]*", strategy) else ""


def round_to_tick(price: float, tick: float, side: Literal["up", "down", "nearest"] = "nearest") -> float:
    steps = price / tick
    steps = math.ceil(steps - 1e-9) if side == "up" else math.floor(steps + 1e-9) if side == "down" else round(steps)
    return round(steps * tick, 8)


class OrderIntent(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    order_ref: str
    strategy: str
    symbol: str
    con_id: int
    tick: str
    tick_as_of: AwareDatetime | None = None  # the instant the tick ran; the name ``tick`` says the same in its timezone
    mode: Literal["paper", "live", "dry_run"]
    action: Literal["BUY", "SELL"]
    quantity: int = Field(gt=0, le=MAX_ORDER_SHARES)
    entry_type: Literal["MKT", "LMT"]
    limit_price: float | None = Field(default=None, gt=0, le=MAX_PRICE)
    stop_loss: float | None = Field(default=None, gt=0, le=MAX_PRICE)
    take_profit: float | None = Field(default=None, gt=0, le=MAX_PRICE)
    tif: Literal["DAY", "GTC"] = "DAY"
    outside_rth: bool = False

    @model_validator(mode="after")
    def _bracket_sides(self) -> OrderIntent:
        if self.is_bracket:
            low, high = (
                (self.stop_loss, self.take_profit) if self.action == "BUY" else (self.take_profit, self.stop_loss)
            )
            if not low < high:  # type: ignore[operator]
                raise ValueError(
                    f"a {self.action} bracket needs its stop on the losing side of its target, "
                    f"got stop {self.stop_loss} and target {self.take_profit}"
                )
        return self

    @property
    def is_bracket(self) -> bool:
        return self.stop_loss is not None and self.take_profit is not None

    @property
    def reference_price(self) -> float | None:
        return self.limit_price
