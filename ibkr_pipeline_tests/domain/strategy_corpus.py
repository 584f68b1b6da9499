"""A fixed corpus of hostile and careless strategy files, by category, plus seeded mutations of a good one.

Each case says whether it must be rejected ("reject") or may go either way ("any"); none may crash,
hang or use more than the memory budget.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ibkr_pipeline.domain.strategy import StrategyFileError, parse_strategy

GOOD = """name: fuzzed
universe: [{symbol: AAPL}, {symbol: MSFT}]
schedule: {cron: "15 16 * * 1-5", timezone: America/New_York, start: 2025-01-01}
timeframes:
  - {name: daily, bar_size: 1 day, lookback: 1 Y}
indicators:
  - {kind: rsi, params: {length: 14}}
  - {kind: atr, params: {length: 14}, name: atr_14}
chart: {overlays: [], panels: [rsi_14], bars: 60}
signal: {buy: "rsi_14 < 30", sell: "rsi_14 > 70", atr: atr_14}
risk: {max_position_value: 20000, daily_loss_limit: 1000}
order: {entry: LMT, sizing: risk, risk_pct: 0.5}
"""


def refusal(text: str) -> str:
    """What parse_strategy says refusing ``text`` as s.yaml (the test fails if it is accepted)."""
    with pytest.raises(StrategyFileError) as caught:
        parse_strategy(text, Path("s.yaml"))
    return str(caught.value)


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    expect: str  # "reject" | "any" | "accept"
    write: Callable[[Path], None]


def _text(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _sub(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def _directory(path: Path) -> None:
    path.mkdir()


def _nested(depth: int, flow: bool) -> str:
    if flow:
        return "x: " + "[" * depth + "]" * depth + "\n"
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + f"{'  ' * depth}v: 1\n"


BILLION_LAUGHS = (
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)

NUMERIC_FIELDS = [
    ("max_position_value: 20000", "max_position_value: @"),
    ("daily_loss_limit: 1000", "daily_loss_limit: @"),
    ("risk_pct: 0.5", "risk_pct: @"),
    ("bars: 60", "bars: @"),
    ("length: 14}}\n  - {kind: atr", "length: @}}\n  - {kind: atr"),
]
BAD_NUMBERS = [".inf", "-.inf", ".nan", "1e30", "-5", "1e309", "0"]
BAD_CRONS = [
    "0 0 30 2 *",
    "0 0 31 4 *",
    "15 25 * * *",
    "61 * * * *",
    "* * * *",
    "* * * * * *",
    "*/0 * * * *",
    "banana",
    "0 0 * * 8",
    "@reboot",
    "0 0 31 2,4,6 *",
    "",
]
BAD_RULES = [
    "3999999 ** 3999999 > close",
    "'%999999999s' % close",
    "(lambda: 1)() > 0",
    "[x for x in [1]] == [1]",
    "close.real > 1",
    "__import__('os').system('true')",
    "close[0] > 1",
    "'a' * 10**9",
    "close if 1 else 2",
    "rsi_14 < " + "(" * 300 + "1" + ")" * 300,
    "rsi_14 < 1" + " + 1" * 400,
    "rsi_14 < 1e308 * 1e308",
    "open('x')",
    "globals()",
    "rsi_14 < 30 or True",
    "{1: 2}",
    "rsi_14 // 2 > 1",
    "not_a_column > 1",
]
BAD_SYMBOLS = [
    "../../etc/passwd",
    "AAPL/../../x",
    "ÄPPL",
    "AAPL\\x00",
    "",
    "A" * 40,
    "😀",
    "a b c d e f g h i j k l m",
    "$(rm -rf)",
    "<script>",
    "AA:PL",
]
BAD_NAMES = ["../../x", "a/b", "A", "x" * 100, "naïve", "", "1abc", "a-b"]


def corpus() -> list[Case]:
    cases: list[Case] = [Case("baseline", "good", "accept", _text(GOOD))]
    add = cases.append
    # Encodings and bytes.
    add(Case("encoding", "latin-1", "reject", _bytes(GOOD.replace("AAPL", "ÄAPL").encode("latin-1"))))
    add(Case("encoding", "utf-16 bom", "reject", _bytes(GOOD.encode("utf-16"))))
    add(Case("encoding", "utf-8 bom", "accept", _bytes(b"\xef\xbb\xbf" + GOOD.encode())))
    add(Case("encoding", "nul bytes", "reject", _bytes(GOOD.encode() + b"\x00\x00")))
    add(Case("encoding", "random bytes", "reject", _bytes(random.Random(1).randbytes(4096))))
    add(Case("encoding", "lone surrogate escape", "reject", _bytes(b"name: \xed\xa0\x80\n")))
    # Structure and size.
    add(Case("structure", "empty", "reject", _text("")))
    add(Case("structure", "comments only", "reject", _text("# nothing\n")))
    add(Case("structure", "scalar", "reject", _text("42\n")))
    add(Case("structure", "null", "reject", _text("~\n")))
    add(Case("structure", "deep flow nesting", "reject", _text(_nested(5000, True))))
    add(Case("structure", "deep block nesting", "reject", _text(_nested(400, False))))
    add(Case("structure", "billion laughs", "reject", _text(BILLION_LAUGHS)))
    add(Case("structure", "anchor reuse", "reject", _text(GOOD.replace("risk: {", "risk: &r {") + "x: *r\n")))
    add(Case("structure", "huge file", "reject", _text(GOOD + "#" + "x" * 400_000 + "\n")))
    add(
        Case(
            "structure",
            "100000 symbols",
            "reject",
            _text(
                _sub(
                    "universe: [{symbol: AAPL}, {symbol: MSFT}]",
                    "universe: [" + ", ".join(f"{{symbol: S{i}}}" for i in range(100_000)) + "]",
                )
            ),
        )
    )
    add(
        Case(
            "structure",
            "3000 symbols",
            "reject",
            _text(
                _sub(
                    "universe: [{symbol: AAPL}, {symbol: MSFT}]",
                    "universe: [" + ", ".join(f"{{symbol: S{i}}}" for i in range(3000)) + "]",
                )
            ),
        )
    )
    add(Case("structure", "python tag", "reject", _text(GOOD + "x: !!python/object/apply:os.system ['true']\n")))
    add(Case("structure", "duplicate top-level key", "reject", _text(GOOD + "mode: paper\nmode: live\n")))
    add(
        Case(
            "structure",
            "duplicate nested key",
            "reject",
            _text(
                _sub("risk: {max_position_value: 20000,", "risk: {max_position_value: 20000, max_position_value: 1e9,")
            ),
        )
    )
    add(Case("structure", "unhashable key", "reject", _text(GOOD + "? [a, b]\n: 1\n")))
    # Files that are not files.
    add(Case("file", "fifo", "reject", _fifo))
    add(Case("file", "symlink to /dev/zero", "reject", _symlink("/dev/zero")))
    add(Case("file", "symlink to /dev/urandom", "reject", _symlink("/dev/urandom")))
    add(Case("file", "dangling symlink", "reject", _symlink("/nonexistent/strategy.yaml")))
    add(Case("file", "directory", "reject", _directory))
    # Numbers.
    for old, template in NUMERIC_FIELDS:
        for bad in BAD_NUMBERS:
            add(Case("numbers", f"{old.split(':')[0]}={bad}", "reject", _text(_sub(old, template.replace("@", bad)))))
    add(
        Case(
            "numbers",
            "quantity 1e30",
            "reject",
            _text(
                _sub(
                    "order: {entry: LMT, sizing: risk, risk_pct: 0.5}",
                    "order: {sizing: fixed_quantity, quantity: 1000000000000000000000000000000}",
                )
            ),
        )
    )
    add(
        Case(
            "numbers",
            "notional inf",
            "reject",
            _text(
                _sub(
                    "order: {entry: LMT, sizing: risk, risk_pct: 0.5}",
                    "order: {sizing: fixed_notional, notional: .inf}",
                )
            ),
        )
    )
    add(Case("numbers", "starting cash 1e300", "reject", _text(GOOD + "backtest: {starting_cash: 1e300}\n")))
    add(Case("numbers", "stop 500 ATR", "reject", _text(_sub("atr: atr_14}", "atr: atr_14, stop_atr: 500}"))))
    add(Case("numbers", "max_stop_pct 90", "reject", _text(_sub("risk_pct: 0.5}", "risk_pct: 0.5, max_stop_pct: 90}"))))
    add(
        Case(
            "numbers",
            "indicator length 1e9",
            "reject",
            _text(_sub("length: 14}}\n  - {kind: atr", "length: 1000000000}}\n  - {kind: atr")),
        )
    )
    add(Case("numbers", "lookback 9999 Y", "reject", _text(_sub("lookback: 1 Y", "lookback: 9999 Y"))))
    add(
        Case(
            "numbers",
            "signal age inf",
            "reject",
            _text(_sub("daily_loss_limit: 1000}", "daily_loss_limit: 1000, max_signal_age_minutes: .inf}")),
        )
    )
    # Crons.
    for cron in BAD_CRONS:
        add(Case("cron", cron or "(empty)", "reject", _text(_sub('"15 16 * * 1-5"', f'"{cron}"'))))
    add(Case("cron", "start in year 1", "reject", _text(_sub("start: 2025-01-01", "start: 0001-01-01"))))
    # Rules.
    for rule in BAD_RULES:
        add(
            Case("rules", rule[:40], "reject", _text(_sub('buy: "rsi_14 < 30"', f"buy: {rule!r}".replace("\\'", "''"))))
        )
    # Symbols and names.
    for symbol in BAD_SYMBOLS:
        add(
            Case(
                "symbols", symbol[:20] or "(empty)", "reject", _text(_sub("{symbol: AAPL}", f"{{symbol: {symbol!r}}}"))
            )
        )
    for name in BAD_NAMES:
        add(Case("names", f"strategy {name[:20]}", "reject", _text(_sub("name: fuzzed", f"name: {name!r}"))))
        add(Case("names", f"timeframe {name[:20]}", "reject", _text(_sub("{name: daily,", f"{{name: {name!r},"))))
        add(Case("names", f"prompt {name[:20]}", "reject", _text(GOOD + f"llm: {{prompt: {name!r}}}\n")))
    add(Case("names", "chart style path", "reject", _text(_sub("bars: 60}", "bars: 60, style: ../../x}"))))
    add(Case("names", "model with newline", "reject", _text(GOOD + 'llm: {model: "gpt\\nX-Injected: 1"}\n')))
    add(Case("names", "exchange path", "reject", _text(_sub("{symbol: AAPL}", "{symbol: AAPL, exchange: ../x}"))))
    # Seeded mutations of the good file: anything may happen but a crash, a hang or a memory blow-up.
    add_mutations(cases, 260)
    return cases


JUNK = [
    ".inf",
    "-.inf",
    ".nan",
    "1e30",
    "-1",
    "0",
    "''",
    "'../../x'",
    "[]",
    "{}",
    "null",
    "~",
    "true",
    "[[[[[]]]]]",
    "&a x",
    "*a",
    "!!binary aGk=",
    "!!python/name:os.system",
    "'\\u00c4'",
    "|\n  x",
    "'%s%s%s'",
    "9" * 400,
    "2026-13-45",
    "'\\x00'",
    "{a: {b: {c: {d: 1}}}}",
    "'1 1 1 1 1'",
    "'close > 0'",
    "? x",
    "- a",
    "'" + "x" * 5000 + "'",
]


def add_mutations(cases: list[Case], count: int) -> None:
    rng = random.Random(20261126)
    lines = GOOD.splitlines()
    for i in range(count):
        mutated = list(lines)
        for _ in range(rng.randint(1, 3)):
            row = rng.randrange(len(mutated))
            line = mutated[row]
            if ":" in line and rng.random() < 0.7:
                head, _, tail = line.partition(":")
                pieces = tail.split(",")
                k = rng.randrange(len(pieces))
                key, sep, _value = pieces[k].partition(":")
                pieces[k] = f"{key}{sep} {rng.choice(JUNK)}" if sep else f" {rng.choice(JUNK)}"
                mutated[row] = head + ":" + ",".join(pieces)
            elif rng.random() < 0.5:
                mutated[row] = rng.choice(JUNK)
            else:
                del mutated[row]
        text = "\n".join(mutated) + "\n"
        cases.append(Case("mutation", f"m{i:03d}", "any", _text(text)))
