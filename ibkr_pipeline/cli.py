"""The ``ibkr-pipeline`` command line."""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ibkr_pipeline import settings as env

app = typer.Typer(
    help="LLM-assisted technical-analysis trading on IBKR, orchestrated by Dagster.", no_args_is_help=True
)
symbols_app = typer.Typer(help="Look up contracts through the IBKR resource (cache first).", no_args_is_help=True)
app.add_typer(symbols_app, name="symbols")
kill_app = typer.Typer(
    help="The kill switch: in the project database, so every process and container obeys it.", no_args_is_help=True
)
app.add_typer(kill_app, name="kill-switch")
console = Console()
ANALYSTS = ("offline", "llm")
CHART_CHOICES = ("auto", "always", "never")


def fail(message: str, code: int = 2) -> typer.Exit:
    """One plain line on stderr and a non-zero exit: what was wrong, and with what."""
    Console(stderr=True).print(f"error: {message}", style="red", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from ibkr_pipeline.provenance import code_description

        console.print(code_description(), markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and git commit, then exit"),
    ] = False,
) -> None:
    """LLM-assisted technical-analysis trading on IBKR, orchestrated by Dagster."""


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


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
    cash: Annotated[float, typer.Option(help="Starting cash in USD (a new account only)")] = 1_000_000.0,
    state_file: Annotated[
        Path | None,
        typer.Option(help="Where the paper account persists (default: IBKR_PIPELINE_HOME/gateway_sim/ACCOUNT.json)"),
    ] = None,
    fresh: Annotated[bool, typer.Option(help="Start a new account: delete the saved one first")] = False,
    memory: Annotated[bool, typer.Option(help="Keep the account in memory only (nothing saved)")] = False,
    restart_at: Annotated[
        str | None,
        typer.Option(help="Rehearse IB's nightly restart at this New York time HH:MM on the simulator's clock"),
    ] = None,
    restart_downtime: Annotated[float, typer.Option(help="Seconds the restart refuses connections")] = 30.0,
    silent_on_order: Annotated[
        bool, typer.Option(help="Rehearse a gateway that swallows the first order and then answers nothing")
    ] = False,
    silent_after: Annotated[
        int | None,
        typer.Option(help="Rehearse a gateway that stays connected but answers nothing after N more requests"),
    ] = None,
    drop_on_order: Annotated[
        int | None, typer.Option(help="Rehearse a drop: close the connection right after handling the Nth placeOrder")
    ] = None,
    reject: Annotated[list[str] | None, typer.Option(help="Reject orders for this symbol with 201 ('*' = all)")] = None,
    late_reject: Annotated[
        list[str] | None,
        typer.Option(help="Accept orders for this symbol, then reject them (201, Inactive) half a second later"),
    ] = None,
    response_delay: Annotated[float, typer.Option(help="Seconds before every answer (a slow gateway)")] = 0.0,
    market_data: Annotated[
        list[str] | None,
        typer.Option(help="SYMBOL=live|delayed|none|competing ('*=' for the rest): market-data permissions"),
    ] = None,
    snapshot_delay: Annotated[float, typer.Option(help="Seconds a snapshot quote takes to complete")] = 0.0,
    hmds_delay: Annotated[float, typer.Option(help="Seconds historical-data answers take (a slow HMDS)")] = 0.0,
    master_client_id: Annotated[
        int | None, typer.Option(help="This client id also receives every client's executions and commission reports")
    ] = None,
    commission_delay: Annotated[float, typer.Option(help="Seconds a commission report trails its execution")] = 0.0,
) -> None:
    """Run the IB Gateway simulator (TWS socket protocol) until interrupted.

    Like a real paper account, its account (cash, positions, orders, executions) outlives restarts.
    """
    from ibkr_pipeline.database.engine import data_dir
    from ibkr_pipeline.exchange.state import StateError, default_state_file
    from ibkr_pipeline.gateway_sim.faults import FaultPlan
    from ibkr_pipeline.gateway_sim.server import SimulatorConfig, run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = None if memory else (state_file or default_state_file(data_dir(), account))
    if path is not None and fresh and path.exists():
        path.unlink()
    faults = FaultPlan(
        silent_on_order=silent_on_order,
        reject_orders=set(reject or []),
        response_delay_s=response_delay,
        late_reject_orders=set(late_reject or []),
        silent_after_requests=silent_after,
    )
    if drop_on_order:
        faults.drop_on_request, faults.drop_on_nth, faults.drop_after_handling = {3}, drop_on_order, True
    permissions = dict(item.split("=", 1) for item in market_data or [] if "=" in item)
    bad = [f"{k}={v}" for k, v in permissions.items() if v not in ("live", "delayed", "none", "competing")]
    if bad or len(permissions) != len(market_data or []):
        raise typer.BadParameter(
            f"{bad or market_data} : use SYMBOL=live|delayed|none|competing", param_hint="--market-data"
        )
    try:
        restart_time = time.fromisoformat(restart_at) if restart_at else None
    except ValueError as exc:
        raise typer.BadParameter(f"{restart_at!r} is not a time like 23:45", param_hint="--restart-at") from exc
    try:
        run_forever(
            SimulatorConfig(
                host=host,
                port=port,
                seed=seed,
                universe_file=universe,
                data_dir=data,
                clock_start=utc(clock_start) if clock_start else None,
                clock_speed=clock_speed,
                pacing=pacing,
                account_id=account,
                starting_cash=cash,
                state_file=path,
                restart_at=restart_time,
                restart_downtime_s=restart_downtime,
                faults=faults,
                market_data=permissions,
                snapshot_delay_s=snapshot_delay,
                hmds_delay_s=hmds_delay,
                master_client_id=master_client_id,
                commission_delay_s=commission_delay,
            )
        )
    except StateError as exc:
        console.print(f"error: {exc}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from exc


def utc(value: str) -> datetime:
    """Parse an ISO timestamp, treating a naive one as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _resource(host: str | None, port: int | None, client_id: int | None):
    from ibkr_pipeline.resources.ibkr import IBKRResource

    return IBKRResource(
        host=host or env.IBKR_HOST.read(),
        port=port or int(env.IBKR_PORT.read()),
        client_id=client_id or (int(env.IBKR_CLIENT_ID.read()) if env.IBKR_CLIENT_ID.is_set() else 90),
        connect_attempts=2,
    )


def _database():
    """The project database as every part reads it: ``IBKR_PIPELINE_DB_URL``, else the embedded SQLite file."""
    from ibkr_pipeline.resources.database import DatabaseResource

    return DatabaseResource()


HostOpt = Annotated[str | None, typer.Option(help="Gateway host (default $IBKR_HOST or 127.0.0.1)")]
PortOpt = Annotated[int | None, typer.Option(help="Gateway port (default $IBKR_PORT or 4002)")]
ClientOpt = Annotated[int | None, typer.Option(help="Client id (default $IBKR_CLIENT_ID or 90)")]


@symbols_app.command("search")
def symbols_search(query: str, host: HostOpt = None, port: PortOpt = None, client_id: ClientOpt = None) -> None:
    """Search contracts by symbol or name: cached contracts first, then IB's symbol search."""
    resource = _resource(host, port, client_id)
    table = Table("symbol", "type", "primary exch", "currency", "conId", "description", "source")
    seen: set[str] = set()
    database = _database()
    for info in resource.contract_cache(database).search(query):
        seen.add(info.symbol)
        table.add_row(
            info.symbol, info.sec_type, info.primary_exchange, info.currency, str(info.con_id), info.long_name, "cache"
        )
    from ibkr_pipeline.broker.errors import IBKRError

    try:
        with resource.get_client(database) as client:
            for row in client.search(query):
                if row["symbol"] in seen:
                    continue
                table.add_row(
                    row["symbol"],
                    row["sec_type"],
                    row["primary_exchange"],
                    row["currency"],
                    str(row["con_id"]),
                    row["description"],
                    "IB",
                )
    except IBKRError as exc:
        if not seen:
            raise fail(str(exc)) from exc
    if not table.rows:
        raise fail(f"no contract matches {query!r} (in the cache or at IB)", 1)
    console.print(table)


@symbols_app.command("show")
def symbols_show(
    symbol: str,
    exchange: Annotated[str, typer.Option(help="Routing exchange")] = "SMART",
    currency: Annotated[str, typer.Option()] = "USD",
    sec_type: Annotated[str, typer.Option()] = "STK",
    host: HostOpt = None,
    port: PortOpt = None,
    client_id: ClientOpt = None,
) -> None:
    """Resolve one symbol to its IB contract (cache first) and print its details."""
    from ibkr_pipeline.broker.errors import IBKRError
    from ibkr_pipeline.domain.contracts import ContractSpec

    resource = _resource(host, port, client_id)
    spec = ContractSpec(symbol=symbol, exchange=exchange, currency=currency, sec_type=sec_type)
    database = _database()
    info = resource.contract_cache(database).get(spec)
    source = "cache"
    if info is None:
        source = "IB"
        try:
            with resource.get_client(database) as client:
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
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Strategy files or directories (default: the strategies directory)")
    ] = None,
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
            style="green",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if broken:
        raise typer.Exit(1)


