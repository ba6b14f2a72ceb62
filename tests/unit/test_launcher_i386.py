"""The launcher's tests on an i386 driver, which an amd64 kernel runs natively: the
supervisor's i386 clone trampoline and raw system calls (hook/supervisor.cc), the supervised
path that i386 users get, with every kernel- and libc-dependent build.

Every test of tests/unit/test_launcher.py, imported below and run here with the `arch`
fixture set to "i386" (those on every build with three of them), but the launch memory with
16 and 64 KiB pages: an LD_PRELOAD shim, which the static driver does not load (and i386
kernels have 4 KiB pages).
"""

import platform

import pytest

from tests.support.launcher import BUILDS
from tests.unit.test_launcher import (  # noqa: F401 (collected here with arch = "i386")
    built, driver, emulated, kill_slack_ms, runs,
    test_a_crashing_supervisor_takes_down_only_itself_from_linux_5_16,
    test_a_missing_script_is_told_as_a_spawn_failure,
    test_a_run_still_going_at_the_stop_is_told_within_the_drain,
    test_a_script_its_supervisor_had_not_started_when_the_stop_began_never_starts,
    test_a_supervisor_that_dies_before_waking_the_caller_does_not_hang_it,
    test_an_async_run_tells_its_end_once,
    test_an_environment_larger_than_the_copy_area_arrives_whole,
    test_an_exception_after_the_spawn_leaks_no_slot,
    test_an_exec_failure_is_a_start_failure_in_both_modes,
    test_an_exec_refused_with_eperm_leaves_the_launcher_supervised,
    test_async_flood_is_killed_on_time_without_blocking_launches_or_growing,
    test_async_limit_is_enforced,
    test_async_never_waits_for_the_script,
    test_async_returns_at_once,
    test_async_timeout_before_the_pid_is_known_still_kills,
    test_capture_does_not_wait_for_a_background_child_holding_the_pipe,
    test_captured_output_arrives_line_by_line,
    test_environment_and_argv_are_exact,
    test_exit_status_is_reported,
    test_exit_status_is_right,
    test_exit_status_survives_a_process_wide_waitpid,
    test_fds_0_to_2_only_on_every_path,
    test_flood_past_the_line_cap_is_not_read_at_full_speed,
    test_guard_pages_below_the_supervisor_stacks,
    test_hung_script_and_its_children_are_killed_on_time,
    test_interrupted_waits_are_resumed,
    test_kea_started_with_fds_0_to_2_closed,
    test_launch_memory_is_freed_when_the_launcher_stops,
    test_many_async_runs_leave_no_zombie_and_do_not_steal_foreign_children,
    test_missing_script_in_async_mode_is_reported_by_the_reaper,
    test_missing_script_is_a_spawn_failure_not_a_crash,
    test_one_run_per_call,
    test_reaper_thread_blocks_kea_signals,
    test_runs_refused_at_the_limit_are_counted_in_a_line_a_second_not_one_each,
    test_script_gets_only_fds_0_to_2,
    test_script_has_its_own_process_group,
    test_signal_dispositions_and_mask_are_reset,
    test_stop_ends_by_the_unload_deadline_not_a_drain_later,
    test_stop_is_bounded_and_leaves_nothing_behind,
    test_supervisor_code_calls_no_plt_entry,
    test_sync_flood_returns_on_time_with_bounded_lines,
    test_the_driver_reports_the_path_the_launcher_took,
    test_the_reaper_keeps_reaping_when_its_poll_set_passes_the_fd_limit,
    test_the_timeout_counts_from_the_call_not_from_the_exec,
    test_timeout_kills_a_script_that_left_its_group,
    test_timeout_kills_the_script_and_its_group,
)

# The driver runs natively on x86_64 kernels only (IA-32 emulation).
if platform.machine() != "x86_64":
    pytest.skip("i386 programs run natively on x86_64 machines only", allow_module_level=True)


@pytest.fixture(scope="module")
def arch():
    return "i386"


# The builds whose i386 code differs: supervised (raw system calls, clone trampoline), fds
# closed through /proc, and the oldest (vfork, no pidfd). The others differ in C++ that
# test_launcher.py runs natively.
@pytest.fixture(params=["default", "no-close-range", "oldest"], scope="module")
def any_driver(request, built):
    return built(*BUILDS[request.param])
