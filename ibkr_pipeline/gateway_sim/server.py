"""The simulated IB Gateway: an asyncio TCP server speaking the TWS API at version 178.

``GatewaySimulator`` owns the shared state (market, clock, account, matching
engine, pacing); ``ClientSession`` handles one API connection. ``SimulatorThread``
runs the whole thing on its own event loop so blocking ``ib_async.IB`` clients,
pytest fixtures and the CLI can all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, TypeVar

from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.exchange.account import Account
from ibkr_pipeline.exchange.clock import SimClock
from ibkr_pipeline.gateway_sim.faults import FaultPlan
from ibkr_pipeline.gateway_sim.history import BarRequest, HistoricalService, HistoryRequestError, duration_start, parse_end
from ibkr_pipeline.exchange.market import EXCHANGE_TZ, MarketModel, ReplayMarket, SyntheticMarket
from ibkr_pipeline.exchange.matching import MatchingEngine, MatchingConfig, OrderEvent, OrderRejected, SimOrder
from ibkr_pipeline.gateway_sim.protocol import (
    MIN_CLIENT_VERSION,
    SERVER_VERSION,
    Field,
    FieldReader,
    ProtocolError,
    frame,
    read_handshake,
    read_message,
)
from ibkr_pipeline.exchange import state
from ibkr_pipeline.gateway_sim.pacing import HistoricalPacing
from ibkr_pipeline.exchange.universe import Instrument, Universe

log = logging.getLogger("ibkr_pipeline.gateway_sim")
T = TypeVar("T")

@dataclass
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 4002
    seed: int = 7
    universe_file: Path | None = None
    data_dir: Path | None = None
    account_id: str = "DU1234567"
    starting_cash: float = 1_000_000.0
    clock_start: datetime | None = None
    clock_speed: float = 1.0
    pacing: bool = True
    pacing_time_scale: float = 1.0
    # "wall": pacing windows in real seconds, as IB; "sim": in the simulator clock's seconds (a frozen clock
    # never lets a window pass until a test advances it, so a test of the rules counts instead of timing).
    pacing_clock: str = "wall"
    # Where the paper account lives between runs (None: in memory only, as tests want); see state.py.
    state_file: Path | None = None
    # IB Gateway restarts once a day: at this New York time on the simulator's clock (None: never), it drops
    # every session and refuses connections for restart_downtime_s, keeping orders and the account.
    restart_at: dt_time | None = None
    restart_downtime_s: float = 30.0
    # Market-data permissions by symbol ("*" for the rest): live, delayed (only after reqMarketDataType(3)
    # or 4; error 10089 otherwise), none (354), competing (10197: a live session elsewhere holds the data).
    market_data: dict[str, str] = field(default_factory=dict)
    # Executions and commission reports of every client's orders also reach this client id (IB's "master
    # client id"); commission reports can trail their execution by commission_delay_s.
    master_client_id: int | None = None
    commission_delay_s: float = 0.0
    hmds_delay_s: float = 0.0  # IB's historical data service can take tens of seconds to answer
    snapshot_delay_s: float = 0.0  # IB's snapshots can take ~11 s to complete
    slippage_bps: float = 1.0
    match_interval_s: float = 0.05
    faults: FaultPlan = field(default_factory=FaultPlan)


@dataclass
class _Contract:
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str

    @classmethod
    def read(cls, r: FieldReader) -> _Contract:
        con_id = r.int()
        symbol, sec_type = r.str(), r.str()
        r.skip(4)  # lastTradeDate, strike, right, multiplier
        exchange, primary, currency = r.str(), r.str(), r.str()
        r.skip(2)  # localSymbol, tradingClass
        return cls(con_id, symbol, sec_type, exchange, primary, currency)


class GatewaySimulator:
    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        cfg = self.config
        self.universe = Universe.from_file(cfg.universe_file) if cfg.universe_file else Universe.default()
        self.market: MarketModel = (
            ReplayMarket(cfg.data_dir, self.universe) if cfg.data_dir else SyntheticMarket(self.universe, cfg.seed)
        )
        self.history = HistoricalService(self.market)
        self.clock = SimClock(cfg.clock_start, cfg.clock_speed)
        self.account = Account(cfg.account_id, cfg.starting_cash)
        self.engine = MatchingEngine(
            self.market, self.account, self._on_order_event, MatchingConfig(slippage_bps=cfg.slippage_bps)
        )
        pacing_clock = (lambda: self.clock.now().timestamp()) if cfg.pacing_clock == "sim" else time.monotonic
        self.pacing = HistoricalPacing(cfg.pacing_time_scale, pacing_clock)
        self.faults = cfg.faults
        self.sessions: dict[int, ClientSession] = {}
        self.next_order_ids: dict[int, int] = {}
        if cfg.state_file is not None and Path(cfg.state_file).exists():
            self.next_order_ids = state.load(Path(cfg.state_file), self.account, self.engine, self.universe)
            log.info("paper account %s restored from %s", cfg.account_id, cfg.state_file)
        self.pacing_violations = 0
        self.historical_requests = 0
        self.restarts = 0
        self.outage = False
        self.commission_known_at: dict[str, float] = {}  # execId -> when its commission report exists
        self._server: asyncio.base_events.Server | None = None
        self._matcher: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "simulator not started"
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
        self._matcher = asyncio.create_task(self._match_forever())
        log.info("gateway simulator listening on %s:%d", self.config.host, self.port)

    async def stop(self) -> None:
        if self._matcher:
            self._matcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._matcher
        for session in list(self.sessions.values()):
            session.close()
        if self._server:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def restart(self, downtime_s: float | None = None) -> None:
        """What IB Gateway's daily restart does: every session dropped, connections refused for a while,
        then the same port answers again with the same orders, executions and account."""
        downtime = self.config.restart_downtime_s if downtime_s is None else downtime_s
        log.info("gateway restarting: sessions dropped, connections refused for %.1f s", downtime)
        self.restarts += 1
        for session in list(self.sessions.values()):
            session.close()
        self.sessions.clear()
        port = self.port
        if self._server:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self.save_state()
        await asyncio.sleep(downtime)
        self.faults.unresponsive = False
        self._server = await asyncio.start_server(self._accept, self.config.host, port)
        log.info("gateway restarted on %s:%d", self.config.host, port)

    def _restart_due(self, before: datetime, now: datetime) -> bool:
        at = self.config.restart_at
        if at is None or now <= before:
            return False
        local_now = now.astimezone(EXCHANGE_TZ)
        moment = datetime.combine(local_now.date(), at, tzinfo=EXCHANGE_TZ)
        if moment > local_now:
            moment -= timedelta(days=1)
        return before < moment.astimezone(UTC) <= now

    async def _match_forever(self) -> None:
        last = self.clock.now()
        while True:
            await asyncio.sleep(self.config.match_interval_s)
            now = self.clock.now()
            if self._restart_due(last, now):
                last = now
                await self.restart()
                continue
            last = now
            try:
                self.engine.step(self.clock.now())
            except Exception:  # keep matching alive; a bad order must not stop the gateway
                log.exception("matching step failed")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ClientSession(self, reader, writer)
        try:
            await session.run()
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError) as exc:
            log.debug("session ended: %r", exc)
        except asyncio.CancelledError:
            pass
        finally:
            session.close()

    def instrument_for(self, c: _Contract) -> Instrument | None:
        if c.sec_type not in ("", "STK"):
            return None
        if c.currency not in ("", "USD"):
            return None
        if c.con_id:
            inst = self.universe.by_con_id(c.con_id)
            return inst if inst and (not c.symbol or c.symbol == inst.symbol) else None
        return self.universe.by_symbol(c.symbol)

    def take_order_id(self, client_id: int) -> int:
        return self.next_order_ids.setdefault(client_id, 1)

    def note_order_id(self, client_id: int, order_id: int) -> None:
        self.next_order_ids[client_id] = max(self.next_order_ids.get(client_id, 1), order_id + 1)

    def marks(self) -> dict[int, float]:
        return self.engine.marks(self.clock.now())

    def account_values(self) -> dict[str, float]:
        return self.account.values(self.marks())

    def save_state(self) -> None:
        if self.config.state_file is not None:
            state.save(Path(self.config.state_file), self.account, self.engine, self.next_order_ids)

    def _on_order_event(self, event: OrderEvent) -> None:
        self.save_state()
        order = event.order
        session = self.sessions.get(order.client_id)
        if event.fill is not None:
            self.commission_known_at[event.fill.exec_id] = time.monotonic() + self.config.commission_delay_s
            master_id = self.config.master_client_id
            master = self.sessions.get(master_id) if master_id is not None and master_id != order.client_id else None
            if session:
                session.send(msg.exec_details(-1, event.fill))
                session.send(msg.open_order(order))
                session.send(msg.order_status(order))
                session.send(msg.order_status(order))  # IB repeats a status: clients must be idempotent
            if master:
                master.send(msg.exec_details(-1, event.fill))
            for receiver in (s for s in (session, master) if s is not None):
                report = msg.commission_report(event.fill)
                if self.config.commission_delay_s > 0:  # the report trails its execution
                    asyncio.get_running_loop().call_later(self.config.commission_delay_s, receiver.send, report)
                else:
                    receiver.send(report)
            self.push_portfolio(order.instrument)
            return
        if session:
            if event.error_code == 201:
                session.send(msg.error(order.order_id, 201, event.error_message))
            session.send(msg.open_order(order))
            session.send(msg.order_status(order))
            if event.error_code == 202:
                session.send(msg.error(order.order_id, 202, event.error_message))

    def push_portfolio(self, instrument: Instrument) -> None:
        """After a fill, IB pushes the position, the portfolio line and account values."""
        now = self.clock.now()
        pos = self.account.positions.get(instrument.con_id)
        if pos is None:
            return
        mark = self.market.price_at(instrument, now)
        values = self.account_values()
        for session in self.sessions.values():
            if session.wants_positions:
                session.send(msg.position(self.account.account_id, instrument, pos.quantity, pos.average_cost))
            if session.wants_account_updates:
                session.send(
                    msg.portfolio_value(
                        self.account.account_id, instrument, pos.quantity, mark, pos.average_cost, pos.realized_pnl
                    )
                )
                session.send_account_values(values)
                session.send(msg.account_update_time(now))

    def trading_day_start(self) -> datetime:
        """Midnight New York of the simulator's clock: where IB's executions and completed orders begin."""
        local = self.clock.now().astimezone(EXCHANGE_TZ)
        return datetime.combine(local.date(), dt_time(0), tzinfo=EXCHANGE_TZ).astimezone(UTC)

    def lose_connectivity(self) -> None:
        """1100: IB's servers are out of reach. Sessions stay open; every request waits for the outcome."""
        self.outage = True
        self.broadcast_connectivity(lost=True)

    def restore_connectivity(self, data_kept: bool = True) -> None:
        """1102 (data kept: waiting requests are answered now) or 1101 (data lost: they never are; a client
        must request again, market data subscriptions included)."""
        self.outage = False
        for session in list(self.sessions.values()):
            waiting, session.stalled = session.stalled, []
            if data_kept:
                session.send(msg.error(-1, 1102, "Connectivity between IB and Trader Workstation has been "
                                                  "restored - data maintained."))
                for msg_id, fields in waiting:
                    session.replay(msg_id, fields)
            else:
                session.send(msg.error(-1, 1101, "Connectivity between IB and Trader Workstation has been "
                                                  "restored - data lost."))

    def broadcast_connectivity(self, lost: bool) -> None:
        """Send 1100 (lost) or 1102 (restored) to every client; sockets stay open."""
        for session in self.sessions.values():
            if lost:
                session.send(msg.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost."))
            else:
                session.send(
                    msg.error(-1, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")
                )


# Where the request id sits in messages that carry one, to route an error back to its request.
_REQ_ID_POSITION = {1: 2, 3: 1, 7: 2, 9: 2, 20: 1, 62: 2, 81: 1, 87: 1}


class ClientSession:
    """One API client connection."""

    def __init__(self, sim: GatewaySimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.market_data_type = 1  # reqMarketDataType: 1 live, 2 frozen, 3 delayed, 4 delayed-frozen
        self.stalled: list[tuple[int, list[str]]] = []  # requests waiting out a 1100 outage
        self.wants_positions = False
        self.wants_account_updates = False
        self.messages_read = 0
        self.closed = False

    def send(self, fields: list[Field]) -> None:
        if self.closed or self.sim.faults.unresponsive:
            return
        self.writer.write(frame(fields))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.client_id is not None and self.sim.sessions.get(self.client_id) is self:
            del self.sim.sessions[self.client_id]
            held = self.sim.engine.discard_untransmitted(self.client_id)
            if held:
                log.info("client %d gone: %d untransmitted leg(s) discarded", self.client_id, len(held))
        with contextlib.suppress(Exception):
            self.writer.close()

    async def run(self) -> None:
        hello = await read_handshake(self.reader)
        if hello.max_version < MIN_CLIENT_VERSION or hello.min_version > SERVER_VERSION:
            raise ProtocolError(f"client versions {hello.min_version}..{hello.max_version} not supported")
        now = self.sim.clock.now()
        self.writer.write(frame([SERVER_VERSION, now.strftime("%Y%m%d %H:%M:%S UTC")]))
        while not self.closed:
            fields = await read_message(self.reader)
            self.messages_read += 1
            faults = self.sim.faults
            if faults.drop_after_messages is not None:
                faults.drop_after_messages -= 1
                if faults.drop_after_messages <= 0:
                    faults.drop_after_messages = None
                    log.info("fault: dropping connection after message %s", fields[:1])
                    self.close()
                    return
            msg_id = int(fields[0]) if fields and fields[0].isdigit() else -1
            drop = msg_id in faults.drop_on_request
            if drop and faults.drop_on_nth > 1:
                faults.drop_on_nth -= 1
                drop = False
            if drop:
                faults.drop_on_request.discard(msg_id)
                if not faults.drop_after_handling:
                    log.info("fault: dropping connection on request %d", msg_id)
                    self.close()
                    return
            if faults.silent_after_requests is not None:
                faults.silent_after_requests -= 1
                if faults.silent_after_requests < 0:
                    faults.silent_after_requests = None
                    faults.unresponsive = True
                    log.info("fault: gateway silent from here on")
            if msg_id == 3 and faults.silent_on_order:  # the order vanishes and the gateway goes quiet
                faults.silent_on_order = False
                faults.unresponsive = True
                log.info("fault: order swallowed, gateway silent")
                continue
            if faults.unresponsive:
                continue
            if self.sim.outage and self.client_id is not None:  # 1100: requests wait for 1102 or 1101
                self.stalled.append((msg_id, fields))
                continue
            if faults.response_delay_s:
                await asyncio.sleep(faults.response_delay_s)
            await self.dispatch(msg_id, fields)
            if drop:
                log.info("fault: dropping connection after handling request %d", msg_id)
                await self.writer.drain()
                self.close()
                return
            await self.writer.drain()

    def replay(self, msg_id: int, fields: list[str]) -> None:
        """Answer a request that waited out an outage."""
        asyncio.get_running_loop().create_task(self.dispatch(msg_id, fields))

    async def dispatch(self, msg_id: int, fields: list[str]) -> None:
        handler = self.HANDLERS.get(msg_id)
        if handler is None:
            log.debug("ignoring unsupported message %s", fields[:3])
            return
        try:
            handler(self, FieldReader(fields, 1))
        except ProtocolError as exc:
            log.warning("malformed message %s: %s", fields[:3], exc)
            self.send(msg.error(-1, 320, f"Error reading request: {exc}"))
        except Exception as exc:  # a simulator bug must not look like a dropped gateway, nor a silent one
            log.exception("failed to handle message %s", fields[:3])
            pos = _REQ_ID_POSITION.get(msg_id)
            req_id = int(fields[pos]) if pos is not None and len(fields) > pos and fields[pos].lstrip("-").isdigit() else -1
            # 322 ("Error processing request") ends the request in every client; 321 is only a warning to ib_async.
            self.send(msg.error(req_id, 322, f"Error processing request: simulator failed on message {msg_id}: {exc!r}"))

    # -- session set-up -------------------------------------------------

    def start_api(self, r: FieldReader) -> None:
        r.skip()  # version
        client_id = r.int()
        if client_id in self.sim.sessions:
            self.send(msg.error(-1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id."))
            self.close()
            return
        self.client_id = client_id
        self.sim.sessions[client_id] = self
        self.send(msg.managed_accounts(self.sim.account.account_id))
        self.send(msg.next_valid_id(self.sim.take_order_id(client_id)))
        for code, text in (
            (2104, "Market data farm connection is OK:usfarm"),
            (2106, "HMDS data farm connection is OK:ushmds"),
            (2158, "Sec-def data farm connection is OK:secdefnj"),
        ):
            self.send(msg.error(-1, code, text))

    def req_current_time(self, r: FieldReader) -> None:
        self.send(msg.current_time(self.sim.clock.now()))

    def req_ids(self, r: FieldReader) -> None:
        self.send(msg.next_valid_id(self.sim.take_order_id(self.client_id or 0)))

    def req_managed_accounts(self, r: FieldReader) -> None:
        self.send(msg.managed_accounts(self.sim.account.account_id))

    # -- contracts -----------------------------------------------------

    def req_contract_details(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        contract = _Contract.read(r)
        inst = self.sim.instrument_for(contract)
        if inst is None:
            self.send(msg.error(req_id, 200, "No security definition has been found for the request"))
            return
        self.send(msg.contract_details(req_id, inst, self.sim.market.calendar, self.sim.clock.now()))
        self.send(msg.contract_details_end(req_id))

    def req_matching_symbols(self, r: FieldReader) -> None:
        req_id = r.int()
        pattern = r.str()
        self.send(msg.symbol_samples(req_id, self.sim.universe.search(pattern)))

    # -- market data ---------------------------------------------------

    def req_historical_data(self, r: FieldReader) -> None:
        req_id = r.int()
        contract = _Contract.read(r)
        r.skip()  # includeExpired
        end_text, bar_size, duration = r.str(), r.str(), r.str()
        use_rth, what, format_date = r.bool(), r.str(), r.int(1)
        inst = self.sim.instrument_for(contract)
        if inst is None:
            self.send(msg.error(req_id, 200, "No security definition has been found for the request"))
            return
        sim = self.sim
        sim.historical_requests += 1
        if sim.config.pacing:
            identical = (inst.con_id, end_text, duration, bar_size, what, use_rth, format_date)
            violation = sim.pacing.admit(identical, (inst.con_id, contract.exchange, what), bar_size)
            if violation:
                sim.pacing_violations += 1
                log.info("pacing violation (%s) for %s", violation, inst.symbol)
                self.send(
                    msg.error(req_id, 162, "Historical Market Data Service error message:Historical data request pacing violation")
                )
                return
        try:
            end = parse_end(end_text, sim.clock.now())
            end = min(end, sim.clock.now())
            request = BarRequest(end, duration, bar_size, what, use_rth, format_date)
            bars = sim.history.bars(inst, request)
        except HistoryRequestError as exc:
            self.send(msg.error(req_id, exc.code, str(exc)))
            return
        if not bars:
            self.send(msg.error(req_id, 162, "Historical Market Data Service error message:HMDS query returned no data: "
                                f"{inst.symbol}@SMART {what}"))
            return
        answer = msg.historical_data(req_id, duration_start(duration, end), end, bars)
        delay = (sim.pacing.soft_delay() if sim.config.pacing else 0.0) + sim.config.hmds_delay_s
        if delay > 0:  # a slow HMDS, or IB throttling large bars softly: answered, later
            asyncio.get_running_loop().call_later(delay, self.send, answer)
        else:
            self.send(answer)

    def req_head_timestamp(self, r: FieldReader) -> None:
        req_id = r.int()
        contract = _Contract.read(r)
        r.skip()
        use_rth, _what, format_date = r.bool(), r.str(), r.int(1)
        inst = self.sim.instrument_for(contract)
        if inst is None:
            self.send(msg.error(req_id, 200, "No security definition has been found for the request"))
            return
        self.send(msg.head_timestamp(req_id, self.sim.history.head_timestamp(inst, use_rth, format_date)))

    def req_market_data_type(self, r: FieldReader) -> None:
        r.skip()
        self.market_data_type = r.int(1)

    def _market_data_refusal(self, req_id: int, inst: Instrument) -> tuple[bool, bool]:
        """(refused, delayed) for this session and instrument, sending IB's error when refused."""
        permissions = self.sim.config.market_data
        mode = permissions.get(inst.symbol, permissions.get("*", "live"))
        if mode == "none":
            self.send(msg.error(req_id, 354, "Requested market data is not subscribed."))
            return True, False
        if mode == "competing":
            self.send(msg.error(req_id, 10197, "No market data during competing live session"))
            return True, False
        if mode == "delayed":
            if self.market_data_type not in (3, 4):
                self.send(msg.error(req_id, 10089, "Requested market data requires additional subscription for API. "
                                    "See link in 'Market Data Connections' dialog for more details.Delayed market "
                                    "data is available."))
                return True, False
            self.send(msg.error(req_id, 10167, "Requested market data is not subscribed. Displaying delayed market data."))
            return False, True
        return False, False

    def req_mkt_data(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        contract = _Contract.read(r)
        if contract.sec_type == "BAG":
            self.send(msg.error(req_id, 200, "No security definition has been found for the request"))
            return
        if r.bool():  # delta-neutral contract present
            r.skip(3)
        _ticks, snapshot = r.str(), r.bool()
        inst = self.sim.instrument_for(contract)
        if inst is None:
            self.send(msg.error(req_id, 200, "No security definition has been found for the request"))
            return
        refused, delayed = self._market_data_refusal(req_id, inst)
        if refused:
            return
        sim = self.sim
        now = sim.clock.now() - (timedelta(minutes=15) if delayed else timedelta(0))
        tick = inst.min_tick
        last = round(round(sim.market.price_at(inst, now) / tick) * tick, 4)
        half = max(inst.min_tick, round(last * 0.0002, 2)) / 2
        cal = sim.market.calendar
        today = cal.last_index_started_by(now)
        prev_close = sim.market.daily_bars(inst, True, today - 10, today - 1)["close"].iloc[-1]
        minutes = sim.market.minute_frame(inst, today, rth=True)
        minutes = minutes[minutes.index <= now]
        # Delayed data arrives under its own tick types (66 bid, 67 ask, 68 last, 72 high, 73 low, 75 close, 76 open).
        bid, ask, last_t, high_t, low_t, close_t, open_t = (66, 67, 68, 72, 73, 75, 76) if delayed else (1, 2, 4, 6, 7, 9, 14)
        self.send(msg.market_data_type(req_id, 3 if delayed else 1))
        self.send(msg.tick_price(req_id, bid, round(last - half, 4), 300))
        self.send(msg.tick_price(req_id, ask, round(last + half, 4), 200))
        self.send(msg.tick_price(req_id, last_t, last, 100))
        if not minutes.empty:
            self.send(msg.tick_price(req_id, high_t, float(minutes["high"].max()), 0))
            self.send(msg.tick_price(req_id, low_t, float(minutes["low"].min()), 0))
            self.send(msg.tick_price(req_id, open_t, float(minutes["open"].iloc[0]), 0))
            self.send(msg.tick_size(req_id, 8, float(minutes["volume"].sum()) / 100))
        self.send(msg.tick_price(req_id, close_t, float(prev_close), 0))
        if snapshot:
            end = msg.tick_snapshot_end(req_id)
            if sim.config.snapshot_delay_s > 0:
                asyncio.get_running_loop().call_later(sim.config.snapshot_delay_s, self.send, end)
            else:
                self.send(end)

    # -- orders --------------------------------------------------------

    def place_order(self, r: FieldReader) -> None:
        order_id = r.int()
        contract = _Contract.read(r)
        r.skip(2)  # secIdType, secId
        action, qty, order_type = r.str(), r.float(), r.str()
        lmt, aux = r.float(0.0) or None, r.float(0.0) or None
        tif, oca_group, account = r.str() or "DAY", r.str(), r.str()
        r.skip(2)  # openClose, origin
        order_ref, transmit, parent_id = r.str(), r.bool(), r.int()
        r.skip(4)  # blockOrder, sweepToFill, displaySize, triggerMethod
        outside_rth = r.bool()
        r.skip(12)  # hidden, "", discretionaryAmt .. exemptCode (no faProfile at v178)
        oca_type = r.int(0)
        sim = self.sim
        client_id = self.client_id or 0
        now = sim.clock.now()
        inst = sim.instrument_for(contract)
        sim.note_order_id(client_id, order_id)
        if inst is None:
            self.send(msg.error(order_id, 200, "No security definition has been found for the request"))
            return
        order = SimOrder(
            client_id=client_id, order_id=order_id, perm_id=0, instrument=inst, action=action.upper(),
            quantity=qty, order_type=order_type.upper(), lmt_price=lmt, aux_price=aux, tif=tif.upper(),
            oca_group=oca_group, oca_type=oca_type, account=account or sim.account.account_id,
            order_ref=order_ref, transmit=transmit, parent_id=parent_id, outside_rth=outside_rth, placed_at=now,
        )
        existing = sim.engine.orders.get(order.key)
        if existing is not None and existing.is_terminal:  # IB: an id is never reused, not even once done
            self.send(msg.error(order_id, 103, "Duplicate order id"))
            return
        try:
            if existing is not None:
                sim.engine.modify(existing, order, now)
                return
            order.perm_id = sim.engine.next_perm_id()
            if order.account != sim.account.account_id:
                raise OrderRejected(f"account {order.account} is not managed by this login")
            if sim.faults.rejects(inst.symbol):
                raise OrderRejected("simulated rejection (fault injection)")
            sim.engine.validate(order, now)
        except OrderRejected as exc:
            if existing is not None:
                self.send(msg.error(order_id, 201, f"Order rejected - reason:{exc.reason}"))
            else:
                sim.engine.reject(order, now, exc.reason)
            return
        sim.engine.add(order, now)
        if inst.symbol in sim.faults.late_reject_orders or "*" in sim.faults.late_reject_orders:
            def reject_late() -> None:
                if not order.is_terminal:
                    sim.engine.reject(order, sim.clock.now(), "simulated late rejection (fault injection)")

            asyncio.get_running_loop().call_later(sim.faults.late_reject_after_s, reject_late)

    def cancel_order(self, r: FieldReader) -> None:
        r.skip()
        order_id = r.int()
        order = self.sim.engine.orders.get((self.client_id or 0, order_id))
        if order is None:
            self.send(msg.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found."))
            return
        if order.is_terminal:
            self.send(msg.error(order_id, 10148, f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order.status}."))
            return
        self.sim.engine.cancel(order, self.sim.clock.now())

    def req_global_cancel(self, r: FieldReader) -> None:
        for order in self.sim.engine.working():
            self.sim.engine.cancel(order, self.sim.clock.now())

    def _send_open_orders(self, everyone: bool) -> None:
        for order in self.sim.engine.working():
            if everyone or order.client_id == self.client_id:
                self.send(msg.open_order(order))
                self.send(msg.order_status(order))
        self.send(msg.open_order_end())

    def req_open_orders(self, r: FieldReader) -> None:
        self._send_open_orders(everyone=False)

    def req_all_open_orders(self, r: FieldReader) -> None:
        self._send_open_orders(everyone=True)

    def req_completed_orders(self, r: FieldReader) -> None:
        today = self.sim.trading_day_start()
        for order in self.sim.engine.orders.values():  # IB: today's completed orders only
            if order.is_terminal and (order.completed_at is None or order.completed_at >= today):
                self.send(msg.completed_order(order))
        self.send(msg.completed_orders_end())

    def req_executions(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        client_filter, account, since = r.int(), r.str(), r.str()
        symbol, _sec_type, _exchange, side = r.str(), r.str(), r.str(), r.str()
        since_dt = None
        if since:
            with contextlib.suppress(ValueError, HistoryRequestError):
                since_dt = parse_end(since.replace("-", " ") if " " not in since else since, self.sim.clock.now())
        today = self.sim.trading_day_start()
        for fill in self.sim.engine.fills:
            o = fill.order
            if fill.time < today:  # IB: executions of the current day only; yesterday's are gone from here
                continue
            if client_filter and o.client_id != client_filter:
                continue
            if account and o.account != account:
                continue
            if symbol and o.instrument.symbol != symbol:
                continue
            if side and side[0] != ("B" if o.is_buy else "S"):
                continue
            if since_dt and fill.time < since_dt:
                continue
            self.send(msg.exec_details(req_id, fill))
            if time.monotonic() >= self.sim.commission_known_at.get(fill.exec_id, 0.0):
                self.send(msg.commission_report(fill))  # a report that trails its execution is not known yet
        self.send(msg.exec_details_end(req_id))

    # -- account -------------------------------------------------------

    def req_positions(self, r: FieldReader) -> None:
        self.wants_positions = True
        for pos in self.sim.account.positions.values():
            self.send(msg.position(self.sim.account.account_id, pos.instrument, pos.quantity, pos.average_cost))
        self.send(msg.position_end())

    def cancel_positions(self, r: FieldReader) -> None:
        self.wants_positions = False

    def send_account_values(self, values: dict[str, float]) -> None:
        acct = self.sim.account.account_id
        self.send(msg.account_value("AccountType", "INDIVIDUAL", "", acct))
        self.send(msg.account_value("AccountCode", acct, "", acct))
        self.send(msg.account_value("Currency", "USD", "USD", acct))
        for key, value in values.items():
            self.send(msg.account_value(key, f"{value:.2f}", "USD", acct))

    def req_account_updates(self, r: FieldReader) -> None:
        r.skip()
        subscribe = r.bool()
        self.wants_account_updates = subscribe
        if not subscribe:
            return
        sim = self.sim
        now = sim.clock.now()
        self.send_account_values(sim.account_values())
        for pos in sim.account.positions.values():
            mark = sim.market.price_at(pos.instrument, now)
            self.send(msg.portfolio_value(sim.account.account_id, pos.instrument, pos.quantity, mark,
                                          pos.average_cost, pos.realized_pnl))
        self.send(msg.account_update_time(now))
        self.send(msg.account_download_end(sim.account.account_id))

    def req_account_summary(self, r: FieldReader) -> None:
        r.skip()
        req_id, _group, tags = r.int(), r.str(), r.str()
        wanted = {t.strip() for t in tags.split(",") if t.strip()}
        acct = self.sim.account.account_id
        if "AccountType" in wanted:
            self.send(msg.account_summary(req_id, acct, "AccountType", "INDIVIDUAL", ""))
        for key, value in self.sim.account_values().items():
            if key in wanted or "All" in wanted:
                self.send(msg.account_summary(req_id, acct, key, f"{value:.2f}", "USD"))
        self.send(msg.account_summary_end(req_id))

    def req_account_updates_multi(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        acct = self.sim.account.account_id
        for key, value in self.sim.account_values().items():
            self.send(msg.account_update_multi(req_id, acct, key, f"{value:.2f}", "USD"))
        self.send(msg.account_update_multi_end(req_id))

    def ignore(self, r: FieldReader) -> None:
        pass

    HANDLERS: dict[int, Callable[[ClientSession, FieldReader], None]] = {
        1: req_mkt_data,
        2: ignore,  # cancelMktData
        3: place_order,
        4: cancel_order,
        5: req_open_orders,
        6: req_account_updates,
        7: req_executions,
        8: req_ids,
        9: req_contract_details,
        15: ignore,  # reqAutoOpenOrders
        16: req_all_open_orders,
        17: req_managed_accounts,
        20: req_historical_data,
        25: ignore,  # cancelHistoricalData
        49: req_current_time,
        58: req_global_cancel,
        59: req_market_data_type,
        61: req_positions,
        62: req_account_summary,
        63: ignore,  # cancelAccountSummary
        64: cancel_positions,
        71: start_api,
        76: req_account_updates_multi,
        77: ignore,  # cancelAccountUpdatesMulti
        81: req_matching_symbols,
        87: req_head_timestamp,
        90: ignore,  # cancelHeadTimeStamp
        99: req_completed_orders,
    }


class SimulatorThread:
    """Runs a GatewaySimulator on its own event loop in a background thread.

    >>> with SimulatorThread(SimulatorConfig(port=0)) as gw:
    ...     ib.connect("127.0.0.1", gw.port, clientId=1)
    """

    def __init__(self, config: SimulatorConfig | None = None):
        self.sim = GatewaySimulator(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="gateway-sim", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.sim.start())
        except BaseException as exc:  # surface bind errors to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.sim.stop())
        self._loop.close()

    def start(self) -> SimulatorThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self.sim.port

    @property
    def faults(self) -> FaultPlan:
        return self.sim.faults

    def call(self, fn: Callable[[], T], timeout: float = 10) -> T:
        """Run ``fn`` on the simulator's loop (where its state lives) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def step(self) -> None:
        """Match orders against the path up to the clock's now, synchronously."""
        self.call(lambda: self.sim.engine.step(self.sim.clock.now()))

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward and match in small steps so crossings are seen in order."""
        step = timedelta(minutes=1)
        target = self.sim.clock.now() + delta
        while self.sim.clock.now() < target:
            self.sim.clock.set(min(self.sim.clock.now() + step, target), speed=0)
            self.step()

    def account_values(self) -> dict[str, float]:
        return self.call(self.sim.account_values)

    def restart(self, downtime_s: float = 1.0) -> None:
        """IB Gateway's restart, on demand: returns once the gateway answers again."""
        asyncio.run_coroutine_threadsafe(self.sim.restart(downtime_s), self._loop).result(downtime_s + 30)

    def outage(self) -> None:
        self.call(self.sim.lose_connectivity)

    def restore(self, data_kept: bool = True) -> None:
        self.call(lambda: self.sim.restore_connectivity(data_kept))

    def connectivity_blip(self) -> None:
        self.call(lambda: self.sim.broadcast_connectivity(lost=True))
        self.call(lambda: self.sim.broadcast_connectivity(lost=False))


def run_forever(config: SimulatorConfig) -> None:
    """Serve until interrupted (the CLI's ``gateway-sim`` command)."""

    async def main() -> None:
        sim = GatewaySimulator(config)
        await sim.start()
        print(
            f"IB Gateway simulator on {config.host}:{sim.port} (server version {SERVER_VERSION}, "
            f"account {config.account_id}, {len(sim.universe)} instruments, "
            f"clock {sim.clock.now():%Y-%m-%d %H:%M:%S} UTC x{sim.clock.speed:g})"
            + (f"; paper account kept in {config.state_file}" if config.state_file else "; account in memory only"),
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())

