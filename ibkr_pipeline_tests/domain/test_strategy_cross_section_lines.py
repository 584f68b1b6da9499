"""The checks across sections (rules and chart naming columns), run again with the broken sections set aside:
each problem on one line, once, and the "perhaps because of the broken indicators above" hint only on a name
that is unknown, and only when indicators were set aside."""

from ibkr_pipeline_tests.domain.strategy_corpus import GOOD, refusal

KNOWN = "known: ['atr_14', 'close', 'high', 'low', 'open', 'volume']"
HINT = " (perhaps because of the broken indicators above)"


def lines(text: str) -> list[str]:
    return refusal(text).splitlines()


def test_a_problem_found_by_both_passes_is_reported_once():
    assert lines(GOOD.replace("rsi_14 < 30", "rsi_99 < 30")) == [
        "s.yaml: signal.buy: 'rsi_99 < 30' uses unknown names ['rsi_99']; known: ['atr_14', 'close', 'high', 'low',"
        " 'open', 'rsi_14', 'volume']"
    ]


def test_the_hint_goes_on_unknown_names_only():
    text = GOOD.replace("kind: rsi", "kind: nosuch").replace("rsi_14 > 70", "rsi_14 >> 70")
    assert lines(text) == [
        "s.yaml: indicators.0: pandas-ta has no indicator 'nosuch'",
        f"s.yaml: signal.buy: 'rsi_14 < 30' uses unknown names ['rsi_14']; {KNOWN}{HINT}",
        "s.yaml: signal.sell: 'rsi_14 >> 70' uses RShift, which rules do not allow (comparisons, + - * /, and/or/not,"
        " numbers and abs/min/max only)",
        f"s.yaml: chart.panels: unknown column 'rsi_14'; have ['atr_14', 'close', 'high', 'low', 'open', 'volume']{HINT}",
    ]


def test_an_unknown_name_beside_a_broken_risk_section_carries_no_indicator_hint():
    text = GOOD.replace("rsi_14 < 30", "rsi_99 < 30").replace("max_position_value: 20000", "max_position_value: -5")
    assert lines(text) == [
        "s.yaml: risk.max_position_value: Input should be greater than 0",
        "s.yaml: signal.buy: 'rsi_99 < 30' uses unknown names ['rsi_99']; known: ['atr_14', 'close', 'high', 'low',"
        " 'open', 'rsi_14', 'volume']",
    ]
