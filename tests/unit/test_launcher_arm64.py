"""The launcher's tests that apply to an aarch64 driver run under qemu-user (binfmt_misc), on
this machine's kernel.

qemu-user refuses the supervisor's clone (CLONE_VM without CLONE_THREAD: EINVAL), so every
script here is a plain child (posix_spawn, or vfork on the "oldest" builds): these tests cover
the launcher's plain path and its aarch64 raw system calls (exec_child, close_from_3 on the
vfork builds). The supervised path, what arm64 users get on real hardware, runs on a real arm64
kernel in tests/integration/test_launcher_vm.py.

Selected from tests/unit/test_launcher.py (imported below, run here with the `arch` fixture
set to "arm64"); not here, because they do not apply under qemu-user:
  * supervisor-only guarantees: a process-wide waitpid cannot steal the status (plain children
    signal SIGCHLD: the documented residual race of kernels without pidfds, and of emulators),
    the supervisor fault builds (dies early, starts late), the supervisor's guard pages and
    kept mappings;
  * the reaper's report of an async exec failure: where vfork is a fork (qemu-user), the
    launcher waits for the exec through a pipe, so an async launch of a script that cannot be
    executed fails at once (asserted below) instead of being reported by the reaper;
  * the flood's CPU cost (emulated instructions cost what they cost here, not on arm64);
  * the disassembly test (objdump of this machine reads no aarch64 code; the static driver
    has no PLT at all);
  * the launch memory with 16 and 64 KiB pages (an LD_PRELOAD shim, which a static driver
    does not load; qemu-user refuses the supervisor anyway) and an exec refused with EPERM
    (the question there is whether supervision stays on).
"""

import platform
import subprocess

import pytest

from kea_runscript.engine import emulation
from tests.support.launcher import BUILDS
from tests.unit.test_launcher import (  # noqa: F401 (collected here with arch = "arm64")
    STRESS_FULL, built, driver, emulated, kill_slack_ms, run, script,
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
    test_interrupted_waits_are_resumed,
    test_many_async_runs_leave_no_zombie_and_do_not_steal_foreign_children,
    test_missing_script_is_a_spawn_failure_not_a_crash,
    test_one_run_per_call,
    test_reaper_thread_blocks_kea_signals,
    test_script_gets_only_fds_0_to_2,
    test_script_has_its_own_process_group,
    test_signal_dispositions_and_mask_are_reset,
    test_stop_is_bounded_and_leaves_nothing_behind,
    test_sync_flood_returns_on_time_with_bounded_lines,
    test_the_reaper_keeps_reaping_when_its_poll_set_passes_the_fd_limit,
    test_timeout_kills_the_script_and_its_group,
)

# On an aarch64 machine the driver would run natively, not under qemu-user: this module's
# premise (the plain path, forced by the emulator) does not hold, and tests/unit/test_launcher.py
# runs the same tests natively there, supervised path included.
if platform.machine() == "aarch64":
    pytest.skip("an aarch64 machine: test_launcher.py runs these tests natively", allow_module_level=True)


@pytest.fixture(scope="module")
def arch():
    missing = emulation.problem("arm64")
    if missing:
        pytest.fail(f"the arm64 launcher tests run the driver under qemu-user: {missing}")
    return "arm64"


@pytest.fixture(scope="module")
def runs():
    # Each launch is emulated (and, where vfork is a fork, copies the emulator): a fifth of
    # the native stress, a tenth of its exec failures, still many more than the async limit.
    # The test command's size keeps more than 10 x 64 launches: a slot leak still shows.
    return {"async-many": 2000, "eintr": 300} if STRESS_FULL else {"async-many": 1000, "eintr": 100}


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


@pytest.mark.parametrize("what, errno", [("missing", 2), ("not-executable", 13), ("directory", 13)])
def test_a_script_that_cannot_be_executed_is_a_spawn_failure_under_qemu_user(driver, tmp_path,
                                                                              what, errno):
    # qemu-user runs posix_spawn's CLONE_VM|CLONE_VFORK as a fork, which hides the exec's
    # error from glibc (before: exit status 127, as if the script had run and failed). Async
    # launches wait for the exec there too, so the failure is the launch's own outcome.
    path = tmp_path / "target"
    if what == "not-executable":
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o644)
    elif what == "directory":
        path.mkdir()
    assert run(driver, path, 1)[:2] == ("spawn_failed", errno)
    out = subprocess.run([str(driver), "run", str(path), "0", "5000"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.split()[:2] == ["spawn_failed", str(errno)] and "event" not in out


# --- The tools these tests and the arm64 virtual machine need: a clear error when missing ---

def test_a_missing_cross_compiler_is_named_with_its_package(monkeypatch, tmp_path):
    from kea_runscript.builder import launcher_driver
    monkeypatch.setattr(launcher_driver.shutil, "which", lambda name: None)
    monkeypatch.setattr(launcher_driver.platform, "machine", lambda: "x86_64")
    with pytest.raises(launcher_driver.CompilerMissing) as e:
        launcher_driver.build_driver(tmp_path, arch="arm64")
    assert "g++-aarch64-linux-gnu" in str(e.value) and "./bootstrap.sh" in str(e.value)


def test_missing_virtual_machine_tools_are_named_with_their_packages(monkeypatch):
    from ..support import qemu_system
    monkeypatch.setattr(qemu_system.shutil, "which", lambda name: None if name in ("cpio", "qemu-system-aarch64") else "/x")
    with pytest.raises(qemu_system.VmUnavailable) as e:
        qemu_system.run_in_vm([("x", "true")], {})
    message = str(e.value)
    assert "qemu-system-arm" in message and "cpio (Debian package cpio)" in message
    assert "./bootstrap.sh" in message


def test_the_machines_console_is_cut_into_sections():
    from ..support import qemu_system
    console = ("[    1.0] kernel noise\n@@@KEA-BEGIN a 1.50\nexited 3 1\n\n@@@KEA-END a 0 1.75\n"
               "@@@KEA-BEGIN b 2.00\nno newline\n@@@KEA-END b 2 2.10\n@@@KEA-BEGIN lost 3.00\n")
    found = qemu_system.sections(console)
    assert set(found) == {"a", "b"}
    assert (found["a"].output, found["a"].rc, found["a"].seconds) == ("exited 3 1\n", 0, 0.25)
    assert (found["b"].output, found["b"].rc) == ("no newline", 2)
