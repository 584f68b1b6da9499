"""IBKRClient over the real ib_async client against the simulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from ib_async import IB, Stock

from ibkr_pipeline.broker.client import BarsRequest, IBKRClient, IBKRSettings
from ibkr_pipeline.broker.errors import (
    GatewayConnectionError,
    GatewayOutageError,
    GatewayTimeoutError,
    UnknownContractError,
)
from ibkr_pipeline.database.contract_cache import ContractCache
from ibkr_pipeline.database.engine import engine_for
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.pacing import PacingRules
from ibkr_pipeline.exchange.universe import Universe
from ibkr_pipeline_tests.conftest import MARKET_OPEN_INSTANT, free_port, make_gateway
from ibkr_pipeline_tests.eventually import until


def client_for(gateway, cache=None, **kw) -> IBKRClient:
    settings = IBKRSettings(**{"port": gateway.port, "connect_timeout_s": 2, "backoff_initial_s": 0.05, **kw})
    return IBKRClient(settings, cache)


def test_contract_cache_hit_miss_and_expiry(gateway, database_url):
    cache = ContractCache(engine_for(database_url), ttl=timedelta(days=7))
    with client_for(gateway, cache) as client:
        first = client.resolve(ContractSpec(symbol="aapl"))
        assert (cache.stats.hits, cache.stats.misses) == (0, 1)
        second = client.resolve(ContractSpec(symbol="AAPL"))
        assert second == first and (cache.stats.hits, cache.stats.misses) == (1, 1)
        assert first.primary_exchange == "NASDAQ" and first.fetched_at.tzinfo is not None
    # The cache outlives the connection (it is in the database) ...
    fresh = ContractCache(engine_for(database_url), ttl=timedelta(days=7))
    assert fresh.get(ContractSpec(symbol="AAPL")) == first
    # ... until the TTL passes.
    later = datetime.now(UTC) + timedelta(days=8)
    assert fresh.get(ContractSpec(symbol="AAPL"), now=later) is None
    assert fresh.stats.expired == 1


def test_unknown_symbol_is_a_clear_error(gateway, tmp_path):
    cache = ContractCache(engine_for(f"sqlite:///{tmp_path / 'c.db'}"))
    with client_for(gateway, cache) as client:
        with pytest.raises(UnknownContractError, match="'ZZZQ'") as raised:
            client.resolve(ContractSpec(symbol="ZZZQ"))
        assert raised.value.code == 200
        results = client.run(client.resolve_many_async([ContractSpec(symbol="SPY"), ContractSpec(symbol="ZZZQ")]))
        assert results[0].symbol == "SPY" and isinstance(results[1], UnknownContractError)


def test_two_hundred_small_bar_requests_over_a_hundred_contracts_never_trip_pacing():
    """IB's hard rules (bars of 30 s or less; scaled 1/100 in time) enforced by the simulator's own copy;
    the client's scheduler must stay inside them.

    At 1/200 a request still in flight when its 3-second window closed (a GC pause, a loaded machine)
    could be counted early; at IB's real scale that window is 10 minutes.
    """
    scale = 0.01
    symbols = Universe.default().symbols[:100]
    with make_gateway(pacing=True, pacing_time_scale=scale) as gw:
        with client_for(gw, pacing_time_scale=scale) as client:
            infos = client.run(client.resolve_many_async([ContractSpec(symbol=s) for s in symbols]))
            reqs = [BarsRequest(info, None, "1800 S", "30 secs") for info in infos] + [
                BarsRequest(info, None, "600 S", "5 secs") for info in infos
            ]
            started = time.monotonic()
            frames = client.bars_many(reqs)
            elapsed = time.monotonic() - started
        assert gw.sim.pacing_violations == 0
        assert client.pacing.stats.violations == 0
        assert all(not isinstance(f, Exception) and len(f) > 0 for f in frames)
        minimum = PacingRules().scaled(scale).minimum_duration(200)
        assert elapsed >= minimum * 0.95  # it really waited as IB requires


def test_daily_and_weekly_bars_are_not_held_to_the_small_bar_limits():
    """A 100-symbol daily+weekly fetch at IB's real time scale: no pacing wait at all, and no 162."""
    symbols = Universe.default().symbols[:100]
    with make_gateway(pacing=True) as gw:
        # Connecting is not what is tested: a loaded machine may take longer than 2 s over ib_async's start-up.
        with client_for(gw, connect_timeout_s=30) as client:
            infos = client.run(client.resolve_many_async([ContractSpec(symbol=s) for s in symbols]))
            reqs = [BarsRequest(info, None, "1 Y", "1 day") for info in infos] + [
                BarsRequest(info, None, "2 Y", "1 week") for info in infos
            ]
            frames = client.bars_many(reqs)
        assert all(not isinstance(f, Exception) and len(f) > 0 for f in frames)
        assert (client.pacing.stats.requests, client.pacing.stats.waited_s) == (200, 0.0)
        assert gw.sim.pacing_violations == 0


