"""Market data as IB hands it out: per-instrument permissions, delayed data on request, refusals with IB's codes."""

import math

import pytest
from ib_async import IB, Stock

from ibkr_pipeline.broker.client import IBKRClient, IBKRSettings
from ibkr_pipeline.broker.errors import MarketDataRefusedError
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline_tests.conftest import make_gateway

PERMISSIONS = {"AAPL": "live", "MSFT": "delayed", "SPY": "none", "IBM": "competing"}


@pytest.fixture
def gw():
    with make_gateway(pacing=False, market_data=PERMISSIONS) as gateway:
        yield gateway


def snapshot(ib: IB, symbol: str) -> tuple[float, list[int]]:
    """(last price or nan, error codes seen for the request), as a plain ib_async client sees them."""
    codes: list[int] = []
    ib.errorEvent += lambda req_id, code, message, contract: codes.append(code)
    [contract] = ib.qualifyContracts(Stock(symbol, "SMART", "USD"))
    [ticker] = ib.reqTickers(contract)
    ib.errorEvent.clear()
    return ticker.last, codes


def test_each_permission_answers_as_ib_does(gw):
    ib = IB()
    ib.connect("127.0.0.1", gw.port, clientId=21, timeout=5)
    last, codes = snapshot(ib, "AAPL")
    assert last > 0 and codes == []
    last, codes = snapshot(ib, "MSFT")
    assert math.isnan(last) and codes == [10089]  # delayed data exists, but nobody asked for it
    ib.reqMarketDataType(3)
    last, codes = snapshot(ib, "MSFT")
    assert last > 0 and codes == [10167]  # "displaying delayed market data"
    last, codes = snapshot(ib, "SPY")
    assert math.isnan(last) and codes == [354]
    last, codes = snapshot(ib, "IBM")
    assert math.isnan(last) and codes == [10197]
    ib.disconnect()


def test_the_project_client_asks_for_delayed_data_and_names_a_refusal(gw):
    client = IBKRClient(IBKRSettings(port=gw.port, connect_timeout_s=2))
    client.connect()
    try:
        delayed = client.snapshot(client.resolve(ContractSpec(symbol="MSFT")))
        assert delayed.reference_price and delayed.reference_price > 0
        with pytest.raises(MarketDataRefusedError) as refused:
            client.snapshot(client.resolve(ContractSpec(symbol="SPY")))
        assert refused.value.code == 354 and str(refused.value) == (
            "IB error 354: SPY: Requested market data is not subscribed."
        )
    finally:
        client.disconnect()


def test_a_tick_asks_its_quotes_at_once_and_each_refusal_stays_in_its_place(gw):
    client = IBKRClient(IBKRSettings(port=gw.port, connect_timeout_s=2))
    client.connect()
    try:
        symbols = ["AAPL", "SPY", "MSFT", "IBM"]
        answers = client.snapshots([client.resolve(ContractSpec(symbol=s)) for s in symbols])
    finally:
        client.disconnect()
    assert [type(a).__name__ for a in answers] == ["Quote", "MarketDataRefusedError", "Quote", "MarketDataRefusedError"]
    assert [a.symbol for a in answers if not isinstance(a, Exception)] == ["AAPL", "MSFT"]
    assert [a.code for a in answers if isinstance(a, MarketDataRefusedError)] == [354, 10197]
