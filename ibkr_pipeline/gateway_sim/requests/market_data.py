"""Historical bars (paced as IB paces them), head timestamps, quotes and market-data permissions."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from ibkr_pipeline.exchange.universe import Instrument
from ibkr_pipeline.gateway_sim import messages as msg
from ibkr_pipeline.gateway_sim.history import (
    BarRequest,
    HistoryRequestError,
    duration_start,
    parse_end,
)
from ibkr_pipeline.gateway_sim.protocol import (
    FieldReader,
)
from ibkr_pipeline.gateway_sim.requests.session import Session
from ibkr_pipeline.gateway_sim.wire_contract import WireContract

log = logging.getLogger("ibkr_pipeline.gateway_sim")
# IB: "The maximum number of simultaneous open historical data requests from the API is 50." The error IB
# sends for the 51st is not documented; modelled as a 162 that names the cap.
MAX_OPEN_HISTORICAL = 50


class MarketDataRequests(Session):
    """Handlers for one area; mixed into ``ClientSession`` (``self.sim``, ``self.send``, ``self.client_id``)."""

    def req_historical_data(self, r: FieldReader) -> None:
        req_id = r.int()
        contract = WireContract.read(r)
        r.skip()  # includeExpired
        end_text, bar_size, duration = r.str(), r.str(), r.str()
        use_rth, what, format_date = r.bool(), r.str(), r.int(1)
        inst = self.instrument_or_200(req_id, contract)
        if inst is None:
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
                    msg.error(
                        req_id,
                        162,
                        "Historical Market Data Service error message:Historical data request pacing violation",
                    )
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
            self.send(
                msg.error(
                    req_id,
                    162,
                    "Historical Market Data Service error message:HMDS query returned no data: "
                    f"{inst.symbol}@SMART {what}",
                )
            )
            return
        answer = msg.historical_data(req_id, duration_start(duration, end), end, bars)
        delay = (sim.pacing.soft_delay() if sim.config.pacing else 0.0) + sim.config.hmds_delay_s
        if delay <= 0:
            self.send(answer)
            return
        # A slow HMDS, or IB throttling large bars softly: answered later, and open until then.
        if sim.config.pacing and sim.open_historical >= MAX_OPEN_HISTORICAL:
            sim.pacing_violations += 1
            self.send(
                msg.error(
                    req_id,
                    162,
                    "Historical Market Data Service error message:"
                    f"more than {MAX_OPEN_HISTORICAL} simultaneous historical data requests",
                )
            )
            return
        sim.open_historical += 1

        def answered() -> None:
            self.drop_open_historical([req_id])  # its own handle: cancelling a timer that has fired does nothing
            self.send(answer)

        self.open_historical[req_id] = asyncio.get_running_loop().call_later(delay, answered)

    def cancel_historical_data(self, r: FieldReader) -> None:
        r.skip()  # version
        self.drop_open_historical([r.int()])

    def drop_open_historical(self, req_ids: list[int]) -> None:
        """Answered, cancelled, or its session closed: the request no longer holds one of the 50 open slots (and,
        unless answered, is never answered)."""
        for req_id in req_ids:
            handle = self.open_historical.pop(req_id, None)
            if handle is not None:
                handle.cancel()
                self.sim.open_historical -= 1

    def req_head_timestamp(self, r: FieldReader) -> None:
        req_id = r.int()
        contract = WireContract.read(r)
        r.skip()
        use_rth, _what, format_date = r.bool(), r.str(), r.int(1)
        inst = self.instrument_or_200(req_id, contract)
        if inst is None:
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
                self.send(
                    msg.error(
                        req_id,
                        10089,
                        "Requested market data requires additional subscription for API. "
                        "See link in 'Market Data Connections' dialog for more details.Delayed market "
                        "data is available.",
                    )
                )
                return True, False
            self.send(
                msg.error(
                    req_id,
                    10167,
                    "Requested market data is not subscribed. Displaying delayed market data.",
                )
            )
            return False, True
        return False, False

    def req_mkt_data(self, r: FieldReader) -> None:
        r.skip()
        req_id = r.int()
        contract = WireContract.read(r)
        if contract.sec_type == "BAG":
            self.send(msg.error(req_id, 200, "No security definition has been found for the request"))
            return
        if r.bool():  # delta-neutral contract present
            r.skip(3)
        _ticks, snapshot = r.str(), r.bool()
        inst = self.instrument_or_200(req_id, contract)
        if inst is None:
            return
        self.sim.market_data_requests[inst.symbol] += 1
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
        bid, ask, last_t, high_t, low_t, close_t, open_t = (
            (66, 67, 68, 72, 73, 75, 76) if delayed else (1, 2, 4, 6, 7, 9, 14)
        )
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
