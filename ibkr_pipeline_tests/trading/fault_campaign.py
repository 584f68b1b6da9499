"""A trader's bad day against the simulator: faults injected around order placement, then one re-execution
and one reconciliation, then the verdict for every orderRef.

Used by ``test_fault_campaign.py`` (every scenario, asserted) and by ``bench/faults.py`` (the figures).
A verdict is good when IB works exactly one bracket under the ref, or the ledger says ``lost`` or
``rejected``; and the ledger agrees with IB after the reconciliation.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from ibkr_pipeline.broker.client import IBKRClient, IBKRSettings
from ibkr_pipeline.broker.errors import GatewayConnectionError
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.database.ledger import LOST, Ledger
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.gateway_sim.server import SimulatorThread
from ibkr_pipeline.trading.executor import PlacementPolicy, broker_orders, place_exactly_once, status_of
from ibkr_pipeline.trading.reconcile import reconcile
from ibkr_pipeline_tests.eventually import commissions_known, until
from ibkr_pipeline_tests.trading.placement_worker import bracket_intent

# Deadlines short enough for a test, in the same proportions as production's defaults.
FAST = dict(connect_timeout_s=2, backoff_initial_s=0.05, request_timeout_s=1.5, call_budget_s=5, connect_attempts=2)
RE_EXECUTION = PlacementPolicy(confirm_s=3, resend_grace_s=0, claim_lease_s=300, claim_wait_s=10)
FIRST = PlacementPolicy(confirm_s=1, resend_grace_s=60, claim_lease_s=300, claim_wait_s=10)
_ids = itertools.count(100)


@dataclass(frozen=True)
class Verdict:
    scenario: str
    ref: str
    faults: int
    brackets_at_ib: int
    ledger_status: str
    agrees: bool
    detail: str = ""

    @property
    def duplicate(self) -> bool:
        return self.brackets_at_ib > 1

    @property
    def unexplained_loss(self) -> bool:
        return self.brackets_at_ib == 0 and self.ledger_status not in (LOST, "rejected")

    @property
    def good(self) -> bool:
        return not self.duplicate and not self.unexplained_loss and self.agrees


@dataclass
class Campaign:
    gw: SimulatorThread
    db_url: str
    verdicts: list[Verdict] = field(default_factory=list)
    longest_silent_call_s: float = 0.0
    serial: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def ledger(self) -> Ledger:
        return Ledger(engine_for(self.db_url))

    def client(self) -> IBKRClient:
        client = IBKRClient(IBKRSettings(port=self.gw.port, client_id=next(_ids), **FAST))
        client.connect()
        return client

    def ref(self, scenario: str, symbol: str) -> str:
        return f"campaign:{symbol}:{scenario}-{next(self.serial)}-{time.time_ns()}"

    def place(self, client: IBKRClient, ref: str, symbol: str, policy: PlacementPolicy):
        info = client.resolve(ContractSpec(symbol=symbol))
        return place_exactly_once(client, self.ledger, bracket_intent(ref, info), info, policy=policy)

    def settled(self, ref: str) -> bool:
        """Every order under the ref is done at the simulator (filled, cancelled or rejected)."""
        return self.gw.call(
            lambda: all(o.is_terminal for o in self.gw.sim.engine.orders.values() if o.order_ref == ref)
        )

    def judge(self, scenario: str, ref: str, faults: int = 1) -> Verdict:
        """One reconciliation, then what IB works under the ref and whether the ledger says the same."""
        self.gw.step()
        client = self.client()
        try:
            reconcile(client, self.ledger, lost_after_s=0)
            known = broker_orders(client, ref)
        finally:
            client.disconnect()
        brackets = self.gw.call(
            lambda: sum(
                1 for o in self.gw.sim.engine.orders.values() if o.order_ref == ref and o.released and not o.parent_id
            )
        )
        row = self.ledger.get(ref)
        status = row.status if row else "(none)"
        expected = status_of(known) if known else None
        agrees = status == expected if known else status in (LOST, "rejected", "(none)")
        verdict = Verdict(scenario, ref, faults, brackets, status, agrees, row.error if row else "")
        self.verdicts.append(verdict)
        return verdict

    def re_execute(self, ref: str, symbol: str):
        client = self.client()
        try:
            return self.place(client, ref, symbol, RE_EXECUTION)
        finally:
            client.disconnect()

    # -- faults in this process ---------------------------------------------------------------------------

    def drop_on_place_order(self, symbol: str, nth: int, after_handling: bool) -> Verdict:
        """The line dies on the Nth placeOrder of the bracket, before or after IB handled it."""
        ref = self.ref(f"drop{nth}{'after' if after_handling else 'before'}", symbol)
        faults = self.gw.faults
        faults.drop_on_request, faults.drop_on_nth, faults.drop_after_handling = {3}, nth, after_handling
        client = self.client()
        try:
            self._survive(lambda: self.place(client, ref, symbol, FIRST))
        finally:
            faults.drop_on_request, faults.drop_on_nth, faults.drop_after_handling = set(), 1, False
            client.disconnect()
        self.re_execute(ref, symbol)
        return self.judge(f"drop on placeOrder {nth} {'after' if after_handling else 'before'} handling", ref)

    def silent_at_order(self, symbol: str, re_execute: bool = True) -> Verdict:
        """The gateway swallows the order and goes quiet (connected), then restarts keeping its state."""
        ref = self.ref("silent", symbol)
        client = self.client()
        try:
            self.gw.faults.silent_on_order = True
            placement = self._survive(lambda: self.place(client, ref, symbol, FIRST))
            assert placement is None or placement.status == "unconfirmed", placement
            started = time.monotonic()
            try:
                client.open_orders()  # any call into the silence: it must end at its deadline, never hang
            except GatewayConnectionError:
                pass
            self.longest_silent_call_s = max(self.longest_silent_call_s, time.monotonic() - started)
        finally:
            client.disconnect()
        self.gw.restart(0.3)
        if re_execute:
            self.re_execute(ref, symbol)
        return self.judge(
            "silent gateway at the order, restart" + (", re-execution" if re_execute else ", only the sensor"), ref
        )

    def restart_after_placing(self, symbol: str) -> Verdict:
        ref = self.ref("restart", symbol)
        client = self.client()
        try:
            self.place(client, ref, symbol, FIRST)
        finally:
            client.disconnect()
        self.gw.restart(0.3)
        self.re_execute(ref, symbol)
        return self.judge("gateway restart after placing, state kept", ref)

    def late_reject(self, symbol: str) -> Verdict:
        ref = self.ref("latereject", symbol)
        self.gw.faults.late_reject_orders = {symbol}
        self.gw.faults.late_reject_after_s = 0.2
        client = self.client()
        try:
            self.place(client, ref, symbol, FIRST)
            until(lambda: self.settled(ref), f"{ref}: every order rejected late (or done before)", client.sleep)
        finally:
            self.gw.faults.late_reject_orders = set()
            client.disconnect()
        self.re_execute(ref, symbol)
        return self.judge("late reject (Inactive)", ref)

    def late_commission(self, symbol: str) -> Verdict:
        ref = self.ref("latecommission", symbol)
        self.gw.call(lambda: setattr(self.gw.sim.config, "commission_delay_s", 0.3))
        client = self.client()
        try:
            self.place(client, ref, symbol, FIRST)
            reconcile(client, self.ledger)  # the fill, before its commission report
        finally:
            self.gw.call(lambda: setattr(self.gw.sim.config, "commission_delay_s", 0.0))
            client.disconnect()
        until(commissions_known(self.gw), f"{ref}: the commission report is due")
        verdict = self.judge("late commission report", ref)
        fills = self.ledger.fills(exact_ref=ref)
        assert fills and all(f.commission > 0 for f in fills), [(f.exec_id, f.commission) for f in fills]
        return verdict

    def next_day_re_execution(self, symbol: str) -> Verdict:
        ref = self.ref("nextday", symbol)
        client = self.client()
        try:
            self.place(client, ref, symbol, FIRST)
        finally:
            client.disconnect()
        clock = self.gw.sim.clock
        self.gw.call(lambda: clock.set(clock.now() + timedelta(days=1), speed=0))  # IB forgets yesterday's fills
        try:
            self.re_execute(ref, symbol)
            verdict = self.judge("re-execution on the next trading day", ref)
        finally:
            self.gw.call(lambda: clock.set(clock.now() - timedelta(days=1), speed=0))
        return verdict

    @staticmethod
    def _survive(action: Callable):
        try:
            return action()
        except (GatewayConnectionError, ConnectionError, TimeoutError):
            return None  # the step fails here; what matters is what the next execution finds

    # -- faults only a process has ------------------------------------------------------------------------

    def worker(
        self,
        ref: str,
        symbol: str,
        *,
        kill_at: str = "",
        go_file: str = "",
        lease_s: float = 300.0,
        claims: bool = True,
    ) -> list[str]:
        return [
            sys.executable,
            "-m",
            "ibkr_pipeline_tests.trading.placement_worker",
            "--port",
            str(self.gw.port),
            "--db",
            self.db_url,
            "--ref",
            ref,
            "--symbol",
            symbol,
            "--client-id",
            str(next(_ids)),
            "--kill-at",
            kill_at,
            "--go-file",
            go_file,
            "--lease-s",
            str(lease_s),
            *([] if claims else ["--no-claim"]),
        ]

    @staticmethod
    def start(commands: list[list[str]]) -> list[subprocess.Popen]:
        return [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]

    @staticmethod
    def finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[tuple[int, str, str]]:
        outputs = [p.communicate(timeout=timeout) for p in procs]
        return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]

    def kills(self, points: list[str], symbols: list[str]) -> list[Verdict]:
        """SIGKILL a process at each point of placement (all at once, each its own ref), then re-execute each here,
        as the step's retry or a manual re-execution would."""
        cases = [(p, s, self.ref(f"kill-{p}", s)) for p in points for s in symbols]
        killed = self.finish(self.start([self.worker(ref, s, kill_at=p, lease_s=1.0) for p, s, ref in cases]))
        for (p, _s, _r), (code, out, err) in zip(cases, killed, strict=True):
            assert code == -9, f"kill at {p}: exit {code}\n{out}\n{err[-2000:]}"
        for _p, s, ref in cases:
            self.re_execute(ref, s)
        return [self.judge(f"SIGKILL at {p}", ref) for p, _s, ref in cases]

    def overlapping(self, executions: int, symbols: list[str], go_file: str, claims: bool = True) -> list[Verdict]:
        """``executions`` processes run the same tick's placement at the same instant (``claims=False``: the
        baseline, with the orderRef claim switched off)."""
        cases = [(s, self.ref(f"overlap{executions}", s)) for s in symbols]
        procs = self.start(
            [self.worker(ref, s, go_file=go_file, claims=claims) for s, ref in cases for _ in range(executions)]
        )
        for proc in procs:  # every one connected and resolved: now they go together
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        open(go_file, "w").close()
        outcomes: dict[str, list[str]] = {}
        for (code, out, err), command in zip(
            self.finish(procs), [c for c in cases for _ in range(executions)], strict=True
        ):
            assert code == 0 or not claims, err[-2000:]
            if code == 0:
                outcomes.setdefault(command[1], []).append(json.loads(out.strip().splitlines()[-1])["outcome"])
        for ref, seen in (
            outcomes.items() if claims else ()
        ):  # the others waited on the claim and found it done; none raced to IB
            assert sorted(seen) == ["already_done"] * (executions - 1) + ["placed"], (ref, seen)
        return [self.judge(f"{executions} overlapping executions", ref, faults=executions - 1) for _s, ref in cases]

    def summary(self) -> str:
        faults = sum(v.faults for v in self.verdicts)
        duplicates = sum(v.duplicate for v in self.verdicts)
        lost = sum(v.unexplained_loss for v in self.verdicts)
        explained = sum(v.ledger_status in (LOST, "rejected") for v in self.verdicts)
        return (
            f"fault campaign: {faults} faults over {len(self.verdicts)} orderRefs: {duplicates} duplicates, "
            f"{lost} lost without explanation, {explained} ended lost/rejected with IB's reason or an alert; "
            f"longest call into a silent gateway {self.longest_silent_call_s:.1f} s "
            f"(deadline {FAST['request_timeout_s']} s, budget {FAST['call_budget_s']} s)"
        )
