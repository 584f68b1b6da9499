"""Waiting for what another thread or process does, by counting looks instead of trusting a fixed pause.

A test that sleeps 0.3 s and then asserts an order filled passes on an idle machine and fails on a loaded one;
one that looks until it filled is only slower there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

LOOK_S = 0.05


def until(
    condition: Callable[[], object], what: str, pause: Callable[[float], Any] = time.sleep, looks: int = 400
) -> None:
    """Look up to ``looks`` times with ``pause(LOOK_S)`` between looks; raise naming ``what`` if it never held.

    Pass ``ib.sleep`` (an ib_async ``IB`` or our ``IBKRClient``) as ``pause`` when the awaited thing reaches a
    client: its events are read only while its loop runs."""
    for _ in range(looks):
        if condition():
            return
        pause(LOOK_S)
    if not condition():
        raise AssertionError(f"never happened: {what}")


def acknowledged(*trades: Any) -> Callable[[], bool]:
    """The gateway has answered every one of these ib_async trades (ib_async marks a trade PendingSubmit until
    its first order status arrives)."""
    return lambda: all(t.orderStatus.status != "PendingSubmit" for t in trades)


def caught_up(gateway: Any, ib: Any) -> Callable[[], bool]:
    """The ib_async client has heard the latest status of each of its orders the simulator has answered, and
    every execution the simulator made for it."""

    def check() -> bool:
        me = ib.client.clientId
        engine = gateway.sim.engine
        orders, executions = gateway.call(
            lambda: (
                {o.order_id: o.status for o in engine.orders.values() if o.client_id == me},
                {f.exec_id for f in engine.fills if f.order.client_id == me},
            )
        )
        heard = {t.order.orderId: t.orderStatus.status for t in ib.trades()}
        answered = {order_id: status for order_id, status in orders.items() if status != "PendingSubmit"}
        return all(heard.get(i) == status for i, status in answered.items()) and executions <= {
            f.execution.execId for f in ib.fills()
        }

    return check


def commissions_known(gateway: Any) -> Callable[[], bool]:
    """Every commission report the simulator holds back (``commission_delay_s``) is now due."""
    return lambda: gateway.call(lambda: all(time.monotonic() >= t for t in gateway.sim.commission_known_at.values()))
