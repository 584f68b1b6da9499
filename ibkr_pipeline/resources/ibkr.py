"""IBKRResource: the Dagster face of IBKRClient (connection settings from config or EnvVar)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

import dagster as dg
from pydantic import Field

from ibkr_pipeline.broker.client import ContractCache, IBKRClient, IBKRSettings
from ibkr_pipeline.broker.errors import GatewayConnectionError
from ibkr_pipeline.broker.pacing import PacingBudget, with_margin
from ibkr_pipeline.domain.health import ComponentHealth
from ibkr_pipeline.domain.pacing import PacingRules


class BrokerStores(Protocol):
    """What a client keeps between runs: resolved contracts and IB's pacing windows (``DatabaseResource``)."""

    def contract_cache(self, ttl: timedelta) -> ContractCache: ...
    def pacing_budget(self, gateway: str, rules: PacingRules) -> PacingBudget: ...


PROBE_CLIENT_ID_OFFSET = 900  # the health probe never takes a trading client's id


class IBKRResource(dg.ConfigurableResource):
    """Interactive Brokers through IB Gateway/TWS (or the bundled simulator).

    Paper ports: IB Gateway 4002, TWS 7497. Live ports (4001/7496) only matter
    once a strategy is switched to live trading.
    """

    host: str = Field(default="127.0.0.1", description="IB Gateway/TWS host")
    port: int = Field(default=4002, description="API port (paper: 4002 Gateway, 7497 TWS)")
    client_id: int = Field(default=1, description="First client id to try; 326 moves to the next")
    account: str = Field(default="", description="Account id; empty = the login's only account")
    connect_timeout_s: float = 10.0
    request_timeout_s: float = Field(default=30.0, description="Every request's deadline; no answer is a drop")
    call_budget_s: float = Field(default=90.0, description="A request with its reconnects and retries, in all")
    connect_attempts: int = 5
    readonly: bool = False
    contract_cache_ttl_days: float = Field(default=7.0, description="How long resolved contracts stay cached")
    pacing_time_scale: float = Field(
        default=1.0, description="Scale of IB's pacing windows (1.0 = IB's real rules; tests shrink it)"
    )

    def settings(self) -> IBKRSettings:
        names = {f.name for f in dataclasses.fields(IBKRSettings)}
        return IBKRSettings(**{k: v for k, v in self.model_dump().items() if k in names})

    def contract_cache(self, stores: BrokerStores) -> ContractCache:
        return stores.contract_cache(timedelta(days=self.contract_cache_ttl_days))

    def probe(self) -> ComponentHealth:
        """One quick look at the gateway: refused (down), silent (unresponsive, as around IB's nightly
        restart), or answering the current time within ``connect_timeout_s``. Its own client id, read-only, no
        retries."""
        timeout_s = self.connect_timeout_s
        started = time.perf_counter()
        where = f"{self.host}:{self.port}"
        try:
            socket.create_connection((self.host, self.port), timeout=timeout_s).close()
        except OSError as exc:
            return ComponentHealth("gateway", "down", f"{where}: {exc.strerror or repr(exc)}")
        settings = dataclasses.replace(
            self.settings(),
            client_id=self.client_id + PROBE_CLIENT_ID_OFFSET,
            request_timeout_s=timeout_s,
            connect_attempts=1,
            readonly=True,
        )
        client = IBKRClient(settings, None)
        try:
            client.connect()
            now = client.run(asyncio.wait_for(client.ib.reqCurrentTimeAsync(), timeout_s))
        except (GatewayConnectionError, TimeoutError, ConnectionError) as exc:
            return ComponentHealth(
                "gateway",
                "unresponsive",
                f"{where} accepts connections but did not answer within {timeout_s:g} s ({type(exc).__name__})",
            )
        finally:
            client.disconnect()
        latency = round((time.perf_counter() - started) * 1000, 1)
        return ComponentHealth("gateway", "ok", f"{where} answered; its clock {now:%Y-%m-%d %H:%M:%S} UTC", latency)

    def pacing_budget(self, stores: BrokerStores) -> PacingBudget:
        """IB's pacing windows, counted by every process using this gateway (IB counts per session)."""
        return stores.pacing_budget(
            f"{self.host}:{self.port}", with_margin(PacingRules().scaled(self.pacing_time_scale))
        )

    @contextmanager
    def get_client(self, stores: BrokerStores) -> Iterator[IBKRClient]:
        """A connected client for the duration of a step; always disconnected afterwards."""
        client = IBKRClient(self.settings(), self.contract_cache(stores), self.pacing_budget(stores))
        client.connect()
        try:
            yield client
        finally:
            client.disconnect()
