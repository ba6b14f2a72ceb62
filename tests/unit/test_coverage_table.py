"""docs/testing.md's coverage table says where each integration test runs; this keeps it true.
The integration tests are collected (not run) as `nox -s integration` collects them, each one's
cells are compared with its row's policy (tests/integration/cells.py), and a test without a
row, or a row without a test, fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict

import pytest

from kea_runscript import ROOT
from kea_runscript.model import matrix
from tests.integration.test_launcher_vm import ARCHES_TIER_KERNELS
from tests.support import qemu_system
from tests.integration.cells import (CI_ARCHES_CELLS, CI_TESTS_OF_ARCHES_CELLS, CODE_PATH_MARKER, NO_CELL,
                                    POLICIES)

DOC = ROOT / "docs" / "testing.md"


def table_rows(text: str) -> list:
    """(file, function or None, marked code_path, policy) per test named in the table."""
    section = text.split("## Coverage: what runs where", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) != 3 or not cols[0].startswith("`test_"):
            continue
        marked = f"marked `{CODE_PATH_MARKER}`" in cols[0]
        for name in re.findall(r"`([^`]+)`", cols[0]):
            if name == CODE_PATH_MARKER:
                continue
            file, _, function = name.partition("::")
            rows.append((file, function or None, marked, cols[1]))
    return rows


def collected(tmp_path, selection: str = "integration") -> list:
    out = tmp_path / "collected.json"
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", selection,
                        "-p", "no:cacheprovider", "tests/integration"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env={**os.environ, "KEA_RUNSCRIPT_COVERAGE_OUT": str(out)})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return json.loads(out.read_text())


def row_for(rows, file, function, marked):
    exact = [r for r in rows if r[0] == file and r[1] == function]
    if exact:
        return exact[0]
    whole = [r for r in rows if r[0] == file and r[1] is None and r[2] == marked]
    return whole[0] if whole else None


def test_every_row_names_a_known_policy():
    rows = table_rows(DOC.read_text())
    assert rows
    for file, function, _, policy in rows:
        assert policy in POLICIES or policy == NO_CELL, f"{file}::{function}: unknown policy {policy!r}"


def test_the_table_and_the_collected_integration_tests_agree(tmp_path):
    rows = table_rows(DOC.read_text())
    cells = defaultdict(set)  # (file, function, marked) -> cell ids it runs on
    for t in collected(tmp_path):
        cells[(t["file"], t["function"], t["code_path"])].add(t["cell"])
    problems, used = [], set()
    for (file, function, marked), ids in sorted(cells.items(), key=str):
        row = row_for(rows, file, function, marked)
        if row is None:
            problems.append(f"{file}::{function} is not in docs/testing.md's coverage table")
            continue
        used.add(row)
        policy = row[3]
        want = {None} if policy == NO_CELL else {c.id for c in POLICIES[policy]}
        if ids != want:
            problems.append(f"{file}::{function} runs on {sorted(ids, key=str)}; its row says "
                            f"{policy!r}: {sorted(want, key=str)}")
    problems += [f"row {r[0]}::{r[1]} ({r[3]}) matches no collected test" for r in rows if r not in used]
    assert not problems, "\n".join(problems)


def test_ci_runs_only_the_build_of_the_arches_cells_and_nox_arches_the_rest(tmp_path):
    """What `nox -s integration` (CI) and `nox -s arches` select with their -m expressions:
    together every collected test, apart; of the cells of tier `arches`, CI takes only the
    build and load check of CI_ARCHES_CELLS (and the launcher's VMs of ARCHES_TIER_KERNELS run
    in `nox -s arches` alone)."""
    arches = {c.id for c in matrix.load().verified if c.tier == "arches"}
    assert arches, "no cell of tier arches in matrix.yaml"
    every, ci_tests, arches_tests = (collected(tmp_path, s) for s in (
        "integration", "integration and not arches", "integration and arches"))
    nodeids = lambda tests: {t["nodeid"] for t in tests}  # noqa: E731
    assert nodeids(ci_tests) | nodeids(arches_tests) == nodeids(every)
    assert not nodeids(ci_tests) & nodeids(arches_tests)
    key = lambda t: (t["file"], t["function"], t["cell"])  # noqa: E731
    ci, nox_arches = {key(t) for t in ci_tests}, {key(t) for t in arches_tests}
    assert {f"{f}::{fn}" for f, fn, cell in ci if cell in arches} == set(CI_TESTS_OF_ARCHES_CELLS)
    assert {cell for _, _, cell in ci if cell in arches} == set(CI_ARCHES_CELLS) <= arches
    assert {cell for _, _, cell in nox_arches if cell} == arches
    kernels = {t["nodeid"].split("[")[1].split("-")[0] for t in arches_tests if not t["cell"]}
    assert kernels == {qemu_system.KERNELS[k].arch for k in ARCHES_TIER_KERNELS}


@pytest.mark.parametrize("line, expected", [
    ("| `test_a.py` | one cell | x |", [("test_a.py", None, False, "one cell")]),
    ("| `test_a.py` marked `code_path` | one per arch | x |", [("test_a.py", None, True, "one per arch")]),
    ("| `test_a.py::f`, `test_b.py::g` | no cell | x |",
     [("test_a.py", "f", False, "no cell"), ("test_b.py", "g", False, "no cell")]),
])
def test_rows_are_read_as_written(line, expected):
    assert table_rows(f"## Coverage: what runs where\n\n| h | h | h |\n|---|---|---|\n{line}\n") == expected


def test_a_matrix_without_verified_cells_fails_collection_instead_of_skipping(tmp_path):
    """Every per-cell test parametrized over no cell would be one silent skip
    (pytest's empty_parameter_set_mark, set to fail_at_collect in pyproject.toml)."""
    text = (ROOT / "matrix.yaml").read_text().replace("status: verified", "status: declared")
    (tmp_path / "matrix.yaml").write_text(text)
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "integration",
                        "-p", "no:cacheprovider", "tests/integration/test_smoke.py"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "KEA_RUNSCRIPT_MATRIX": str(tmp_path / "matrix.yaml")})
    assert r.returncode != 0, r.stdout[-2000:]
    assert "Empty parameter set" in r.stdout + r.stderr, r.stdout[-2000:]
