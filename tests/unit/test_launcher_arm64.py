"""The launcher's tests that apply to an aarch64 driver run under qemu-user (binfmt_misc), on
this machine's kernel.

qemu-user refuses the supervisor's clone (CLONE_VM without CLONE_THREAD: EINVAL), so every
script here is a plain child (posix_spawn, or vfork on the "oldest" builds): these tests cover
the launcher's plain path and its aarch64 raw system calls (exec_child, close_from_3 on the
vfork builds). The supervised path, what arm64 users get on real hardware, runs on a real arm64
kernel in tests/integration/test_launcher_aarch64.py.

Selected from tests/unit/test_launcher.py (imported below, run here with the `arch` fixture
set to "arm64"); not here, because they do not apply under qemu-user:
  * supervisor-only guarantees: a process-wide waitpid cannot steal the status (plain children
    signal SIGCHLD: the documented residual race of kernels without pidfds), the supervisor
    fault builds (dies early, starts late), the supervisor's guard pages and kept mappings;
  * exec failures reported as spawn failures (missing script; the vfork builds' `eintr` run):
    glibc's posix_spawn and our vfork child report a failed exec through memory shared with
    the parent (CLONE_VM|CLONE_VFORK), which qemu-user turns into a fork. Under qemu-user the
    script's exit status is 127 instead: asserted below as such;
  * the flood's CPU cost (emulated instructions cost what they cost here, not on arm64);
  * the disassembly test (objdump of this machine reads no aarch64 code; the static driver
    has no PLT at all).
"""

import platform
import subprocess

import pytest

from kea_runscript import emulation
from tests.unit.test_launcher import (  # noqa: F401 (collected here with arch = "arm64")
    BUILDS, built, driver, events_of, run, script,
    test_an_environment_larger_than_the_copy_area_arrives_whole,
    test_an_exception_after_the_spawn_leaks_no_slot,
    test_async_flood_is_killed_on_time_without_blocking_launches_or_growing,
    test_async_limit_is_enforced,
    test_async_never_waits_for_the_script,
    test_async_returns_at_once,
    test_capture_does_not_wait_for_a_background_child_holding_the_pipe,
    test_captured_output_arrives_line_by_line,
    test_environment_and_argv_are_exact,
    test_exit_status_is_reported,
    test_exit_status_is_right,
    test_fds_0_to_2_only_on_every_path,
    test_hung_script_and_its_children_are_killed_on_time,
    test_kea_started_with_fds_0_to_2_closed,
    test_many_async_runs_leave_no_zombie_and_do_not_steal_foreign_children,
    test_one_run_per_call,
    test_reaper_thread_blocks_kea_signals,
    test_script_gets_only_fds_0_to_2,
    test_script_has_its_own_process_group,
    test_signal_dispositions_and_mask_are_reset,
    test_stop_is_bounded_and_leaves_nothing_behind,
    test_sync_flood_returns_on_time_with_bounded_lines,
    test_timeout_kills_the_script_and_its_group,
)

@pytest.fixture(scope="module")
def arch():
    if platform.machine() != "aarch64":
        missing = emulation.problem("arm64")
        if missing:
            pytest.fail(f"the arm64 launcher tests run the driver under qemu-user: {missing}")
    return "arm64"


# The plain path with pidfds (posix_spawn), with vfork and close_range, and the oldest (vfork,
# no pidfd: polled, fds closed through /proc): the last two run our aarch64 system calls.
@pytest.fixture(params=["default", "no-spawn-closefrom", "oldest"], scope="module")
def any_driver(request, built):
    return built(*BUILDS[request.param])


def test_scripts_are_plain_children_under_qemu_user(driver, tmp_path):
    # What makes this module the plain path's: qemu-user refuses the supervisor's clone.
    ppid = script(tmp_path, "echo $PPID\n")
    out = subprocess.run([str(driver), "path", str(ppid)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.split() == ["exited", "0", "path", "plain"]


@pytest.mark.parametrize("what", ["missing", "not-executable", "directory"])
def test_a_failed_exec_under_qemu_user_is_exit_status_127(driver, tmp_path, what):
    # On a real kernel (x86_64 here, arm64 in the virtual machine) these are spawn failures
    # with their errno (ENOENT, EACCES, EACCES); qemu-user's fork for posix_spawn's vfork
    # leaves only the child's exit status 127 to see.
    path = tmp_path / "target"
    if what == "not-executable":
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o644)
    elif what == "directory":
        path.mkdir()
    assert run(driver, path, 1)[:2] == ("exited", 127)
    out = subprocess.run([str(driver), "run", str(path), "0", "5000"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    # The reaper may report before the caller prints "started": order is not promised.
    assert [line.split()[0] for line in out.splitlines() if not line.startswith("event")] == ["started"]
    assert [e[:2] for e in events_of(out)] == [(0, 127)]  # EXITED_NONZERO
