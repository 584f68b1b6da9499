"""Contract details and symbol search."""

from __future__ import annotations

from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.protocol import (
    FieldReader,
)
from ibkr_pipeline.gateway_sim.requests.session import Session
from ibkr_pipeline.gateway_sim.wire_contract import WireContract


class ContractRequests(Session):
    """Handlers for one area; mixed into ``ClientSession`` (``self.sim``, ``self.send``, ``self.client_id``)."""

    def req_contract_details(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        contract = WireContract.read(r)
        inst = self.instrument_or_200(req_id, contract)
        if inst is None:
            return
        self.send(msg.contract_details(req_id, inst, self.sim.market.calendar, self.sim.clock.now()))
        self.send(msg.contract_details_end(req_id))

    def req_matching_symbols(self, r: FieldReader) -> None:
        req_id = r.int()
        pattern = r.str()
        self.send(msg.symbol_samples(req_id, self.sim.universe.search(pattern)))
