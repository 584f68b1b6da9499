"""The orders fault campaign as figures: faults injected around placement, duplicates (goal 0), orders lost
without explanation (goal 0), and the longest call into a silent gateway (goal: within the call budget plus
one reconnect). The baseline, in the same run, is the same overlapping executions with the orderRef claim
switched off: what the claim is worth."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

from bench.common import CLOCK
from bench.figures import figure
from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread
from ibkr_pipeline_tests.trading.fault_campaign import FAST, Campaign
from ibkr_pipeline_tests.trading.placement_worker import KILL_POINTS

SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM"]


@contextmanager
def gateway():
    with SimulatorThread(SimulatorConfig(port=0, clock_start=CLOCK, clock_speed=0, pacing=False)) as gw:
        yield gw


def campaign(folder: Path) -> Campaign:
    verdicts, longest = [], 0.0
    scenarios = [
        lambda c: c.kills(list(KILL_POINTS), SYMBOLS[:4]),
        lambda c: c.overlapping(2, SYMBOLS[:4], str(folder / "go2")),
        lambda c: c.overlapping(3, SYMBOLS[:4], str(folder / "go3")),
        *[
            lambda c, n=n, a=a: [c.drop_on_place_order(s, n, a) for s in SYMBOLS]
            for n in (1, 2, 3)
            for a in (False, True)
        ],
        lambda c: [c.silent_at_order(s) for s in SYMBOLS[:3]],
        lambda c: c.silent_at_order(SYMBOLS[3], re_execute=False),
        *[
            lambda c, name=name: [getattr(c, name)(s) for s in SYMBOLS[:4]]
            for name in ("restart_after_placing", "late_reject", "late_commission", "next_day_re_execution")
        ],
    ]
    for i, scenario in enumerate(scenarios):
        with gateway() as gw:  # a fresh account per scenario, as in the tests
            c = Campaign(gw, f"sqlite:///{folder / f'ledger{i}.db'}")
            try:
                scenario(c)
            except AssertionError as exc:  # a figure, not a crash: the verdicts so far still count
                print(f"  scenario {i}: {str(exc)[:300]}")
            verdicts += c.verdicts
            longest = max(longest, c.longest_silent_call_s)
    return Campaign(None, "", verdicts, longest)  # type: ignore[arg-type]


def baseline_without_claims(folder: Path) -> int:
    """Duplicates when three executions of one tick overlap and nothing claims the orderRef."""
    with gateway() as gw:
        c = Campaign(gw, f"sqlite:///{folder / 'baseline.db'}")
        c.overlapping(3, SYMBOLS[:4], str(folder / "go-baseline"), claims=False)
        return sum(v.duplicate for v in c.verdicts)


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        result = campaign(Path(tmp))
        baseline = baseline_without_claims(Path(tmp))
    verdicts = result.verdicts
    budget = FAST["call_budget_s"] + FAST["connect_timeout_s"]
    return [
        figure(
            "fault campaign: faults injected",
            sum(v.faults for v in verdicts),
            100,
            ">=",
            f"over {len(verdicts)} orderRefs",
        ),
        figure(
            "fault campaign: duplicate brackets",
            sum(v.duplicate for v in verdicts),
            0,
            "<=",
            f"baseline, 4 refs x 3 overlapping executions with no orderRef claim: {baseline}",
        ),
        figure("fault campaign: orders lost without explanation", sum(v.unexplained_loss for v in verdicts), 0),
        figure(
            "fault campaign: ledger disagrees with IB after one reconciliation", sum(not v.agrees for v in verdicts), 0
        ),
        figure(
            "fault campaign: longest call into a silent gateway (s)",
            result.longest_silent_call_s,
            budget,
            "<=",
            f"request deadline {FAST['request_timeout_s']} s, call budget {FAST['call_budget_s']} s, "
            f"one reconnect {FAST['connect_timeout_s']} s",
        ),
    ]
