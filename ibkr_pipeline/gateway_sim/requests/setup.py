"""The handshake's follow-ups: startApi, current time, next order id, managed accounts."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.protocol import (
    FieldReader,
)
from ibkr_pipeline.gateway_sim.requests.session import Session

if TYPE_CHECKING:
    from ibkr_pipeline.gateway_sim.server import ClientSession


class SetupRequests(Session):
    """Handlers for one area; mixed into ``ClientSession`` (``self.sim``, ``self.send``, ``self.client_id``)."""

    def start_api(self, r: FieldReader) -> None:
        r.skip()  # version
        client_id = r.int()
        if client_id in self.sim.sessions:
            self.send(
                msg.error(
                    -1,
                    326,
                    "Unable to connect as the client id is already in use. Retry with a unique client id.",
                )
            )
            self.close()
            return
        self.client_id = client_id
        self.sim.sessions[client_id] = cast("ClientSession", self)  # the one class that mixes the areas in
        self.send(msg.managed_accounts(self.sim.account.account_id))
        self.send(msg.next_valid_id(self.sim.take_order_id(client_id)))
        for code, text in (
            (2104, "Market data farm connection is OK:usfarm"),
            (2106, "HMDS data farm connection is OK:ushmds"),
            (2158, "Sec-def data farm connection is OK:secdefnj"),
        ):
            self.send(msg.error(-1, code, text))

    def req_current_time(self, r: FieldReader) -> None:
        self.send(msg.current_time(self.sim.clock.now()))

    def req_ids(self, r: FieldReader) -> None:
        self.send(msg.next_valid_id(self.sim.take_order_id(self.client_id or 0)))

    def req_managed_accounts(self, r: FieldReader) -> None:
        self.send(msg.managed_accounts(self.sim.account.account_id))
