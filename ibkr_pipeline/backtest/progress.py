"""Progress of a running backtest, for whoever is watching in the same process (the CLI's progress bar).

The backtest runs inside a Dagster run; the CLI launches that run in-process and listens here, so a long
replay shows how far it has got instead of printing nothing until the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[int, int], None]  # (ticks done, ticks in all)
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def report(done: int, total: int) -> None:
    for listener in list(_listeners):
        listener(done, total)
