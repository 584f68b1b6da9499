"""One execution of a placement in its own process, for faults only a real process has: SIGKILL at a chosen
point of placement, and executions of one tick that overlap. Prints the placement as JSON when it lives.

    python -m ibkr_pipeline_tests.trading.placement_worker --port P --db URL --ref REF --symbol S
        [--client-id N] [--kill-at POINT] [--go-file PATH] [--grace-s G] [--lease-s L] [--no-claim]

With ``--go-file`` it prints ``ready`` once connected and waits for that file: overlapping executions start together.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import time

from ibkr_pipeline.broker.client import IBKRClient, IBKRSettings
from ibkr_pipeline.database.claims import Claims
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline.trading import executor
from ibkr_pipeline_tests.clock import start_suite_clock

# Where a process can die during placement, in the order placement passes them.
KILL_POINTS = ("claimed", "intent_written", "searched", "before_send", "mid_bracket", "after_send", "after_confirm")


def bracket_intent(ref: str, info) -> OrderIntent:
    """The intent every execution of the tick computes: a market entry of 10 with far stop and target."""
    return OrderIntent(
        order_ref=ref,
        strategy=ref.split(":")[0],
        symbol=info.symbol,
        con_id=info.con_id,
        tick="t",
        mode="paper",
        action="BUY",
        quantity=10,
        entry_type="MKT",
        stop_loss=1.0,
        take_profit=100000.0,
    )


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner, name: str, before: bool = False, after: bool = False, on_call: int = 0) -> None:
    original = getattr(owner, name)
    calls = [0]

    @functools.wraps(original)
    def wrapped(*args, **kwargs):
        calls[0] += 1
        if before and (not on_call or calls[0] == on_call):
            die()
        result = original(*args, **kwargs)
        if after and (not on_call or calls[0] == on_call):
            die()
        return result

    setattr(owner, name, wrapped)


def arm(point: str) -> None:
    """SIGKILL this process at ``point``."""
    if point == "claimed":
        _wrap(executor, "_place", before=True)
    elif point == "intent_written":
        _wrap(Ledger, "record_intent", after=True)
    elif point == "searched":
        _wrap(executor, "broker_orders", after=True)
    elif point == "before_send":
        _wrap(IBKRClient, "place_intent", before=True)
    elif point == "mid_bracket":  # entry and take-profit sent untransmitted; the transmitting stop never goes
        _wrap(IBKRClient, "place_order", after=True, on_call=2)
    elif point == "after_send":
        _wrap(executor, "_confirm", before=True)
    elif point == "after_confirm":
        _wrap(executor, "_confirm", after=True)
    else:
        raise SystemExit(f"unknown kill point {point!r}; one of {', '.join(KILL_POINTS)}")


def main() -> None:
    start_suite_clock()  # the test's clock: claims' leases and the ledger's timestamps agree with it
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--symbol", default="AAPL")
    p.add_argument("--client-id", type=int, default=1)
    p.add_argument("--kill-at", default="")
    p.add_argument("--go-file", default="")
    p.add_argument("--grace-s", type=float, default=0.0)
    p.add_argument("--lease-s", type=float, default=300.0)
    p.add_argument("--no-claim", action="store_true", help="the benchmark's baseline: nothing claims the orderRef")
    args = p.parse_args()
    client = IBKRClient(
        IBKRSettings(
            port=args.port,
            client_id=args.client_id,
            connect_timeout_s=5,
            backoff_initial_s=0.05,
            request_timeout_s=10,
            call_budget_s=30,
        )
    )
    client.connect()
    info = client.resolve(ContractSpec(symbol=args.symbol))
    intent = bracket_intent(args.ref, info)
    ledger = Ledger(engine_for(args.db))
    if args.kill_at:
        arm(args.kill_at)
    if args.no_claim:
        Claims.acquire = lambda *_a, **_k: None  # type: ignore[method-assign]
    if args.go_file:
        print("ready", flush=True)
        while not os.path.exists(args.go_file):
            time.sleep(0.002)
    policy = executor.PlacementPolicy(
        confirm_s=5, resend_grace_s=args.grace_s, claim_lease_s=args.lease_s, claim_wait_s=20
    )
    placement = executor.place_exactly_once(client, ledger, intent, info, policy=policy)
    print(
        json.dumps({"outcome": placement.outcome, "status": placement.status, "detail": placement.detail}), flush=True
    )
    client.disconnect()


if __name__ == "__main__":
    main()
