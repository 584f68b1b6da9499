"""The simulator holds clients to IB's pacing as IB documents it; IB's numbers are written here as literals.

The pacing windows run on the simulator's frozen clock, so nothing passes until a test advances it:
the tests count requests instead of timing them.
"""

from datetime import timedelta

import pytest
from ib_async import IB, Stock
from ib_async.wrapper import RequestError

from ibkr_pipeline.gateway_sim.pacing import HistoricalPacing, bar_seconds
from ibkr_pipeline_tests.conftest import make_gateway


@pytest.fixture
def paced():
    with make_gateway(pacing=True, pacing_clock="sim") as gw:
        ib = IB()
        ib.RaiseRequestErrors = True
        ib.connect("127.0.0.1", gw.port, clientId=3, timeout=5)
        yield gw, ib
        ib.disconnect()


def bars(ib: IB, symbol: str, duration: str, bar_size: str) -> int | str:
    """How many bars came back, or 'error N' for IB's refusal."""
    [contract] = ib.qualifyContracts(Stock(symbol, "SMART", "USD"))
    try:
        return len(ib.reqHistoricalData(contract, "", duration, bar_size, "TRADES", True, 2, timeout=10))
    except RequestError as exc:
        return f"error {exc.code}"


def test_an_identical_small_bar_request_within_15_seconds_is_error_162(paced):
    gw, ib = paced
    assert isinstance(bars(ib, "AAPL", "300 S", "5 secs"), int)
    assert bars(ib, "AAPL", "300 S", "5 secs") == "error 162"
    gw.advance(timedelta(seconds=14))
    assert bars(ib, "AAPL", "300 S", "5 secs") == "error 162"
    gw.advance(timedelta(seconds=1))  # 15 s after the first
    assert isinstance(bars(ib, "AAPL", "300 S", "5 secs"), int)


def test_six_requests_for_one_contract_within_2_seconds_is_error_162(paced):
    gw, ib = paced
    answers = [bars(ib, "MSFT", f"{60 * (k + 1)} S", "30 secs") for k in range(6)]
    assert [isinstance(a, int) for a in answers] == [True] * 5 + [False] and answers[5] == "error 162"
    gw.advance(timedelta(seconds=2))
    assert isinstance(bars(ib, "MSFT", "420 S", "30 secs"), int)


def test_more_than_60_requests_in_10_minutes_is_error_162(paced):
    gw, ib = paced
    symbols = [s for s in gw.sim.universe.symbols][:61]
    answers = [bars(ib, s, "300 S", "1 secs") for s in symbols]
    assert sum(isinstance(a, int) for a in answers) == 60 and answers[60] == "error 162"
    gw.advance(timedelta(seconds=599))
    assert bars(ib, symbols[60], "300 S", "1 secs") == "error 162"
    gw.advance(timedelta(seconds=1))  # ten minutes after the first
    assert isinstance(bars(ib, symbols[60], "300 S", "1 secs"), int)


def test_bars_larger_than_30_seconds_are_never_refused_for_pacing(paced):
    gw, ib = paced
    answers = [
        bars(ib, s, duration, size)
        for s in gw.sim.universe.symbols[:31]
        for duration, size in (("1 D", "1 min"), ("1 M", "1 day"))
    ]
    answers += [bars(ib, "AAPL", "1 M", "1 day") for _ in range(3)]  # identical, at once
    assert all(isinstance(a, int) and a > 0 for a in answers), [a for a in answers if not isinstance(a, int)]
    assert gw.sim.pacing_violations == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def windows(scale: float = 1.0) -> tuple[HistoricalPacing, Clock]:
    clock = Clock()
    return HistoricalPacing(scale, clock), clock


@pytest.mark.parametrize(
    ("bar_size", "seconds"),
    [("1 secs", 1), ("30 secs", 30), ("1 min", 60), ("2 mins", 120), ("1 hour", 3600), ("1 day", 86_400)]
    + [("1 week", 604_800), ("1 month", 2_592_000), ("1 fortnight", 10**9), ("x secs", 10**9)],
)
def test_bar_sizes_in_seconds_and_an_unknown_one_counts_as_large(bar_size, seconds):
    assert bar_seconds(bar_size) == seconds


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_the_gateways_windows_refuse_an_identical_request_for_15_seconds_times_the_scale(scale):
    pacing, clock = windows(scale)
    assert pacing.admit("q", "c", "30 secs") is None
    clock.now = 1000.0 + 14.9 * scale
    assert pacing.admit("q", "c2", "30 secs") == "identical request within 15 s"
    clock.now = 1000.0 + 15.0 * scale
    assert pacing.admit("q", "c3", "30 secs") is None


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_gateways_windows_refuse_a_sixth_request_for_one_contract_within_2_seconds_times_the_scale(scale):
    pacing, clock = windows(scale)
    assert [pacing.admit(f"q{n}", "c", "5 secs") for n in range(5)] == [None] * 5
    assert pacing.admit("q5", "c", "5 secs") == "6 or more requests for one contract within 2 s"
    assert pacing.admit("q5", "other", "5 secs") is None
    clock.now = 1000.0 + 2.0 * scale
    assert pacing.admit("q6", "c", "5 secs") is None


def test_the_gateways_windows_refuse_a_61st_request_within_10_minutes_times_the_scale():
    pacing, clock = windows(scale=0.1)  # the 10-minute window is 60 s
    for n in range(60):
        assert pacing.admit(f"q{n}", f"c{n}", "1 secs") is None
        clock.now += 0.5
    assert pacing.admit("q60", "c60", "1 secs") == "more than 60 requests within 600 s"
    clock.now = 1000.0 + 60.0  # the first request leaves the (scaled) 10-minute window
    assert pacing.admit("q60", "c60", "1 secs") is None
    assert pacing.admit("q61", "c61", "1 secs") == "more than 60 requests within 600 s"


def test_bars_over_30_seconds_are_never_refused_only_slowed_past_60_in_10_minutes():
    pacing, clock = windows(scale=0.5)
    for _ in range(60):
        assert pacing.admit("same", "same", "1 min") is None
    assert pacing.soft_delay() == 0.0
    assert pacing.admit("same", "same", "1 day") is None
    assert pacing.soft_delay() == 0.25  # half a second, scaled
    clock.now += 300.0
    assert pacing.admit("same", "same", "1 week") is None
    assert pacing.soft_delay() == 0.0
    assert pacing.admit("small", "small", "30 secs") is None  # large bars count in no hard window
