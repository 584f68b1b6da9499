"""make mutate: mutmut over the safety-critical modules (``[tool.mutmut]`` in pyproject.toml), then the score.

Writes bench/mutation-survivors.md: the score per module and overall against the 90 % goal, and every mutant
left alive with its diff and why it may stay (bench/mutation_notes.toml: mutant name = {why, diff}), or UNEXPLAINED.
A note counts only while its diff is the mutant's: mutmut numbers mutants within a function, so an edit above one
gives its number to another mutation.
Arguments go to ``mutmut run`` (mutant names or globs, e.g. ``ibkr_pipeline.domain.risk*``); mutmut keeps its
results in mutants/, so a second run only tries what changed; ``--report`` rewrites the report from them.

``--fast`` (make mutate-fast, minutes): the pure decision modules against the tests that need no Dagster run
(FAST below), in a copy of the tree at .mutmut-fast/, reported to bench/mutation-survivors-fast.md.
A lower bound for those modules: the full run adds the slower tests that also read them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code  # mutmut's own reading of its exit codes

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORT = ROOT / "bench" / "mutation-survivors.md"
NOTES = ROOT / "bench" / "mutation_notes.toml"
GOAL = 0.90
KILLED = ("killed", "timeout", "caught by type check")  # a timeout: the mutant made a test run away
NOT_RUN = ("not checked", "skipped", "check was interrupted by user")
FAST = {
    "only_mutate": [
        "ibkr_pipeline/domain/risk.py",
        "ibkr_pipeline/domain/sizing.py",
        "ibkr_pipeline/domain/analysis.py",
        "ibkr_pipeline/database/contract_cache.py",
        "ibkr_pipeline/trading/tracking.py",
        "ibkr_pipeline/domain/pacing.py",
        "ibkr_pipeline/gateway_sim/pacing.py",
    ],
    "pytest_add_cli_args_test_selection": [
        "ibkr_pipeline_tests/domain",
        "ibkr_pipeline_tests/database/test_contract_cache.py",
        "ibkr_pipeline_tests/llm",
        "ibkr_pipeline_tests/trading/test_tracking.py",
        "ibkr_pipeline_tests/gateway_sim/test_pacing.py",
    ],
}


def fast_tree() -> Path:
    """The tracked tree copied to .mutmut-fast/ with FAST in place of [tool.mutmut]'s modules and tests."""
    where = ROOT / ".mutmut-fast"
    tracked = subprocess.run(["git", "ls-files", "-z"], capture_output=True, text=True, cwd=ROOT, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        target = where / name
        if not target.exists() or target.read_bytes() != (ROOT / name).read_bytes():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
    config = (ROOT / "pyproject.toml").read_text()
    for key, values in FAST.items():
        listed = "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"
        replacement = f"{key} = {listed}"
        config = re.sub(rf"^{key} = \[.*?^\]", lambda _m, text=replacement: text, config, flags=re.S | re.M)
    (where / "pyproject.toml").write_text(config)
    return where


def results(root: Path) -> dict[str, str]:
    found = {}
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found.update({name: status_by_exit_code[code] for name, code in codes.items()})
    return found


def diff(name: str, root: Path) -> str:
    shown = subprocess.run([str(BIN / "mutmut"), "show", name], capture_output=True, text=True, cwd=root)
    return "\n".join(
        line for line in shown.stdout.splitlines() if line.startswith(("-", "+")) and line[1:2] != line[:1]
    )


def explained(note: dict[str, str] | None, shown: str) -> str:
    """The note's reason, if it was written for this very mutation."""
    if note is None:
        return "UNEXPLAINED"
    if note["diff"].strip() != shown.strip():
        return "UNEXPLAINED (its note was written for another mutation under this number)"
    return note["why"]


def module_of(name: str) -> str:
    return name.rsplit(".x", 1)[0].split(".xǁ")[0]


def main(argv: list[str]) -> int:
    """``--report`` writes the report from the results mutants/ holds, without running anything."""
    fast = "--fast" in argv
    argv = [a for a in argv if a != "--fast"]
    root, report = (fast_tree(), REPORT.with_name("mutation-survivors-fast.md")) if fast else (ROOT, REPORT)
    if argv != ["--report"]:
        log = root / "mutants" / "mutmut-run.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as out:  # mutmut's progress line redraws itself: kept out of the terminal
            subprocess.run([str(BIN / "mutmut"), "run", *argv], stdout=out, stderr=subprocess.STDOUT, cwd=root)
    found = results(root)
    notes = tomllib.loads(NOTES.read_text()).get("survivors", {}) if NOTES.exists() else {}
    counted = {n: s for n, s in found.items() if s not in NOT_RUN}
    per_module: dict[str, Counter] = defaultdict(Counter)
    for name, state in counted.items():
        per_module[module_of(name)][state] += 1
    killed = sum(s in KILLED for s in counted.values())
    score = killed / len(counted) if counted else 0.0
    alive = sorted(n for n, s in counted.items() if s not in KILLED)
    lines = [
        "# Mutation score (make mutate)",
        "",
        f"{killed} of {len(counted)} mutants killed: **{score:.1%}** (goal {GOAL:.0%}); "
        f"{sum(s in NOT_RUN for s in found.values())} not run. mutmut 3.8.1, "
        + (
            f"make mutate-fast: modules {', '.join(FAST['only_mutate'])} against the tests in "
            f"{', '.join(FAST['pytest_add_cli_args_test_selection'])} only (bench/mutation.py FAST)."
            if fast
            else "`[tool.mutmut]` in pyproject.toml."
        ),
        "",
        "| module | killed | survived | no tests | other |",
        "|---|---:|---:|---:|---:|",
    ]
    for module, c in sorted(per_module.items()):
        dead = sum(c[k] for k in KILLED)
        other = sum(c.values()) - dead - c["survived"] - c["no tests"]
        lines.append(f"| {module} | {dead} | {c['survived']} | {c['no tests']} | {other} |")
    lines += ["", "## Mutants left alive", ""]
    unexplained = 0
    for name in alive:
        shown = diff(name, root)
        why = explained(notes.get(name), shown)
        unexplained += why.startswith("UNEXPLAINED")
        lines += [f"### {name} ({counted[name]})", "", f"Why it stays: {why}", "", "```diff", shown, "```", ""]
    report.write_text("\n".join(lines))
    print(
        f"mutation score {score:.1%} ({killed} of {len(counted)} killed; goal {GOAL:.0%}); {len(alive)} alive, "
        f"{unexplained} unexplained; written to {report.relative_to(ROOT)}"
    )
    return 0 if score >= GOAL and not unexplained else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
