"""LLM answers: capped before parsing, strictly typed after."""

import json

import pytest

from ibkr_pipeline.domain.analysis import MAX_ANSWER_CHARS, AnswerError, parse_answer, sanity_problems

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


def schema_error(text: str) -> str:
    with pytest.raises(AnswerError) as raised:
        parse_answer(text)
    return str(raised.value)


def nested(levels: int) -> str:
    """GOOD with its rationale's sibling nested ``levels`` deep in all (the answer object is the first)."""
    inner = "1"
    for _ in range(levels - 1):
        inner = '{"x": ' + inner + "}"
    return json.dumps({**GOOD, "extra": "PLACEHOLDER"}).replace('"PLACEHOLDER"', inner)


def test_nesting_is_counted_outside_strings_and_capped_at_six():
    # six levels reach the schema (which refuses the extra field); seven are refused before parsing
    assert schema_error(nested(6)).startswith("answer does not match the schema: extra: Extra inputs")
    assert schema_error(nested(7)) == "answer nests deeper than 6 levels"
    # brackets inside strings, escaped quotes included, are text
    tricky = json.dumps({**GOOD, "rationale": 'a \\" quote then {{{{{{{{ [[[[[[[[ "and" \\\\'})
    assert parse_answer(tricky).rationale == 'a \\" quote then {{{{{{{{ [[[[[[[[ "and" \\\\'


def test_an_answer_at_the_size_limit_is_read_and_one_character_more_is_not():
    text = json.dumps(GOOD)
    padded = text + " " * (MAX_ANSWER_CHARS - len(text))
    assert parse_answer(padded).action == "BUY"
    assert schema_error(padded + " ") == f"answer is {MAX_ANSWER_CHARS + 1} characters; at most {MAX_ANSWER_CHARS}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty answer"),
        ("  \n\t ", "empty answer"),
        ("I would hold AAPL here.", "no JSON object in the answer (no braces found)"),
        ("} backwards {", "no JSON object in the answer (no braces found)"),
        ('{"action": "BUY",}', "no JSON object in the answer (Expecting property name enclosed in double quotes"),
    ],
)
def test_answers_with_no_object_say_what_was_wrong(text, problem):
    assert schema_error(text).startswith(problem)


def test_the_first_fenced_object_that_parses_is_the_answer():
    sell = {**GOOD, "action": "SELL", "entry": 100, "stop_loss": 104, "take_profit": 92}
    text = "Draft:\n```\n{not json}\n```\nFinal:\n```json\n" + json.dumps(sell) + "\n```\nAlso " + json.dumps(GOOD)
    assert parse_answer(text).action == "SELL"
    # a fenced object that breaks the schema is the answer's fault, not a reason to look further
    broken = "```json\n" + json.dumps({**GOOD, "confidence": 2}) + "\n```\n" + json.dumps(GOOD)
    assert schema_error(broken) == (
        "answer does not match the schema: confidence: Input should be less than or equal to 1"
    )


def analysis(**change):
    return parse_answer(json.dumps({**GOOD, **change}))


