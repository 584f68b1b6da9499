"""make mutate: mutmut over the safety-critical modules (``[tool.mutmut]`` in pyproject.toml), then the score.

Writes bench/mutation-survivors.md: the score per module and overall against the 90 % goal, and every mutant
left alive with its diff and why it may stay (bench/mutation_notes.toml: mutant name = {why, diff}), or UNEXPLAINED.
A note counts only while its diff is the mutant's: mutmut numbers mutants within a function, so an edit above one
gives its number to another mutation.
With no arguments, each module is run by itself, and a module done is kept in bench/mutation-results.json with
the digests of its source and of the test files that run it: a later ``make mutate`` (another session, a clean
clone) runs only the modules whose source or tests changed since, so the full score accumulates over runs that
each fit in the time at hand. Verdicts reached with other tests are never carried over (mutmut's own cache in
mutants/ is reset for a module when a test file that runs it, or a fixture or helper it relies on, changed).
A new test file is not among a stored module's files until mutmut has seen it run the module: delete the
module's entry from the store (while no make mutate runs), or name it, to measure it again. A test file added to ``[tool.mutmut]``'s
selection keeps what is stored (more tests only kill more); one taken out makes stale the modules it ran.
Module paths as arguments (``ibkr_pipeline/trading/guards.py``) are measured and stored in the order given, whatever the store holds; other
arguments go to ``mutmut run`` as they are (mutant names or globs, e.g. ``ibkr_pipeline.domain.risk*``) and store
nothing; ``--report`` rewrites the report only.
A module cut short (executor and tick take longer than a session) keeps the verdicts it reached in
bench/mutation-partial.json, written at the end of every run and by ``--report`` (run it after stopping one):
mutants/ is not committed, and a later tree whose module source is the same starts from them, under the same
rules as mutmut's own cache (forgotten when a test file they were reached with changed).
A source file mutmut does not mutate is copied into mutants/ again before each module runs when it was edited
since (mutmut copies one only when it is missing there); its verdicts are not forgotten for it.

``--fast`` (make mutate-fast, minutes): the pure decision modules against the tests that need no Dagster run
(FAST below), in a copy of the tree at .mutmut-fast/, reported to bench/mutation-survivors-fast.md.
A lower bound for those modules: the full run adds the slower tests that also read them.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from mutmut.stats import status_by_exit_code  # mutmut's own reading of its exit codes

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPORT = ROOT / "bench" / "mutation-survivors.md"
NOTES = ROOT / "bench" / "mutation_notes.toml"
STORE = ROOT / "bench" / "mutation-results.json"
PARTIAL = ROOT / "bench" / "mutation-partial.json"  # verdicts of modules cut short, for the next tree to resume
GOAL = 0.90
SELECTION = "pytest_add_cli_args_test_selection"  # [tool.mutmut]'s pytest arguments: the tests mutmut runs
# The selected tests mostly wait (on the simulator's sockets, PostgreSQL, a delayed report): one pytest keeps a
# core about a third busy, so twice as many mutants at a time as cores use the machine without starving it.
CHILDREN = 2 * (os.cpu_count() or 2)
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
        config = re.sub(rf"^{key} = \[.*?^\]", replacement.replace("\\", "\\\\"), config, flags=re.S | re.M)
    (where / "pyproject.toml").write_text(config)
    return where


def results(root: Path) -> dict[str, str]:
    found = {}
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found.update({name: status_by_exit_code[code] for name, code in codes.items()})
    return found


def mutmut_config(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mutmut"]


def modules(root: Path) -> list[str]:
    """The files ``only_mutate`` names, as paths relative to the tree, in its order (the run's order)."""
    files = sorted(p.relative_to(root).as_posix() for p in (root / "ibkr_pipeline").rglob("*.py"))
    found = (f for pattern in mutmut_config(root)["only_mutate"] for f in files if fnmatch.fnmatch(f, pattern))
    return list(dict.fromkeys(found))


def dotted(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def digest(paths: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def selected_files(root: Path) -> list[str]:
    config = mutmut_config(root)
    selection = config[SELECTION]
    ignored = {root / a.split("=", 1)[1] for a in selection if a.startswith("--ignore=")}
    files: set[Path] = set()
    for entry in (a for a in selection if not a.startswith("-")):
        path = root / entry
        files |= {path} if path.is_file() else set(path.rglob("*.py"))
    return sorted(f.relative_to(root).as_posix() for f in files - ignored)


def covering_tests(root: Path, module: str) -> list[str]:
    """The test files whose tests run a function of the module (mutmut's stats: the tests each mutant gets)."""
    by_function = json.loads((root / "mutants" / "mutmut-stats.json").read_text())["tests_by_mangled_function_name"]
    return sorted(
        {
            test.split("::")[0]
            for name, tests in by_function.items()
            if module_of(name) == dotted(module)
            for test in tests
        }
    )


def helpers_of(root: Path, test_files: list[str]) -> set[str]:
    """The fixture and helper modules (files under ibkr_pipeline_tests not named test_*.py) the test files rely
    on: every conftest.py above them, and whatever they, and those in turn, import or name by module (a helper
    started as ``python -m ibkr_pipeline_tests.trading.placement_worker`` counts)."""
    helpers = {
        dotted(p.relative_to(root).as_posix()): p.relative_to(root).as_posix()
        for p in (root / "ibkr_pipeline_tests").rglob("*.py")
        if not p.name.startswith("test_") and p.name != "__init__.py"
    }
    found = {
        helpers[f"{dotted(parent.as_posix())}.conftest"]
        for name in test_files
        for parent in Path(name).parents
        if f"{dotted(parent.as_posix())}.conftest" in helpers
    }
    queue = [*test_files, *found]
    while queue:
        path = root / queue.pop()
        if not path.exists():
            continue
        text = path.read_text()
        named = {module for module in helpers if module in text} | imported_names(text)
        for module in named & helpers.keys():
            if helpers[module] not in found:
                found.add(helpers[module])
                queue.append(helpers[module])
    return found


@functools.cache
def imported_names(source: str) -> frozenset[str]:
    """What a file's ``from X import Y`` lines name (X and X.Y), parsed once per text in a run: ``run_module``
    asks for the helpers of every selected file, and they share conftest.py and the fixtures."""
    return frozenset(
        name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
        for name in (node.module, *(f"{node.module}.{alias.name}" for alias in node.names))
    )


def tests_digest(root: Path, test_files: list[str]) -> str:
    """The given test files, the fixtures and helpers they rely on (``helpers_of``), and mutmut's settings
    (timeouts, pytest arguments); a file gone counts as changed. The test selection is left out: a file added to
    it can only kill more, and a file taken out of it is caught by ``fits``."""
    settings = {k: v for k, v in mutmut_config(root).items() if k not in ("only_mutate", SELECTION)}
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name in sorted({*test_files, *helpers_of(root, test_files)}):
        path = root / name
        h.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"(missing)") + b"\0")
    return h.hexdigest()


def fingerprint(root: Path, module: str, test_files: list[str]) -> dict[str, str]:
    return {"source": digest([root / module], root), "tests": tests_digest(root, test_files)}


def fits(root: Path, module: str, entry: dict) -> bool:
    """A stored result still holds: same source, same tests, and every test file it was reached with still
    selected."""
    same = fingerprint(root, module, entry["test_files"]) == {"source": entry["source"], "tests": entry["tests"]}
    return same and set(entry["test_files"]) <= set(selected_files(root))


def reset_verdicts(root: Path, module: str, survivors_only: bool = False) -> None:
    """Forget mutmut's verdicts for a module (they were reached with other tests): its next run tries them again.
    ``survivors_only`` keeps the kills: a test file added, none changed, can only kill more."""
    meta = root / "mutants" / f"{module}.meta"
    if meta.exists():
        data = json.loads(meta.read_text())
        data["exit_code_by_key"] = {
            name: code if survivors_only and code is not None and status_by_exit_code[code] in KILLED else None
            for name, code in data["exit_code_by_key"].items()
        }
        meta.write_text(json.dumps(data, indent=4))


def retrace_changed_tests(root: Path, digests: dict[str, str]) -> None:
    """mutmut traces which functions a test runs only when it first sees the test: an edited test keeps its old
    trace, and a function it now calls would not get it run against its mutants (fewer kills, never more).
    Forget the traces of test files changed since they were traced; mutmut traces them again as new tests."""
    stats = root / "mutants" / "mutmut-stats.json"
    traced = root / "mutants" / "traced-digests.json"  # the test files' digests when mutmut last traced them
    known = read_json(traced)
    changed = {name for name, value in digests.items() if known.get(name) != value}
    if changed and stats.exists():  # with no stats yet, mutmut traces every test
        data = json.loads(stats.read_text())
        kept = lambda test: test.split("::")[0] not in changed  # noqa: E731
        data["duration_by_test"] = {t: d for t, d in data["duration_by_test"].items() if kept(t)}
        data["tests_by_mangled_function_name"] = {
            name: [t for t in tests if kept(t)] for name, tests in data["tests_by_mangled_function_name"].items()
        }
        stats.write_text(json.dumps(data, indent=4))
    traced.parent.mkdir(exist_ok=True)
    traced.write_text(json.dumps(digests, indent=1))


def read_json(path: Path) -> dict:
    """A bookkeeping file of make mutate, empty until first written."""
    return json.loads(path.read_text()) if path.exists() else {}


def tried_with(root: Path) -> Path:
    """Each module's test files' digests when mutmut's cached verdicts for it were reached."""
    return root / "mutants" / "tests-digest.json"


def generated_from(root: Path) -> Path:
    """Each module's source digest when mutmut last made its mutants (written after a complete run)."""
    return root / "mutants" / "generated-from.json"


def mutmut_command(root: Path, module: str, source: str) -> list[str]:
    """mutmut re-runs every mutant named on its command line, decided or not, so name only the undecided ones.
    A module whose source changed since mutmut last made its mutants is named whole (its mutants are made anew,
    every verdict with them); one with nothing undecided needs only its tests traced (new or edited test files)."""
    generated = generated_from(root)
    known = read_json(generated)
    run = [str(BIN / "mutmut"), "run", "--max-children", str(CHILDREN)]
    if known.get(module) != source or not (root / "mutants" / f"{module}.meta").exists():
        return [*run, f"{dotted(module)}.*"]
    undecided = sorted(n for n, st in results(root).items() if module_of(n) == dotted(module) and st in NOT_RUN)
    return [*run, *undecided] if undecided else [str(BIN / "mutmut"), "print-time-estimates", f"{dotted(module)}.*"]


def mutants_fresh(root: Path, module: str) -> bool:
    """mutmut's own test: the module's mutants exist and are no older than its source."""
    made = root / "mutants" / module
    return made.exists() and made.stat().st_mtime >= (root / module).stat().st_mtime


def keep_partial(root: Path, unstored: list[str], partial: Path) -> None:
    """The verdicts mutants/ holds for the modules with no stored result that fits (``stored_results``), with
    the source they were made from and the test files' digests they were reached with; a module stored since is
    dropped."""
    kept = read_json(partial)
    seen = read_json(tried_with(root))
    for module in modules(root):
        if module not in unstored:
            kept.pop(module, None)
            continue
        meta = root / "mutants" / f"{module}.meta"
        if not (meta.exists() and mutants_fresh(root, module) and isinstance(seen.get(module), dict)):
            continue
        data = json.loads(meta.read_text())
        if any(code is not None for code in data["exit_code_by_key"].values()):
            kept[module] = {"source": digest([root / module], root), "tests_seen": seen[module], "meta": data}
    if kept or partial.exists():
        partial.write_text(json.dumps(dict(sorted(kept.items())), indent=1, ensure_ascii=False) + "\n")


def restore_partial(root: Path, module: str, partial: Path) -> None:
    """The verdicts kept for the module's current source, where this tree has none of its own: a tree with no
    mutants of it yet, or one where mutmut just made them all undecided (the first module of a run makes every
    module's). Only when the test files both were reached with agree; those the partial's were reached with become
    the module's baseline, so a test file new to them re-runs their survivors. mutmut keeps a verdict whose
    function is unchanged when it makes the mutants, and is then named only the undecided ones."""
    entry = read_json(partial).get(module)
    meta = root / "mutants" / f"{module}.meta"
    if entry is None or entry["source"] != digest([root / module], root):
        return
    own = read_json(meta)
    seen = read_json(tried_with(root)).get(module) or {}
    if any(seen[f] != d for f, d in entry["tests_seen"].items() if f in seen):
        return  # a test file changed between them: the tree's verdicts alone hold
    decided = {k: v for k, v in own.get("exit_code_by_key", {}).items() if v is not None}
    meta.parent.mkdir(parents=True, exist_ok=True)
    codes = {**entry["meta"]["exit_code_by_key"], **decided}
    meta.write_text(json.dumps({**entry["meta"], **own, "exit_code_by_key": codes}, indent=4))
    for path, value in (
        (generated_from(root), entry["source"]),
        (tried_with(root), entry["tests_seen"]),
    ):
        path.write_text(json.dumps({**read_json(path), module: value}, indent=1))


def restore_stored(root: Path, module: str, store: dict) -> None:
    """The kills of the module's stored result, where this tree's mutants of the current source have no verdict.

    A stored result that still fits was reached with test files all unchanged since, so its kills hold; its
    survivors stay undecided for the tests added since. Where the tree has no baseline of its own, those test
    files become it, so a new test file re-runs the survivors alone: a fresh clone does not measure again what
    the store already says."""
    entry = store.get(module)
    meta = root / "mutants" / f"{module}.meta"
    if entry is None or not fits(root, module, entry) or not (meta.exists() and mutants_fresh(root, module)):
        return
    code_of: dict[str, int] = {}
    for code, status in status_by_exit_code.items():
        if code is not None:
            code_of.setdefault(status, code)
    data = json.loads(meta.read_text())
    data["exit_code_by_key"] = {
        name: code_of[entry["mutants"][name]] if code is None and entry["mutants"].get(name) in KILLED else code
        for name, code in data["exit_code_by_key"].items()
    }
    meta.write_text(json.dumps(data, indent=4))
    seen = read_json(tried_with(root))
    if not isinstance(seen.get(module), dict):
        seen[module] = {name: tests_digest(root, [name]) for name in entry["test_files"]}
        tried_with(root).write_text(json.dumps(seen, indent=1))
    generated = read_json(generated_from(root))
    generated.setdefault(module, entry["source"])
    generated_from(root).write_text(json.dumps(generated, indent=1))


def refresh_unmutated(root: Path) -> list[str]:
    """mutmut copies a source file into mutants/ only when it is missing there, so a module no one mutates that was
    edited since (a fix in the broker client) would run stale under every mutant, and a test of the fix would fail
    mutmut's clean run. Copy those again; the mutated modules are mutmut's to make."""
    mutated = set(modules(root))
    copied = []
    for top in mutmut_config(root).get("source_paths", ["ibkr_pipeline"]):
        for path in sorted((root / top).rglob("*")):
            name = path.relative_to(root).as_posix()
            target = root / "mutants" / name
            if not path.is_file() or "__pycache__" in path.parts or name in mutated or not target.exists():
                continue  # a file missing from mutants/ is copied by mutmut itself
            if target.read_bytes() != path.read_bytes():
                shutil.copy2(path, target)
                copied.append(name)
    return copied


def run_module(root: Path, module: str, store: dict, log: Path, partial: Path = PARTIAL) -> None:
    """mutmut over one module; kept in the store once every one of its mutants has a verdict, with the digests
    of its source and of the test files that run it (a new test elsewhere leaves it measured; an edit to one of
    those files, or to the module, does not)."""
    restore_partial(root, module, partial)
    restore_stored(root, module, store)
    refresh_unmutated(root)
    before = {name: tests_digest(root, [name]) for name in selected_files(root)}
    retrace_changed_tests(root, before)
    source = digest([root / module], root)
    seen = read_json(tried_with(root))
    stats = root / "mutants" / "mutmut-stats.json"
    meta = root / "mutants" / f"{module}.meta"
    mutable = any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(ast.parse((root / module).read_text()))
    )
    for _attempt in range(2):  # a second pass when a test file new to mutmut's stats runs the module
        relevant = covering_tests(root, module) if stats.exists() else list(before)
        baseline = seen.get(module) if isinstance(seen.get(module), dict) else None
        changed = baseline is None or any(f in baseline and baseline[f] != before.get(f) for f in relevant)
        if changed or any(f not in (baseline or {}) for f in relevant):  # baseline is set when nothing changed
            reset_verdicts(root, module, survivors_only=not changed)
            seen[module] = before  # before the run: a run cut short keeps what it reached with these tests
            tried_with(root).parent.mkdir(exist_ok=True)
            tried_with(root).write_text(json.dumps(seen, indent=1))
        returncode = 0
        if mutable:
            with log.open("a") as out:
                returncode = subprocess.run(
                    mutmut_command(root, module, source), stdout=out, stderr=subprocess.STDOUT, cwd=root
                ).returncode
            if returncode == 0:  # its mutants were made from this source (a run cut short: made again next time)
                generated = generated_from(root)
                known = read_json(generated)
                generated.write_text(json.dumps({**known, module: source}, indent=1))
        found = {n: st for n, st in results(root).items() if module_of(n) == dotted(module)}
        test_files = covering_tests(root, module) if found else []
        stale = any(seen[module].get(f) != before.get(f) for f in test_files)  # a verdict older than a test file
        if not stale:
            break
    edited = digest([root / module], root) != source or any(
        tests_digest(root, [f]) != before.get(f) for f in test_files
    )
    if returncode and not found and meta.exists() and not json.loads(meta.read_text())["exit_code_by_key"]:
        returncode = 0  # mutmut made no mutant of it (only decorated functions, say) and refuses an empty selection
    if (  # a module with no mutants (no function, nothing mutable) is stored as such
        returncode
        or any(st in NOT_RUN for st in found.values())
        or edited  # the module or a test file that runs it changed while it ran (other tests may change)
        or stale
    ):
        print(
            f"{module}: not complete (mutmut exit {returncode}; {sum(st in NOT_RUN for st in found.values())} of "
            f"{len(found)} not run{'; edited while it ran' if edited else ''}); not stored",
            flush=True,
        )
        return
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=root).stdout
    store[module] = {
        **fingerprint(root, module, test_files),
        "test_files": test_files,
        "measured": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC at {head.strip() or '?'}",
        "mutants": dict(sorted(found.items())),
        "alive": {n: diff(n, root) for n, st in sorted(found.items()) if st not in KILLED},
    }
    STORE.write_text(json.dumps(store, indent=1, ensure_ascii=False) + "\n")
    killed = sum(st in KILLED for st in found.values())
    print(f"{module}: {killed} of {len(found)} killed; stored", flush=True)


