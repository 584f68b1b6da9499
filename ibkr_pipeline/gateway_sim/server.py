"""The simulated IB Gateway: an asyncio TCP server speaking the TWS API at version 178.

``GatewaySimulator`` owns the shared state (the exchange: market, clock, account,
matching engine; and the gateway's pacing, faults, restarts and outages);
``ClientSession`` reads and dispatches one API connection, answered by the request
modules in ``requests/`` (setup, contracts, market data, orders, account). ``SimulatorThread``
runs the whole thing on its own event loop so blocking ``ib_async.IB`` clients,
pytest fixtures and the CLI can all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any, TypeVar

from ibkr_pipeline.exchange import state
from ibkr_pipeline.exchange.account import Account
from ibkr_pipeline.exchange.clock import SimClock
from ibkr_pipeline.exchange.market import EXCHANGE_TZ, MarketModel, ReplayMarket, SyntheticMarket
from ibkr_pipeline.exchange.matching import MatchingConfig, MatchingEngine, OrderEvent
from ibkr_pipeline.exchange.universe import Instrument, Universe
from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.faults import FaultPlan
from ibkr_pipeline.gateway_sim.history import HistoricalService
from ibkr_pipeline.gateway_sim.pacing import HistoricalPacing
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
from ibkr_pipeline.gateway_sim.requests.account import AccountRequests
from ibkr_pipeline.gateway_sim.requests.contracts import ContractRequests
from ibkr_pipeline.gateway_sim.requests.market_data import MarketDataRequests
from ibkr_pipeline.gateway_sim.requests.orders import OrderRequests
from ibkr_pipeline.gateway_sim.requests.setup import SetupRequests
from ibkr_pipeline.gateway_sim.wire_contract import WireContract

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
        self.market_data_requests: Counter[str] = Counter()  # reqMktData requests per symbol (tests count them)
        self.requests: Counter[tuple[int | None, int]] = Counter()  # (client id, message id) received (tests count)
        self.connections = 0  # sockets accepted (a client's connection attempts, counted by tests)
        self.restarts = 0
        self.outage = False
        self.open_historical = 0  # accepted, not yet answered, in every session (IB caps them at 50)
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
        self.connections += 1
        session = ClientSession(self, reader, writer)
        try:
            await session.run()
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError) as exc:
            log.debug("session ended: %r", exc)
        except asyncio.CancelledError:
            pass
        finally:
            session.close()

    def instrument_for(self, c: WireContract) -> Instrument | None:
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
                session.send(
                    msg.error(
                        -1, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained."
                    )
                )
                for msg_id, fields in waiting:
                    session.replay(msg_id, fields)
            else:
                session.send(
                    msg.error(-1, 1101, "Connectivity between IB and Trader Workstation has been restored - data lost.")
                )

    def broadcast_connectivity(self, lost: bool) -> None:
        """Send 1100 (lost) or 1102 (restored) to every client; sockets stay open."""
        for session in self.sessions.values():
            if lost:
                session.send(msg.error(-1, 1100, "Connectivity between IB and Trader Workstation has been lost."))
            else:
                session.send(
                    msg.error(
                        -1, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained."
                    )
                )


# Where the request id sits in messages that carry one, to route an error back to its request.
_REQ_ID_POSITION = {1: 2, 3: 1, 7: 2, 9: 2, 20: 1, 62: 2, 81: 1, 87: 1}


class ClientSession(SetupRequests, ContractRequests, MarketDataRequests, OrderRequests, AccountRequests):
    """One API client connection: reading, dispatch and the session's state; the answers live in requests/."""

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
        self.open_historical = {}

    def send(self, fields: list[Field]) -> None:
        if self.closed or self.sim.faults.unresponsive:
            return
        self.writer.write(frame(fields))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.drop_open_historical(list(self.open_historical))
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
            self.sim.requests[(self.client_id, msg_id)] += 1
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
            req_id = (
                int(fields[pos]) if pos is not None and len(fields) > pos and fields[pos].lstrip("-").isdigit() else -1
            )
            # 322 ("Error processing request") ends the request in every client; 321 is only a warning to ib_async.
            self.send(
                msg.error(req_id, 322, f"Error processing request: simulator failed on message {msg_id}: {exc!r}")
            )

    def ignore(self, r: FieldReader) -> None:
        pass


# The message ids a client sends, and who answers each.
ClientSession.HANDLERS = {
    1: MarketDataRequests.req_mkt_data,
    2: ClientSession.ignore,  # cancelMktData
    3: OrderRequests.place_order,
    4: OrderRequests.cancel_order,
    5: OrderRequests.req_open_orders,
    6: AccountRequests.req_account_updates,
    7: OrderRequests.req_executions,
    8: SetupRequests.req_ids,
    9: ContractRequests.req_contract_details,
    15: ClientSession.ignore,  # reqAutoOpenOrders
    16: OrderRequests.req_all_open_orders,
    17: SetupRequests.req_managed_accounts,
    20: MarketDataRequests.req_historical_data,
    25: MarketDataRequests.cancel_historical_data,
    49: SetupRequests.req_current_time,
    58: OrderRequests.req_global_cancel,
    59: MarketDataRequests.req_market_data_type,
    61: AccountRequests.req_positions,
    62: AccountRequests.req_account_summary,
    63: ClientSession.ignore,  # cancelAccountSummary
    64: AccountRequests.cancel_positions,
    71: SetupRequests.start_api,
    76: AccountRequests.req_account_updates_multi,
    77: ClientSession.ignore,  # cancelAccountUpdatesMulti
    81: ContractRequests.req_matching_symbols,
    87: MarketDataRequests.req_head_timestamp,
    90: ClientSession.ignore,  # cancelHeadTimeStamp
    99: OrderRequests.req_completed_orders,
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
