"""The ``ibkr-pipeline`` command line."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="LLM-assisted technical-analysis trading on IBKR, orchestrated by Dagster.", no_args_is_help=True)
symbols_app = typer.Typer(help="Look up contracts through the IBKR resource (cache first).", no_args_is_help=True)
app.add_typer(symbols_app, name="symbols")
console = Console()


@app.command("gateway-sim")
def gateway_sim(
    port: Annotated[int, typer.Option(help="API port to listen on (4002 = IB Gateway paper)")] = 4002,
    host: Annotated[str, typer.Option(help="Interface to bind; keep it on loopback")] = "127.0.0.1",
    universe: Annotated[Path | None, typer.Option(help="YAML list of instruments instead of the built-in set")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic price paths")] = 7,
    data: Annotated[Path | None, typer.Option(help="Directory of SYMBOL.csv/.parquet daily bars to replay")] = None,
    clock_start: Annotated[str | None, typer.Option(help="Start the clock at this ISO instant (UTC if naive)")] = None,
    clock_speed: Annotated[float, typer.Option(help="Simulated seconds per real second")] = 1.0,
    pacing: Annotated[bool, typer.Option(help="Enforce IB's historical-data pacing rules")] = True,
    account: Annotated[str, typer.Option(help="Paper-style account id")] = "DU1234567",
    cash: Annotated[float, typer.Option(help="Starting cash in USD")] = 1_000_000.0,
) -> None:
    """Run the IB Gateway simulator (TWS socket protocol) until interrupted."""
    from ibkr_pipeline.gateway_sim.server import SimulatorConfig, run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_forever(
        SimulatorConfig(
            host=host, port=port, seed=seed, universe_file=universe, data_dir=data,
            clock_start=utc(clock_start) if clock_start else None, clock_speed=clock_speed,
            pacing=pacing, account_id=account, starting_cash=cash,
        )
    )


def utc(value: str) -> datetime:
    """Parse an ISO timestamp, treating a naive one as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _resource(host: str | None, port: int | None, client_id: int | None):
    from ibkr_pipeline.resources.ibkr import IBKRResource

    return IBKRResource(
        host=host or os.environ.get("IBKR_HOST", "127.0.0.1"),
        port=port or int(os.environ.get("IBKR_PORT", "4002")),
        client_id=client_id or int(os.environ.get("IBKR_CLIENT_ID", "90")),
        database_url=os.environ.get("IBKR_PIPELINE_DB_URL", ""),
        connect_attempts=2,
    )


HostOpt = Annotated[str | None, typer.Option(help="Gateway host (default $IBKR_HOST or 127.0.0.1)")]
PortOpt = Annotated[int | None, typer.Option(help="Gateway port (default $IBKR_PORT or 4002)")]
ClientOpt = Annotated[int | None, typer.Option(help="Client id (default $IBKR_CLIENT_ID or 90)")]


@symbols_app.command("search")
def symbols_search(query: str, host: HostOpt = None, port: PortOpt = None, client_id: ClientOpt = None) -> None:
    """Search contracts by symbol or name: cached contracts first, then IB's symbol search."""
    resource = _resource(host, port, client_id)
    table = Table("symbol", "type", "primary exch", "currency", "conId", "description", "source")
    seen: set[str] = set()
    for info in resource.contract_cache().search(query):
        seen.add(info.symbol)
        table.add_row(info.symbol, info.sec_type, info.primary_exchange, info.currency, str(info.con_id),
                      info.long_name, "cache")
    from ibkr_pipeline.broker.errors import IBKRError

    try:
        with resource.get_client() as client:
            for row in client.search(query):
                if row["symbol"] in seen:
                    continue
                table.add_row(row["symbol"], row["sec_type"], row["primary_exchange"], row["currency"],
                              str(row["con_id"]), row["description"], "IB")
    except IBKRError as exc:
        if not seen:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
    console.print(table)


@symbols_app.command("show")
def symbols_show(
    symbol: str,
    exchange: Annotated[str, typer.Option(help="Routing exchange")] = "SMART",
    currency: Annotated[str, typer.Option()] = "USD",
    sec_type: Annotated[str, typer.Option()] = "STK",
    host: HostOpt = None, port: PortOpt = None, client_id: ClientOpt = None,
) -> None:
    """Resolve one symbol to its IB contract (cache first) and print its details."""
    from ibkr_pipeline.broker.errors import IBKRError
    from ibkr_pipeline.domain.contracts import ContractSpec

    resource = _resource(host, port, client_id)
    spec = ContractSpec(symbol=symbol, exchange=exchange, currency=currency, sec_type=sec_type)
    cache = resource.contract_cache()
    info = cache.get(spec)
    source = "cache"
    if info is None:
        source = "IB"
        try:
            with resource.get_client() as client:
                info = client.resolve(spec)
        except IBKRError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
    table = Table("field", "value", title=f"{info.symbol} ({source})")
    for key, value in info.model_dump().items():
        table.add_row(key, str(value)[:100])
    console.print(table)


@app.command("validate")
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Strategy files or directories (default: the strategies directory)")] = None,
) -> None:
    """Check strategy files; print every problem with its file and field; exit 1 if any is broken."""
    from ibkr_pipeline.definitions import strategies_dir
    from ibkr_pipeline.domain.strategy import StrategyFileError, load_strategy, strategy_files

    files: list[Path] = []
    for path in paths or [strategies_dir()]:
        files.extend(strategy_files(path) if path.is_dir() else [path])
    if not files:
        console.print("[red]no strategy files found[/red]")
        raise typer.Exit(1)
    broken = 0
    for path in files:
        try:
            spec = load_strategy(path)
        except StrategyFileError as exc:
            broken += 1
            console.print(f"✗ {exc}", style="red", markup=False, highlight=False, soft_wrap=True)
            continue
        console.print(
            f"✓ {path}: {spec.name} ({len(spec.universe)} symbols, cron '{spec.schedule.cron}' {spec.schedule.timezone})",
            style="green", markup=False, highlight=False, soft_wrap=True,
        )
    if broken:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
