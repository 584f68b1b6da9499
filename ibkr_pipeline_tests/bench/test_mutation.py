"""make mutate's bookkeeping (bench/mutation.py) on a small tree: which stored results still hold, which tests
and helpers a result depends on, and what mutmut is asked to run (it re-runs every mutant named to it)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from bench.mutation import (
    BIN,
    CHILDREN,
    digest,
    explained,
    fingerprint,
    fits,
    generated_from,
    helpers_of,
    keep_partial,
    mutmut_command,
    refresh_unmutated,
    reset_verdicts,
    restore_partial,
    restore_stored,
    selected_files,
    tried_with,
)
from bench.mutation import (
    tests_digest as digest_of_tests,  # not test_*: pytest would collect it
)

CONFIG = """[tool.mutmut]
only_mutate = ["ibkr_pipeline/a.py"]
pytest_add_cli_args = ["--timeout=60"]
pytest_add_cli_args_test_selection = ["ibkr_pipeline_tests/unit", "--ignore=ibkr_pipeline_tests/unit/test_slow.py"]
"""
FILES = {
    "ibkr_pipeline/a.py": "def f(x):\n    return x + 1\n",
    "ibkr_pipeline_tests/conftest.py": "",
    "ibkr_pipeline_tests/helper.py": "from ibkr_pipeline_tests.deeper import thing\n",
    "ibkr_pipeline_tests/deeper.py": "thing = 1\n",
    "ibkr_pipeline_tests/unused.py": "",
    "ibkr_pipeline_tests/unit/conftest.py": "",
    "ibkr_pipeline_tests/unit/test_a.py": "from ibkr_pipeline_tests.helper import thing\n",
    "ibkr_pipeline_tests/unit/test_slow.py": "",
    "ibkr_pipeline_tests/other/test_other.py": "",
}
RUN = [str(BIN / "mutmut"), "run", "--max-children", str(CHILDREN)]
NAMES = [f"ibkr_pipeline.a.x_f__mutmut_{n}" for n in (1, 2, 3)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def verdicts(root: Path, codes: dict[str, int | None]) -> None:
    meta = root / "mutants" / "ibkr_pipeline" / "a.py.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}))


def read_verdicts(root: Path) -> dict[str, int | None]:
    return json.loads((root / "mutants" / "ibkr_pipeline" / "a.py.meta").read_text())["exit_code_by_key"]


def test_selected_files_follow_directories_and_ignores(root):
    assert selected_files(root) == ["ibkr_pipeline_tests/unit/conftest.py", "ibkr_pipeline_tests/unit/test_a.py"]


def test_a_test_file_relies_on_every_conftest_above_it_and_what_it_imports_in_turn(root):
    assert helpers_of(root, ["ibkr_pipeline_tests/unit/test_a.py"]) == {
        "ibkr_pipeline_tests/conftest.py",
        "ibkr_pipeline_tests/unit/conftest.py",
        "ibkr_pipeline_tests/helper.py",
        "ibkr_pipeline_tests/deeper.py",
    }


@pytest.mark.parametrize(
    ("edited", "still_fits"),
    [
        (None, True),
        ("ibkr_pipeline_tests/other/test_other.py", True),  # a test that does not run the module
        ("ibkr_pipeline_tests/unused.py", True),
        ("ibkr_pipeline/a.py", False),
        ("ibkr_pipeline_tests/unit/test_a.py", False),
        ("ibkr_pipeline_tests/deeper.py", False),  # a helper of a helper
        ("ibkr_pipeline_tests/conftest.py", False),
        ("pyproject.toml", False),  # mutmut's settings (a timeout) changed
    ],
)
def test_a_stored_result_holds_until_the_module_or_a_test_it_was_reached_with_changes(root, edited, still_fits):
    tests = ["ibkr_pipeline_tests/unit/test_a.py"]
    entry = {**fingerprint(root, "ibkr_pipeline/a.py", tests), "test_files": tests}
    if edited == "pyproject.toml":
        (root / edited).write_text(CONFIG.replace("--timeout=60", "--timeout=30"))
    elif edited:
        (root / edited).write_text((root / edited).read_text() + "# edited\n")
    assert fits(root, "ibkr_pipeline/a.py", entry) is still_fits


def test_a_result_reached_with_a_test_file_no_longer_selected_does_not_hold(root):
    tests = ["ibkr_pipeline_tests/unit/test_a.py"]
    entry = {**fingerprint(root, "ibkr_pipeline/a.py", tests), "test_files": tests}
    (root / "pyproject.toml").write_text(CONFIG.replace("unit/test_slow.py", "unit/test_a.py"))
    assert fits(root, "ibkr_pipeline/a.py", entry) is False


def test_forgetting_verdicts_keeps_the_kills_only_when_asked(root):
    codes = {NAMES[0]: 1, NAMES[1]: 0, NAMES[2]: 36}  # killed, survived, timeout
    verdicts(root, codes)
    reset_verdicts(root, "ibkr_pipeline/a.py", survivors_only=True)
    assert read_verdicts(root) == {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 36}
    verdicts(root, codes)
    reset_verdicts(root, "ibkr_pipeline/a.py")
    assert read_verdicts(root) == dict.fromkeys(NAMES)


def test_mutmut_is_asked_for_the_whole_module_only_when_its_mutants_are_not_made_from_this_source(root):
    source = digest([root / "ibkr_pipeline/a.py"], root)
    assert mutmut_command(root, "ibkr_pipeline/a.py", source) == [*RUN, "ibkr_pipeline.a.*"]  # never made
    verdicts(root, {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0})
    generated_from(root).write_text(json.dumps({"ibkr_pipeline/a.py": "an older source"}))
    assert mutmut_command(root, "ibkr_pipeline/a.py", source) == [*RUN, "ibkr_pipeline.a.*"]
    generated_from(root).write_text(json.dumps({"ibkr_pipeline/a.py": source}))
    assert mutmut_command(root, "ibkr_pipeline/a.py", source) == [*RUN, NAMES[1]]  # the undecided one only
    verdicts(root, {NAMES[0]: 1, NAMES[1]: 0, NAMES[2]: 0})
    assert mutmut_command(root, "ibkr_pipeline/a.py", source) == [
        str(BIN / "mutmut"),
        "print-time-estimates",
        "ibkr_pipeline.a.*",
    ]


def test_a_note_explains_only_the_mutation_it_was_written_for():
    note = {"why": "equivalent: x", "diff": "-    return x + 1\n+    return x + 2"}
    assert explained(note, "-    return x + 1\n+    return x + 2\n") == "equivalent: x"
    assert explained(note, "-    return x + 1\n+    return x - 1").startswith("UNEXPLAINED (its note was written")
    assert explained(None, "anything") == "UNEXPLAINED"


def cut_short(root: Path, codes: dict[str, int | None]) -> None:
    """mutants/ as a run stopped part-way leaves it: mutants made, some verdicts, the tests they were reached with."""
    verdicts(root, codes)
    made = root / "mutants" / "ibkr_pipeline" / "a.py"
    made.write_text("# mutants of a.py\n")
    (root / "mutants" / "tests-digest.json").write_text(json.dumps({"ibkr_pipeline/a.py": {"t.py": "d"}}))


def test_a_module_cut_short_resumes_in_a_new_tree_from_the_verdicts_it_reached(root, tmp_path_factory):
    partial = tmp_path_factory.mktemp("bench") / "mutation-partial.json"
    cut_short(root, {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0})
    keep_partial(root, ["ibkr_pipeline/a.py"], partial)
    source = digest([root / "ibkr_pipeline/a.py"], root)
    assert json.loads(partial.read_text())["ibkr_pipeline/a.py"]["source"] == source
    shutil.rmtree(root / "mutants")  # a clean clone
    restore_partial(root, "ibkr_pipeline/a.py", partial)
    assert read_verdicts(root) == {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0}
    assert json.loads((root / "mutants" / "tests-digest.json").read_text()) == {"ibkr_pipeline/a.py": {"t.py": "d"}}
    assert mutmut_command(root, "ibkr_pipeline/a.py", source) == [*RUN, NAMES[1]]


def test_verdicts_kept_for_another_source_are_not_restored(root, tmp_path_factory):
    partial = tmp_path_factory.mktemp("bench") / "mutation-partial.json"
    cut_short(root, {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0})
    keep_partial(root, ["ibkr_pipeline/a.py"], partial)
    shutil.rmtree(root / "mutants")
    (root / "ibkr_pipeline/a.py").write_text("def f(x):\n    return x + 2\n")
    restore_partial(root, "ibkr_pipeline/a.py", partial)
    assert not (root / "mutants" / "ibkr_pipeline" / "a.py.meta").exists()


def test_a_tree_with_its_own_verdicts_keeps_them_and_takes_the_kept_ones_where_it_has_none(root, tmp_path_factory):
    partial = tmp_path_factory.mktemp("bench") / "mutation-partial.json"
    cut_short(root, {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0})
    keep_partial(root, ["ibkr_pipeline/a.py"], partial)
    verdicts(root, {NAMES[0]: None, NAMES[1]: 1, NAMES[2]: None})  # made again by a later run, one decided
    restore_partial(root, "ibkr_pipeline/a.py", partial)
    assert read_verdicts(root) == {NAMES[0]: 1, NAMES[1]: 1, NAMES[2]: 0}
    assert json.loads((root / "mutants" / "tests-digest.json").read_text())["ibkr_pipeline/a.py"] == {"t.py": "d"}


def test_kept_verdicts_reached_with_another_version_of_a_test_file_are_not_restored(root, tmp_path_factory):
    partial = tmp_path_factory.mktemp("bench") / "mutation-partial.json"
    cut_short(root, {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0})
    keep_partial(root, ["ibkr_pipeline/a.py"], partial)
    verdicts(root, dict.fromkeys(NAMES))
    (root / "mutants" / "tests-digest.json").write_text(json.dumps({"ibkr_pipeline/a.py": {"t.py": "edited"}}))
    restore_partial(root, "ibkr_pipeline/a.py", partial)
    assert read_verdicts(root) == dict.fromkeys(NAMES)


def test_nothing_is_kept_for_mutants_older_than_the_source_or_without_a_verdict(root, tmp_path_factory):
    partial = tmp_path_factory.mktemp("bench") / "mutation-partial.json"
    cut_short(root, dict.fromkeys(NAMES))
    keep_partial(root, ["ibkr_pipeline/a.py"], partial)
    assert not partial.exists()
    cut_short(root, {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0})
    made = root / "mutants" / "ibkr_pipeline" / "a.py"
    os.utime(made, (1, 1))  # the source was edited after mutmut made these mutants
    keep_partial(root, ["ibkr_pipeline/a.py"], partial)
    assert not partial.exists()


def test_a_module_stored_since_is_dropped_from_the_partial_verdicts(root, tmp_path_factory):
    partial = tmp_path_factory.mktemp("bench") / "mutation-partial.json"
    cut_short(root, {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 0})
    keep_partial(root, ["ibkr_pipeline/a.py"], partial)
    keep_partial(root, [], partial)  # stored_results found a fitting entry for it
    assert json.loads(partial.read_text()) == {}


def test_a_source_file_edited_since_mutants_were_made_is_copied_again_unless_mutmut_mutates_it(root):
    (root / "ibkr_pipeline" / "client.py").write_text("fixed = True\n")
    for name, text in {"ibkr_pipeline/client.py": "fixed = False\n", "ibkr_pipeline/a.py": "# trampolines\n"}.items():
        (root / "mutants" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "mutants" / name).write_text(text)
    assert refresh_unmutated(root) == ["ibkr_pipeline/client.py"]
    assert (root / "mutants" / "ibkr_pipeline" / "client.py").read_text() == "fixed = True\n"
    assert (root / "mutants" / "ibkr_pipeline" / "a.py").read_text() == "# trampolines\n"  # mutmut's own
    assert refresh_unmutated(root) == []


def made(root: Path, codes: dict[str, int | None]) -> str:
    """mutants/ as mutmut leaves it once it made a module's mutants from the current source: the source's digest."""
    verdicts(root, codes)
    (root / "mutants" / "ibkr_pipeline" / "a.py").write_text("# mutants of a.py\n")
    return digest([root / "ibkr_pipeline/a.py"], root)


def stored(root: Path, statuses: list[str]) -> dict:
    tests = ["ibkr_pipeline_tests/unit/test_a.py"]
    entry = {**fingerprint(root, "ibkr_pipeline/a.py", tests), "test_files": tests}
    return {"ibkr_pipeline/a.py": {**entry, "mutants": dict(zip(NAMES, statuses, strict=True))}}


def test_a_fresh_tree_takes_the_stored_kills_and_runs_only_the_survivors_again(root):
    store = stored(root, ["killed", "survived", "timeout"])
    source = made(root, dict.fromkeys(NAMES))
    restore_stored(root, "ibkr_pipeline/a.py", store)
    assert read_verdicts(root) == {NAMES[0]: 1, NAMES[1]: None, NAMES[2]: 36}
    test_a = "ibkr_pipeline_tests/unit/test_a.py"
    assert json.loads(tried_with(root).read_text()) == {"ibkr_pipeline/a.py": {test_a: digest_of_tests(root, [test_a])}}
    assert mutmut_command(root, "ibkr_pipeline/a.py", source) == [*RUN, NAMES[1]]


def test_the_trees_own_verdicts_and_baseline_win_over_the_stored_ones(root):
    store = stored(root, ["killed", "survived", "killed"])
    made(root, {NAMES[0]: None, NAMES[1]: 1, NAMES[2]: 0})
    tried_with(root).write_text(json.dumps({"ibkr_pipeline/a.py": {"t.py": "d"}}))
    restore_stored(root, "ibkr_pipeline/a.py", store)
    assert read_verdicts(root) == {NAMES[0]: 1, NAMES[1]: 1, NAMES[2]: 0}
    assert json.loads(tried_with(root).read_text()) == {"ibkr_pipeline/a.py": {"t.py": "d"}}


@pytest.mark.parametrize("change", ["a test it was reached with", "the source", "mutants older than the source"])
def test_stored_kills_that_may_no_longer_hold_are_not_taken(root, change):
    store = stored(root, ["killed", "killed", "killed"])
    made(root, dict.fromkeys(NAMES))
    if change == "a test it was reached with":
        (root / "ibkr_pipeline_tests/unit/test_a.py").write_text("# edited\n")
    elif change == "the source":
        (root / "ibkr_pipeline/a.py").write_text("def f(x):\n    return x + 2\n")
    else:
        os.utime(root / "mutants" / "ibkr_pipeline" / "a.py", (1, 1))
    restore_stored(root, "ibkr_pipeline/a.py", store)
    assert read_verdicts(root) == dict.fromkeys(NAMES)
    assert not tried_with(root).exists() and not generated_from(root).exists()
