"""GatewayBroker's own wiring: the guards it asks before a tick sends, and the placement policy it hands on.

Against the gateway simulator (a paper login, DU1234567) with a real ib_async client.
"""

from dataclasses import replace

import pytest

from ibkr_pipeline.broker.client import IBKRClient, IBKRSettings
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.kill_switch import KillSwitch
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.orders import OrderIntent, order_ref
from ibkr_pipeline.trading.broker import GatewayBroker
from ibkr_pipeline.trading.executor import DEFAULT_POLICY


@pytest.fixture
def client(gateway):
    connected = IBKRClient(IBKRSettings(port=gateway.port, connect_timeout_s=2, backoff_initial_s=0.05))
    connected.connect()
    yield connected
    connected.disconnect()


def test_a_paper_tick_may_send_and_the_strategys_mode_is_what_the_guards_judge(client, tmp_path):
    broker = GatewayBroker(client, tmp_path)
    assert broker.account == "DU1234567"
    assert broker.blocked_reason("paper") == ""
    assert broker.blocked_reason("live") == "mode is live but account DU1234567 is a paper account"
    assert broker.blocked_reason("dry_run") == "mode is dry_run: everything is computed, nothing is sent"


def test_the_kill_switch_in_the_project_database_blocks_every_mode(client, tmp_path, database_url):
    switch = KillSwitch(engine_for(database_url))
    switch.set(True, reason="halt", changed_by="risk desk")
    broker = GatewayBroker(client, tmp_path, switch)
    for mode in ("paper", "live", "dry_run"):
        assert broker.blocked_reason(mode).startswith("kill switch is on (set by risk desk at "), mode
        assert broker.blocked_reason(mode).endswith(" UTC: halt)"), mode


def test_a_reason_given_by_the_caller_blocks_before_any_guard(client, tmp_path):
    broker = GatewayBroker(client, tmp_path, extra_block="tick 2026-11-19 is a replay: nothing is sent")
    assert broker.blocked_reason("paper") == "tick 2026-11-19 is a replay: nothing is sent"


def test_the_placement_policy_given_is_the_one_placement_waits_by(client, gateway, tmp_path, database_url):
    contract = client.resolve(ContractSpec(symbol="AAPL"))
    intent = OrderIntent(
        order_ref=order_ref("beta", "AAPL", "t1"),
        strategy="beta",
        symbol="AAPL",
        con_id=contract.con_id,
        tick="t1",
        mode="paper",
        action="BUY",
        quantity=1,
        entry_type="MKT",
    )
    broker = GatewayBroker(client, tmp_path, policy=replace(DEFAULT_POLICY, confirm_s=0.3))
    gateway.faults.silent_on_order = True  # the order vanishes and the gateway says nothing more
    placement = broker.place(Ledger(engine_for(database_url)), intent, contract)
    assert placement.outcome == "unconfirmed"
    assert placement.detail.startswith(
        f"sent as orders {list(placement.order_ids)}, but no acknowledgement within 0.3 s:"
    )
    gateway.faults.clear()
