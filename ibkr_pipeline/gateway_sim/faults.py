"""Fault injection: what a test can make the simulated gateway do wrong."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FaultPlan:
    """Mutable at run time; every counter applies once and then clears itself.

    - ``drop_after_messages``: close the connection after the server has read this
      many more client messages.
    - ``drop_on_request``: message ids (e.g. 20 = reqHistoricalData, 3 = placeOrder)
      that close the connection when they arrive; ``drop_after_handling`` decides
      whether the request is processed first (an order placed, then the drop);
      ``drop_on_nth`` waits for the Nth such message (the third placeOrder of a bracket).
    - ``response_delay_s``: delay before each response to a request.
    - ``reject_orders``: symbols whose orders are rejected with error 201.
    - ``unresponsive``: keep the socket open but answer nothing (IB's nightly restart).
    - ``silent_on_order``: the next placeOrder is swallowed and the gateway goes ``unresponsive``.
    - ``silent_after_requests``: after this many more client messages the gateway goes ``unresponsive``.
    - ``late_reject_orders``: symbols whose orders are accepted, then rejected (201, Inactive) after
      ``late_reject_after_s`` seconds, as IB does when a check fails downstream of the gateway.
    - ``api_pending_orders``: symbols whose orders the gateway reports as ApiPending and never passes on to IB's
      server (IB: "not yet sent to IB server, e.g. while it waits for the security definition").

    In each set of symbols, "*" stands for every symbol.
    """

    drop_after_messages: int | None = None
    drop_on_request: set[int] = field(default_factory=set)
    drop_on_nth: int = 1
    drop_after_handling: bool = False
    response_delay_s: float = 0.0
    reject_orders: set[str] = field(default_factory=set)
    unresponsive: bool = False
    silent_on_order: bool = False
    silent_after_requests: int | None = None
    late_reject_orders: set[str] = field(default_factory=set)
    late_reject_after_s: float = 0.5
    api_pending_orders: set[str] = field(default_factory=set)

    def rejects(self, symbol: str) -> bool:
        return _names(self.reject_orders, symbol)

    def rejects_late(self, symbol: str) -> bool:
        return _names(self.late_reject_orders, symbol)

    def holds_as_api_pending(self, symbol: str) -> bool:
        return _names(self.api_pending_orders, symbol)

    def clear(self) -> None:
        self.drop_after_messages = None
        self.drop_on_request = set()
        self.drop_on_nth = 1
        self.drop_after_handling = False
        self.response_delay_s = 0.0
        self.reject_orders = set()
        self.unresponsive = False
        self.silent_on_order = False
        self.silent_after_requests = None
        self.late_reject_orders = set()
        self.api_pending_orders = set()


def _names(symbols: set[str], symbol: str) -> bool:
    return "*" in symbols or symbol in symbols
