"""The simulator holds clients to IB's pacing as IB documents it; IB's numbers are written here as literals.

The pacing windows run on the simulator's frozen clock, so nothing passes until a test advances it:
the tests count requests instead of timing them.
"""

from datetime import timedelta

import pytest
from ib_async import IB, Stock
from ib_async.wrapper import RequestError

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
