"""DatabaseResource: the project database, the one place its URL lives.

Orders, fills and positions (the ledger), the per-strategy claims, the kill switch, the
contract and LLM-answer caches and IB's shared pacing budget all live here; the IBKR and
LLM resources are handed the caches they need (``get_client(database)``, ``client(answers=...)``),
so nothing can read one database for orders and another for contracts.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine

from ibkr_pipeline.database.answer_cache import AnswerCache
from ibkr_pipeline.database.claims import Claims
from ibkr_pipeline.database.contract_cache import ContractCache
from ibkr_pipeline.database.engine import default_url, engine_for
from ibkr_pipeline.database.kill_switch import KillSwitch
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.database.pacing_budget import DatabasePacingBudget
from ibkr_pipeline.domain.pacing import PacingRules


class DatabaseResource(dg.ConfigurableResource):
    """Leave ``url`` empty for ``IBKR_PIPELINE_DB_URL`` or, without it, the embedded SQLite file."""

    url: str = Field(
        default="",
        repr=False,
        description="SQLAlchemy URL (carries the password: set it through "
        "dg.EnvVar); empty = IBKR_PIPELINE_DB_URL or embedded SQLite",
    )

    def engine(self) -> Engine:
        return engine_for(self.url or default_url())

    def ledger(self) -> Ledger:
        return Ledger(self.engine())

    def claims(self) -> Claims:
        return Claims(self.engine())

    def kill_switch(self) -> KillSwitch:
        return KillSwitch(self.engine())

    def contract_cache(self, ttl: timedelta) -> ContractCache:
        return ContractCache(self.engine(), ttl)

    def answer_cache(self) -> AnswerCache:
        return AnswerCache(self.engine())

    def pacing_budget(self, gateway: str, rules: PacingRules) -> DatabasePacingBudget:
        """IB's pacing windows for ``gateway`` (host:port), counted by every process that uses it."""
        return DatabasePacingBudget(self.engine(), gateway, rules)
