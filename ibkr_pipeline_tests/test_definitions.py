"""The code location as Dagster and users load it: one Definitions, the dagster CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from ibkr_pipeline import bundled
from ibkr_pipeline.definitions import build_definitions
from ibkr_pipeline_tests.conftest import make_gateway

ROOT = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).parent / "dagster")
GOOD = (bundled.STRATEGIES / "us_megacaps_daily.yaml").read_text()


def test_definitions_load_the_examples_and_report_broken_files(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text(GOOD.replace("us_megacaps_daily", "other").replace("cron:", "crn:"))
    defs = build_definitions(tmp_path)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"us_megacaps_daily/contracts", "us_megacaps_daily/signals", "strategy_files"} <= keys
    assert not any(k.startswith("other/") for k in keys)
    files = defs.resolve_assets_def("strategy_files")
    assert "broken.yaml: schedule.cron: Field required" in files.descriptions_by_key[dg.AssetKey("strategy_files")]
    assert defs.resolve_job_def("us_megacaps_daily_tick").partitions_def is not None
    result = dg.materialize([files], raise_on_error=False)
    assert not result.success  # the broken file is a visible failure, not a silent skip
    shipped = build_definitions()
    assert {s.name for s in shipped.schedules} >= {"us_megacaps_daily_schedule", "sector_etf_rotation_schedule"}


def test_dagster_cli_materializes_a_tick_and_lists_schedules(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with make_gateway(pacing=False) as gw:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "IBKR_PORT": str(gw.port),
            "IBKR_PIPELINE_HOME": str(tmp_path / "data"),
        }
        partition = "2026-11-17-16:15"
        materialize = subprocess.run(
            [
                DAGSTER,
                "asset",
                "materialize",
                "-m",
                "ibkr_pipeline.definitions",
                "--select",
                "us_megacaps_daily/contracts,us_megacaps_daily/bars",
                "--partition",
                partition,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=ROOT,
        )
        assert materialize.returncode == 0, materialize.stderr[-3000:]
        assert "RUN_SUCCESS" in materialize.stderr
        execute = subprocess.run(
            [
                DAGSTER,
                "job",
                "execute",
                "-m",
                "ibkr_pipeline.definitions",
                "-j",
                "sector_etf_rotation_tick",
                "--tags",
                json.dumps({"dagster/partition": "2026-11-20-15:45"}),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            cwd=ROOT,
        )
        assert execute.returncode == 0, execute.stderr[-3000:]
        assert "RUN_SUCCESS" in execute.stderr
    listed = subprocess.run(
        [DAGSTER, "schedule", "list", "-m", "ibkr_pipeline.definitions"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "us_megacaps_daily_schedule" in listed.stdout and "sector_etf_rotation_schedule" in listed.stdout
    charts = list((tmp_path / "data" / "objects" / "sector_etf_rotation").glob("*/2026-11-20-15:45/daily.png"))
    assert len(charts) == 8


def test_a_broken_strategy_file_is_alerted_once_and_fails_its_check(tmp_path):
    from ibkr_pipeline.resources.alerts import AlertWebhook
    from ibkr_pipeline_tests.webhook_server import WebhookReceiver

    (tmp_path / "good.yaml").write_text(GOOD)
    defs = build_definitions(tmp_path)
    assert defs.resolve_asset_graph().get(dg.AssetKey("portfolio")).parent_keys == {
        dg.AssetKey(["us_megacaps_daily", "orders"])
    }  # the portfolio follows the orders in the lineage
    watch = defs.resolve_sensor_def("strategy_files_watch")
    with WebhookReceiver() as webhook, dg.instance_for_test() as instance:
        resources = {"alerts": AlertWebhook(url=webhook.url)}

        def evaluate(cursor):
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources, definitions=defs
            ) as context:
                return watch.evaluate_tick(context)

        assert evaluate(None).run_requests == [] and webhook.posts == []  # valid from the start: nothing to say
        (tmp_path / "broken.yaml").write_text(GOOD.replace("us_megacaps_daily", "other").replace("cron:", "crn:"))
        first = evaluate(None)
        [request] = first.run_requests
        [text] = webhook.texts()
        assert "1 strategy file(s) broken" in text and "broken.yaml: schedule.cron: Field required" in text
        assert evaluate(first.cursor).run_requests == [] and len(webhook.posts) == 1  # alerted once per change
        run = defs.resolve_job_def("strategy_files_check").execute_in_process(instance=instance, raise_on_error=False)
        assert not run.success  # red in the runs list while the file is broken


def test_dagsters_dg_cli_lists_checks_and_launches_the_project(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "IBKR_PIPELINE_HOME": str(tmp_path / "data")}
    dg_cli = str(Path(sys.executable).parent / "dg")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([dg_cli, *args], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done

    assert "All definitions loaded successfully." in run("check", "defs").stdout
    listed = json.loads(run("list", "defs", "--json").stdout)
    keys = {asset["asset_key"] for asset in listed["assets"]}
    assert {"order_audit", "portfolio", "us_megacaps_daily/orders", "strategy_files"} <= keys
    assert {"order_audits", "order_tracking", "strategy_files_watch"} <= {s["name"] for s in listed["sensors"]}
    launched = run("launch", "--assets", "strategy_files")
    assert "RUN_SUCCESS" in launched.stderr + launched.stdout
