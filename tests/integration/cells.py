"""Which verified cells each integration test runs on: the policies that docs/testing.md's
coverage table names (tests/unit/test_coverage_table.py keeps the two in agreement).

Every verified cell gets what users get from it: the build, the smoke tests with its real Kea,
and its release artifacts installed by install.sh, dpkg and apt. Tests whose subject is how
the hook behaves inside a Kea version (run-time guarantees), or does not depend on the cell's
Kea or architecture beyond the build recipe (the build pipeline with a stub hook, the refusals
of install.sh, the .deb's dependencies across Kea updates, rebuilds from build-info.json, the
source tarball), run on every cell of the machine's own architecture and on one cell of each
other architecture: those cells run under qemu-user emulation, which costs minutes per test.
Tests of the hook's own failure modes (launcher and handler: timeouts, floods, zombies, fds)
protect a code path, not a Kea version: they run on one cell per architecture (marker
``code_path``), the supervised launcher natively and the plain one under qemu-user.
"""

import platform

from kea_runscript.model import matrix

VERIFIED = matrix.load().verified
HOST_ARCH = matrix.MACHINE_ARCH.get(platform.machine(), platform.machine())


def native_and_one_per_foreign_arch(cells=VERIFIED) -> list:
    out, foreign_seen = [], set()
    for c in cells:
        if c.arch == HOST_ARCH:
            out.append(c)
        elif c.arch not in foreign_seen:
            foreign_seen.add(c.arch)
            out.append(c)
    return out


def one_per_arch(cells=VERIFIED) -> list:
    """The first cell of each architecture (as the foreign ones of the function above)."""
    out, seen = [], set()
    for c in cells:
        if c.arch not in seen:
            seen.add(c.arch)
            out.append(c)
    return out


NATIVE_AND_ONE_PER_FOREIGN_ARCH = native_and_one_per_foreign_arch()
ONE_PER_ARCH = one_per_arch()

#: The coverage table's names for the sets of cells a test runs on.
POLICIES = {
    "every verified cell": VERIFIED,
    "native, one per other arch": NATIVE_AND_ONE_PER_FOREIGN_ARCH,
    "one per arch": ONE_PER_ARCH,
    "the Kea 2.6 cells": [c for c in VERIFIED if c.series == "2.6"] or VERIFIED[:1],
    "one cell": VERIFIED[:1],
}
#: Tests with no cell parameter (the arm64 VM, the wheel, interrupted commands).
NO_CELL = "no cell"
#: The marker of the tests that run on ONE_PER_ARCH only, among those of a module-wide
#: parametrized fixture (tests/conftest.py deselects them on the other cells).
CODE_PATH_MARKER = "code_path"
#: The marker of the tests of cells of tier `arches` (matrix.yaml) that run in `nox -s arches`,
#: not in CI: all but CI_TESTS_OF_ARCHES_CELLS (tests/conftest.py adds it).
ARCHES_MARKER = "arches"
#: What CI runs of a cell of tier `arches`: its build and Kea's load check (`-t`) of its `.so`,
#: for these two cells, one per width of time_t on a 32-bit architecture (the build checks the
#: hook's against Kea's): trixie's armhf (64-bit time, under qemu-user) and i386 (32-bit).
#: Every other test of theirs, and everything of the other cells of tier `arches`, runs in
#: `nox -s arches`: CI's 40 minutes hold no more.
CI_TESTS_OF_ARCHES_CELLS = ("test_build.py::test_verified_cell",)
CI_ARCHES_CELLS = ("kea2.6.3-debian13-armhf", "kea2.6.3-debian13-i386")
