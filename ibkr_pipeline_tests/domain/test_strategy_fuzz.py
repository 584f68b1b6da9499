"""The strategy-file fuzzer: every hostile or careless file is rejected with a located message or accepted;
none crashes, hangs or takes more than the memory budget, and the code location loads beside all of them."""

from __future__ import annotations

import re
import threading
import tracemalloc
from collections import Counter
from pathlib import Path

import dagster as dg

from ibkr_pipeline.definitions import build_definitions
from ibkr_pipeline.domain.strategy import StrategyFileError, load_strategy
from ibkr_pipeline_tests.conftest import report_line
from ibkr_pipeline_tests.domain.strategy_corpus import GOOD, corpus

MEMORY_BUDGET = 64 * 2**20
HANG_GUARD_S = 30  # a generous ceiling that only a hang reaches; nothing here asserts speed


def _load(path: Path) -> tuple[str, object, int]:
    """(outcome, detail, peak traced bytes) of loading one file, on a thread so a hang cannot stop the suite."""
    box: dict[str, object] = {}

    def work() -> None:
        tracemalloc.start()
        try:
            box["spec"] = load_strategy(path)
        except StrategyFileError as exc:
            box["error"] = exc
        except BaseException as exc:  # noqa: BLE001 - what the fuzzer is looking for
            box["crash"] = exc
        finally:
            box["peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    if thread.is_alive():
        return "hang", None, 0
    peak = int(box["peak"])  # type: ignore[call-overload]
    for outcome in ("crash", "error", "spec"):
        if outcome in box:
            return outcome, box[outcome], peak
    raise AssertionError("unreachable")


_LOCATED = re.compile(r"^(line \d+|[a-z_]+(\.[a-z0-9_]+)*)(,|:)")


def test_every_strategy_file_is_rejected_with_a_location_or_accepted(tmp_path):
    counts: Counter[str] = Counter()
    failures: list[str] = []
    directory = tmp_path / "strategies"
    directory.mkdir()
    cases = corpus()
    for i, case in enumerate(cases):
        path = directory / f"{i:03d}.yaml"
        case.write(path)
        outcome, detail, peak = _load(path)
        label = f"{case.category}/{case.name!r} ({path.name})"
        if peak > MEMORY_BUDGET:
            failures.append(f"{label}: traced {peak / 2**20:.0f} MiB")
        if outcome in ("hang", "crash"):
            counts[outcome] += 1
            failures.append(f"{label}: {outcome}: {detail!r}")
            continue
        if outcome == "spec":
            counts["accepted"] += 1
            if case.expect == "reject":
                failures.append(f"{label}: accepted, should have been rejected")
            continue
        assert isinstance(detail, StrategyFileError)
        lines = str(detail).splitlines()
        if not all(line.startswith(f"{path}: ") for line in lines):
            failures.append(f"{label}: a line does not start with the file: {lines}")
        located = all(_LOCATED.match(line.removeprefix(f"{path}: ")) for line in lines)
        counts["rejected with file and location" if located else "rejected with the file"] += 1
        if case.expect == "accept":
            failures.append(f"{label}: rejected, should have been accepted: {lines}")
    report_line(
        f"strategy-file fuzzer: {len(cases)} files: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    )
    assert not failures, "\n".join(failures)
    assert counts["crash"] == counts["hang"] == 0

    # The code location loads with every one of them in its strategies directory.
    (directory / "zz_good.yaml").write_text(GOOD.replace("name: fuzzed", "name: survivor"))
    defs = build_definitions(directory)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "survivor/orders" in keys and "strategy_files" in keys
    broken = defs.resolve_assets_def("strategy_files").metadata_by_key[dg.AssetKey("strategy_files")]["broken"]
    assert len(broken.value) >= counts["rejected with file and location"] + counts["rejected with the file"]
