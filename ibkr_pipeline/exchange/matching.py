"""Order matching against the market model: market, limit, stop and stop-limit orders,
brackets (children live only after the parent fills) and one-cancels-all groups.

Orders fill whole (no partial fills). The engine is synchronous and emits events
that the session layer turns into openOrder/orderStatus/execDetails messages.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ibkr_pipeline.domain.orders import IB_DONE_STATUSES
from ibkr_pipeline.exchange.account import Account, ibkr_fixed_commission
from ibkr_pipeline.exchange.market import MarketModel
from ibkr_pipeline.exchange.universe import Instrument

ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT")
TERMINAL = IB_DONE_STATUSES


@dataclass
class SimOrder:
    client_id: int
    order_id: int
    perm_id: int
    instrument: Instrument
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    oca_type: int
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    placed_at: datetime
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    commission: float = 0.0
    triggered: bool = False
    released: bool = False
    checked_until: datetime | None = None
    completed_at: datetime | None = None
    completed_status: str = ""
    why_held: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.client_id, self.order_id)

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_buy(self) -> bool:
        return self.action == "BUY"


@dataclass(frozen=True)
class Fill:
    exec_id: str
    order: SimOrder
    time: datetime
    shares: float
    price: float
    commission: float
    realized_pnl: float | None


@dataclass(frozen=True)
class OrderEvent:
    """Something a client must hear about: a status change, a fill, or an order error."""

    order: SimOrder
    fill: Fill | None = None
    error_code: int | None = None
    error_message: str = ""


@dataclass
class MatchingConfig:
    slippage_bps: float = 1.0
    commission: Callable[[float, float], float] = field(default=ibkr_fixed_commission)


class OrderRejected(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MatchingEngine:
    def __init__(
        self,
        market: MarketModel,
        account: Account,
        emit: Callable[[OrderEvent], None],
        config: MatchingConfig | None = None,
    ):
        self.market = market
        self.account = account
        self.emit = emit
        self.config = config or MatchingConfig()
        self.orders: dict[tuple[int, int], SimOrder] = {}
        self.fills: list[Fill] = []
        self._perm_ids = itertools.count(1_000_001)
        self._exec_seq = itertools.count(1)
        self._peek = {"perm": 1_000_001, "exec": 1}

    def next_perm_id(self) -> int:
        value = next(self._perm_ids)
        self._peek["perm"] = value + 1
        return value

    def peek_perm_id(self) -> int:
        return self._peek["perm"]

    def peek_exec_seq(self) -> int:
        return self._peek["exec"]

    def restore_counters(self, next_perm_id: int, next_exec_seq: int) -> None:
        """Continue a restored account's numbering: permIds and execIds are never reused."""
        self._perm_ids, self._exec_seq = itertools.count(next_perm_id), itertools.count(next_exec_seq)
        self._peek = {"perm": next_perm_id, "exec": next_exec_seq}

    def _next_exec_seq(self) -> int:
        value = next(self._exec_seq)
        self._peek["exec"] = value + 1
        return value

    def marks(self, now: datetime) -> dict[int, float]:
        return {con_id: self.market.price_at(p.instrument, now) for con_id, p in self.account.positions.items()}

    def validate(self, order: SimOrder, now: datetime) -> None:
        """Raise OrderRejected for an order IB would not accept."""
        if order.order_type not in ORDER_TYPES:
            raise OrderRejected(f"order type {order.order_type!r} is not supported")
        if order.action not in ("BUY", "SELL"):
            raise OrderRejected(f"action {order.action!r} must be BUY or SELL")
        if order.quantity <= 0 or order.quantity != int(order.quantity):
            raise OrderRejected(f"quantity {order.quantity} must be a positive whole number of shares")
        if order.order_type in ("LMT", "STP LMT") and not order.lmt_price:
            raise OrderRejected("a limit order needs a limit price")
        if order.order_type in ("STP", "STP LMT") and not order.aux_price:
            raise OrderRejected("a stop order needs a stop price")
        for price in (order.lmt_price, order.aux_price):
            if price and abs(round(price / order.instrument.min_tick) * order.instrument.min_tick - price) > 1e-9:
                raise OrderRejected(f"price {price} does not conform to the minimum tick {order.instrument.min_tick}")
        if order.parent_id == 0 and order.is_buy:
            price = order.lmt_price or self.market.price_at(order.instrument, now)
            values = self.account.values(self.marks(now))
            if order.quantity * price > values["BuyingPower"]:
                raise OrderRejected(
                    f"insufficient buying power: order value {order.quantity * price:.2f} exceeds "
                    f"{values['BuyingPower']:.2f}"
                )

    def add(self, order: SimOrder, now: datetime) -> None:
        """Accept a new order; held (PendingSubmit) until a transmit=1 order releases its group."""
        self.orders[order.key] = order
        order.checked_until = now
        if not order.transmit:
            return
        group = [order]
        if order.parent_id:
            parent = self.orders.get((order.client_id, order.parent_id))
            if parent is not None:
                group = [parent, *self.children_of(parent)]
        for member in group:
            if not member.released:
                member.released = True
                member.checked_until = now
                # IB's sequence: PreSubmitted first; Submitted once working (a child waits for its parent).
                member.status = "PreSubmitted"
                self.emit(OrderEvent(member))
                if not self._waits_for_parent(member) and not _held_until_triggered(member):
                    member.status = "Submitted"
                    self.emit(OrderEvent(member))
        self.step(now)

    def modify(self, order: SimOrder, changes: SimOrder, now: datetime) -> None:
        if order.is_terminal:
            raise OrderRejected(f"order {order.order_id} is {order.status} and cannot be modified")
        order.quantity = changes.quantity
        order.lmt_price = changes.lmt_price
        order.aux_price = changes.aux_price
        order.tif = changes.tif
        order.outside_rth = changes.outside_rth
        if changes.transmit and not order.released:
            self.add(order, now)
            return
        self.emit(OrderEvent(order))
        self.step(now)

    def children_of(self, parent: SimOrder) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.client_id == parent.client_id and o.parent_id == parent.order_id]

    def _waits_for_parent(self, order: SimOrder) -> bool:
        if not order.parent_id:
            return False
        parent = self.orders.get((order.client_id, order.parent_id))
        return parent is not None and parent.status != "Filled"

    def cancel(self, order: SimOrder, now: datetime, reason: str = "") -> None:
        if order.is_terminal:
            return
        for child in self.children_of(order):
            self._cancel_one(child, now, reason)
        self._cancel_one(order, now, reason)

    def _cancel_one(self, order: SimOrder, now: datetime, reason: str) -> None:
        if order.is_terminal:
            return
        order.status = "Cancelled"
        order.completed_at = now
        order.completed_status = "Cancelled by Trader" if not reason else reason
        self.emit(OrderEvent(order, error_code=202, error_message=f"Order Canceled - reason:{reason}"))

    def reject(self, order: SimOrder, now: datetime, reason: str) -> None:
        """IB's rejection: error 201, and the order ends Inactive (also when it comes after acceptance)."""
        order.status = "Inactive"
        order.completed_at = now
        order.completed_status = f"Rejected: {reason}"
        self.orders[order.key] = order
        self.emit(OrderEvent(order, error_code=201, error_message=f"Order rejected - reason:{reason}"))

    def discard_untransmitted(self, client_id: int) -> list[SimOrder]:
        """Legs sent with transmit=False were never orders at the exchange: when their client goes, so do they."""
        held = [o for o in self.orders.values() if o.client_id == client_id and not o.released and not o.is_terminal]
        for order in held:
            del self.orders[order.key]
        return held

    def working(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.released and not o.is_terminal]

    def step(self, now: datetime) -> None:
        """Match every live order against the price path since it was last checked."""
        for order in sorted(self.working(), key=lambda o: o.perm_id):
            if order.is_terminal:
                continue
            since = order.checked_until or now
            order.checked_until = now
            if self._expired(order, now):
                self._cancel_one(order, now, "DAY order expired at the close")
                continue
            if self._waits_for_parent(order) or not self._eligible(order, now):
                continue
            price = self._crossing_price(order, since, now)
            if price is not None:
                self._fill(order, price, now)

    def _expired(self, order: SimOrder, now: datetime) -> bool:
        if order.tif != "DAY":
            return False
        cal = self.market.calendar
        placed = cal.last_index_started_by(order.placed_at)
        session = cal.session(max(placed, 0))
        end = session.post_close if order.outside_rth else session.close
        if order.placed_at >= end:
            nxt = cal.session(placed + 1)
            end = nxt.post_close if order.outside_rth else nxt.close
        return now >= end

    def _eligible(self, order: SimOrder, now: datetime) -> bool:
        cal = self.market.calendar
        if cal.is_regular_hours(now):
            return True
        return order.outside_rth and order.order_type != "MKT" and cal.is_extended_hours(now)

    def _crossing_price(self, order: SimOrder, since: datetime, now: datetime) -> float | None:
        w = self.market.window(order.instrument, since, now)
        tick = order.instrument.min_tick
        slip = w.last * self.config.slippage_bps / 10_000
        buy = order.is_buy
        if order.order_type == "MKT":
            return _round_tick(w.last + slip if buy else w.last - slip, tick)
        if order.order_type in ("STP", "STP LMT") and not order.triggered:
            stop = order.aux_price or 0.0
            hit = (w.high >= stop) if buy else (w.low <= stop)
            if not hit:
                return None
            order.triggered = True
            order.status = "Submitted"  # IB works a stop once triggered; until then it stays PreSubmitted
            self.emit(OrderEvent(order))
            if order.order_type == "STP":
                gapped = (w.first >= stop) if buy else (w.first <= stop)
                base = w.first if gapped else stop
                return _round_tick(base + slip if buy else base - slip, tick)
        limit = order.lmt_price or 0.0
        if buy:
            if w.first <= limit:
                return _round_tick(min(w.first, limit), tick)
            return limit if w.low <= limit else None
        if w.first >= limit:
            return _round_tick(max(w.first, limit), tick)
        return limit if w.high >= limit else None

    def _fill(self, order: SimOrder, price: float, now: datetime) -> None:
        shares = order.remaining
        commission = self.config.commission(shares, price)
        realized = self.account.apply_fill(order.instrument, order.action, shares, price, commission)
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * shares) / (order.filled + shares)
        order.filled += shares
        order.last_fill_price = price
        order.commission += commission
        order.status = "Filled"
        order.completed_at = now
        order.completed_status = f"Filled Size: {order.filled:g}"
        fill = Fill(
            exec_id=f"{order.instrument.con_id:08x}.{order.perm_id:08x}.{self._next_exec_seq():02d}.01",
            order=order,
            time=now,
            shares=shares,
            price=price,
            commission=commission,
            realized_pnl=realized,
        )
        self.fills.append(fill)
        self.emit(OrderEvent(order, fill=fill))
        self._after_fill(order, now)

    def _after_fill(self, order: SimOrder, now: datetime) -> None:
        # Bracket: children go live; a filled child cancels its siblings (implicit OCA).
        for child in self.children_of(order):
            if child.released and not child.is_terminal:
                child.checked_until = now
                if not _held_until_triggered(child):
                    child.status = "Submitted"
                    self.emit(OrderEvent(child))
        if order.parent_id:
            parent = self.orders.get((order.client_id, order.parent_id))
            if parent is not None:
                for sibling in self.children_of(parent):
                    if sibling is not order:
                        self._cancel_one(sibling, now, "")
        if order.oca_group:
            for other in self.working():
                if other is not order and other.oca_group == order.oca_group and other.account == order.account:
                    self._cancel_one(other, now, "")
        # A child that became live can trade in the same instant (e.g. a target already through).
        self.step(now)


def _held_until_triggered(order: SimOrder) -> bool:
    """A stop that has not triggered is PreSubmitted at IB (held), not Submitted (working at the exchange)."""
    return order.order_type in ("STP", "STP LMT") and not order.triggered


def _round_tick(price: float, tick: float) -> float:
    return round(round(price / tick) * tick, 8)
