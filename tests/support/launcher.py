"""What the launcher's tests share (tests/unit/test_launcher.py, the arm64 VM's
tests/integration/test_launcher_vm.py): the driver builds that force each kernel- or
libc-dependent path, and the readers of the driver's output."""

from tests.support.scenarios.load import launch_mappings

BUILDS = {
    "default": (),
    # Kernels before 5.9 (Debian 10, Ubuntu 20.04): no close_range.
    "no-close-range": ("RUNSCRIPT_NO_CLOSE_RANGE",),
    # Kernels before 5.3 (Debian 10, RHEL 8, Ubuntu 18.04), decided at build time.
    "no-pidfd": ("RUNSCRIPT_NO_PIDFD",),
    # The same, found at run time: clone() ignores CLONE_PIDFD and pidfd_open does not exist.
    "old-kernel": ("RUNSCRIPT_FAKE_OLD_CLONE",),
    # A clone that ignores CLONE_PIDFD on a kernel with pidfd_open (none known): the supervisor
    # is then waited for by polling, never started twice.
    "clone-ignores-pidfd": ("RUNSCRIPT_FAKE_CLONE_IGNORES_PIDFD",),
    # glibc before 2.34 (no posix_spawn_file_actions_addclosefrom_np): vfork.
    "no-spawn-closefrom": ("RUNSCRIPT_NO_SPAWN_CLOSEFROM",),
    # Architectures the supervisor is not written for (armel, s390x): no supervisor,
    # every script a plain child with its pidfd, libc's syscall() for raw system calls.
    "other-arch": ("RUNSCRIPT_AS_OTHER_ARCH",),
    # RHEL 8 / Debian 10 altogether.
    "oldest": ("RUNSCRIPT_NO_PIDFD", "RUNSCRIPT_NO_SPAWN_CLOSEFROM", "RUNSCRIPT_NO_CLOSE_RANGE"),
}


def events_of(out):
    """[(kind, code, ms since the launch)] from the driver's `run` output."""
    return [tuple(int(float(x)) for x in line.split()[1:4])
            for line in out.splitlines() if line.startswith("event ")]


def launch_mapping_found(out, page_kb=4):
    """True when the driver's `maps` output (/proc/self/maps lines after "map ") shows a
    launch mapping with its guard pages (one page each), as scenario 10 finds them in Kea's."""
    maps = "\n".join(line[4:] for line in out.splitlines() if line.startswith("map "))
    return launch_mappings(maps, page_kb) > 0
