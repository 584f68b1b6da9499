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
