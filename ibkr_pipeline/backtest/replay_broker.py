"""The backtest's broker: the gateway simulator's matching engine over replayed daily bars.

Orders never leave the process. Between two ticks the engine is stepped at each
session's open and close, so a market order fills at the next bar's open (plus
slippage), limit and stop orders fill when the bar's range crosses them, and a
bracket's children live only once the entry has filled. The market it matches
against reads bars through ``PointInTimeBars``: pricing a session that has not yet
opened on the backtest's clock is a ``LookAheadError``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from ibkr_pipeline.backtest.point_in_time import LookAheadError, PointInTimeBars
from ibkr_pipeline.database.ledger import NEVER_SENT, Ledger
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.orders import OrderIntent, group_status, oca_group
from ibkr_pipeline.domain.strategy import BacktestSettings
from ibkr_pipeline.exchange.account import Account
from ibkr_pipeline.exchange.market import MinuteArrays, PriceWindow, ReplayMarket, SessionCalendar
from ibkr_pipeline.exchange.matching import MatchingConfig, MatchingEngine, OrderEvent, OrderRejected, SimOrder
from ibkr_pipeline.exchange.universe import Instrument, Universe
from ibkr_pipeline.trading.broker import Holding
from ibkr_pipeline.trading.executor import Placement

ACCOUNT = "DUBACKTEST"
CLIENT_ID = 0


@dataclass(frozen=True)
class Costs:
    slippage_bps: float = 2.0
    commission_per_share: float = 0.005
    min_commission: float = 1.0
    max_commission_pct: float = 1.0

    @classmethod
    def of(cls, settings: BacktestSettings) -> Costs:
        """The costs a strategy file's ``backtest:`` section names."""
        return cls(
            settings.slippage_bps, settings.commission_per_share, settings.min_commission, settings.max_commission_pct
        )

    def commission(self, shares: float, price: float) -> float:
        value = abs(shares) * price
        return round(
            min(
                max(abs(shares) * self.commission_per_share, self.min_commission), value * self.max_commission_pct / 100
            ),
            4,
        )


@dataclass(frozen=True)
class TradeFill:
    time: datetime
    symbol: str
    side: str
    shares: float
    price: float
    commission: float
    realized_pnl: float | None
    order_ref: str
    leg: str  # entry | target | stop | exit


class _PointInTimeMarket(ReplayMarket):
    """ReplayMarket's intraday path (open → extremes → close) over bars read through the guard."""

    def __init__(self, history: PointInTimeBars, universe: Universe, calendar: SessionCalendar):
        self.universe = universe
        self.calendar = calendar
        self.history = history
        self._daily_cache: dict[str, pd.DataFrame] = {}

    def _raw(self, instrument: Instrument) -> pd.DataFrame:
        return self.history.full_daily(instrument.symbol)

    def minute_arrays(self, instrument: Instrument, session_index: int) -> MinuteArrays:
        opened = self.calendar.session(session_index).open
        if self.history.clock is None or opened > self.history.clock:
            raise LookAheadError(
                f"{instrument.symbol}: the matching engine asked for session {opened:%Y-%m-%d}, "
                f"which has not opened at the backtest clock {self.history.clock}"
            )
        return super().minute_arrays(instrument, session_index)

    def daily_bars(self, instrument: Instrument, rth: bool, first: int, last: int) -> pd.DataFrame:
        closed = self.calendar.session(last).close
        if self.history.clock is None or closed > self.history.clock:
            raise LookAheadError(
                f"{instrument.symbol}: the matching engine asked for the close of {closed:%Y-%m-%d}, "
                f"which is after the backtest clock {self.history.clock}"
            )
        return super().daily_bars(instrument, rth, first, last)

    def window(self, instrument: Instrument, start: datetime, end: datetime) -> PriceWindow:
        """A regular-hours order waiting overnight first meets the market at the open, not at last night's close."""
        session = self.calendar.session_covering(end)
        if session is not None and start < session.open <= end:
            start = session.open
        return super().window(instrument, start, end)

    def _price_at(self, instrument: Instrument, instant: datetime) -> float:
        session = self.calendar.session_covering(instant)
        if session is not None and instant < session.open:  # pre-market: the last close is what is known
            return self._close_of(instrument, session.index - 1)
        return super()._price_at(instrument, instant)


