"""Dagster's web UI in a real browser: a strategy's charts and signals as a trader would open them.

Headless Debian Chromium driven by Playwright (which downloads no browser of its own). When the
machine has no Chromium, the fixture installs Debian's package first.
"""

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from ibkr_pipeline_tests.conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
TICK = "2026-11-18-16:15"
STRATEGY = """
name: ui_demo
mode: dry_run
universe: [{symbol: AAPL}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York, start: 2026-01-01}
timeframes: [{name: daily, bar_size: 1 day, lookback: 6 M}]
indicators: [{kind: sma, params: {length: 20}}, {kind: rsi, params: {length: 14}}, {kind: atr, params: {length: 14}, name: atr_14}]
chart: {overlays: [sma_20], panels: [rsi_14], bars: 60}
signal: {mode: weighted, llm_weight: 0, buy: "close > 0", atr: atr_14}  # the rules decide; the analyst is asked
"""
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: `make chromium` installs Debian's package (make test does it first)")
    return path


@pytest.fixture
def webserver(tmp_path, monkeypatch):
    """A materialised tick of a one-symbol strategy in a Dagster home, and dagster-webserver over it."""
    from ibkr_pipeline.definitions import build_definitions
    from ibkr_pipeline.gateway_sim.server import SimulatorConfig, SimulatorThread

    strategies, home = tmp_path / "strategies", tmp_path / "dagster_home"
    strategies.mkdir()
    home.mkdir()
    (strategies / "ui_demo.yaml").write_text(STRATEGY)
    shutil.copy(ROOT / "ibkr_pipeline" / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "IBKR_PIPELINE_STRATEGIES": str(strategies),
        "IBKR_PIPELINE_HOME": str(tmp_path / "data"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    clock = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
    with SimulatorThread(SimulatorConfig(port=0, clock_start=clock, clock_speed=0, pacing=False)) as gw:
        monkeypatch.setenv("IBKR_PORT", str(gw.port))
        defs = build_definitions()
        with dg.DagsterInstance.get() as instance:
            result = defs.resolve_job_def("ui_demo_tick").execute_in_process(
                partition_key=TICK,
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            assert result.success
            # What the order_audits sensor does when the daemon runs: the orderRef becomes a partition, then a record.
            [ref] = result.output_for_node("ui_demo__orders").values["AAPL"].intent.order_ref.split(" ")
            instance.add_dynamic_partitions("order_refs", [ref])
            audit = defs.resolve_job_def("order_audit_job").execute_in_process(
                partition_key=ref,
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            assert audit.success
    port = free_port()
    log = open(tmp_path / "webserver.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            "ibkr_pipeline.definitions",
        ],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        wait_for_port(port, timeout=90)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def open_markdown(page, key: str):
    """Metadata rows of kind markdown show a '[Show Markdown]' link that opens a dialog."""
    row = page.locator("tr", has=page.locator("td", has_text=key)).filter(has_text="[Show Markdown]").first
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has_text=key).last
    dialog.wait_for()
    return dialog


def rendered_width(dialog) -> int:
    """The natural width of the dialog's first inline PNG once the browser has decoded it (0 if it could not)."""
    image = dialog.locator("img[src^='data:image/png;base64,']").first
    image.wait_for(timeout=30_000)
    return image.evaluate("img => img.complete ? img.naturalWidth : 0")


def test_the_charts_asset_shows_the_chart_and_the_signals_asset_its_decision(chromium, webserver):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # Dagster's first-visit community prompt can open at any moment: dismiss it whenever it shows.
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda: skip.click())
            page.goto(f"{webserver}/assets/ui_demo/charts", wait_until="networkidle")
            page.get_by_text("[Show Markdown]").first.wait_for(timeout=60_000)
            dialog = open_markdown(page, "charts")
            width = rendered_width(dialog)
            assert width >= 300, f"the chart thumbnail did not render (natural width {width})"
            assert "AAPL daily" in dialog.inner_text()
            page.wait_for_timeout(800)  # let the dialog finish fading in
            page.screenshot(path=str(ARTIFACTS / "charts.png"), full_page=True)

            page.goto(f"{webserver}/assets/ui_demo/signals", wait_until="networkidle")
            # A short markdown value is rendered in place, here the signal table.
            row = page.locator("tr").filter(has=page.locator("td", has_text="signals")).filter(has_text="action").first
            row.wait_for(timeout=60_000)
            text = row.inner_text()
            assert "AAPL" in text and "BUY" in text and "close > 0" in text, text
            page.screenshot(path=str(ARTIFACTS / "signals.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert (ARTIFACTS / "charts.png").stat().st_size > 10_000


def test_from_the_catalog_to_an_orders_audit_record_in_three_clicks(chromium, webserver):
    """Catalog → order_audit → Partitions → the order (found by typing its orderRef): three navigations, and the
    page shows the prompt, the answer, the risk checks and the strategy file in place, and the chart with the
    order's levels one dialog away on the same page."""
    from playwright.sync_api import sync_playwright

    ref = f"ui_demo:AAPL:{TICK.replace(':', '')}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        urls: list[str] = []
        page.on("framenavigated", lambda frame: frame == page.main_frame and urls.append(frame.url))
        try:
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda: skip.click())
            page.goto(f"{webserver}/assets", wait_until="networkidle")
            start = len(urls)
            page.locator("a", has_text="order_audit").first.click()
            page.get_by_role("tab", name="Partitions").or_(page.get_by_text("Partitions", exact=True)).first.click()
            page.get_by_placeholder("Filter by name").fill(ref)
            page.get_by_text(ref, exact=True).filter(visible=True).first.click()
            metadata = page.locator("tr", has=page.locator("td", has_text="strategy_file")).first
            metadata.wait_for(timeout=60_000)
            navigations = len(set(urls[start:]))
            body = page.locator("body").inner_text()
            for shown in (
                "senior discretionary technical analyst",
                "Symbol: AAPL",  # the prompt
                '"action"',
                '"key_levels"',  # the analyst's answer
                "position_value",
                "signal_confidence",  # the risk table
                "name: ui_demo",
                'buy: "close > 0"',  # the strategy file as it was
                "as of 2026-11-18 16:15 America/New_York",
            ):
                assert shown in body, shown
            page.screenshot(path=str(ARTIFACTS / "audit-record.png"), full_page=True)
            dialog = open_markdown(page, "chart")
            width = rendered_width(dialog)
            assert width >= 800, f"the order's chart did not render (natural width {width})"
            page.wait_for_timeout(800)
            page.screenshot(path=str(ARTIFACTS / "audit-chart.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "audit-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert navigations <= 3, urls[start:]
