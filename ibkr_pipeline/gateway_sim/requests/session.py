"""What every area's handlers use of their connection; ``server.ClientSession`` provides it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from ibkr_pipeline.exchange.universe import Instrument
from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.protocol import Field
from ibkr_pipeline.gateway_sim.wire_contract import WireContract

if TYPE_CHECKING:
    from ibkr_pipeline.gateway_sim.server import GatewaySimulator


class Session:
    sim: GatewaySimulator
    client_id: int | None
    open_historical: dict[int, asyncio.TimerHandle]  # req id -> its answer, held back (a slow HMDS, soft pacing)
    HANDLERS: ClassVar[dict[int, Callable[..., None]]]  # message id -> the handler that answers it

    def send(self, fields: list[Field]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def instrument_or_200(self, req_id: int, contract: WireContract) -> Instrument | None:
        """The instrument a request names, or None after answering IB's error 200 for it."""
        inst = self.sim.instrument_for(contract)
        if inst is None:
            self.send(msg.error(req_id, 200, "No security definition has been found for the request"))
        return inst
