"""Shared fixtures.

* Unit tests cannot reach Docker: any attempt raises (``no_docker``, autouse outside the
  integration marker).
* Integration tests (``@pytest.mark.integration``) run only when selected with
  ``-m integration`` (``nox -s integration``).
* ``stub_render`` is a tiny stand-in for ``kea_runscript.generate.render.render_tree``: a one-file
  hook library with a Makefile, enough to exercise the build pipeline without the real hook.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(config, items):
    expr = config.getoption("-m") or ""
    if "integration" in expr and "not integration" not in expr:
        _mark_arches_tier(items)
        _only_code_path_cells(config, items)
        _group_by_cell(items)
        return
    skip = pytest.mark.skip(reason="integration test: run with -m integration (nox -s integration)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


def _cell_of(item):
    from kea_runscript.model.matrix import Cell
    params = getattr(getattr(item, "callspec", None), "params", {})
    return next((v for v in params.values() if isinstance(v, Cell)), None)


def _mark_arches_tier(items):
    """The tests of cells of tier ``arches`` (matrix.yaml) get the marker ``arches``, but for
    the build and load check of CI_ARCHES_CELLS (CI_TESTS_OF_ARCHES_CELLS): CI selects ``not
    arches``, `nox -s arches` selects ``arches`` (before pytest's own -m selection, as this
    hook runs first)."""
    from tests.integration.cells import ARCHES_MARKER, CI_ARCHES_CELLS, CI_TESTS_OF_ARCHES_CELLS
    for item in items:
        cell = _cell_of(item)
        in_ci = cell is not None and cell.id in CI_ARCHES_CELLS and \
            f"{item.path.name}::{item.originalname}" in CI_TESTS_OF_ARCHES_CELLS
        if cell is not None and cell.tier == "arches" and not in_ci:
            item.add_marker(ARCHES_MARKER)


def _only_code_path_cells(config, items):
    """Tests marked ``code_path`` share their module's fixture (one container per cell) with
    the others but run on one cell per architecture only (tests/integration/cells.py)."""
    from tests.integration.cells import CODE_PATH_MARKER, ONE_PER_ARCH
    keep, drop = [], []
    for item in items:
        cell = _cell_of(item)
        if cell is not None and item.get_closest_marker(CODE_PATH_MARKER) and cell not in ONE_PER_ARCH:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session):
    """With $KEA_RUNSCRIPT_COVERAGE_OUT set (tests/unit/test_coverage_table.py): each collected
    test's file, function, cell and ``code_path`` marker, as JSON, for the coverage table."""
    import json
    import os
    out = os.environ.get("KEA_RUNSCRIPT_COVERAGE_OUT")
    if not out:
        return
    from tests.integration.cells import CODE_PATH_MARKER
    rows = []
    for item in session.items:
        cell = _cell_of(item)
        rows.append({"file": item.path.name, "function": item.originalname, "nodeid": item.nodeid,
                     "cell": cell.id if cell else None,
                     "code_path": item.get_closest_marker(CODE_PATH_MARKER) is not None})
    with open(out, "w") as f:
        json.dump(rows, f)


def _group_by_cell(items):
    """With pytest-xdist (``-n N --dist loadgroup``), every test of one cell runs on one
    worker, one after the other: the cell's module fixtures (its smoke or run-time container)
    are set up once, and two workers never build or start the same cell's Kea at once."""
    for item in items:
        cell = _cell_of(item)
        if cell is not None:
            item.add_marker(pytest.mark.xdist_group(cell.id))


#: How long one integration test may take, its fixtures' set-up included (a cell's smoke run
#: on an emulated cell takes 3-5 minutes, a cold builder image 10); $KEA_RUNSCRIPT_TEST_BOUND_S
#: overrides it. Past it the test fails with what its containers were doing.
TEST_BOUND_S = 25 * 60
#: What a timed-out test reports from each of its containers.
SNAPSHOT = ("echo '# processes'; ps -eo pid,ppid,stat,etime,args; "
            "for f in /var/log/kea/*.log /smoke/out/*.out; do [ -f \"$f\" ] || continue; "
            "echo \"# tail of $f\"; tail -n 15 \"$f\"; done")


class TimeBoundPassed(Exception):
    """An integration test passed TEST_BOUND_S."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Integration tests cannot hang: each one's set-up, call and teardown get TEST_BOUND_S
    (SIGALRM in the test process's main thread, where pytest runs it)."""
    import os
    import signal
    import threading
    if "integration" not in item.keywords or threading.current_thread() is not threading.main_thread():
        yield
        return
    bound = float(os.environ.get("KEA_RUNSCRIPT_TEST_BOUND_S", TEST_BOUND_S))

    def expired(_signum, _frame):
        from kea_runscript.engine import containers
        raise TimeBoundPassed(f"{item.nodeid} passed its {bound:g} s bound (tests/conftest.py TEST_BOUND_S); "
                              f"what its containers were doing:\n{containers.snapshot_of_mine(SNAPSHOT)}")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, bound)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class DockerForbidden(BaseException):
    """BaseException so that no ``except Exception`` in the toolkit can swallow it."""


@pytest.fixture(autouse=True)
def no_docker(request, monkeypatch):
    """Make every use of the Docker SDK raise in unit tests."""
    if "integration" in request.keywords:
        yield
        return
    import docker
    import docker.api.client

    def forbidden(*_a, **_k):
        raise DockerForbidden("unit tests must not use Docker (mark the test integration)")

    monkeypatch.setattr(docker.api.client.APIClient, "__init__", forbidden)
    monkeypatch.setattr(docker, "from_env", forbidden)
    from kea_runscript.engine import containers
    monkeypatch.setattr(containers._local, "client", None, raising=False)
    monkeypatch.setattr(containers, "client", forbidden)
    yield


STUB_CC = textwrap.dedent("""\
    // Stand-in hook used by the toolkit's tests: exports what Kea checks when loading a library.
    #include <hooks/hooks.h>
    extern "C" {
    int version() { return KEA_HOOKS_VERSION; }
    int load(isc::hooks::LibraryHandle&) { return 0; }
    int unload() { return 0; }
    int multi_threading_compatible() { return 1; }
    }
    """)

STUB_MAKEFILE = textwrap.dedent("""\
    KEA_INCLUDE ?= /usr/include/kea
    KEA_LIB ?= /usr/lib/x86_64-linux-gnu
    CXXFLAGS ?= -O2
    kea-hook-runscript.so: stub.cc
    \t$(CXX) $(CXXFLAGS) -std=c++17 -fPIC -shared -I$(KEA_INCLUDE) -o $@ $< -L$(KEA_LIB) -lkea-hooks
    """)


def write_stub_tree(kea_version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "stub.cc").write_text(f"// Kea {kea_version}\n" + STUB_CC)
    (dest / "Makefile").write_text(STUB_MAKEFILE)
    return dest


@pytest.fixture
def stub_render():
    return write_stub_tree
