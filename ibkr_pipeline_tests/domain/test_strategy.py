"""Strategy files: the shipped examples load, and every class of mistake is located."""

from pathlib import Path

import pytest

from ibkr_pipeline.domain.strategy import StrategyFileError, load_directory, load_strategy, parse_strategy

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
name: ok
universe: [{symbol: aapl}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York}
indicators:
  - {kind: rsi, params: {length: 14}}
  - {kind: macd}
chart: {overlays: [], panels: [rsi_14, macd_12_26_9]}
signal: {buy: "rsi_14 < 30 and close > open", sell: "macd_12_26_9 < macds_12_26_9"}
"""


def test_examples_load():
    loaded, broken = load_directory(ROOT / "strategies")
    assert broken == []
    assert {spec.name for _, spec in loaded} >= {"us_megacaps_daily", "sector_etf_rotation"}


def test_defaults_and_normalisation():
    spec = parse_strategy(GOOD, Path("ok.yaml"))
    assert spec.mode == "paper"
    assert spec.universe[0].symbol == "AAPL" and spec.universe[0].exchange == "SMART"
    assert [(t.name, t.bar_size, t.lookback) for t in spec.timeframes] == [("daily", "1 day", "1 Y"), ("weekly", "1 week", "2 Y")]
    assert {"rsi_14", "macd_12_26_9", "macdh_12_26_9", "macds_12_26_9"} <= spec.columns_for("daily")


@pytest.mark.parametrize(
    ("broken", "location", "message"),
    [
        ("name: ok\nuniverse: [{symbol: A}\n", "line 3", "invalid YAML"),
        ("- just\n- a list\n", "", "YAML mapping"),
        (GOOD.replace("universe: [{symbol: aapl}]\n", ""), "universe", "Field required"),
        (GOOD.replace("name: ok", "name: Not OK"), "name", "pattern"),
        (GOOD.replace("{symbol: aapl}", "{symbol: aapl, exchange: [x]}"), "universe.0.exchange", "valid string"),
        (GOOD.replace("{symbol: aapl}", "{symbol: aapl}, {symbol: AAPL}"), "universe", "listed twice"),
        (GOOD.replace("15 16 * * 1-5", "15 25 * * 1-5"), "schedule.cron", "cron"),
        (GOOD.replace("America/New_York", "Mars/Olympus"), "schedule.timezone", "IANA"),
        (GOOD.replace("kind: rsi", "kind: nosuch"), "indicators.0", "pandas-ta has no indicator 'nosuch'"),
        (GOOD.replace("{kind: macd}", "{kind: macd, name: m}"), "indicators.1", "'name' needs one"),
        (GOOD.replace("rsi_14 < 30", "rsi_99 < 30"), "", "signal.buy: 'rsi_99 < 30 and close > open' uses unknown names ['rsi_99']"),
        (GOOD.replace("rsi_14 < 30 and", "rsi_14 < < 30 and"), "", "signal.buy: invalid expression"),
        (GOOD.replace("panels: [rsi_14", "panels: [rsi_99"), "", "chart.panels: unknown column 'rsi_99'"),
        (GOOD + "sizing: risk\n", "sizing", "Extra inputs are not permitted"),
        (GOOD + "timeframes: [{name: daily, bar_size: 1 fortnight, lookback: 1 Y}]\n", "timeframes.0.bar_size", "Input should be"),
        (GOOD + "timeframes: [{name: daily, bar_size: 1 day, lookback: a year}]\n", "timeframes.0.lookback", "IB duration"),
        (GOOD + "order: {sizing: fixed_quantity}\n", "", "order.quantity is required"),
    ],
)
def test_broken_files_name_file_field_and_problem(tmp_path, broken, location, message):
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    with pytest.raises(StrategyFileError) as raised:
        load_strategy(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ")
    assert location in text and message in text, text


def test_a_broken_file_does_not_hide_the_others(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("name: ok", "name: bad\nmode: yolo"))
    (tmp_path / "dupe.yaml").write_text(GOOD)
    loaded, broken = load_directory(tmp_path)
    assert [spec.name for _, spec in loaded] == ["ok"]
    messages = sorted(str(e) for e in broken)
    assert "mode: Input should be 'paper', 'live' or 'dry_run'" in messages[0]
    assert "name: 'ok' is already used by" in messages[1]
