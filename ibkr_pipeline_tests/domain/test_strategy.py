"""Strategy files: the shipped examples load, and every class of mistake is located."""

from pathlib import Path

import pytest

from ibkr_pipeline import bundled
from ibkr_pipeline.domain.strategy import StrategyFileError, load_directory, load_strategy, parse_strategy

GOOD = """
name: ok
universe: [{symbol: aapl}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York}
indicators:
  - {kind: rsi, params: {length: 14}}
  - {kind: macd}
  - {kind: atr, params: {length: 14}, name: atr_14}
chart: {overlays: [], panels: [rsi_14, macd_12_26_9]}
signal: {buy: "rsi_14 < 30 and close > open", sell: "macd_12_26_9 < macds_12_26_9", atr: atr_14}
"""


def test_examples_load():
    loaded, broken = load_directory(bundled.STRATEGIES)
    assert broken == []
    assert {spec.name for _, spec in loaded} >= {"us_megacaps_daily", "sector_etf_rotation"}


def test_defaults_and_normalisation():
    spec = parse_strategy(GOOD, Path("ok.yaml"))
    assert spec.mode == "paper"
    assert spec.universe[0].symbol == "AAPL" and spec.universe[0].exchange == "SMART"
    assert [(t.name, t.bar_size, t.lookback) for t in spec.timeframes] == [
        ("daily", "1 day", "1 Y"),
        ("weekly", "1 week", "2 Y"),
    ]
    assert {"rsi_14", "macd_12_26_9", "macdh_12_26_9", "macds_12_26_9"} <= spec.columns_for("daily")


KNOWN = (
    "['atr_14', 'close', 'high', 'low', 'macd_12_26_9', 'macdh_12_26_9', 'macds_12_26_9', 'open', 'rsi_14', 'volume']"
)
BAR_SIZES = (
    "'1 min', '2 mins', '3 mins', '5 mins', '10 mins', '15 mins', '20 mins', '30 mins', '1 hour', '2 hours', "
    "'3 hours', '4 hours', '8 hours', '1 day', '1 week' or '1 month'"
)


