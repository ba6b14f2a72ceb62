"""Which verified cells each integration test runs on.

Every verified cell gets what users get from it: the build, the smoke and run-time tests with
its real Kea, and its release artifacts installed by install.sh, dpkg and apt. Tests whose
subject does not depend on the cell's Kea or architecture beyond the build recipe (the build
pipeline with a stub hook, the refusals of install.sh, the .deb's dependencies across Kea
updates, rebuilds from build-info.json, the source tarball) run on every cell of the
machine's own architecture and on one cell of each other architecture: those cells run under
qemu-user emulation, which costs minutes per test.
"""

import platform

from kea_runscript import matrix

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


NATIVE_AND_ONE_PER_FOREIGN_ARCH = native_and_one_per_foreign_arch()
