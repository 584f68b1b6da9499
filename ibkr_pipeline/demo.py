"""``make demo``: a tick of each example strategy through Dagster on the embedded default.

No network, account or key: the gateway simulator on a free port (its clock stopped at
the minute each tick runs, so signals are fresh when their orders are sent, then moved on
in steps so orders fill: to the session's close after each tick, and to half an hour after
the next open at the end; what filled is recorded each time, as the order-tracking sensor
would, since IB reports only the current day's executions), a SQLite Dagster instance under .ibkr_pipeline/dagster_home, charts in
.ibkr_pipeline/objects, the offline analyst. It prints symbol → signal with the
chart files, then the paper orders, fills and resulting portfolio.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, timedelta
from pathlib import Path

from ibkr_pipeline import bundled
from ibkr_pipeline import settings as env

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def prepare_dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or Path(env.HOME.read()) / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(bundled.INSTANCE_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _fmt(value: float | None) -> str:
    return f"{value:9.2f}" if value is not None else " " * 9


def main() -> int:
    import dagster as dg

    from ibkr_pipeline.assets.ticks import tick_instant
    from ibkr_pipeline.definitions import build_definitions
    from ibkr_pipeline.domain.calendar import nyse_calendar
    from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

    home = prepare_dagster_home()
    defs = build_definitions()
    jobs = [j for j in defs.resolve_all_job_defs() if j.name.endswith("_tick")]
    ticks: dict[str, str] = {}
    ends = {}
    for job in jobs:  # each tick runs at its key's instant
        partitions, last = job.partitions_def, job.partitions_def and job.partitions_def.get_last_partition_key()
        assert isinstance(partitions, dg.TimeWindowPartitionsDefinition) and last, f"{job.name}: no past tick to run"
        ticks[job.name], ends[job.name] = last, tick_instant(partitions, last)
    jobs.sort(key=lambda j: ends[j.name])  # the clock only moves forward
    after = max(ends.values())
    next_open = nyse_calendar().next_open(after.replace(tzinfo=None)).to_pydatetime().replace(tzinfo=UTC)
    clock = next_open + timedelta(minutes=30)
    first = min(ends.values()) + timedelta(minutes=1)
    from ibkr_pipeline.database.engine import data_dir
    from ibkr_pipeline.exchange.state import default_state_file

    # The same persistent paper account `make ui`'s simulator uses: the ledger and the account stay in step.
    account_file = default_state_file(data_dir(), "DU1234567")
    from ibkr_pipeline.resources.defaults import database_from_env, ibkr_from_env
    from ibkr_pipeline.trading.reconcile import reconcile

    def record_fills() -> None:
        database = database_from_env()
        with ibkr_from_env().get_client(database) as client:
            reconcile(client, database.ledger())

    with SimulatorThread(SimulatorConfig(port=0, clock_start=first, clock_speed=0, state_file=account_file)) as gateway:
        os.environ[env.IBKR_PORT.name] = str(gateway.port)
        defs = build_definitions()  # resources now point at this simulator
        print(
            f"gateway simulator on 127.0.0.1:{gateway.port} (each tick at the minute it runs); "
            f"Dagster instance in {home}\n"
        )
        with dg.DagsterInstance.get() as instance:
            refs: list[str] = []
            for job_def in jobs:
                job = defs.resolve_job_def(job_def.name)
                runs_at = ends[job.name] + timedelta(minutes=1)
                if runs_at > gateway.sim.clock.now():
                    gateway.sim.clock.set(runs_at, speed=0)
                    gateway.step()
                print(f"== {job.name} for tick {ticks[job.name]} (sent at {runs_at:%Y-%m-%d %H:%M} UTC)", flush=True)
                result = job.execute_in_process(
                    partition_key=ticks[job.name], instance=instance, raise_on_error=False, run_config=QUIET
                )
                if not result.success:
                    print(f"run {result.run_id} failed; `make ui` shows its event log", file=sys.stderr)
                    return 1
                strategy = job.name.removesuffix("_tick")
                signals = result.output_for_node(f"{strategy}__signals")
                charts = result.output_for_node(f"{strategy}__charts")
                orders = result.output_for_node(f"{strategy}__orders").values
                print(f"{'symbol':7} {'signal':6} {'entry':>9} {'stop':>9} {'target':>9}  order")
                for symbol, signal in sorted(signals.values.items()):
                    decision = orders.get(symbol)
                    order = ""
                    if decision is not None and decision.intent is not None:
                        order = f"{decision.intent.action} {decision.intent.quantity} -> {decision.summary}"
                        refs.append(decision.intent.order_ref)
                    elif decision is not None and decision.skipped and decision.skipped != "HOLD":
                        order = f"({_short(decision.skipped)})"
                    print(
                        f"{symbol:7} {signal.action:6} {_fmt(signal.entry)} {_fmt(signal.stop_loss)} "
                        f"{_fmt(signal.take_profit)}  {order}"
                    )
                folders = {
                    str(Path(v["path"]).parents[2]) for tfs in charts.values.values() for v in tfs.values() if v["path"]
                }
                print(f"charts: {', '.join(sorted(folders)) or 'object store'}/<symbol>/{ticks[job.name]}/")
                for symbol, error in signals.errors.items():
                    print(f"{symbol:7} ERROR  {error}")
                print()
                close = (
                    nyse_calendar()
                    .session_close(
                        nyse_calendar().minute_to_session(runs_at.replace(tzinfo=None), direction="previous")
                    )
                    .to_pydatetime()
                )
                if close > runs_at:  # the rest of the session trades before the next tick
                    gateway.advance(close - runs_at)
                record_fills()
            # Time passes: queued orders meet the next open, and half an hour of trading.
            gateway.sim.clock.set(max(next_open, gateway.sim.clock.now()), speed=0)
            gateway.advance(clock - next_open)
            print(f"clock moved to {clock:%Y-%m-%d %H:%M} UTC: queued orders met the open\n")
            from ibkr_pipeline.assets.portfolio import portfolio

            record_fills()
            ledger = database_from_env().ledger()
            snapshot = dg.materialize([portfolio], resources=defs.resources, instance=instance, run_config=QUIET)
            write_audits(defs, instance, refs)
    fills = ledger.fills()
    print(f"fills ({len(fills)}):")
    for f in fills:
        print(
            f"  {f.time:%Y-%m-%d %H:%M} {f.side} {f.shares:g} {f.symbol} @ {f.price:.2f} "
            f"commission {f.commission:.2f}  [{f.order_ref}]"
        )
    meta = {k: v.value for k, v in snapshot.asset_materializations_for_node("portfolio")[0].metadata.items()}
    print(
        f"\nportfolio: net liquidation {meta['net_liquidation']:,.2f}  cash {meta['cash']:,.2f}  "
        f"unrealized {meta['unrealized_pnl']:,.2f}  realized {meta['realized_pnl']:,.2f}  "
        f"positions {meta['open_positions']}"
    )
    print(meta["positions"])
    print(f"\n{len(refs)} orders, each with its audit record (chart, prompt, answer, risk checks, strategy file).")
    print("next:")
    if refs:
        print(f"  .venv/bin/ibkr-pipeline audit {refs[0]}   every reason for one order")
    print("  .venv/bin/ibkr-pipeline orders | fills | portfolio   the ledger's tables")
    from ibkr_pipeline.assets.order_audit import audit_page

    print(f"  make ui, then open http://127.0.0.1:3000{audit_page(refs[0]) if refs else '/assets/order_audit'}")
    return 0


def write_audits(defs, instance, refs: list[str]) -> None:
    """What the order_audits sensor does under the daemon: each orderRef becomes a partition with its record."""
    from ibkr_pipeline.assets.order_audit import register_orders

    register_orders(instance, refs)
    job = defs.resolve_job_def("order_audit_job")
    for ref in refs:
        job.execute_in_process(partition_key=ref, instance=instance, run_config=QUIET)


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
