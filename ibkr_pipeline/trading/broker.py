"""The broker a tick trades against: IB Gateway (paper or live) or the backtest's replay engine.

``trade_tick`` is written against this one interface, so sizing, risk checks and
exactly-once placement are the same code in production and in a backtest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ibkr_pipeline.broker.client import IBKRClient
from ibkr_pipeline.database.claims import Lease
from ibkr_pipeline.database.kill_switch import KillSwitch
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.contracts import ContractInfo
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.trading.executor import (
    DEFAULT_POLICY,
    Placement,
    PlacementPolicy,
    place_exactly_once,
    record_executions,
)
from ibkr_pipeline.trading.guards import kill_switch_reason, sending_blocked
from ibkr_pipeline.trading.reconcile import reconcile


@dataclass(frozen=True)
class Holding:
    symbol: str
    quantity: float
    average_cost: float


class Broker(Protocol):
    account: str

    def now(self) -> datetime: ...

    def blocked_reason(self, mode: str) -> str:
        """Why no order may be sent this tick ('' when sending is allowed)."""
        ...

    def reconcile(self, ledger: Ledger) -> None:
        """Bring the ledger's fills and order states up to date, so each strategy's own position is current."""
        ...

    def account_values(self) -> dict[str, float]: ...

    def holdings(self) -> dict[str, Holding]:
        """The account's positions: every strategy's and the trader's own, summed per symbol."""
        ...

    def quotes(self, contracts: list[ContractInfo]) -> dict[str, float | None | Exception]:
        """Each symbol's reference price (None when there is none), or what kept it from being quoted."""
        ...

    def place(
        self, ledger: Ledger, intent: OrderIntent, contract: ContractInfo, blocked_reason: str = ""
    ) -> Placement: ...


class GatewayBroker:
    """IB Gateway/TWS through ``IBKRClient``; every order goes through ``place_exactly_once``."""

    def __init__(
        self,
        client: IBKRClient,
        data_dir: Path,
        switch: KillSwitch | None = None,
        extra_block: str = "",
        lease: Lease | None = None,
        policy: PlacementPolicy = DEFAULT_POLICY,
    ):
        self.client = client
        self.managed = client.managed_accounts()
        configured = client.settings.account
        self.account = configured or (self.managed[0] if len(self.managed) == 1 else "")
        self.data_dir = Path(data_dir)
        self.switch = switch
        self.extra_block = extra_block
        self.lease = lease  # the strategy's trading claim: renewed before each send, lost means stop sending
        self.policy = policy

    def now(self) -> datetime:
        return self.client.current_time()

    def blocked_reason(self, mode: str) -> str:
        return self.extra_block or sending_blocked(
            mode, self.account, self.data_dir, self.switch, self.managed, configured=self.client.settings.account
        )

    def send_blocked(self) -> str:
        """The kill switch, read again immediately before each send; then the strategy's claim, renewed."""
        return kill_switch_reason(self.data_dir, self.switch) or (self.lease.renew() if self.lease else "")

    def reconcile(self, ledger: Ledger) -> None:
        reconcile(self.client, ledger)

    def account_values(self) -> dict[str, float]:
        return self.client.account_summary()

    def holdings(self) -> dict[str, Holding]:
        return {p.symbol: Holding(p.symbol, p.quantity, p.average_cost) for p in self.client.positions() if p.quantity}

    def quotes(self, contracts: list[ContractInfo]) -> dict[str, float | None | Exception]:
        answers = self.client.snapshots(contracts)
        return {
            c.symbol: a if isinstance(a, Exception) else a.reference_price
            for c, a in zip(contracts, answers, strict=True)
        }

    def place(self, ledger: Ledger, intent: OrderIntent, contract: ContractInfo, blocked_reason: str = "") -> Placement:
        # An exit takes the strategy's own working orders on the contract with it: a bracket's stop or target left
        # working would sell shares that are no longer there and open a short; an entry left working would buy them back.
        exit_ = intent.action == "SELL" and not intent.is_bracket
        return place_exactly_once(
            self.client,
            ledger,
            intent,
            contract,
            blocked_reason=blocked_reason,
            before_send=(lambda: self.prepare_exit(ledger, intent, contract)) if exit_ else None,
            guard=self.send_blocked,
            policy=self.policy,
        )

    def prepare_exit(self, ledger: Ledger, intent: OrderIntent, contract: ContractInfo) -> str:
        """Cancel the strategy's legs on the contract, then check it still owns what the exit sells."""
        self.cancel_working_orders(intent, contract)
        record_executions(self.client, ledger)  # a stop or target that filled while we cancelled changed the position
        own = ledger.positions().get((intent.strategy, intent.symbol))
        held = own.quantity if own else 0.0
        if held + 1e-9 < intent.quantity:
            return (
                f"{intent.symbol}: the strategy's position changed to {held:g} while its working orders were "
                f"cancelled; the exit of {intent.quantity} was not sent (the next tick re-sizes it)"
            )
        return ""

    def cancel_working_orders(self, intent: OrderIntent, contract: ContractInfo, wait_s: float = 10.0) -> list[str]:
        """Cancel this strategy's working orders on the contract (bracket legs included); wait until IB confirms."""
        children = [
            o
            for o in self.client.open_orders()
            if o.con_id == contract.con_id
            and o.order_ref != intent.order_ref
            and o.order_ref.startswith(f"{intent.strategy}:")
            and not o.done
        ]
        for order in children:
            self.client.cancel(order)

        def left() -> list[int]:  # IB's cancel confirmations update what this connection has seen
            done = {o.perm_id for o in self.client.seen_orders() if o.done}
            return [o.order_id for o in children if o.perm_id not in done]

        deadline = time.monotonic() + wait_s
        while left() and time.monotonic() < deadline:
            self.client.sleep(0.1)
        if left():
            raise RuntimeError(
                f"{intent.symbol}: IB did not confirm cancelling working orders {left()}; the exit was not sent"
            )
        return [o.order_ref for o in children]