def _instrument(info: ContractInfo) -> Instrument:
    return Instrument(
        symbol=info.symbol,
        primary_exchange=info.primary_exchange,
        sec_type="STK",
        stock_type="COMMON",
        long_name=info.long_name,
        industry="",
        start_price=0.0,
        annual_volatility=0.0,
        currency=info.currency,
        min_tick=info.min_tick,
    )


class ReplayBroker:
    """Implements the ``Broker`` interface of ``trade_tick`` for backtests."""

    account = ACCOUNT

    def __init__(
        self,
        history: PointInTimeBars,
        contracts: dict[str, ContractInfo],
        starting_cash: float,
        costs: Costs,
        calendar: SessionCalendar | None = None,
    ):
        self.history = history
        self.instruments = {s: _instrument(c) for s, c in contracts.items()}
        self.calendar = calendar or SessionCalendar()
        self.market = _PointInTimeMarket(history, Universe(list(self.instruments.values())), self.calendar)
        self.cash_account = Account(ACCOUNT, starting_cash)
        self._events: list[OrderEvent] = []
        self.engine = MatchingEngine(
            self.market,
            self.cash_account,
            self._events.append,
            MatchingConfig(slippage_bps=costs.slippage_bps, commission=costs.commission),
        )
        self._ids = itertools.count(1)
        self._legs: dict[int, str] = {}
        self.fills: list[TradeFill] = []
        self.rejections: list[tuple[str, str]] = []
        self.clock: datetime | None = None
        self.orders_sent = 0

    def now(self) -> datetime:
        if self.clock is None:
            raise RuntimeError("the replay broker's clock has not started")
        return self.clock

    def blocked_reason(self, mode: str) -> str:
        return ""  # nothing leaves the process, whatever the strategy's mode

    def reconcile(self, ledger: Ledger) -> None:
        """Fills are booked into the backtest's ledger as the engine makes them (``advance_to``)."""

    def advance_to(self, instant: datetime, ledger: Ledger) -> None:
        """Match working orders through every session that opened since the last instant, then book fills."""
        if self.clock is not None:
            first = self.calendar.last_index_started_by(self.clock) + 1
            last = self.calendar.last_index_started_by(instant)
            for i in range(max(first, 0), last + 1):
                for moment in self._matching_moments(self.calendar.session(i)):
                    if moment <= instant:
                        at = max(moment, self.history.clock or moment)
                        self.history.advance_to(at)
                        self.clock = at
                        self.engine.step(at)
        self.history.advance_to(instant)
        self.clock = instant
        self.engine.step(instant)
        self._book(ledger)

    @staticmethod
    def _matching_moments(session) -> list[datetime]:
        """Where a replayed day's path turns (open, first extreme, second extreme, close), so a stop and a
        target inside the same bar trigger in the order the path reaches them; at the close DAY orders expire."""
        minutes = session.rth_minutes
        return [
            session.open + timedelta(minutes=1),
            session.open + timedelta(minutes=minutes // 3 + 1),
            session.open + timedelta(minutes=2 * minutes // 3 + 1),
            session.close - timedelta(seconds=1),
            session.close,
        ]

    def _book(self, ledger: Ledger) -> None:
        events, self._events[:] = list(self._events), []
        for event in events:
            order = event.order
            if event.fill is not None:
                f = event.fill
                leg = self._legs.get(order.order_id, "entry")
                self.fills.append(
                    TradeFill(
                        f.time,
                        order.instrument.symbol,
                        order.action,
                        f.shares,
                        f.price,
                        f.commission,
                        f.realized_pnl,
                        order.order_ref,
                        leg,
                    )
                )
                ledger.record_fill(
                    f.exec_id,
                    order.order_ref,
                    order.instrument.symbol,
                    order.action,
                    f.shares,
                    f.price,
                    f.commission,
                    f.realized_pnl or 0.0,
                    f.time,
                )
                if leg == "exit":
                    self._cancel_symbol(order.instrument.symbol, order.order_ref)
            self._settle(ledger, order.order_ref)

    def _settle(self, ledger: Ledger, order_ref: str) -> None:
        group = [o for o in self.engine.orders.values() if o.order_ref == order_ref]
        if not group or ledger.status(order_ref) is None:
            return
        status = group_status({o.status for o in group})
        if status != "working":
            ledger.set_status(order_ref, status)

    def _cancel_symbol(self, symbol: str, keep_ref: str) -> None:
        """Cancel every working order on ``symbol`` but ``keep_ref``'s (an exit replaces the position's bracket)."""
        for order in self.engine.working():
            if order.instrument.symbol == symbol and order.order_ref != keep_ref:
                self.engine.cancel(order, self.now(), "replaced by an exit")

    def marks(self) -> dict[int, float]:
        return self.engine.marks(self.now())

    def account_values(self) -> dict[str, float]:
        return self.cash_account.values(self.marks())

    def holdings(self) -> dict[str, Holding]:
        return {
            p.instrument.symbol: Holding(p.instrument.symbol, p.quantity, p.average_cost)
            for p in self.cash_account.positions.values()
            if p.quantity
        }

    def quotes(self, contracts: list[ContractInfo]) -> dict[str, float | None | Exception]:
        now = self.now()
        return {c.symbol: self.market.price_at(self.instruments[c.symbol], now) for c in contracts}

    def _order(
        self,
        intent: OrderIntent,
        action: str,
        order_type: str,
        lmt: float | None,
        aux: float | None,
        tif: str,
        parent_id: int,
        transmit: bool,
        leg: str,
    ) -> SimOrder:
        order_id = next(self._ids)
        self._legs[order_id] = leg
        return SimOrder(
            client_id=CLIENT_ID,
            order_id=order_id,
            perm_id=self.engine.next_perm_id(),
            instrument=self.instruments[intent.symbol],
            action=action,
            quantity=intent.quantity,
            order_type=order_type,
            lmt_price=lmt,
            aux_price=aux,
            tif=tif,
            oca_group=oca_group(intent.order_ref) if parent_id else "",
            oca_type=1 if parent_id else 0,
            account=ACCOUNT,
            order_ref=intent.order_ref,
            transmit=transmit,
            parent_id=parent_id,
            outside_rth=intent.outside_rth,
            placed_at=self.now(),
        )

    def place(self, ledger: Ledger, intent: OrderIntent, contract: ContractInfo, blocked_reason: str = "") -> Placement:
        existing = ledger.status(intent.order_ref)
        if existing is not None and existing not in NEVER_SENT:
            return Placement(intent.order_ref, "already_done", existing)
        if existing is None:
            ledger.record_intent(intent, status="blocked" if blocked_reason else "intent", error=blocked_reason)
        if blocked_reason:
            if existing is not None:  # a new intent was recorded blocked, with its reason, just above
                ledger.set_status(intent.order_ref, "blocked", blocked_reason)
            return Placement(intent.order_ref, "blocked", "blocked", detail=blocked_reason)
        if intent.action == "SELL" and not intent.is_bracket:
            self._cancel_symbol(intent.symbol, intent.order_ref)  # as GatewayBroker does before an exit
        entry_type = intent.entry_type
        parent = self._order(
            intent,
            intent.action,
            entry_type,
            intent.limit_price,
            None,
            intent.tif,
            0,
            not intent.is_bracket,
            "entry" if intent.action == "BUY" else "exit",
        )
        group = [parent]
        if intent.is_bracket:
            reverse = "SELL" if intent.action == "BUY" else "BUY"
            group.append(
                self._order(intent, reverse, "LMT", intent.take_profit, None, "GTC", parent.order_id, False, "target")
            )
            group.append(
                self._order(intent, reverse, "STP", None, intent.stop_loss, "GTC", parent.order_id, True, "stop")
            )
        try:
            for order in group:
                self.engine.validate(order, self.now())
        except OrderRejected as exc:
            for order in group:
                self.engine.reject(order, self.now(), exc.reason)
            self._events.clear()
            self.rejections.append((intent.order_ref, exc.reason))
            ledger.set_status(intent.order_ref, "rejected", exc.reason)
            return Placement(intent.order_ref, "placed", "rejected", detail=exc.reason)
        for order in group:
            self.engine.add(order, self.now())
        self.orders_sent += 1
        ids = [o.order_id for o in group]
        ledger.set_status(
            intent.order_ref, "working", "sent to the replay matching engine", ids, [o.perm_id for o in group]
        )
        self._book(ledger)
        return Placement(intent.order_ref, "placed", "working", tuple(ids))
