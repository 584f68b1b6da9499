"""IBKRClient: the project's one way to talk to IB Gateway/TWS, over ib_async.

It connects with retries and backoff, takes the next client id when IB says
326, reconnects after a drop and retries the request that was cut off, resolves
contracts through a TTL cache, paces historical requests inside IB's rules and
raises typed errors with IB's code. No Dagster here: ``IBKRResource`` wraps it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypeVar

import pandas as pd
from ib_async import IB, Contract, LimitOrder, MarketOrder, Order, StopOrder, Trade, util
from ib_async.wrapper import RequestError

from ibkr_pipeline.broker.errors import (
    GatewayConnectionError,
    GatewayOutageError,
    GatewayTimeoutError,
    IBKRError,
    MarketDataRefusedError,
    PacingViolationError,
    UnknownContractError,
)
from ibkr_pipeline.broker.pacing import PacingBudget, PacingScheduler
from ibkr_pipeline.broker.records import (
    BrokerOrder,
    Execution,
    PortfolioLine,
    Position,
    broker_order,
    execution,
    portfolio_line,
    position,
)
from ibkr_pipeline.domain.bars import empty_bars, normalize_bars
from ibkr_pipeline.domain.contracts import CacheStats, ContractInfo, ContractSpec
from ibkr_pipeline.domain.orders import OrderIntent, oca_group
from ibkr_pipeline.domain.pacing import PacingRules, hard_paced

log = logging.getLogger("ibkr_pipeline.broker")
T = TypeVar("T")
Item = TypeVar("Item")
Answer = TypeVar("Answer")

CLIENT_ID_IN_USE = 326
CONNECTIVITY_LOST, CONNECTIVITY_RESTORED_DATA_LOST, CONNECTIVITY_RESTORED = 1100, 1101, 1102
PACING_VIOLATION = 162
NO_SECURITY_DEFINITION = 200


@dataclass(frozen=True)
class IBKRSettings:
    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    account: str = ""
    connect_timeout_s: float = 10.0
    request_timeout_s: float = 30.0  # every request's deadline; no answer is treated like a drop
    call_budget_s: float = 90.0  # a request with its reconnects and retries, in all
    connect_attempts: int = 5
    client_id_attempts: int = 5
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0
    request_attempts: int = 3
    readonly: bool = False
    pacing_time_scale: float = 1.0


@dataclass(frozen=True)
class BarsRequest:
    contract: ContractInfo
    end: datetime | None
    duration: str
    bar_size: str
    what_to_show: str = "TRADES"
    use_rth: bool = True


@dataclass(frozen=True)
class Quote:
    symbol: str
    time: datetime
    last: float | None
    bid: float | None
    ask: float | None
    close: float | None

    @property
    def reference_price(self) -> float | None:
        """Last trade, else the mid, else the previous close."""
        for value in (self.last, self._mid, self.close):
            if value is not None and value == value and value > 0:
                return value
        return None

    @property
    def _mid(self) -> float | None:
        if self.bid and self.ask and self.bid > 0 and self.ask > 0:
            return (self.bid + self.ask) / 2
        return None


@dataclass
class ConnectionStats:
    connects: int = 0
    reconnects: int = 0
    client_id_bumps: int = 0
    timeouts: int = 0


def _to_contract(info: ContractInfo) -> Contract:
    return Contract(
        conId=info.con_id,
        symbol=info.symbol,
        secType=info.sec_type,
        exchange=info.exchange,
        primaryExchange=info.primary_exchange,
        currency=info.currency,
        localSymbol=info.local_symbol,
        tradingClass=info.trading_class,
    )


def _clean(value: float | None) -> float | None:
    if value is None or value != value or value <= 0:
        return None
    return float(value)


DELAYED_WHERE_NOT_SUBSCRIBED = 3  # reqMarketDataType(3)
MARKET_DATA_REFUSED = frozenset({354, 10089, 10090, 10197})
STREAM_AHEAD = 100  # series between request and handled answer: twice IB's 50 open historical requests
QUOTES_IN_FLIGHT = 20  # of an account's 100 market-data lines (IB's default), leaving the rest to the trader
ACCOUNT_SUMMARY_TAGS = "NetLiquidation,TotalCashValue,GrossPositionValue,BuyingPower,AvailableFunds,AccountType"


class ContractCache(Protocol):
    """Resolved contracts kept between runs (``store.contract_cache``: the project database, with a TTL)."""

    stats: CacheStats

    def get(self, spec: ContractSpec) -> ContractInfo | None: ...
    def put(self, spec: ContractSpec, info: ContractInfo) -> None: ...


class IBKRClient:
    def __init__(
        self,
        settings: IBKRSettings,
        cache: ContractCache | None = None,
        pacing_budget: PacingBudget | None = None,
    ):
        self.settings = settings
        self.cache = cache
        self.ib = IB()
        self.ib.RaiseRequestErrors = True
        self.ib.RequestTimeout = settings.request_timeout_s
        self.client_id = settings.client_id
        self.stats = ConnectionStats()
        # Shared with every process on this gateway when given (IB counts per session), else this client's own.
        self.pacing = PacingScheduler(PacingRules().scaled(settings.pacing_time_scale), pacing_budget)
        self._last_errors: list[tuple[int, int, str]] = []
        self._connectivity = asyncio.Event()  # cleared by 1100, set again by 1101/1102
        self._sent: dict[int, Trade] = {}  # orders this connection placed, by orderId: IB updates them in place
        self._connectivity.set()
        self._data_lost = asyncio.Event()  # set by 1101: requests in flight are never answered
        self.ib.errorEvent += self._on_error
        self.on_reconnect: list[Callable[[IBKRClient], None]] = []

    def _on_error(self, req_id: int, code: int, message: str, _contract: Any = None) -> None:
        self._last_errors.append((req_id, code, message))
        del self._last_errors[:-50]
        if code == CONNECTIVITY_LOST:
            self._connectivity.clear()
        elif code in (CONNECTIVITY_RESTORED_DATA_LOST, CONNECTIVITY_RESTORED):
            self._connectivity.set()
            if code == CONNECTIVITY_RESTORED_DATA_LOST:
                self._data_lost.set()

    # -- connection ----------------------------------------------------

    def __enter__(self) -> IBKRClient:
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.disconnect()

    def connect(self) -> None:
        self.run(self.connect_async())

    async def connect_async(self) -> None:
        """Connect with exponential backoff; on 326 move to the next client id at once."""
        s = self.settings
        delay = s.backoff_initial_s
        id_bumps = 0
        attempt = 0
        last_error: BaseException | None = None
        while attempt < s.connect_attempts:
            self._last_errors.clear()
            try:
                await self.ib.connectAsync(
                    s.host,
                    s.port,
                    clientId=self.client_id,
                    timeout=s.connect_timeout_s,
                    readonly=s.readonly,
                    account=s.account,
                )
                self.stats.connects += 1
                # Live data where the account subscribes to it, IB's delayed data (15 min) where it does not:
                # without this a paper account's quote for an unsubscribed symbol is error 10089 and no price.
                self.ib.reqMarketDataType(DELAYED_WHERE_NOT_SUBSCRIBED)
                log.info("connected to %s:%d as client %d", s.host, s.port, self.client_id)
                return
            except (OSError, ConnectionError, TimeoutError) as exc:
                last_error = exc
                self.ib.disconnect()
                if any(code == CLIENT_ID_IN_USE for _, code, _ in self._last_errors):
                    if id_bumps >= s.client_id_attempts:
                        break
                    id_bumps += 1
                    self.stats.client_id_bumps += 1
                    log.warning("client id %d is in use; trying %d", self.client_id, self.client_id + 1)
                    self.client_id += 1
                    continue
                attempt += 1
                log.warning("connect to %s:%d failed (%r); retry in %.1fs", s.host, s.port, exc, delay)
                if attempt < s.connect_attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, s.backoff_max_s)
        refused = isinstance(last_error, ConnectionRefusedError)
        raise GatewayConnectionError(
            f"cannot connect to IB gateway at {s.host}:{s.port} (client id {self.client_id}) "
            f"after {attempt} attempts: {last_error!r}"
            + ("; it refuses connections: it is down or restarting (IB Gateway restarts daily)" if refused else "")
        )

    def disconnect(self) -> None:
        if self.ib.isConnected():
            self.ib.disconnect()

    @property
    def connected(self) -> bool:
        return self.ib.isConnected()

    async def _reconnect(self) -> None:
        self.ib.disconnect()
        self.stats.reconnects += 1
        await self.connect_async()
        for callback in self.on_reconnect:
            callback(self)

    async def _call(self, what: str, factory: Callable[[], Awaitable[T]]) -> T:
        """Run a request under a deadline. A drop, or no answer within ``request_timeout_s`` (a gateway that is
        connected but silent), means disconnect, reconnect and run it again; all of it within ``call_budget_s``."""
        s = self.settings
        try:
            return await asyncio.wait_for(self._attempts(what, factory), s.call_budget_s)
        except TimeoutError as exc:
            self.ib.disconnect()
            raise GatewayTimeoutError(
                f"{what}: no answer from the gateway at {s.host}:{s.port} within {s.call_budget_s:g} s "
                f"(requests time out after {s.request_timeout_s:g} s, then reconnect and retry): "
                "it is silent, restarting (IB Gateway restarts daily) or cut off from IB"
            ) from exc

    async def _attempts(self, what: str, factory: Callable[[], Awaitable[T]]) -> T:
        s = self.settings
        for attempt in range(1, s.request_attempts + 1):
            if not self.ib.isConnected():
                try:
                    await self._reconnect()
                except GatewayConnectionError as exc:
                    raise GatewayConnectionError(f"{what}: {exc.ib_message}") from exc
            await self._through_outage(what)
            self._data_lost.clear()
            request = asyncio.ensure_future(factory())
            data_lost = asyncio.ensure_future(self._data_lost.wait())
            try:
                done, _ = await asyncio.wait(
                    {request, data_lost}, timeout=s.request_timeout_s, return_when=asyncio.FIRST_COMPLETED
                )
            except BaseException:
                request.cancel()
                raise
            finally:
                data_lost.cancel()
            if request in done:
                try:
                    return request.result()
                except ConnectionError as exc:
                    log.warning("%s: connection lost (%r), attempt %d/%d", what, exc, attempt, s.request_attempts)
                    if attempt == s.request_attempts:
                        raise GatewayConnectionError(f"{what}: gateway connection lost: {exc}") from exc
                    await asyncio.sleep(min(s.backoff_initial_s * attempt, s.backoff_max_s))
                    continue
            request.cancel()
            if self._data_lost.is_set():  # 1101: IB dropped what was in flight; ask again
                log.warning("%s: IB restored connectivity with data lost (1101); requesting again", what)
                continue
            self.stats.timeouts += 1
            log.warning(
                "%s: no answer within %.0f s (attempt %d/%d); treating it as a drop",
                what,
                s.request_timeout_s,
                attempt,
                s.request_attempts,
            )
            self.ib.disconnect()
            if attempt == s.request_attempts:
                raise GatewayTimeoutError(
                    f"{what}: no answer from the gateway within {s.request_timeout_s:g} s, "
                    f"{attempt} times (connected but silent, or restarting)"
                )
        raise AssertionError("unreachable")

    async def _through_outage(self, what: str) -> None:
        """After 1100 a request waits for 1101/1102 (up to the request deadline), never runs into the outage."""
        if self._connectivity.is_set():
            return
        log.warning("%s: IB reports its connection to IB's servers lost (1100); waiting", what)
        try:
            await asyncio.wait_for(self._connectivity.wait(), self.settings.request_timeout_s)
        except TimeoutError as exc:
            raise GatewayOutageError(
                f"{what}: the gateway has been cut off from IB's servers (error 1100) for more than "
                f"{self.settings.request_timeout_s:g} s; nothing can be requested until it reports 1101/1102"
            ) from exc

    def run(self, coro: Awaitable[T]) -> T:
        """Run one of the async methods from synchronous code (Dagster steps, the CLI).

        Unlike ``ib_async.util.run`` this does not abort on a disconnect: the
        coroutine itself reconnects and retries.
        """
        loop = util.getLoop()
        return loop.run_until_complete(asyncio.ensure_future(coro, loop=loop))

    # -- contracts -----------------------------------------------------

    async def resolve_async(self, spec: ContractSpec) -> ContractInfo:
        if self.cache is not None:
            cached = self.cache.get(spec)
            if cached is not None:
                return cached
        contract = Contract(
            symbol=spec.symbol,
            secType=spec.sec_type,
            exchange=spec.exchange,
            currency=spec.currency,
            primaryExchange=spec.primary_exchange,
        )
        try:
            details = await self._call(
                f"contract details for {spec.symbol}", lambda: self.ib.reqContractDetailsAsync(contract)
            )
        except RequestError as exc:
            if exc.code == NO_SECURITY_DEFINITION:
                raise UnknownContractError(
                    spec.symbol, f"{spec.sec_type} on {spec.exchange} in {spec.currency}"
                ) from exc
            raise IBKRError(exc.message, exc.code) from exc
        if not details:
            raise UnknownContractError(spec.symbol)
        if len(details) > 1:
            raise IBKRError(f"{spec.symbol!r} is ambiguous: {len(details)} contracts match; set primary_exchange")
        cd = details[0]
        c = cd.contract
        assert c is not None
        info = ContractInfo(
            symbol=c.symbol,
            sec_type=c.secType,
            exchange=spec.exchange,
            currency=c.currency,
            con_id=c.conId,
            primary_exchange=c.primaryExchange,
            local_symbol=c.localSymbol,
            trading_class=c.tradingClass,
            long_name=cd.longName,
            industry=cd.industry,
            stock_type=cd.stockType,
            min_tick=cd.minTick,
            time_zone=cd.timeZoneId,
            trading_hours=cd.tradingHours,
            liquid_hours=cd.liquidHours,
            fetched_at=datetime.now(UTC),
        )
        if self.cache is not None:
            self.cache.put(spec, info)
        return info

    def resolve(self, spec: ContractSpec) -> ContractInfo:
        return self.run(self.resolve_async(spec))

    async def resolve_many_async(self, specs: Sequence[ContractSpec]) -> list[ContractInfo | IBKRError]:
        """Resolve concurrently; an unknown symbol is returned as its error, not raised."""

        async def one(spec: ContractSpec) -> ContractInfo | IBKRError:
            try:
                return await self.resolve_async(spec)
            except IBKRError as exc:
                return exc

        return list(await asyncio.gather(*(one(s) for s in specs)))

    def search(self, pattern: str) -> list[dict[str, Any]]:
        """IB's symbol search (reqMatchingSymbols)."""
        found = self.run(self._call(f"symbol search {pattern!r}", lambda: self.ib.reqMatchingSymbolsAsync(pattern)))
        return [
            {
                "symbol": d.contract.symbol,
                "sec_type": d.contract.secType,
                "primary_exchange": d.contract.primaryExchange,
                "currency": d.contract.currency,
                "con_id": d.contract.conId,
                "description": d.contract.description,
            }
            for d in found or []
            if d.contract is not None
        ]

    # -- historical data -----------------------------------------------

    async def bars_async(self, req: BarsRequest) -> pd.DataFrame:
        """Bars as the typed frame; empty when IB has no data in the range."""
        contract = _to_contract(req.contract)
        end = req.end.astimezone(UTC) if req.end else ""
        identical = (req.contract.con_id, str(end), req.duration, req.bar_size, req.what_to_show, req.use_rth)
        per_contract = (req.contract.con_id, req.contract.exchange, req.what_to_show)
        for attempt in range(1, self.settings.request_attempts + 2):
            async with self.pacing.slot(identical, per_contract, hard=hard_paced(req.bar_size)):
                try:
                    bars = await self._call(
                        f"historical bars for {req.contract.symbol}",
                        lambda: self.ib.reqHistoricalDataAsync(
                            contract,
                            end,
                            req.duration,
                            req.bar_size,
                            req.what_to_show,
                            req.use_rth,
                            formatDate=2,
                            timeout=0,  # our deadline: ib_async's returns no bars
                        ),
                    )
                except RequestError as exc:
                    no_data = exc.code == PACING_VIOLATION and "returned no data" in exc.message
                    if exc.code == PACING_VIOLATION and not no_data:  # pacing, or the 50-open cap
                        self.pacing.stats.violations += 1
                        if attempt > self.settings.request_attempts:
                            raise PacingViolationError(exc.message, exc.code) from exc
                        wait = self.pacing.retry_wait()
                        log.warning("pacing violation for %s; retrying in %.1fs", req.contract.symbol, wait)
                        await asyncio.sleep(wait)
                        continue
                    if no_data:  # "HMDS query returned no data"
                        return empty_bars()
                    if exc.code == NO_SECURITY_DEFINITION:
                        raise UnknownContractError(req.contract.symbol) from exc
                    raise IBKRError(exc.message, exc.code) from exc
            return self._frame(bars)
        raise AssertionError("unreachable")

    @staticmethod
    def _frame(bars: Sequence[Any]) -> pd.DataFrame:
        if not bars:
            return empty_bars()
        rows = []
        for b in bars:
            stamp = b.date
            if isinstance(stamp, datetime):
                ts = pd.Timestamp(stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC))
            elif isinstance(stamp, date):
                ts = pd.Timestamp(stamp).tz_localize(UTC)
            else:
                ts = pd.Timestamp(stamp, tz=UTC)
            rows.append((ts, b.open, b.high, b.low, b.close, b.volume))
        return normalize_bars(pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"]))

    def bars(self, req: BarsRequest) -> pd.DataFrame:
        return self.run(self.bars_async(req))

    async def bars_many_async(self, reqs: Sequence[BarsRequest]) -> list[pd.DataFrame | IBKRError]:
        """Fetch many series concurrently under the pacing scheduler; errors come back per request."""
        return await self.bars_streamed_async(reqs, lambda r: r, lambda _r, answer: answer)

    def bars_many(self, reqs: Sequence[BarsRequest]) -> list[pd.DataFrame | IBKRError]:
        return self.run(self.bars_many_async(reqs))

    async def bars_streamed_async(
        self,
        items: Sequence[Item],
        request_for: Callable[[Item], BarsRequest],
        on_answer: Callable[[Item, pd.DataFrame | IBKRError], Answer],
        follow_up: Callable[[Item, Answer], Sequence[Item]] | None = None,
    ) -> list[Answer]:
        """Each item's request made when its turn comes and its answer handled as it arrives: the work around a
        fetch (reading the stored history, merging) runs while others wait on IB, and at most ``STREAM_AHEAD``
        items are between their request and their handled answer at once. ``follow_up`` names the items a handled
        answer calls for (a symbol's other timeframes once its signal timeframe is read): they join the stream at
        once, not after every item. Answers come back in the items' order, each followed by its follow-ups'."""
        ahead = asyncio.Semaphore(STREAM_AHEAD)

        async def one(item: Item) -> list[Answer]:
            async with ahead:
                request = request_for(item)
                try:
                    answer: pd.DataFrame | IBKRError = await self.bars_async(request)
                except IBKRError as exc:
                    answer = exc
                handled = on_answer(item, answer)
            more = follow_up(item, handled) if follow_up else ()
            return [handled, *(a for got in await asyncio.gather(*(one(i) for i in more)) for a in got)]

        return [a for got in await asyncio.gather(*(one(i) for i in items)) for a in got]

    def bars_streamed(
        self,
        items: Sequence[Item],
        request_for: Callable[[Item], BarsRequest],
        on_answer: Callable[[Item, pd.DataFrame | IBKRError], Answer],
        follow_up: Callable[[Item, Answer], Sequence[Item]] | None = None,
    ) -> list[Answer]:
        return self.run(self.bars_streamed_async(items, request_for, on_answer, follow_up))

    # -- quotes ----------------------------------------------------------

    async def snapshot_async(self, info: ContractInfo) -> Quote:
        contract = _to_contract(info)
        try:
            tickers = await self._call(f"quote for {info.symbol}", lambda: self.ib.reqTickersAsync(contract))
        except RequestError as exc:
            if exc.code in MARKET_DATA_REFUSED:
                raise MarketDataRefusedError(f"{info.symbol}: {exc.message}", exc.code) from exc
            raise IBKRError(exc.message, exc.code) from exc
        t = tickers[0]
        return Quote(info.symbol, datetime.now(UTC), _clean(t.last), _clean(t.bid), _clean(t.ask), _clean(t.close))

    def snapshot(self, info: ContractInfo) -> Quote:
        return self.run(self.snapshot_async(info))

    def snapshots(self, infos: Sequence[ContractInfo]) -> list[Quote | Exception]:
        """Many snapshots at once (a snapshot can take seconds at IB), at most ``QUOTES_IN_FLIGHT`` open: each
        holds one of the account's market-data lines while it lasts. A failure comes back in its place."""
        lines = asyncio.Semaphore(QUOTES_IN_FLIGHT)

        async def one(info: ContractInfo) -> Quote | Exception:
            async with lines:
                try:
                    return await self.snapshot_async(info)
                except Exception as exc:  # refused, silent, dropped: that symbol's problem alone
                    return exc

        async def every() -> list[Quote | Exception]:
            return list(await asyncio.gather(*(one(i) for i in infos)))

        return self.run(every())

    # -- orders and account ----------------------------------------------

    def place_order(self, info: ContractInfo, order: Order) -> BrokerOrder:
        """Send one order; what IB says of it afterwards comes from ``sent_orders``."""
        trade = self.ib.placeOrder(_to_contract(info), order)
        self._sent[trade.order.orderId] = trade
        return broker_order(trade)

    def place_intent(self, intent: OrderIntent, info: ContractInfo) -> list[BrokerOrder]:
        """An order intent as IB orders: a bracket (entry, target, stop) or a single entry, tagged with its orderRef."""
        limit = intent.limit_price if intent.entry_type == "LMT" else None
        if intent.entry_type == "LMT" and limit is None:  # never sent as a market order instead
            raise ValueError(f"{intent.order_ref}: a LMT entry without a limit price")
        if intent.take_profit is not None and intent.stop_loss is not None:
            return self.place_bracket(
                info,
                intent.action,
                intent.quantity,
                limit,
                take_profit=intent.take_profit,
                stop_loss=intent.stop_loss,
                order_ref=intent.order_ref,
                tif=intent.tif,
                outside_rth=intent.outside_rth,
            )
        order = (
            MarketOrder(intent.action, intent.quantity)
            if limit is None
            else LimitOrder(intent.action, intent.quantity, limit)
        )
        order.orderRef, order.tif, order.outsideRth = intent.order_ref, intent.tif, intent.outside_rth
        if self.settings.account:
            order.account = self.settings.account
        return [self.place_order(info, order)]

    def place_bracket(
        self,
        info: ContractInfo,
        action: str,
        quantity: float,
        entry: float | None,
        take_profit: float,
        stop_loss: float,
        order_ref: str,
        tif: str = "DAY",
        outside_rth: bool = False,
    ) -> list[BrokerOrder]:
        """Entry (MKT when ``entry`` is None, else LMT) with take-profit and stop-loss children."""
        reverse = "SELL" if action == "BUY" else "BUY"
        parent = MarketOrder(action, quantity) if entry is None else LimitOrder(action, quantity, entry)
        parent.orderId = self.ib.client.getReqId()
        parent.transmit = False
        target = LimitOrder(
            reverse, quantity, take_profit, orderId=self.ib.client.getReqId(), transmit=False, parentId=parent.orderId
        )
        stop = StopOrder(
            reverse, quantity, stop_loss, orderId=self.ib.client.getReqId(), transmit=True, parentId=parent.orderId
        )
        for child in (target, stop):  # one OCA group: whichever leg fills first cancels the other
            child.ocaGroup, child.ocaType = oca_group(order_ref), 1
        placed = []
        for o in (parent, target, stop):
            o.orderRef = order_ref
            o.tif = tif if o is parent else "GTC"
            o.outsideRth = outside_rth
            if self.settings.account:
                o.account = self.settings.account
            placed.append(self.place_order(info, o))
        return placed

    def sent_orders(self, order_ids: Sequence[int]) -> list[BrokerOrder]:
        """The orders this connection sent, as they stand now: IB's acknowledgement or reject arrives later."""
        return [broker_order(self._sent[i]) for i in order_ids if i in self._sent]

    def seen_orders(self) -> list[BrokerOrder]:
        """Every order this connection has sent or IB has listed to it, as it stands now (no request to IB)."""
        return [broker_order(t) for t in self.ib.trades()]

    def cancel(self, order: BrokerOrder) -> None:
        """Cancel an order IB listed (by its permId) or one this connection sent before IB numbered it."""
        for trade in self.ib.trades():
            o = trade.order
            if (order.perm_id and o.permId == order.perm_id) or (
                not order.perm_id and o.orderId == order.order_id and self._sent.get(o.orderId) is trade
            ):
                self.ib.cancelOrder(o)
                return
        raise ValueError(f"order {order.order_id} ({order.order_ref}) is not known to this connection")

    def open_orders(self) -> list[BrokerOrder]:
        """Every open order of the account (all clients'), as IB answered now: not ib_async's ``openTrades()``,
        which also holds this connection's orders IB never acknowledged (a search must not mistake those for
        orders at IB)."""
        answered = self.run(self._call("open orders", self.ib.reqAllOpenOrdersAsync))
        return [broker_order(t) for t in answered]

    def completed_orders(self) -> list[BrokerOrder]:
        """Today's filled, cancelled and rejected orders, asked of IB now."""
        done = self.run(self._call("completed orders", lambda: self.ib.reqCompletedOrdersAsync(False)))
        return [broker_order(t) for t in done]

    def executions(self) -> list[Execution]:
        """Every execution this connection has seen (IB's answer to the request is today's; ib_async keeps earlier
        ones from a connection that spans midnight), each with its commission once IB reported it."""
        self.run(self._call("executions", self.ib.reqExecutionsAsync))
        return [execution(f) for f in self.ib.fills()]

    def positions(self) -> list[Position]:
        return [position(p) for p in self.run(self._call("positions", self.ib.reqPositionsAsync))]

    def account_summary(self) -> dict[str, float]:
        """Account values by tag (NetLiquidation, TotalCashValue, UnrealizedPnL, ...) as floats."""
        rows = self.run(self._call("account summary", self._fresh_account_summary))
        out: dict[str, float] = {}
        # Account updates carry the P&L keys the summary tags leave out; the summary wins where both exist.
        for row in [*self.ib.accountValues(self.settings.account), *rows]:
            if row.currency not in ("USD", "BASE", ""):
                continue
            try:
                out[row.tag] = float(row.value)
            except ValueError:
                continue
        return out

    async def _fresh_account_summary(self) -> list[Any]:
        """A new summary request each time, cancelled once answered: ib_async's own keeps its first subscription
        and hands back whatever that last pushed, so a daily-loss check would read a stale net liquidation."""
        req_id = self.ib.client.getReqId()
        future = self.ib.wrapper.startReq(req_id)
        self.ib.wrapper.acctSummary.clear()
        self.ib.client.reqAccountSummary(req_id, "All", ACCOUNT_SUMMARY_TAGS)
        try:
            await future
        finally:
            self.ib.client.cancelAccountSummary(req_id)
        rows = list(self.ib.wrapper.acctSummary.values())
        return [r for r in rows if not self.settings.account or r.account == self.settings.account]

    def current_time(self) -> datetime:
        return self.run(self._call("current time", self.ib.reqCurrentTimeAsync))

    def managed_accounts(self) -> list[str]:
        """The accounts this login may trade, as IB announced them on connect."""
        return [a for a in self.ib.managedAccounts() if a]

    def portfolio(self) -> list[PortfolioLine]:
        """The account's positions with IB's marks and P&L (kept current by IB's account updates)."""
        return [portfolio_line(item) for item in self.ib.portfolio(self.settings.account)]

    def sleep(self, seconds: float) -> None:
        self.ib.sleep(seconds)
