"""The trading ledger: order intents with status history, fills and portfolio snapshots."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ibkr_pipeline.database.models import FillRow, OrderEventRow, OrderRow, PortfolioSnapshotRow
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.domain.positions import StrategyPosition, positions_after, positions_from_fills

# Sent, not yet acknowledged by IB: it may or may not be there; only a search of the broker decides.
UNCONFIRMED = "unconfirmed"
# IB did not know it after the grace period: alerted, no longer blocking its symbol, never re-sent.
LOST = "lost"
# Blocked and dry-run intents are not terminal: re-executing once trading is allowed may send them.
TERMINAL = {"filled", "cancelled", "rejected", LOST}
# IB holds something else under the orderRef: a person decides; it is never sent, adopted or tracked as ours.
CONFLICT = "conflict"
NOT_TO_SEND = TERMINAL | {"working", CONFLICT}
NEVER_SENT = {"intent", "blocked", "dry_run"}
# May be at IB right now: these block their symbol and are what reconciliation follows.
LIVE = {"working", UNCONFIRMED}


# Statements a backtest runs on every tick or intent, built once: building the expression costs more than SQLite.
_STATUS = select(OrderRow.status).where(OrderRow.order_ref == bindparam("ref"))
_INSERT_ORDER = insert(OrderRow)
_INSERT_EVENT = insert(OrderEventRow)
_FILLS_STATE = select(func.count(), func.sum(FillRow.shares), func.sum(FillRow.price), func.max(FillRow.time))
_WORKING = (
    select(OrderRow.symbol, OrderRow.order_ref)
    .where(OrderRow.status.in_(LIVE), OrderRow.strategy == bindparam("strategy"))
    .order_by(OrderRow.created_at, OrderRow.order_ref)
)
_OPENING = (
    select(PortfolioSnapshotRow.net_liquidation)
    .where(PortfolioSnapshotRow.at >= bindparam("since"))
    .order_by(PortfolioSnapshotRow.at, PortfolioSnapshotRow.id)
    .limit(1)
)
_FILL_ORDER = (FillRow.time, FillRow.exec_id)
_FILL_COLUMNS = (FillRow.order_ref, FillRow.symbol, FillRow.side, FillRow.shares, FillRow.price, *_FILL_ORDER)
_FILLS_IN_ORDER = select(*_FILL_COLUMNS).order_by(*_FILL_ORDER)
_FILLS_AFTER = (
    select(*_FILL_COLUMNS)
    .where(tuple_(*_FILL_ORDER) > tuple_(bindparam("time", type_=FillRow.time.type), bindparam("exec_id")))
    .order_by(*_FILL_ORDER)
)


@dataclass(frozen=True)
class _CountedPositions:
    key: tuple  # count, sums and latest time of the fills they came from
    positions: dict[tuple[str, str], StrategyPosition]
    last: tuple[datetime, str] | None  # (time, exec_id) of the last of those fills


def _last(rows: Sequence[Any]) -> tuple[datetime, str] | None:
    return (rows[-1].time, rows[-1].exec_id) if rows else None


class Ledger:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None):
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))  # a backtest's ledger runs on the backtest's clock
        self._positions: _CountedPositions | None = None

    def _detached(self, query) -> list:
        """The rows of ``query``, usable after their session is gone."""
        with Session(self.engine) as session:
            rows = list(session.scalars(query))
            for row in rows:
                session.expunge(row)
            return rows

    def get(self, order_ref: str) -> OrderRow | None:
        with Session(self.engine) as session:
            row = session.get(OrderRow, order_ref)
            if row is not None:
                session.expunge(row)
            return row

    def status(self, order_ref: str) -> str | None:
        """The order's status, None when the ledger has no such order: one column, no ORM object (a backtest asks
        for every intent it places)."""
        with self.engine.connect() as conn:
            return conn.execute(_STATUS, {"ref": order_ref}).scalar()

    def record_intent(self, intent: OrderIntent, status: str = "intent", error: str = "") -> bool:
        """Write the intent before anything is sent. False if the reference was already there."""
        now = self.clock()
        try:
            return self._insert_intent(intent, status, error, now)
        except IntegrityError:  # already there: a re-execution, or another process that wrote it just now
            return False

    def _insert_intent(self, intent: OrderIntent, status: str, error: str, now: datetime) -> bool:
        # Core statements, one transaction: a backtest writes thousands of intents, and ORM objects cost 10x.
        # No read first: the primary key refuses a second intent under one orderRef (IntegrityError, False).
        with self.engine.begin() as conn:
            conn.execute(  # parameters apart from the statement: SQLAlchemy compiles it once and reuses it
                _INSERT_ORDER,
                dict(
                    order_ref=intent.order_ref,
                    strategy=intent.strategy,
                    symbol=intent.symbol,
                    con_id=intent.con_id,
                    tick=intent.tick,
                    tick_as_of=intent.tick_as_of,
                    mode=intent.mode,
                    action=intent.action,
                    quantity=intent.quantity,
                    entry_type=intent.entry_type,
                    limit_price=intent.limit_price,
                    stop_loss=intent.stop_loss,
                    take_profit=intent.take_profit,
                    status=status,
                    broker_order_ids="",
                    perm_ids="",
                    error=error,
                    created_at=now,
                    updated_at=now,
                ),
            )
            conn.execute(_INSERT_EVENT, dict(order_ref=intent.order_ref, status=status, detail=error, at=now))
        return True

    def refresh_intent(self, intent: OrderIntent) -> None:
        """An intent never sent (blocked, dry-run, interrupted) takes the re-computed order's numbers before it goes."""
        with Session(self.engine) as session, session.begin():
            row = session.get(OrderRow, intent.order_ref)
            if row is None or row.status not in NEVER_SENT:
                return
            for name in ("quantity", "entry_type", "limit_price", "stop_loss", "take_profit", "action", "con_id"):
                setattr(row, name, getattr(intent, name))

    def set_status(
        self,
        order_ref: str,
        status: str,
        detail: str = "",
        broker_ids: list[int] | None = None,
        perm_ids: list[int] | None = None,
    ) -> None:
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            row = session.get(OrderRow, order_ref)
            if row is None:
                raise KeyError(f"no order {order_ref!r} in the ledger")
            changed = row.status != status
            row.status = status
            row.updated_at = now
            if broker_ids:
                row.broker_order_ids = ",".join(map(str, broker_ids))
            if perm_ids:
                row.perm_ids = ",".join(map(str, perm_ids))
            if detail and status in ("rejected", "error", "blocked", CONFLICT, LOST, UNCONFIRMED):
                row.error = detail
            elif status in ("working", "filled"):
                row.error = ""  # what was wrong on the way (unconfirmed, blocked) is in the events
            if changed or detail:
                session.add(OrderEventRow(order_ref=order_ref, status=status, detail=detail, at=now))

    def events(self, order_ref: str) -> list[tuple[str, str]]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(OrderEventRow).where(OrderEventRow.order_ref == order_ref).order_by(OrderEventRow.id)
            )
            return [(r.status, r.detail) for r in rows]

    def open_orders(self, strategy: str | None = None) -> list[OrderRow]:
        """Orders that may be at IB now (working or unconfirmed), oldest first: in one order on every database, so
        a pass over them, and the analyst's prompt that lists them, read the same each time."""
        query = select(OrderRow).where(OrderRow.status.in_(LIVE)).order_by(OrderRow.created_at, OrderRow.order_ref)
        if strategy:
            query = query.where(OrderRow.strategy == strategy)
        return self._detached(query)

    def working_refs_by_symbol(self, strategy: str) -> dict[str, list[str]]:
        """symbol -> orderRefs of the strategy's orders that may be at IB now: what a tick's risk checks read."""
        working: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for symbol, ref in conn.execute(_WORKING, {"strategy": strategy}):
                working.setdefault(symbol, []).append(ref)
        return working

    def orders(self, strategy: str = "", live_only: bool = False) -> list[OrderRow]:
        """Every order (or only those that may be at IB), newest first."""
        query = select(OrderRow).order_by(OrderRow.created_at.desc(), OrderRow.order_ref)
        if strategy:
            query = query.where(OrderRow.strategy == strategy)
        if live_only:
            query = query.where(OrderRow.status.in_(LIVE))
        return self._detached(query)

    def orders_since(self, since: datetime, strategy: str | None = None) -> int:
        query = (
            select(func.count())
            .select_from(OrderRow)
            .where(OrderRow.created_at >= since, OrderRow.status.not_in({"dry_run", "blocked"}))
        )
        if strategy:
            query = query.where(OrderRow.strategy == strategy)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def record_fill(
        self,
        exec_id: str,
        order_ref: str,
        symbol: str,
        side: str,
        shares: float,
        price: float,
        commission: float,
        realized_pnl: float,
        time: datetime,
    ) -> bool:
        """Insert a fill keyed by execId (True when new); a commission report that arrives later updates it."""
        try:
            with Session(self.engine) as session, session.begin():
                existing = session.get(FillRow, exec_id)
                if existing is not None:
                    if commission and not existing.commission:
                        existing.commission, existing.realized_pnl = commission, realized_pnl
                    return False
                session.add(
                    FillRow(
                        exec_id=exec_id,
                        order_ref=order_ref,
                        symbol=symbol,
                        side=side,
                        shares=shares,
                        price=price,
                        commission=commission,
                        realized_pnl=realized_pnl,
                        time=time,
                    )
                )
                return True
        except IntegrityError:  # the sensor and a tick recorded the same execution at once: it is there
            return False

    def fills(self, order_ref_prefix: str = "", exact_ref: str = "") -> list[FillRow]:
        query = select(FillRow).order_by(FillRow.time, FillRow.exec_id)
        if order_ref_prefix:
            query = query.where(FillRow.order_ref.startswith(order_ref_prefix))
        if exact_ref:
            query = query.where(FillRow.order_ref == exact_ref)
        return self._detached(query)

    def positions(self) -> dict[tuple[str, str], StrategyPosition]:
        """(strategy, symbol) → each strategy's own position, from its own fills. When fills have come since the
        last call and all sort after the fills already counted (the usual case), only they are applied; a fill
        that arrived late and sorts earlier replays them all (a ten-year backtest asks thousands of times)."""
        with self.engine.connect() as conn:
            key = tuple(conn.execute(_FILLS_STATE).one())
            cached = self._positions
            if cached is not None and cached.key == key:
                return dict(cached.positions)
            if cached is not None and cached.last is not None:
                newer = conn.execute(_FILLS_AFTER, {"time": cached.last[0], "exec_id": cached.last[1]}).all()
                if cached.key[0] + len(newer) == key[0]:  # every new fill sorts after those counted
                    self._positions = _CountedPositions(
                        key, positions_after(cached.positions, newer), _last(newer) or cached.last
                    )
                    return dict(self._positions.positions)
            every = conn.execute(_FILLS_IN_ORDER).all()
        self._positions = _CountedPositions(key, positions_from_fills(every), _last(every))
        return dict(self._positions.positions)

    def snapshot(
        self,
        at: datetime,
        account: str,
        net_liq: float,
        cash: float,
        unrealized: float,
        realized: float,
        positions: dict,
    ) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(
                PortfolioSnapshotRow(
                    at=at,
                    account=account,
                    net_liquidation=net_liq,
                    cash=cash,
                    unrealized_pnl=unrealized,
                    realized_pnl=realized,
                    positions_json=json.dumps(positions, default=str),
                )
            )

    def opening_net_liquidation(self, since: datetime) -> float | None:
        """Net liquidation of the first snapshot at or after ``since`` (a trading day's start): where the day's
        P&L is counted from; None before the day's first snapshot."""
        with self.engine.connect() as conn:
            return conn.execute(_OPENING, {"since": since}).scalar()

    def snapshots(self, since: datetime | None = None) -> list[PortfolioSnapshotRow]:
        query = select(PortfolioSnapshotRow).order_by(PortfolioSnapshotRow.at)
        if since is not None:
            query = query.where(PortfolioSnapshotRow.at >= since)
        return self._detached(query)