@app.command("backtest")
def backtest(
    strategy: Annotated[str, typer.Argument(help="Strategy name (its `name:` field)")],
    start: Annotated[str, typer.Option(help="First day of ticks, YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="Last day of ticks, YYYY-MM-DD")],
    analyst: Annotated[
        str, typer.Option(help="offline, or llm (needs OPENAI_BASE_URL; answers are cached)")
    ] = "offline",
    files: Annotated[Path | None, typer.Option(help="Directory of SYMBOL.csv/.parquet daily bars to replay")] = None,
    charts: Annotated[str, typer.Option(help="auto (only when a vision LLM reads them), always, never")] = "auto",
    sim: Annotated[
        bool | None,
        typer.Option(help="Fetch history from an in-process gateway simulator (default: yes unless IBKR_PORT is set)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (figures, counts, trades)")] = False,
) -> None:
    """Replay a strategy over past ticks (a single-run Dagster backfill) and print its report."""
    first_day, last_day = _day("--start", start), _day("--end", end)
    if first_day > last_day:
        raise fail(f"--start {start} is after --end {end}")
    if analyst not in ANALYSTS:
        raise fail(f"--analyst {analyst!r} is not one of {', '.join(ANALYSTS)}")
    if charts not in CHART_CHOICES:
        raise fail(f"--charts {charts!r} is not one of {', '.join(CHART_CHOICES)}")
    if analyst == "llm" and not env.OPENAI_BASE_URL.is_set():
        raise fail(
            "--analyst llm needs an LLM endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY), or use --analyst offline"
        )
    import dagster as dg

    from ibkr_pipeline.assets.backtest import REPORT_FIGURES, BacktestConfig, format_figure, materialize_backtest
    from ibkr_pipeline.assets.strategy import build_strategy_definitions
    from ibkr_pipeline.assets.ticks import partitions_for, ticks_between
    from ibkr_pipeline.definitions import strategies_dir
    from ibkr_pipeline.demo import prepare_dagster_home
    from ibkr_pipeline.domain.strategy import load_directory
    from ibkr_pipeline.resources.defaults import resources_from_env

    loaded, _ = load_directory(strategies_dir())
    found = [(path, spec) for path, spec in loaded if spec.name == strategy]
    if not found:
        raise fail(f"no strategy named {strategy!r} in {strategies_dir()}; have {[s.name for _, s in loaded]}")
    path, spec = found[0]
    partitions = partitions_for(spec)
    tz = ZoneInfo(spec.schedule.timezone)
    first = datetime.combine(first_day, time.min, tz)
    last = datetime.combine(last_day, time.max, tz)
    keys = ticks_between(partitions, first, last)
    if not keys:
        raise fail(f"{spec.name} has no ticks between {start} and {end} (cron '{spec.schedule.cron}')")
    config = BacktestConfig.model_validate(
        {"analyst": analyst, "history": "files" if files else "store", "files_dir": str(files or ""), "charts": charts}
    )
    prepare_dagster_home()
    use_sim = (sim if sim is not None else not env.IBKR_PORT.is_set()) and files is None
    with ExitStack() as stack:
        if use_sim:
            from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

            gateway = stack.enter_context(SimulatorThread(SimulatorConfig(port=0)))
            os.environ[env.IBKR_PORT.name] = str(gateway.port)
        resources = resources_from_env()
        instance = stack.enter_context(dg.DagsterInstance.get())
        out = Console(stderr=True) if as_json else console
        out.print(
            f"backtest {spec.name}: {len(keys)} ticks, as of {keys[0]} .. {keys[-1]} {spec.schedule.timezone} ({path})",
            markup=False,
            highlight=False,
        )
        try:
            with _progress_bar(out, len(keys)):
                event = materialize_backtest(
                    build_strategy_definitions(spec, path), spec, keys, config, resources, instance
                )
        except (dg.Failure, dg.DagsterError) as exc:
            raise fail(f"backtest failed: {getattr(exc, 'description', None) or exc}", 1) from None
    meta: dict[str, Any] = {k: v.value for k, v in event.metadata.items()}
    names = REPORT_FIGURES
    if as_json:
        import json

        print(
            json.dumps(
                {
                    "strategy": spec.name,
                    "ticks": meta["ticks"],
                    "range": meta["range"],
                    "figures": {
                        n: {"strategy": meta.get(f"strategy_{n}"), "buy_and_hold": meta.get(f"buy_and_hold_{n}")}
                        for n in names
                    },
                    "signals": meta["signal_counts"],
                    "outcomes": meta["outcomes"],
                    "why_no_trades": meta["why_no_trades"],
                    "trades": meta["trades_list"],
                    "plot": meta["plot"],
                    "path": meta["path"],
                    "recomputed_per_tick": meta["recomputed_per_tick"],
                },
                indent=2,
                default=str,
            )
        )
        return
    table = Table("figure", "strategy", "buy and hold")
    for name in names:
        ours, theirs = meta.get(f"strategy_{name}"), meta.get(f"buy_and_hold_{name}")
        table.add_row(
            name, format_figure(ours, name), format_figure(theirs, name) if name not in ("win_rate", "trades") else ""
        )
    console.print(table)
    trades = meta["trades_list"]
    if trades:
        shown = Table(title=f"trades (last {min(len(trades), 15)} of {meta['strategy_trades']})")
        for column in ("symbol", "opened", "closed", "shares", "entry", "exit", "exit by", "P&L"):
            shown.add_column(column, no_wrap=True)
        for t in trades[-15:]:
            shown.add_row(
                t["symbol"],
                t["opened"],
                t["closed"],
                f"{t['shares']:g}",
                f"{t['entry']:.2f}",
                f"{t['exit']:.2f}",
                t["exit_by"],
                f"{t['pnl']:,.2f}",
            )
        console.print(shown)
    signals = ", ".join(f"{n} {action}" for action, n in meta["signal_counts"].items())
    console.print(f"signals: {signals or 'none'}", markup=False, highlight=False)
    if meta["why_no_trades"]:
        console.print(f"no trades: {meta['why_no_trades']}", markup=False, highlight=False, soft_wrap=True)
    recomputed = "; ".join(f"{name} ({why})" for name, why in meta["recomputed_per_tick"].items())
    console.print(
        f"replayed {meta['path']}" + (f"; recomputed each tick: {recomputed}" if recomputed else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"plot: {meta['plot']}\nDagster: asset {spec.name}/backtest_report (make ui)")


@contextmanager
def _progress_bar(out: Console, total: int):
    """A bar that follows the replay tick by tick (the backtest runs in this process)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ibkr_pipeline.backtest import progress

    with Progress(
        TextColumn("replaying ticks"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as bar:
        task = bar.add_task("ticks", total=total)
        with progress.listening(lambda done, _total: bar.update(task, completed=done)):
            yield


def _kill_switch():
    return _database().kill_switch()


@kill_app.command("on")
def kill_switch_on(
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (shown with every blocked order)")],
    by: Annotated[str, typer.Option(help="Who")] = "",
) -> None:
    """Stop every order from every strategy, immediately (checked again right before each send)."""
    import getpass

    state = _kill_switch().set(True, reason, by or getpass.getuser())
    console.print(
        f"kill switch ON at {state.at:%Y-%m-%d %H:%M:%S} UTC by {state.changed_by}: {reason}",
        style="red",
        markup=False,
        soft_wrap=True,
    )


@kill_app.command("off")
def kill_switch_off(by: Annotated[str, typer.Option(help="Who")] = "") -> None:
    """Allow orders again (the environment variable and the file form, if set, still stop them)."""
    import getpass

    from ibkr_pipeline.database.engine import data_dir
    from ibkr_pipeline.trading.guards import kill_switch_reason

    switch = _kill_switch()
    switch.set(False, "", by or getpass.getuser())
    still = kill_switch_reason(data_dir(), switch)
    console.print(
        "kill switch off in the database" + (f"; still on: {still}" if still else ""), markup=False, soft_wrap=True
    )


@kill_app.command("status")
def kill_switch_status() -> None:
    """What every process sees now, and the database switch's recent history."""
    from ibkr_pipeline.database.engine import data_dir
    from ibkr_pipeline.trading.guards import kill_switch_reason

    switch = _kill_switch()
    reason = kill_switch_reason(data_dir(), switch)
    console.print(reason or "kill switch is off: orders may be sent", markup=False, soft_wrap=True)
    for state in switch.history(5):
        console.print(
            f"  {state.at:%Y-%m-%d %H:%M:%S} UTC {'ON ' if state.engaged else 'off'} {state.changed_by} {state.reason}",
            markup=False,
            soft_wrap=True,
        )


def _print_view(view) -> None:
    table = Table(*(name for name, _kind in view.columns), title=view.title)
    for row in view.rows:
        # Text, not markup: an orderRef such as "alpha:ZZZ:1" is not an emoji code, nor "[x]" a style.
        table.add_row(*(Text("" if v is None else f"{v:,.2f}" if isinstance(v, float) else str(v)) for v in row))
    console.print(table)
    if not view.rows:
        console.print(f"no {view.title} in the ledger")


def _ledger():
    return _database().ledger()


StrategyOpt = Annotated[str, typer.Option(help="Only this strategy's")]


@app.command("orders")
def orders(
    strategy: StrategyOpt = "",
    open_only: Annotated[bool, typer.Option("--open", help="Only orders that may be at IB now")] = False,
) -> None:
    """The ledger's orders, newest first, with their status and why."""
    from ibkr_pipeline.trading.views import orders_view

    _print_view(orders_view(_ledger(), strategy, live_only=open_only))


@app.command("fills")
def fills(strategy: StrategyOpt = "") -> None:
    """The ledger's fills (executions by execId), oldest first."""
    from ibkr_pipeline.trading.views import fills_view

    _print_view(fills_view(_ledger(), strategy))


@app.command("portfolio")
def portfolio() -> None:
    """P&L by strategy, open orders and the equity over time, from the ledger (no gateway needed)."""
    from ibkr_pipeline.trading.views import equity_points, orders_view, pnl_view

    ledger = _ledger()
    _print_view(pnl_view(ledger))
    _print_view(orders_view(ledger, live_only=True))
    points = equity_points(ledger)
    if points:
        first, last = points[0], points[-1]
        console.print(
            f"net liquidation: ${last[1]:,.2f} at {last[0]:%Y-%m-%d %H:%M} UTC "
            f"({last[1] - first[1]:+,.2f} since {first[0]:%Y-%m-%d %H:%M} UTC, {len(points)} snapshots)"
        )


@app.command("audit")
def audit(order_ref: str) -> None:
    """Everything behind one order: the ledger's record, its status history and fills, and what each step of its
    tick recorded in the Dagster instance ($DAGSTER_HOME): signal, prompt and answer, risk checks, data, strategy."""
    import dagster as dg

    from ibkr_pipeline.audit import audit_record

    with dg.DagsterInstance.get() as instance:
        try:
            sections = audit_record(instance, _ledger(), order_ref)
        except KeyError as exc:
            console.print(f"error: {exc.args[0]}", style="red", markup=False, emoji=False)
            raise typer.Exit(2) from exc
    for section in sections:  # orderRefs look like emoji codes (":ZZZ:") to rich: print them as they are
        console.rule(section.title)
        for line in section.lines:
            console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)


@app.command("settings")
def show_settings() -> None:
    """Every environment variable the pipeline reads: its default, whether it is set (secrets never shown), meaning."""
    table = Table("variable", "default", "now", "meaning")
    for setting in env.ALL:
        now = ("set (secret)" if setting.secret else setting.read()) if setting.is_set() else "-"
        table.add_row(setting.name, setting.default, now, setting.meaning)
    console.print(table)


@app.command("check-deployment")
def check_deployment(
    env_file: Annotated[Path | None, typer.Option(help="A .env file to check instead of the environment")] = None,
) -> None:
    """Refuse placeholder or weak passwords before the deployment starts (exit 1 naming each variable)."""
    import os

    from ibkr_pipeline.deployment import placeholder_problems, read_env_file

    values = read_env_file(env_file) if env_file else dict(os.environ)
    problems = placeholder_problems(values)
    for problem in problems:
        console.print(f"✗ {problem}", style="red", markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print("deployment secrets: no placeholders, none weak", markup=False)


@app.command("init-pools")
def init_pools(
    directory: Annotated[Path | None, typer.Option(help="Strategies directory (default: the code location's)")] = None,
) -> None:
    """Create each strategy's trading pool (limit 1) in $DAGSTER_HOME's instance, before any run claims it.

    Run after `dagster instance migrate`, and again after adding a strategy to a running deployment.
    """
    import dagster as dg

    from ibkr_pipeline.assets.strategy import TRADING_POOL_LIMIT, create_trading_pools
    from ibkr_pipeline.definitions import strategies_dir
    from ibkr_pipeline.domain.strategy import load_directory

    loaded, broken = load_directory(directory or strategies_dir())
    for problem in broken:  # the code location does not load these either: no pool to create
        console.print(f"✗ {problem}", style="red", markup=False, highlight=False, soft_wrap=True)
    with dg.DagsterInstance.get() as instance:
        pools = create_trading_pools(instance, [spec.name for _path, spec in loaded])
    for pool in pools:
        console.print(f"pool {pool}: limit {TRADING_POOL_LIMIT}", markup=False, highlight=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
