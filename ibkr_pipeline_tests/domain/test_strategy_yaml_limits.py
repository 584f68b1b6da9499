"""The limits read before YAML builds anything (anchors, nesting, the number of values): each refusal located on
one line, and each bound where it is written, one value inside it accepted by the scan."""

from ibkr_pipeline_tests.domain.strategy_corpus import GOOD, refusal

ANCHORS = "YAML anchors and aliases (& and *) are not allowed in strategy files"


def test_an_anchor_is_refused_where_it_is_set():
    text = GOOD.replace("risk: {", "risk: &r {")
    assert refusal(text) == f"s.yaml: line 11, column 7: {ANCHORS}"


def test_an_alias_is_refused_where_it_is_used():
    """Even one naming no anchor: the scan sees it before YAML would complain that it is undefined."""
    assert refusal(GOOD + "extra: *r\n") == f"s.yaml: line 13, column 8: {ANCHORS}"


def nested(levels: int) -> str:
    """GOOD with one more key whose value is ``levels`` lists deep (the file's own mapping is the first level)."""
    return GOOD + "extra: " + "[" * levels + "1" + "]" * levels + "\n"


def test_twelve_levels_pass_the_scan_and_thirteen_do_not():
    """Twelve levels reach the model, which names the unknown key; the thirteenth is refused where it opens."""
    assert refusal(nested(11)) == "s.yaml: extra: Extra inputs are not permitted"
    assert refusal(nested(12)) == "s.yaml: line 13, column 19: nested deeper than 12 levels"


def test_a_closed_collection_gives_back_exactly_its_level():
    """Thirteen levels reached after a sibling list closed are still thirteen."""
    text = GOOD + "extra: [[1], " + "[" * 11 + "1" + "]" * 11 + "]\n"
    assert refusal(text) == "s.yaml: line 13, column 24: nested deeper than 12 levels"


def flat(values: int) -> str:
    """A mapping of one key and a list: 3 YAML nodes (mapping, key, list) and ``values`` scalars."""
    return "x: [" + ", ".join(["1"] * values) + "]\n"


def test_fifty_thousand_values_pass_the_scan_and_one_more_does_not():
    assert "more than 50000 YAML values" not in refusal(flat(49_997))  # refused by the model, not by the scan
    # The 50 001st node is the 49 998th scalar, at offset 4 + 3 * 49 997.
    assert refusal(flat(49_998)) == "s.yaml: line 1, column 149996: more than 50000 YAML values"
