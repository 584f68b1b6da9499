"""What a strategy file becomes besides a validated spec: the contracts it asks IB for, the hash its Dagster code
version carries, and a character YAML refuses, located like every other mistake."""

import hashlib
import os
from pathlib import Path

import pytest

from ibkr_pipeline.domain import strategy
from ibkr_pipeline.domain.contracts import ContractSpec
from ibkr_pipeline.domain.strategy import (
    MAX_FILE_BYTES,
    StrategyFileError,
    file_hash,
    load_directory,
    parse_strategy,
    read_strategy_text,
)
from ibkr_pipeline_tests.domain.strategy_corpus import GOOD


def test_each_universe_entry_asks_for_its_own_listing():
    text = GOOD.replace(
        "universe: [{symbol: AAPL}, {symbol: MSFT}]",
        "universe: [{symbol: aapl}, {symbol: shop, exchange: TSE, currency: CAD, primary_exchange: TSE.NEW}]",
    )
    spec = parse_strategy(text, Path("ok.yaml"))
    assert [entry.contract_spec() for entry in spec.universe] == [
        ContractSpec(symbol="AAPL", sec_type="STK", exchange="SMART", currency="USD", primary_exchange=""),
        ContractSpec(symbol="SHOP", sec_type="STK", exchange="TSE", currency="CAD", primary_exchange="TSE.NEW"),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "name: ok\x07\n",
            "bell.yaml: line 1, column 9: invalid YAML: unacceptable character #x0007: special characters are not allowed",
        ),
        (
            "name: ok\nuniverse: [{symbol: \x1b}]\n",
            "bell.yaml: line 2, column 21: invalid YAML: unacceptable character #x001b: special characters are not allowed",
        ),
        (
            "\nname: ok\x07\n",
            "bell.yaml: line 2, column 9: invalid YAML: unacceptable character #x0007: special characters are not allowed",
        ),
        (  # lines counted from the very first character, columns from the last line break, not the first
            "\nname: ok\nuniverse: [{symbol: \x1b}]\n",
            "bell.yaml: line 3, column 21: invalid YAML: unacceptable character #x001b: special characters are not allowed",
        ),
    ],
)
def test_a_character_yaml_refuses_is_located_on_one_line(text, line):
    """PyYAML locates it only by offset, in two lines naming "<unicode string>": the file's line and column here."""
    with pytest.raises(StrategyFileError) as caught:
        parse_strategy(text, Path("bell.yaml"))
    assert str(caught.value) == line


def test_the_code_version_hash_is_the_files_text(tmp_path):
    """The first 16 hex digits of the SHA-256 of the text as read (a byte-order mark dropped): an edit makes the
    strategy's assets look changed in Dagster, re-saving the same text with a BOM does not."""
    plain, marked = tmp_path / "plain.yaml", tmp_path / "marked.yaml"
    plain.write_text(GOOD)
    marked.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert file_hash(plain) == file_hash(marked) == hashlib.sha256(GOOD.encode()).hexdigest()[:16]
    (tmp_path / "short.yaml").write_text("name: ok\n")
    assert file_hash(tmp_path / "short.yaml") == "cf2384c651b796d5"


def named(name: str) -> str:
    return GOOD.replace("name: fuzzed", f"name: {name}")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "cannot read: No such file or directory"),
        (lambda p: p.mkdir(), "not a regular file (a directory, FIFO or device); refused"),
        (lambda p: os.mkfifo(p), "not a regular file (a directory, FIFO or device); refused"),
        (lambda p: p.write_bytes(b"#" * MAX_FILE_BYTES + b"\n"), "larger than 256 KiB; a strategy file is small"),
        (lambda p: p.write_bytes(GOOD.encode("utf-16")), "the file is UTF-16; save it as UTF-8"),
        (lambda p: p.write_bytes(b"\xfe\xff" + GOOD.encode("utf-16-be")), "the file is UTF-16; save it as UTF-8"),
        (
            lambda p: p.write_bytes(b"name: ok\n\nuniverse: caf\xe9\n"),
            "line 3: not UTF-8 (byte 23: 0xe9); save the file as UTF-8",
        ),
        (lambda p: p.write_bytes(b"name: ok\x00\n"), "contains NUL characters; not a text file"),
    ],
    ids=["missing", "directory", "fifo", "too-big", "utf-16-le", "utf-16-be", "latin-1", "nul"],
)
def test_what_is_not_a_strategys_text_is_refused_in_one_line(tmp_path, make, message):
    path = tmp_path / "s.yaml"
    make(path)
    with pytest.raises(StrategyFileError) as caught:
        read_strategy_text(path)
    assert str(caught.value) == f"{path}: {message}"


def test_a_file_of_exactly_the_size_limit_is_read_whole(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES - 1) + b"\n")
    assert read_strategy_text(path) == "#" * (MAX_FILE_BYTES - 1) + "\n"


def test_a_directory_holds_yaml_and_yml_files_and_names_are_first_come(tmp_path):
    (tmp_path / "a.yml").write_text(named("one"))
    (tmp_path / "b.yaml").write_text(named("two"))
    (tmp_path / "c.yaml").write_text(named("one"))
    (tmp_path / "d.yhtml").write_text(named("three"))
    (tmp_path / "e.txt").write_text(named("four"))
    loaded, broken = load_directory(tmp_path)
    assert [(path.name, spec.name) for path, spec in loaded] == [("a.yml", "one"), ("b.yaml", "two")]
    assert [str(e) for e in broken] == [f"{tmp_path / 'c.yaml'}: name: 'one' is already used by {tmp_path / 'a.yml'}"]


def test_a_file_that_breaks_the_loader_itself_is_reported_and_the_others_load(tmp_path, monkeypatch):
    """Whatever a file holds never takes the others down: an exception no validator expected (simulated here by a
    parser that fails on two files) becomes that file's error, at most 500 characters."""
    parse = strategy.parse_strategy

    def fragile(text: str, path: Path):
        if "boom" in text:
            raise RuntimeError("x" * 600 if "long" in text else "boom")
        return parse(text, path)

    monkeypatch.setattr(strategy, "parse_strategy", fragile)
    (tmp_path / "a.yaml").write_text("# boom\n")
    (tmp_path / "b.yaml").write_text("# boom, long\n")
    (tmp_path / "c.yaml").write_text(named("fine"))
    loaded, broken = load_directory(tmp_path)
    assert [spec.name for _, spec in loaded] == ["fine"]
    first, second = (str(e) for e in broken)
    assert first == f"{tmp_path / 'a.yaml'}: cannot be loaded: RuntimeError: boom"
    assert second == f"{tmp_path / 'b.yaml'}: " + ("cannot be loaded: RuntimeError: " + "x" * 600)[:500]
    assert all(e.path.parent == tmp_path for e in broken)