def test_sanity_problems_name_each_number_that_does_not_fit_the_chart():
    # last close 100, ATR 2, bars from 90 to 112: GOOD fits
    assert sanity_problems(analysis(), 100.0, 2.0, 90.0, 112.0) == []
    assert (
        sanity_problems(analysis(action="HOLD", entry=None, stop_loss=None, take_profit=None), 100.0, 2.0, 90, 112)
        == []
    )
    cases = [
        (dict(take_profit=None), ["BUY without entry, stop_loss and take_profit"]),
        (dict(stop_loss=101), ["BUY needs stop < entry < target, got 101.0 / 100.0 / 110.0"]),
        (dict(take_profit=100), ["BUY needs stop < entry < target, got 95.5 / 100.0 / 100.0"]),
        (
            dict(action="SELL"),
            ["SELL needs target < entry < stop, got 110.0 / 100.0 / 95.5"],
        ),
        (dict(entry=103.5, stop_loss=101, take_profit=108), ["entry 103.5 is 3.5% from the last close 100.0"]),
        (dict(take_profit=112.5), ["take_profit 112.5 is 6.2 ATR from entry (max 6.0)"]),
        (dict(stop_loss=87.5), ["stop_loss 87.5 is 6.2 ATR from entry (max 6.0)"]),
        (
            dict(key_levels={"support": [89.6, 89.5], "resistance": [112.4]}),  # a margin of 2 % of the range
            ["support level 89.5 lies outside the range the bars cover (90.00-112.00)"],
        ),
        (
            dict(key_levels={"support": [], "resistance": [112.45]}),
            ["resistance level 112.45 lies outside the range the bars cover (90.00-112.00)"],
        ),
    ]
    for change, problems in cases:
        assert sanity_problems(analysis(**change), 100.0, 2.0, 90.0, 112.0) == problems, change
    # entry exactly 3 % away and a stop exactly 6 ATR away are still within bounds; no ATR, no ATR check
    assert sanity_problems(analysis(entry=103, stop_loss=101, take_profit=108), 100.0, 2.0, 90, 112) == []
    assert sanity_problems(analysis(stop_loss=88), 100.0, 2.0, 90, 112) == []
    assert sanity_problems(analysis(take_profit=150, key_levels={}), 100.0, None, 90, 112) == []
    sell = analysis(action="SELL", stop_loss=104, take_profit=92)
    assert sanity_problems(sell, 100.0, 2.0, 90, 112) == []
    assert sanity_problems(analysis(action="SELL", stop_loss=99, take_profit=92), 100.0, 2.0, 90, 112) == [
        "SELL needs target < entry < stop, got 92.0 / 100.0 / 99.0"
    ]


def test_letters_in_prose_are_no_brackets_and_escapes_end_with_their_character():
    assert parse_answer("XXXXXXX says: " + json.dumps(GOOD)).action == "BUY"
    assert schema_error("XXX " + nested(7)) == "answer nests deeper than 6 levels"
    # a closing bracket brings the depth back one level, not to one
    assert schema_error("Note {} and " + nested(6)).startswith("no JSON object in the answer (")
    assert schema_error("Note {} then [[[[[[1]]]]]]").startswith("answer does not match the schema: ")
    # an escaped quote inside a string ends its escape: the brackets after the string count again
    deep = nested(7).replace('"rationale": "Higher lows."', '"rationale": "q\\"uote"')
    assert '"q\\"uote"' in deep and schema_error(deep) == "answer nests deeper than 6 levels"


def test_a_fence_without_an_object_is_passed_over_and_text_after_the_object_is_left_out():
    assert parse_answer("```\nno object here\n```\n" + json.dumps(GOOD)).action == "BUY"
    assert parse_answer(json.dumps(GOOD) + ".").action == "BUY"


def test_every_schema_problem_is_named_in_one_message():
    assert schema_error(json.dumps({**GOOD, "confidence": 2, "action": "MAYBE"})) == (
        "answer does not match the schema: action: Input should be 'BUY', 'SELL' or 'HOLD'; "
        "confidence: Input should be less than or equal to 1"
    )


def test_sanity_bounds_are_strict_where_prices_must_differ_and_inclusive_at_the_range_margin():
    for change, problem in [
        (dict(stop_loss=100), "BUY needs stop < entry < target, got 100.0 / 100.0 / 110.0"),
        (
            dict(action="SELL", stop_loss=104, take_profit=100),
            "SELL needs target < entry < stop, got 100.0 / 100.0 / 104.0",
        ),
        (
            dict(action="SELL", stop_loss=100, take_profit=92),
            "SELL needs target < entry < stop, got 92.0 / 100.0 / 100.0",
        ),
        (dict(entry=None), "BUY without entry, stop_loss and take_profit"),
    ]:
        assert sanity_problems(analysis(**change), 100.0, None, 50.0, 150.0) == [problem], change
    # bars from 50 to 100: a margin of 1 either side, its edges included
    edges = analysis(key_levels={"support": [49.0], "resistance": [101.0]})
    assert sanity_problems(edges, 100.0, None, 50.0, 100.0) == []