def test_bars_are_a_typed_utc_frame(gateway):
    with client_for(gateway) as client:
        info = client.resolve(ContractSpec(symbol="MSFT"))
        daily = client.bars(BarsRequest(info, MARKET_OPEN_INSTANT - timedelta(days=1), "1 Y", "1 day"))
        hourly = client.bars(BarsRequest(info, None, "3 D", "1 hour"))
    for frame in (daily, hourly):
        assert list(frame.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
        assert str(frame["timestamp"].dt.tz) == "UTC"
        assert frame["timestamp"].is_monotonic_increasing and frame["timestamp"].is_unique
    assert daily["timestamp"].iloc[-1] < MARKET_OPEN_INSTANT - timedelta(days=1)
    assert hourly["timestamp"].iloc[-1] < MARKET_OPEN_INSTANT


def test_reconnects_after_a_drop_mid_request(gateway):
    with client_for(gateway) as client:
        info = client.resolve(ContractSpec(symbol="AAPL"))
        gateway.faults.drop_on_request = {20}
        bars = client.bars(BarsRequest(info, None, "1 M", "1 day"))
        assert len(bars) > 15
        assert client.stats.reconnects == 1 and client.connected


def test_client_id_in_use_moves_to_the_next(gateway):
    holder = IB()
    holder.connect("127.0.0.1", gateway.port, clientId=5, timeout=5)
    try:
        with client_for(gateway, client_id=5) as client:
            assert client.client_id == 6 and client.stats.client_id_bumps == 1
            assert client.account_summary()["NetLiquidation"] == pytest.approx(1_000_000)
    finally:
        holder.disconnect()


def test_unreachable_gateway_fails_with_a_clear_error():
    settings = IBKRSettings(port=1, connect_attempts=2, connect_timeout_s=0.5, backoff_initial_s=0.01)
    with pytest.raises(GatewayConnectionError, match="127.0.0.1:1"):
        IBKRClient(settings).connect()


def test_bracket_through_the_client_with_order_ref(gateway):
    with client_for(gateway) as client:
        info = client.resolve(ContractSpec(symbol="SPY"))
        quote = client.snapshot(info)
        ref = quote.reference_price
        assert ref and quote.bid < quote.ask
        sent = client.place_bracket(
            info,
            "BUY",
            10,
            None,
            take_profit=round(ref * 1.5, 2),
            stop_loss=round(ref * 0.5, 2),
            order_ref="strategy:SPY:20261124T1500",
        )
        ids = [o.order_id for o in sent]

        def statuses_are(ids: list[int], *expected: str) -> Callable[[], bool]:
            return lambda: [o.status for o in client.sent_orders(ids)] == list(expected)

        until(
            statuses_are(ids, "Filled", "Submitted", "PreSubmitted"), "the entry fills, the stop is held", client.sleep
        )
        now = client.sent_orders(ids)
        assert [o.status for o in now] == ["Filled", "Submitted", "PreSubmitted"]  # IB holds the stop
        assert [o.done for o in now] == [True, False, False] and all(o.perm_id for o in now)
        assert {o.order_ref for o in client.open_orders()} == {"strategy:SPY:20261124T1500"}
        [execution] = client.executions()
        assert (execution.order_ref, execution.side, execution.shares, execution.symbol) == (
            "strategy:SPY:20261124T1500",
            "BUY",
            10.0,
            "SPY",
        )
        assert execution.time.tzinfo is not None and execution.perm_id == now[0].perm_id
        assert [(p.symbol, p.quantity) for p in client.positions()] == [("SPY", 10.0)]
        resting = client.place_bracket(
            info,
            "BUY",
            10,
            round(ref * 0.8, 2),
            take_profit=round(ref * 1.5, 2),
            stop_loss=round(ref * 0.5, 2),
            order_ref="strategy:SPY:20261124T1600",
        )
        ids = [o.order_id for o in resting]
        until(statuses_are(ids, "Submitted", "PreSubmitted", "PreSubmitted"), "the entry rests", client.sleep)
        client.cancel(client.sent_orders(ids)[0])  # cancelling a working parent takes its children with it
        until(statuses_are(ids, "Cancelled", "Cancelled", "Cancelled"), "the cancel takes the legs", client.sleep)


def test_a_162_caused_by_another_client_is_retried():
    scale = 0.1
    with make_gateway(pacing=True, pacing_time_scale=scale) as gw:
        other = IB()
        other.connect("127.0.0.1", gw.port, clientId=9, timeout=5)
        try:
            with client_for(gw, pacing_time_scale=scale) as client:
                info = client.resolve(ContractSpec(symbol="IBM"))
                [contract] = other.qualifyContracts(Stock("IBM", "SMART", "USD"))
                other.reqHistoricalData(contract, "", "1800 S", "30 secs", "TRADES", True, 2)
                bars = client.bars(BarsRequest(info, None, "1800 S", "30 secs"))
            assert len(bars) > 15
            assert client.pacing.stats.violations == 1 and gw.sim.pacing_violations == 1
        finally:
            other.disconnect()


def fast_client(gw, **overrides) -> IBKRClient:
    settings = dict(
        port=gw.port,
        connect_timeout_s=1,
        backoff_initial_s=0.05,
        request_timeout_s=1,
        call_budget_s=4,
        connect_attempts=2,
    )
    client = IBKRClient(IBKRSettings(**{**settings, **overrides}))
    client.connect()
    return client


def test_a_silent_gateway_is_a_timeout_error_for_the_symbol_never_no_bars(gateway):
    client = fast_client(gateway)
    info = client.resolve(ContractSpec(symbol="AAPL"))
    gateway.faults.unresponsive = True
    try:
        [result] = client.bars_many([BarsRequest(info, None, "5 D", "1 day")])
    finally:
        gateway.faults.unresponsive = False
    # No answer within the deadline is a drop: the reconnect into the silence fails too, and the symbol gets the error.
    assert isinstance(result, GatewayConnectionError) and result.retryable
    assert str(result).startswith("historical bars for AAPL: ")
    assert isinstance(result, GatewayTimeoutError) or "cannot connect" in str(result)
    assert client.stats.timeouts >= 1
    client.disconnect()


def test_requests_wait_out_a_1100_outage_and_go_on_after_1102(gateway):
    client = fast_client(gateway, request_timeout_s=3, call_budget_s=10)
    info = client.resolve(ContractSpec(symbol="AAPL"))
    gateway.outage()
    client.sleep(0.2)  # the 1100 arrives

    restored = threading.Timer(1.0, gateway.restore)
    restored.start()
    frame = client.bars(BarsRequest(info, None, "5 D", "1 day"))
    restored.join()
    assert not frame.empty and client.stats.timeouts == 0
    client.disconnect()


def test_an_outage_past_the_deadline_is_an_outage_error(gateway):
    client = fast_client(gateway)
    info = client.resolve(ContractSpec(symbol="AAPL"))
    codes: list[int] = []
    client.ib.errorEvent += lambda req_id, code, message, contract: codes.append(code)
    gateway.outage()
    until(lambda: 1100 in codes, "the 1100 reaches the client", client.sleep)
    try:
        [result] = client.bars_many([BarsRequest(info, None, "5 D", "1 day")])
    finally:
        gateway.restore()
    assert isinstance(result, GatewayOutageError) and "error 1100" in str(result)
    client.disconnect()


def test_1101_data_lost_asks_again(gateway):
    client = fast_client(gateway, request_timeout_s=3, call_budget_s=10)
    info = client.resolve(ContractSpec(symbol="AAPL"))
    gateway.outage()  # the request is sent before the client hears of the outage, and stalls at the gateway
    lost = threading.Timer(0.5, lambda: gateway.restore(data_kept=False))
    lost.start()
    frame = client.bars(BarsRequest(info, None, "5 D", "1 day"))
    lost.join()
    assert not frame.empty and client.stats.timeouts == 0
    client.disconnect()


def test_a_refused_connection_says_the_gateway_may_be_restarting():
    port = free_port()
    client = IBKRClient(IBKRSettings(port=port, connect_timeout_s=0.5, connect_attempts=1))
    with pytest.raises(GatewayConnectionError, match="refuses connections: it is down or restarting") as refused:
        client.connect()
    assert refused.value.retryable


def test_streamed_bars_are_requested_in_turn_and_handled_as_they_arrive(gateway):
    """A series is read and planned only when its turn comes, its answer merged as it arrives: no more than
    STREAM_AHEAD series are held between the two, so a universe's histories are never all in memory."""
    from ibkr_pipeline.broker.client import STREAM_AHEAD

    events: list[tuple[str, int]] = []
    symbols = Universe.default().symbols[:60]
    with client_for(gateway) as client:
        infos = client.run(client.resolve_many_async([ContractSpec(symbol=s) for s in symbols]))
        items = list(range(2 * len(infos)))  # daily and weekly of each

        def request_for(n: int) -> BarsRequest:
            events.append(("request", n))
            return BarsRequest(infos[n // 2], None, "1 M", "1 day" if n % 2 == 0 else "1 week")

        def on_answer(n: int, answer) -> tuple[int, int]:
            events.append(("answer", n))
            return n, len(answer)

        got = client.bars_streamed(items, request_for, on_answer)
    assert [n for n, _ in got] == items and all(size > 0 for _, size in got)
    held = deepest = 0
    for kind, _ in events:
        held += 1 if kind == "request" else -1
        deepest = max(deepest, held)
    assert deepest == STREAM_AHEAD == 100
    assert events.index(("request", 100)) > min(events.index(("answer", n)) for n in range(100))


def test_a_streamed_answer_can_call_for_more_requests_which_join_at_once(gateway):
    """A symbol's weekly bars are asked for once its daily answer is read, each answer followed by its follow-ups."""
    symbols = Universe.default().symbols[:4]
    with client_for(gateway) as client:
        infos = client.run(client.resolve_many_async([ContractSpec(symbol=s) for s in symbols]))

        def request_for(n: int) -> BarsRequest:
            return BarsRequest(infos[n % 100], None, "1 M", "1 day" if n < 100 else "1 week")

        got = client.bars_streamed(
            range(4),
            request_for,
            lambda n, answer: (n, len(answer)),
            lambda n, handled: [n + 100] if n < 100 and n % 2 == 0 else [],
        )
    assert [n for n, _ in got] == [0, 100, 1, 2, 102, 3] and all(size > 0 for _, size in got)
    assert gateway.sim.historical_requests == 6
