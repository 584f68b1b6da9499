"""Typed broker errors carrying IB's code and message."""

from __future__ import annotations


class IBKRError(Exception):
    """An error reported by IB (or the gateway connection), with IB's code when there is one."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message if code is None else f"IB error {code}: {message}")
        self.code = code
        self.ib_message = message


class UnknownContractError(IBKRError):
    """IB has no security definition for the requested contract (error 200)."""

    def __init__(self, symbol: str, detail: str = ""):
        super().__init__(
            f"unknown contract {symbol!r}: IB has no security definition for it" + (f" ({detail})" if detail else ""),
            200,
        )
        self.symbol = symbol


class PacingViolationError(IBKRError):
    """Historical data pacing violation (error 162) that persisted through retries."""


class GatewayConnectionError(IBKRError):
    """The gateway could not be reached, or dropped and could not be reconnected. Retryable: a later attempt
    (after IB's nightly restart, say) may well succeed."""

    retryable = True


class GatewayTimeoutError(GatewayConnectionError):
    """The gateway stayed connected but did not answer within the deadline, through reconnects and retries."""


class GatewayOutageError(GatewayConnectionError):
    """IB said the gateway lost its connection to IB's servers (1100) and it did not come back in time."""


class MarketDataRefusedError(IBKRError):
    """IB refused market data for a contract: not subscribed (354, 10089/10090), or held by a competing live
    session (10197). The symbol has no quote now; nothing else is wrong."""


class OrderRejectedError(IBKRError):
    """IB rejected an order (error 201)."""
