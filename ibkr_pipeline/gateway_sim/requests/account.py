"""Positions, account updates and summaries."""

from __future__ import annotations

from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.protocol import (
    FieldReader,
)
from ibkr_pipeline.gateway_sim.requests.session import Session


class AccountRequests(Session):
    """Handlers for one area; mixed into ``ClientSession`` (``self.sim``, ``self.send``, ``self.client_id``)."""

    def req_positions(self, r: FieldReader) -> None:
        self.wants_positions = True
        for pos in self.sim.account.positions.values():
            self.send(msg.position(self.sim.account.account_id, pos.instrument, pos.quantity, pos.average_cost))
        self.send(msg.position_end())

    def cancel_positions(self, r: FieldReader) -> None:
        self.wants_positions = False

    def send_account_values(self, values: dict[str, float]) -> None:
        acct = self.sim.account.account_id
        self.send(msg.account_value("AccountType", "INDIVIDUAL", "", acct))
        self.send(msg.account_value("AccountCode", acct, "", acct))
        self.send(msg.account_value("Currency", "USD", "USD", acct))
        for key, value in values.items():
            self.send(msg.account_value(key, f"{value:.2f}", "USD", acct))

    def req_account_updates(self, r: FieldReader) -> None:
        r.skip()
        subscribe = r.bool()
        self.wants_account_updates = subscribe
        if not subscribe:
            return
        sim = self.sim
        now = sim.clock.now()
        self.send_account_values(sim.account_values())
        for pos in sim.account.positions.values():
            mark = sim.market.price_at(pos.instrument, now)
            self.send(
                msg.portfolio_value(
                    sim.account.account_id,
                    pos.instrument,
                    pos.quantity,
                    mark,
                    pos.average_cost,
                    pos.realized_pnl,
                )
            )
        self.send(msg.account_update_time(now))
        self.send(msg.account_download_end(sim.account.account_id))

    def req_account_summary(self, r: FieldReader) -> None:
        r.skip()
        req_id, _group, tags = r.int(), r.str(), r.str()
        wanted = {t.strip() for t in tags.split(",") if t.strip()}
        acct = self.sim.account.account_id
        if "AccountType" in wanted:
            self.send(msg.account_summary(req_id, acct, "AccountType", "INDIVIDUAL", ""))
        for key, value in self.sim.account_values().items():
            if key in wanted or "All" in wanted:
                self.send(msg.account_summary(req_id, acct, key, f"{value:.2f}", "USD"))
        self.send(msg.account_summary_end(req_id))

    def req_account_updates_multi(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        acct = self.sim.account.account_id
        for key, value in self.sim.account_values().items():
            self.send(msg.account_update_multi(req_id, acct, key, f"{value:.2f}", "USD"))
        self.send(msg.account_update_multi_end(req_id))
