"""LLM answers: capped before parsing, strictly typed after."""

import json

import pytest

from ibkr_pipeline.domain.analysis import MAX_ANSWER_CHARS, AnswerError, parse_answer

GOOD = {
    "trend": {"daily": "up"},
    "action": "BUY",
    "confidence": 0.7,
    "entry": 100,
    "stop_loss": 95.5,
    "take_profit": 110,
    "horizon": "1-3 weeks",
    "key_levels": {"support": [95], "resistance": [110]},
    "rationale": "Higher lows.",
}


def test_a_good_answer_in_prose_and_fences_parses():
    answer = parse_answer("Here it is:\n```json\n" + json.dumps(GOOD) + "\n```")
    assert (answer.entry, answer.stop_loss, answer.confidence) == (100.0, 95.5, 0.7)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"confidence": True}, "confidence: Input should be a valid number"),
        ({"confidence": "0.7"}, "confidence: Input should be a valid number"),
        ({"entry": "100"}, "entry: Input should be a valid number"),
        ({"horizon": "x" * 101}, "horizon: String should have at most 100 characters"),
        (
            {"trend": {f"tf{i}": "up" for i in range(9)}},
            "trend: Dictionary should have at most 8 items after validation, not more",
        ),
        ({"key_levels": {"support": [True]}}, "key_levels.support.0: Input should be a valid number"),
        ({"take_profit": 1e12}, "take_profit: Input should be less than or equal to 10000000"),
    ],
)
def test_strict_types_and_bounds(change, problem):
    with pytest.raises(AnswerError) as raised:
        parse_answer(json.dumps({**GOOD, **change}))
    assert str(raised.value) == f"answer does not match the schema: {problem}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, f"answer is 200000 characters; at most {MAX_ANSWER_CHARS}"),
        ('{"a":' * 1000 + "1" + "}" * 1000, "answer nests deeper than 6 levels"),
        (json.dumps({**GOOD, "rationale": "{{{{{{{{ [[[[[[[[ in a string is fine"}), None),
        (
            json.dumps(GOOD).replace("100", "1e400"),
            "answer does not match the schema: entry: Input should be a finite number",
        ),
        (
            json.dumps(GOOD).replace("100", "NaN"),
            "answer does not match the schema: entry: Input should be a finite number",
        ),
    ],
)
def test_size_and_depth_are_capped_before_parsing(text, problem):
    if problem is None:
        assert parse_answer(text).action == "BUY"
        return
    with pytest.raises(AnswerError) as raised:
        parse_answer(text)
    assert str(raised.value) == problem
