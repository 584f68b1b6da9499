"""A schedule is judged the same whatever today's date, and YAML's own mistakes (a date that is none, a key
twice) are located on one line."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from ibkr_pipeline.domain.strategy import parse_strategy
from ibkr_pipeline_tests.domain.strategy_corpus import GOOD, refusal

LEAP_DAY = GOOD.replace("15 16 * * 1-5", "0 0 29 2 *")


def test_a_schedule_that_fires_every_four_years_is_accepted():
    """29 February: the rarest date a cron can name (the validator refuses only what fires less than once in
    five years, or never)."""
    assert parse_strategy(LEAP_DAY, Path("s.yaml")).schedule.cron == "0 0 29 2 *"


@pytest.mark.parametrize("text", [GOOD, LEAP_DAY], ids=["weekdays", "leap-day"])
def test_a_schedule_is_judged_the_same_years_from_now(text):
    """The same file is valid in 2031 as today: firings are counted from a fixed date, not from the clock."""
    with time_machine.travel(datetime(2031, 6, 2, 12, 0, tzinfo=UTC), tick=False):
        assert parse_strategy(text, Path("s.yaml")).name == "fuzzed"


def test_a_date_that_is_none_is_located():
    assert refusal(GOOD.replace("start: 2025-01-01", "start: 2025-13-45")) == (
        "s.yaml: line 3, column 70: invalid YAML: '2025-13-45' is not a date: month must be in 1..12"
    )


def test_a_key_twice_is_found_past_a_key_yaml_cannot_hash():
    text = GOOD.replace("name: fuzzed", "name: fuzzed\n? [a]\n: 1\nmode: paper\nmode: live")
    assert refusal(text) == "s.yaml: line 5, column 1: invalid YAML: duplicate key 'mode'"
