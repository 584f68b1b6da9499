"""Orders: place, modify, cancel; open and completed orders; executions (the current day's)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from ibkr_pipeline.exchange.matching import OrderRejected, SimOrder
from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.history import HistoryRequestError, parse_end
from ibkr_pipeline.gateway_sim.protocol import (
    FieldReader,
)
from ibkr_pipeline.gateway_sim.requests.session import Session
from ibkr_pipeline.gateway_sim.wire_contract import WireContract


class OrderRequests(Session):
    """Handlers for one area; mixed into ``ClientSession`` (``self.sim``, ``self.send``, ``self.client_id``)."""

    def place_order(self, r: FieldReader) -> None:
        order_id = r.int()
        contract = WireContract.read(r)
        r.skip(2)  # secIdType, secId
        action, qty, order_type = r.str(), r.float(), r.str()
        lmt, aux = r.float(0.0) or None, r.float(0.0) or None
        tif, oca_group, account = r.str() or "DAY", r.str(), r.str()
        r.skip(2)  # openClose, origin
        order_ref, transmit, parent_id = r.str(), r.bool(), r.int()
        r.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
        outside_rth = r.bool()
        r.skip(12)  # hidden, "", discretionaryAmt .. exemptCode (no faProfile at v178)
        oca_type = r.int(0)
        sim = self.sim
        client_id = self.client_id or 0
        now = sim.clock.now()
        inst = self.instrument_or_200(order_id, contract)
        sim.note_order_id(client_id, order_id)
        if inst is None:
            return
        order = SimOrder(
            client_id=client_id,
            order_id=order_id,
            perm_id=0,
            instrument=inst,
            action=action.upper(),
            quantity=qty,
            order_type=order_type.upper(),
            lmt_price=lmt,
            aux_price=aux,
            tif=tif.upper(),
            oca_group=oca_group,
            oca_type=oca_type,
            account=account or sim.account.account_id,
            order_ref=order_ref,
            transmit=transmit,
            parent_id=parent_id,
            outside_rth=outside_rth,
            placed_at=now,
        )
        existing = sim.engine.orders.get(order.key)
        if existing is not None and existing.is_terminal:  # IB: an id is never reused, not even once done
            self.send(msg.error(order_id, 103, "Duplicate order id"))
            return
        try:
            if existing is not None:
                sim.engine.modify(existing, order, now)
                return
            order.perm_id = sim.engine.next_perm_id()
            if order.account != sim.account.account_id:
                raise OrderRejected(f"account {order.account} is not managed by this login")
            if sim.faults.rejects(inst.symbol):
                raise OrderRejected("simulated rejection (fault injection)")
            sim.engine.validate(order, now)
        except OrderRejected as exc:
            if existing is not None:
                self.send(msg.error(order_id, 201, f"Order rejected - reason:{exc.reason}"))
            else:
                sim.engine.reject(order, now, exc.reason)
            return
        if sim.faults.holds_as_api_pending(inst.symbol):  # held in the gateway: IB's server never sees it
            order.status = "ApiPending"
            self.send(msg.open_order(order))
            self.send(msg.order_status(order))
            return
        sim.engine.add(order, now)
        if sim.faults.rejects_late(inst.symbol):

            def reject_late() -> None:
                if not order.is_terminal:
                    sim.engine.reject(order, sim.clock.now(), "simulated late rejection (fault injection)")

            asyncio.get_running_loop().call_later(sim.faults.late_reject_after_s, reject_late)

    def cancel_order(self, r: FieldReader) -> None:
        r.skip()
        order_id = r.int()
        order = self.sim.engine.orders.get((self.client_id or 0, order_id))
        if order is None:
            self.send(msg.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found."))
            return
        if order.is_terminal:
            self.send(
                msg.error(
                    order_id,
                    10148,
                    f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order.status}.",
                )
            )
            return
        self.sim.engine.cancel(order, self.sim.clock.now())

    def req_global_cancel(self, r: FieldReader) -> None:
        for order in self.sim.engine.working():
            self.sim.engine.cancel(order, self.sim.clock.now())

    def _send_open_orders(self, everyone: bool) -> None:
        for order in self.sim.engine.working():
            if everyone or order.client_id == self.client_id:
                self.send(msg.open_order(order))
                self.send(msg.order_status(order))
        self.send(msg.open_order_end())

    def req_open_orders(self, r: FieldReader) -> None:
        self._send_open_orders(everyone=False)

    def req_all_open_orders(self, r: FieldReader) -> None:
        self._send_open_orders(everyone=True)

    def req_completed_orders(self, r: FieldReader) -> None:
        today = self.sim.trading_day_start()
        for order in self.sim.engine.orders.values():  # IB: today's completed orders only
            if order.is_terminal and (order.completed_at is None or order.completed_at >= today):
                self.send(msg.completed_order(order))
        self.send(msg.completed_orders_end())

    def req_executions(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        client_filter, account, since = r.int(), r.str(), r.str()
        symbol, _sec_type, _exchange, side = r.str(), r.str(), r.str(), r.str()
        since_dt = None
        if since:
            with contextlib.suppress(ValueError, HistoryRequestError):
                since_dt = parse_end(since.replace("-", " ") if " " not in since else since, self.sim.clock.now())
        today = self.sim.trading_day_start()
        for fill in self.sim.engine.fills:
            o = fill.order
            if fill.time < today:  # IB: executions of the current day only; yesterday's are gone from here
                continue
            if client_filter and o.client_id != client_filter:
                continue
            if account and o.account != account:
                continue
            if symbol and o.instrument.symbol != symbol:
                continue
            if side and side[0] != ("B" if o.is_buy else "S"):
                continue
            if since_dt and fill.time < since_dt:
                continue
            self.send(msg.exec_details(req_id, fill))
            if time.monotonic() >= self.sim.commission_known_at.get(fill.exec_id, 0.0):
                self.send(msg.commission_report(fill))  # a report that trails its execution is not known yet
        self.send(msg.exec_details_end(req_id))
