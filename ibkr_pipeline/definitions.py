"""The code location: every strategy file in the strategies directory, one Definitions object.

A broken strategy file does not take the location down: the others load, and the
broken ones are listed on the ``strategy_files`` asset (description and metadata)
and in the code location's log.
"""

import hashlib
import logging
from pathlib import Path

import dagster as dg

from ibkr_pipeline import bundled
from ibkr_pipeline import settings as env
from ibkr_pipeline.assets.order_audit import order_audit, order_audit_job
from ibkr_pipeline.assets.portfolio import build_portfolio, portfolio_job, portfolio_schedule
from ibkr_pipeline.assets.strategy import build_strategy_definitions
from ibkr_pipeline.domain.strategy import StrategyFileError, load_directory
from ibkr_pipeline.resources.alerts import AlertWebhook
from ibkr_pipeline.resources.defaults import executor_from_env, locked_resources_from_env
from ibkr_pipeline.sensors.health import all_parts_answer, health, system_health
from ibkr_pipeline.sensors.order_audits import order_audits
from ibkr_pipeline.sensors.order_tracking import order_tracking
from ibkr_pipeline.sensors.run_failure import run_failure_alert

log = logging.getLogger("ibkr_pipeline")
STRATEGIES_ENV = env.STRATEGIES.name
DEFAULT_STRATEGIES = bundled.STRATEGIES


def strategies_dir() -> Path:
    return Path(env.STRATEGIES.read() or str(DEFAULT_STRATEGIES))


def strategy_files_asset(directory: Path, loaded: list[str], broken: list[StrategyFileError]) -> dg.AssetsDefinition:
    report = (
        "\n".join(f"- {line}" for err in broken for line in str(err).splitlines()) or "all strategy files are valid"
    )

    @dg.asset(
        key="strategy_files",
        description=f"Strategy files in {directory}.\n\nLoaded: {', '.join(loaded) or 'none'}\n\nProblems:\n{report}",
        metadata={
            "directory": dg.MetadataValue.path(str(directory)),
            "loaded": dg.MetadataValue.json(loaded),
            "broken": dg.MetadataValue.json({str(e.path): str(e) for e in broken}),
        },
        group_name="strategy_files",
    )
    def strategy_files() -> dg.MaterializeResult:
        """Re-validates the directory; fails with every located problem when a file is broken."""
        _, now_broken = load_directory(directory)
        if now_broken:
            raise dg.Failure(description="\n".join(str(e) for e in now_broken))
        return dg.MaterializeResult(metadata={"loaded": dg.MetadataValue.json(loaded)})

    return strategy_files


def strategy_files_watch(directory: Path) -> dg.SensorDefinition:
    """A broken strategy file turns something red: each change of the directory's problems is alerted once and
    launches the ``strategy_files`` check, whose run fails (red in the runs list) while a file is broken."""
    job = dg.define_asset_job("strategy_files_check", selection=dg.AssetSelection.assets("strategy_files"))

    @dg.sensor(
        name="strategy_files_watch",
        job=job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Validates the strategy files in {directory} every minute; alerts and fails the "
        "strategy_files check when one is broken.",
    )
    def watch(context: dg.SensorEvaluationContext, alerts: AlertWebhook) -> dg.RunRequest | dg.SkipReason:
        _, broken = load_directory(directory)
        problems = sorted(str(e) for e in broken)
        state = hashlib.sha256("\n".join(problems).encode()).hexdigest()[:16]
        if state == (context.cursor or hashlib.sha256(b"").hexdigest()[:16]):
            return dg.SkipReason(
                f"{len(problems)} broken strategy files, unchanged" if problems else "every strategy file is valid"
            )
        context.update_cursor(state)
        if problems:
            alerts.send(
                f"ibkr_pipeline: {len(problems)} strategy file(s) broken in {directory}; their strategies do not run",
                [line for p in problems for line in p.splitlines()],
            )
        return dg.RunRequest(run_key=f"strategy-files-{state}")

    return watch


def build_definitions(directory: Path | None = None) -> dg.Definitions:
    directory = directory or strategies_dir()
    loaded, broken = load_directory(directory)
    for error in broken:
        log.error("strategy file skipped:\n%s", error)
    per_strategy, names = [], []
    for path, spec in loaded:
        try:
            per_strategy.append(build_strategy_definitions(spec, path))
            names.append(spec.name)
        except Exception as exc:  # a file that validates but Dagster refuses must not take the location down
            error = StrategyFileError(path, [("", f"cannot become Dagster definitions: {type(exc).__name__}: {exc}")])
            log.error("strategy file skipped:\n%s", error)
            broken.append(error)
    files = strategy_files_asset(directory, names, broken)
    return dg.Definitions.merge(
        *per_strategy,
        dg.Definitions(
            assets=[
                files,
                build_portfolio([dg.AssetKey([name, "orders"]) for name in names]),
                system_health,
                order_audit,
            ],
            asset_checks=[all_parts_answer],
            jobs=[portfolio_job, order_audit_job],
            schedules=[portfolio_schedule],
            sensors=[order_tracking, order_audits, health, run_failure_alert, strategy_files_watch(directory)],
            resources=locked_resources_from_env(),
            executor=executor_from_env(),
        ),
    )


defs = build_definitions()
