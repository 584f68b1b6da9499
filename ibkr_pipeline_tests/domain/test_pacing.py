"""The client's copy of IB's historical-data pacing rules, checked against IB's documented numbers written here as
literals (not read from domain/pacing.py): 15 s between identical requests, at most 5 requests for one contract
in 2 s, at most 60 in 10 minutes; the hard limits apply to bars of 30 seconds or less."""

import pytest

from ibkr_pipeline.domain.pacing import PacingLedger, PacingRules, hard_paced


def test_the_rules_are_ibs_documented_numbers():
    r = PacingRules()
    assert (r.identical_window_s, r.same_contract_window_s, r.same_contract_max) == (15.0, 2.0, 5)
    assert (r.global_window_s, r.global_max) == (600.0, 60)


def test_scaling_shrinks_every_window_and_keeps_every_count():
    assert PacingRules().scaled(0.5) == PacingRules(7.5, 1.0, 5, 300.0, 60)
    assert PacingRules(10.0, 1.0, 3, 100.0, 20).scaled(2.0) == PacingRules(20.0, 2.0, 3, 200.0, 20)


@pytest.mark.parametrize(
    ("bar_size", "hard"),
    [
        ("1 secs", True),
        ("5 secs", True),
        ("30 secs", True),
        ("1 min", False),
        ("31 secs", False),
        ("1 day", False),
        ("1 week", False),
        ("1 month", False),
        ("2 hours", False),
        ("fortnight", True),  # unknown: the cautious side
        ("x secs", True),
    ],
)
def test_hard_limits_apply_to_bars_of_30_seconds_or_less(bar_size, hard):
    assert hard_paced(bar_size) is hard


@pytest.mark.parametrize(
    ("requests", "seconds"), [(-1, 0.0), (0, 0.0), (1, 0.0), (60, 0.0), (61, 600.0), (200, 1800.0)]
)
def test_the_least_time_n_requests_take_under_60_per_10_minutes(requests, seconds):
    assert PacingRules().minimum_duration(requests) == seconds


def test_an_identical_request_waits_15_seconds_and_another_goes_at_once():
    ledger = PacingLedger(PacingRules())
    ledger.record("q", "c", 100.0)
    assert ledger.wait_time("q", "c", 100.0) == 15.0
    assert ledger.wait_time("q", "c", 110.0) == 5.0
    assert ledger.wait_time("q", "c", 115.0) == 0.0
    assert ledger.wait_time("other", "c2", 100.0) == 0.0


def test_a_sixth_request_for_one_contract_within_2_seconds_waits_for_the_first_to_leave_the_window():
    ledger = PacingLedger(PacingRules())
    for n in range(5):
        ledger.record(f"q{n}", "c", 100.0 + n * 0.1)
    assert ledger.wait_time("q5", "c", 100.5) == pytest.approx(1.5)  # the first left at 102.0
    assert ledger.wait_time("q5", "other contract", 100.5) == 0.0
    assert ledger.wait_time("q5", "c", 102.0) == 0.0
    four = PacingLedger(PacingRules())
    for n in range(4):
        four.record(f"q{n}", "c", 100.0)
    assert four.wait_time("q4", "c", 100.0) == 0.0  # the fifth may go


def test_a_61st_request_within_10_minutes_waits_for_the_oldest_to_leave():
    ledger = PacingLedger(PacingRules())
    for n in range(60):
        ledger.record(f"q{n}", f"c{n}", 1000.0 + n)
    assert ledger.wait_time("new", "new", 1060.0) == 540.0  # the first left at 1600
    assert ledger.wait_time("new", "new", 1600.0) == 0.0
    fifty_nine = PacingLedger(PacingRules())
    for n in range(59):
        fifty_nine.record(f"q{n}", f"c{n}", 1000.0)
    assert fifty_nine.wait_time("new", "new", 1000.0) == 0.0


def test_a_request_counts_from_its_answer():
    ledger = PacingLedger(PacingRules())
    sent = ledger.sent("q", "c")
    ledger.answered(sent, 108.0)  # sent at 100, answered 8 s later: IB counted it no later than that
    for n in range(4):
        ledger.record(f"r{n}", "c", 108.5)
    assert ledger.wait_time("r4", "c", 109.0) == pytest.approx(1.0)  # the answered one leaves at 110.0
    assert ledger.wait_time("q", "c", 110.0) == 13.0


def test_a_request_in_flight_counts_as_now_in_every_window_however_long_it_takes():
    """IB may count a request at any instant until its answer: one in flight longer than a window never leaves it."""
    ledger = PacingLedger(PacingRules())
    tokens = [ledger.sent(f"q{n}", f"c{n}") for n in range(60)]
    assert ledger.wait_time("new", "new", 5000.0) == 600.0  # 60 in flight: the 61st waits a whole window
    for token in tokens[:59]:
        ledger.answered(token, 5000.0)
    assert ledger.wait_time("new", "new", 5100.0) == 500.0  # 59 answered at 5000 and one in flight make 60
    ledger.answered(tokens[59], 5300.0)
    assert ledger.wait_time("new", "new", 5600.0) == 0.0  # the 59 answered at 5000 have left
    assert ledger.wait_time("q59", "c", 5314.0) == pytest.approx(1.0)


def test_five_in_flight_for_one_contract_hold_the_sixth_until_answered():
    ledger = PacingLedger(PacingRules())
    tokens = [ledger.sent(f"q{n}", "c") for n in range(5)]
    assert ledger.wait_time("q5", "c", 10.0) == 2.0
    assert ledger.wait_time("q0", "elsewhere", 90.0) == 15.0  # an identical one waits for the answer, then 15 s
    assert ledger.wait_time("q5", "c", 90.0) == 2.0
    ledger.answered(tokens[0], 90.0)
    assert ledger.wait_time("q5", "c", 91.0) == 1.0  # the answered one leaves at 92; four are still in flight


def test_old_requests_leave_every_window():
    ledger = PacingLedger(PacingRules())
    for n in range(60):
        ledger.record("same", "c", 0.0 + n * 0.001)
    assert ledger.wait_time("same", "c", 600.1) == 0.0


def test_a_late_answer_counts_from_the_answer_in_the_10_minute_window_after_its_contract_window_has_passed():
    late = PacingLedger(PacingRules())
    also_later = PacingLedger(PacingRules())  # its contract's window holds a later request too
    tokens = [ledger.sent("q0", "c0") for ledger in (late, also_later)]  # sent at 10
    for ledger in (late, also_later):
        for n in range(1, 60):
            ledger.record(f"q{n}", f"c{n}", 10.0 + n)
    also_later.record("later", "c0", 69.5)
    assert late.wait_time("probe", "elsewhere", 70.0) == 541.0  # q1 (11.0) is the oldest; q0 counts as now
    for ledger, token in zip((late, also_later), tokens, strict=True):
        ledger.answered(token, 70.0)
    assert late.wait_time("new", "new", 610.0) == 1.0  # q0 would have left at 610 had it counted from 10.0
    assert also_later.wait_time("new", "new", 610.0) == 2.0  # 61 in the window: the second oldest decides
