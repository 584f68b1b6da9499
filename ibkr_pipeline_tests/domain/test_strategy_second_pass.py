"""The second pass over a broken file (the checks across sections, run with the broken sections set aside) says
"perhaps because of the broken indicators" only when indicators were set aside."""

from pathlib import Path

import pytest

from ibkr_pipeline.domain.strategy import StrategyFileError, parse_strategy
from ibkr_pipeline_tests.domain.strategy_corpus import GOOD


def test_an_unknown_name_beside_a_broken_risk_section_carries_no_indicator_hint():
    text = GOOD.replace("rsi_14 < 30", "rsi_99 < 30").replace("max_position_value: 20000", "max_position_value: -5")
    with pytest.raises(StrategyFileError) as caught:
        parse_strategy(text, Path("s.yaml"))
    assert str(caught.value).splitlines() == [
        "s.yaml: risk.max_position_value: Input should be greater than 0",
        "s.yaml: signal.buy: 'rsi_99 < 30' uses unknown names ['rsi_99']; known: ['atr_14', 'close', 'high', 'low',"
        " 'open', 'rsi_14', 'volume']",
    ]
