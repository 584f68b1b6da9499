"""Replayed data, custom universes and the fault plan."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from ib_async import IB, Stock

from ibkr_pipeline_tests.conftest import make_gateway


def test_replay_serves_the_files_bars(tmp_path):
    days = pd.bdate_range("2026-10-01", "2026-11-20")
    days = [d for d in days if d.strftime("%Y-%m-%d") != "2026-11-11"]  # a gap the file simply lacks
    frame = pd.DataFrame(
        {
            "date": [d.strftime("%Y-%m-%d") for d in days],
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": [10.0 + i * 0.1 for i in range(len(days))],
            "volume": 1000,
        }
    )
    frame.to_csv(tmp_path / "ACME.csv", index=False)
    (tmp_path / "universe.yaml").write_text("- {symbol: ACME, primary_exchange: NYSE, price: 10, name: Acme Corp}\n")
    with make_gateway(data_dir=tmp_path, universe_file=tmp_path / "universe.yaml", pacing=False) as gw:
        ib = IB()
        ib.connect("127.0.0.1", gw.port, clientId=1, timeout=5)
        try:
            [acme] = ib.qualifyContracts(Stock("ACME", "SMART", "USD"))
            bars = ib.reqHistoricalData(acme, "20261121 00:00:00 UTC", "3 M", "1 day", "TRADES", True, 1)
            assert [b.close for b in bars] == pytest.approx(list(frame["close"]))
            assert ib.reqContractDetails(Stock("AAPL", "SMART", "USD")) == []  # not in this universe
        finally:
            ib.disconnect()


def test_response_delay_and_drop_after_messages(gateway):
    ib = IB()
    ib.connect("127.0.0.1", gateway.port, clientId=1, timeout=5)
    gateway.faults.response_delay_s = 0.3
    started = time.monotonic()
    ib.reqCurrentTime()
    assert time.monotonic() - started >= 0.3
    gateway.faults.response_delay_s = 0.0
    gateway.faults.drop_after_messages = 1
    with pytest.raises(ConnectionError):
        ib.reqCurrentTime()
    assert not ib.isConnected()
    ib.connect("127.0.0.1", gateway.port, clientId=1, timeout=5)  # the client id is free again
    assert ib.isConnected()
    ib.disconnect()