@pytest.mark.parametrize(
    ("broken", "line"),
    [
        (
            "name: ok\nuniverse: [{symbol: A}\n",
            "line 3, column 1: invalid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        ("- just\n- a list\n", "a strategy file is a YAML mapping (name:, universe:, schedule:, ...)"),
        (GOOD.replace("universe: [{symbol: aapl}]\n", ""), "universe: Field required"),
        (GOOD.replace("name: ok", "name: Not OK"), "name: String should match pattern '^[a-z][a-z0-9_]{0,63}$'"),
        (
            GOOD.replace("{symbol: aapl}", "{symbol: aapl, exchange: [x]}"),
            "universe.0.exchange: Input should be a valid string",
        ),
        (GOOD.replace("{symbol: aapl}", "{symbol: aapl}, {symbol: AAPL}"), "universe: symbols listed twice: ['AAPL']"),
        (
            GOOD.replace("15 16 * * 1-5", "15 25 * * 1-5"),
            "schedule.cron: '15 25 * * 1-5': hour field '25' is not valid (values 0-23, lists a,b, ranges a-b, steps */n)",
        ),
        (
            GOOD.replace("15 16 * * 1-5", "0 0 30 2 *"),
            "schedule.cron: '0 0 30 2 *' never fires (no such date), or fires less than once in five years",
        ),
        (
            GOOD.replace("15 16 * * 1-5", "15 16 * *"),
            "schedule.cron: '15 16 * *' has 4 fields; a cron has 5 (minute hour day-of-month month day-of-week)",
        ),
        (
            GOOD.replace("America/New_York", "Mars/Olympus"),
            "schedule.timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            GOOD.replace("kind: rsi", "kind: nosuch").replace("rsi_14 < 30 and ", "").replace("[rsi_14, ", "["),
            "indicators.0: pandas-ta has no indicator 'nosuch'",
        ),
        (
            GOOD.replace("{kind: macd}", "{kind: macd, name: m}"),
            "indicators.1: macd has 3 columns (['macd_12_26_9', 'macdh_12_26_9', 'macds_12_26_9']); 'name' needs one",
        ),
        (
            GOOD.replace("rsi_14 < 30", "rsi_99 < 30"),
            f"signal.buy: 'rsi_99 < 30 and close > open' uses unknown names ['rsi_99']; known: {KNOWN}",
        ),
        (
            GOOD.replace("rsi_14 < 30 and", "rsi_14 < < 30 and"),
            "signal.buy: invalid expression 'rsi_14 < < 30 and close > open': invalid syntax",
        ),
        (
            GOOD.replace("rsi_14 < 30", "3999999 ** 3999999 > close"),
            "signal.buy: '3999999 ** 3999999 > close and close > open' uses '**', which rules do not allow "
            "(comparisons, + - * /, and/or/not, numbers and abs/min/max only)",
        ),
        (GOOD.replace("panels: [rsi_14", "panels: [rsi_99"), f"chart.panels: unknown column 'rsi_99'; have {KNOWN}"),
        (GOOD + "sizing: risk\n", "sizing: Extra inputs are not permitted"),
        (
            GOOD + "timeframes: [{name: daily, bar_size: 1 fortnight, lookback: 1 Y}]\n",
            f"timeframes.0.bar_size: Input should be {BAR_SIZES}",
        ),
        (
            GOOD + "timeframes: [{name: daily, bar_size: 1 day, lookback: a year}]\n",
            "timeframes.0.lookback: 'a year' is not an IB duration like '1 Y', '6 M', '30 D'",
        ),
        (
            GOOD + "timeframes: [{name: ../../x, bar_size: 1 day, lookback: 1 Y}]\n",
            "timeframes.0.name: String should match pattern '^[a-z][a-z0-9_]{0,63}$'",
        ),
        (GOOD + "order: {sizing: fixed_quantity}\n", "order.quantity is required when order.sizing is fixed_quantity"),
        (GOOD + "risk: {max_position_value: .inf}\n", "risk.max_position_value: Input should be a finite number"),
        (GOOD + "mode: paper\nmode: live\n", "line 12, column 1: invalid YAML: duplicate key 'mode'"),
        (
            GOOD.replace("atr: atr_14", "mode: rules"),
            "order.bracket: a bracket needs its distances: set signal.atr, or order.stop_pct and order.target_pct (an "
            "analysis in signal.mode llm gives its own, bounded by order.max_stop_pct and order.max_target_pct; the "
            "rules decide what llm.screen keeps out)",
        ),
        (
            GOOD + "llm: {screen: rsi_99 < 30}\n",
            f"llm.screen: 'rsi_99 < 30' uses unknown names ['rsi_99']; known: {KNOWN}",
        ),
        (
            GOOD.replace("chart: {", "chart: {when: sometimes, "),
            "chart.when: Input should be 'always', 'signals' or 'screened'",
        ),
    ],
)
def test_broken_files_name_file_field_and_problem(tmp_path, broken, line):
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    with pytest.raises(StrategyFileError) as raised:
        load_strategy(path)
    # The first problem is the one named; what follows from it (a rule naming a broken indicator's column) may follow.
    assert str(raised.value).splitlines()[0] == f"{path}: {line}"


def test_every_problem_of_a_file_is_reported_in_one_pass(tmp_path):
    """Field problems and the checks across sections (rules, chart columns) together: one run of validate
    is enough to fix the file."""
    path = tmp_path / "many.yaml"
    path.write_text(
        GOOD.replace("15 16 * * 1-5", "0 25 * * 1-5")
        .replace("kind: rsi", "kind: nosuch")
        .replace("close > open", "close >> open")
        + "risk: {max_position_pct: 150}\n"
    )
    with pytest.raises(StrategyFileError) as raised:
        load_strategy(path)
    lines = [line.removeprefix(f"{path}: ") for line in str(raised.value).splitlines()]
    assert lines[:3] == [
        "schedule.cron: '0 25 * * 1-5': hour field '25' is not valid (values 0-23, lists a,b, ranges a-b, steps */n)",
        "indicators.0: pandas-ta has no indicator 'nosuch'",
        "risk.max_position_pct: Input should be less than or equal to 100",
    ]
    assert lines[3].startswith("signal.buy: 'rsi_14 < 30 and close >> open' uses RShift, which rules do not allow")
    assert lines[4].startswith("chart.panels: unknown column 'rsi_14'") and lines[4].endswith(
        "(perhaps because of the broken indicators above)"
    )
    assert len(lines) == 5


def test_a_broken_file_does_not_hide_the_others(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("name: ok", "name: bad\nmode: yolo"))
    (tmp_path / "dupe.yaml").write_text(GOOD)
    loaded, broken = load_directory(tmp_path)
    assert [spec.name for _, spec in loaded] == ["ok"]
    messages = sorted(str(e) for e in broken)
    assert "mode: Input should be 'paper', 'live' or 'dry_run'" in messages[0]
    assert "name: 'ok' is already used by" in messages[1]