def stored_results(root: Path, store: dict) -> tuple[dict[str, str], dict[str, str], dict[str, str], list[str]]:
    """Statuses and alive diffs of the modules whose store entry still fits the tree, when each was measured,
    and the modules with no such entry."""
    found: dict[str, str] = {}
    diffs: dict[str, str] = {}
    measured: dict[str, str] = {}
    missing = []
    for module in modules(root):
        entry = store.get(module)
        if entry is None or not fits(root, module, entry):
            missing.append(module)
            continue
        found.update(entry["mutants"])
        diffs.update(entry["alive"])
        measured[dotted(module)] = entry["measured"]
    return found, diffs, measured, missing


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
    """``--report`` writes the report from what is stored and what mutants/ holds, without running anything."""
    fast = "--fast" in argv
    argv = [a for a in argv if a != "--fast"]
    root, report = (fast_tree(), REPORT.with_name("mutation-survivors-fast.md")) if fast else (ROOT, REPORT)
    log = root / "mutants" / "mutmut-run.log"  # mutmut's progress line redraws itself: kept out of the terminal
    log.parent.mkdir(exist_ok=True)
    if argv != ["--report"]:
        log.write_text("")
    store = {} if fast or not STORE.exists() else json.loads(STORE.read_text())
    if not fast and (not argv or all(a.endswith(".py") for a in argv)):  # modules by path: measured and stored
        unknown = sorted(set(argv) - set(modules(root)))
        if unknown:
            raise SystemExit(f"not among [tool.mutmut] only_mutate: {', '.join(unknown)}")
        for module in argv or stored_results(root, store)[3]:
            run_module(root, module, store, log)
    elif argv != ["--report"]:
        with log.open("a") as out:
            subprocess.run(
                [str(BIN / "mutmut"), "run", "--max-children", str(CHILDREN), *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
            )
    found, diffs, measured, missing = ({}, {}, {}, []) if fast else stored_results(root, store)
    if not fast:
        keep_partial(root, missing, PARTIAL)
    unstored = {dotted(m) for m in missing}
    for name, state in results(root).items():  # this tree's runs of modules the store has no current entry for
        if fast or module_of(name) in unstored:
            found[name] = state
            if state not in NOT_RUN:
                measured.setdefault(module_of(name), "make mutate-fast" if fast else "this tree's mutants/, not stored")
    notes = tomllib.loads(NOTES.read_text()).get("survivors", {}) if NOTES.exists() else {}
    counted = {n: s for n, s in found.items() if s not in NOT_RUN}
    per_module: dict[str, Counter] = defaultdict(Counter)
    for name, state in counted.items():
        per_module[module_of(name)][state] += 1
    not_measured = sorted(unstored)  # no verdicts, or only some, for the module's current source and tests
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
            else "`[tool.mutmut]` in pyproject.toml; each module's results as stored in bench/mutation-results.json "
            "for its current source and the tests that run it."
        ),
        "",
        "| module | killed | of them by timeout | survived | no tests | other | measured |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for module in sorted(set(per_module) | set(measured)):  # a module measured with no mutants shows as 0
        c = per_module[module]
        dead = sum(c[k] for k in KILLED)
        other = sum(c.values()) - dead - c["survived"] - c["no tests"]
        lines.append(
            f"| {module} | {dead} | {c['timeout']} | {c['survived']} | {c['no tests']} | {other} | {measured[module]} |"
        )
    if not_measured:
        lines += [
            "",
            f"Not stored (not measured, or only in part, for the current source and tests): {', '.join(not_measured)}.",
        ]
    lines += ["", "## Mutants left alive", ""]
    unexplained = 0
    for name in alive:
        shown = diffs[name] if name in diffs else diff(name, root)
        why = explained(notes.get(name), shown)
        unexplained += why.startswith("UNEXPLAINED")
        lines += [f"### {name} ({counted[name]})", "", f"Why it stays: {why}", "", "```diff", shown, "```", ""]
    report.write_text("\n".join(lines))
    print(
        f"mutation score {score:.1%} ({killed} of {len(counted)} killed; goal {GOAL:.0%}); {len(alive)} alive, "
        f"{unexplained} unexplained; {len(not_measured)} modules not (fully) measured; written to {report.relative_to(ROOT)}"
    )
    return 0 if score >= GOAL and not unexplained and not not_measured else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
