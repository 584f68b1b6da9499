"""The replay broker: the simulator's matching engine over replayed bars, on the backtest's clock."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine

from ibkr_pipeline.backtest.point_in_time import LookAheadError, PointInTimeBars
from ibkr_pipeline.backtest.replay_broker import Costs, ReplayBroker
from ibkr_pipeline.database.engine import upgrade
from ibkr_pipeline.database.ledger import Ledger
from ibkr_pipeline.domain.orders import OrderIntent
from ibkr_pipeline_tests.backtest.history import _offline_contract

DAYS = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]


def history() -> PointInTimeBars:
    rows = [  # Monday to Thursday; Wednesday's range reaches both 104 (target) and 97 (stop), falling first
        (100.0, 101.0, 99.0, 100.0),
        (100.5, 102.0, 100.0, 101.0),
        (101.0, 104.5, 96.5, 103.0),
        (103.0, 103.5, 102.0, 103.0),
    ]
    return PointInTimeBars(
        {
            "XYZ": pd.DataFrame(
                [
                    {"timestamp": pd.Timestamp(d, tz="UTC"), "open": o, "high": h, "low": lo, "close": c, "volume": 1e6}
                    for d, (o, h, lo, c) in zip(DAYS, rows, strict=True)
                ]
            )
        }
    )


def ledger(tmp_path: Path, broker: ReplayBroker) -> Ledger:
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(engine)
    return Ledger(engine, clock=broker.now)


def intent(**kw) -> OrderIntent:
    base = dict(
        order_ref="t:XYZ:1",
        strategy="t",
        symbol="XYZ",
        con_id=0,
        tick="1",
        mode="paper",
        action="BUY",
        quantity=100,
        entry_type="MKT",
        tif="DAY",
    )
    return OrderIntent(**{**base, **kw})


def monday_after_close() -> datetime:
    return datetime(2026, 3, 2, 21, 15, tzinfo=UTC)


def test_a_market_order_fills_at_the_next_open_with_slippage_and_commission(tmp_path):
    bars = history()
    broker = ReplayBroker(
        bars,
        {"XYZ": _offline_contract("XYZ")},
        100_000,
        Costs(slippage_bps=10, commission_per_share=0.01, min_commission=2),
    )
    book = ledger(tmp_path, broker)
    broker.advance_to(monday_after_close(), book)
    placed = broker.place(book, intent(), _offline_contract("XYZ"))
    assert placed.status == "working" and broker.fills == []  # after the close: nothing fills tonight
    broker.advance_to(monday_after_close() + timedelta(days=1), book)
    [fill] = broker.fills
    assert fill.time == datetime(2026, 3, 3, 14, 31, tzinfo=UTC)
    # Tuesday opened at 100.5 and the replayed path first heads to its low (100.0); one minute in, plus 10 bps.
    first_minute = 100.5 + (100.0 - 100.5) * 3 / 390
    assert fill.price == pytest.approx(round(first_minute * 1.001, 2), abs=0.011)
    assert fill.commission == 2.0  # 100 shares x 0.01 = 1.00, below the 2.00 minimum
    assert book.get("t:XYZ:1").status == "filled"
    assert broker.holdings()["XYZ"].quantity == 100


def test_a_bracket_stop_and_target_in_one_bar_trigger_in_the_order_the_path_reaches_them(tmp_path):
    bars = history()
    broker = ReplayBroker(bars, {"XYZ": _offline_contract("XYZ")}, 100_000, Costs(slippage_bps=0))
    book = ledger(tmp_path, broker)
    broker.advance_to(monday_after_close(), book)
    broker.place(
        book, intent(entry_type="LMT", limit_price=100.5, stop_loss=97.0, take_profit=104.0), _offline_contract("XYZ")
    )
    broker.advance_to(monday_after_close() + timedelta(days=2), book)  # through Wednesday
    legs = [(f.leg, f.side, f.price) for f in broker.fills]
    # Wednesday closed up (open 101 < close 103), so the replayed path visits the low (stop) before the high.
    assert legs == [("entry", "BUY", 100.5), ("stop", "SELL", 97.0)]
    assert "XYZ" not in broker.holdings()
    assert book.get("t:XYZ:1").status == "filled"


def test_the_matching_engine_cannot_price_a_session_that_has_not_opened():
    bars = history()
    broker = ReplayBroker(bars, {"XYZ": _offline_contract("XYZ")}, 100_000, Costs())
    bars.advance_to(monday_after_close())
    broker.clock = monday_after_close()
    instrument = broker.instruments["XYZ"]
    with pytest.raises(LookAheadError, match="has not opened"):
        broker.market.minute_frame(instrument, broker.calendar.index_of(datetime(2026, 3, 4).date()), False)
    with pytest.raises(LookAheadError, match="after the backtest clock"):
        broker.market.daily_bars(instrument, True, 0, broker.calendar.index_of(datetime(2026, 3, 3).date()))
