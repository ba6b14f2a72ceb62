"""Run-time guarantees of the hook inside the real Kea of each verified cell of the machine's
architecture and one cell of each other architecture (``pytest -m integration
tests/integration/test_runtime.py``): they protect the hook's code paths (the supervised
launcher natively, the plain one under qemu-user) against each Kea version's behaviour, which
the native cells cover; every cell gets the smoke tests (test_smoke.py).

One smoke container per cell (module-scoped fixture, as in test_smoke.py); each test runs one
scenario of :mod:`tests.support.scenarios` with kea-dhcp4 and asserts on what it measured.
Each scenario's facts are kept in build/<id>/smoke/rt-<scenario>.txt, Kea's logs and
perfdhcp's reports beside them (rt-*).

The 60 s perfdhcp run (scenario 9) is 60 s on every cell; RUNTIME_LOAD_SECONDS shortens it.
"""

from __future__ import annotations

import os

import pytest

from kea_runscript.builder import hook
from ..support import scenarios

from tests.integration.cells import NATIVE_AND_ONE_PER_FOREIGN_ARCH

pytestmark = pytest.mark.integration

#: The hook's own failure modes: one cell per architecture (tests/integration/cells.py).
CODE_PATH = pytest.mark.code_path
LOAD_SECONDS = int(os.environ.get("RUNTIME_LOAD_SECONDS", "60"))


@pytest.fixture(scope="module", params=NATIVE_AND_ONE_PER_FOREIGN_ARCH, ids=lambda c: c.id)
def rt(request):
    cell = request.param
    b = hook.build_cell(cell)
    assert b.ok, f"{cell.id}: build failed: {b.message} (log {b.log})"
    with scenarios.runtime(cell) as runtime:
        yield runtime


def _show(o: scenarios.Outcome) -> str:
    print("\n" + o.summary())
    return "\n" + o.summary()


def test_kea_and_its_scripts_run_as_the_packaged_unit(rt):
    """Issue 15: Kea runs with the user and ambient capabilities of the cell's packaged unit
    (read from the unit file), and its scripts get exactly those."""
    o = scenarios.kea_identity(rt)
    msg = _show(o)
    unit = rt.tn.units.get(4)
    if unit is not None:
        assert o.facts["kea"]["user"] == unit.user and unit.user != "root", msg
        assert sorted(o.facts["kea"]["CapAmb"]) == sorted(unit.ambient), msg
        assert "CAP_NET_ADMIN" not in o.facts["script"]["CapEff"], msg
    else:
        assert o.facts["kea"]["user"] == "root", msg
    assert o.facts["script"]["CapEff"] == o.facts["kea"]["CapEff"], msg
    assert o.ok, msg


@CODE_PATH
def test_script_sees_only_fds_0_1_2(rt):
    o = scenarios.fd_list(rt)
    msg = _show(o)
    assert o.facts["kea fds"] > 4, msg  # Kea itself: sockets, lease file, logs
    for mode in ("sync", "async", "capture"):
        fds = o.facts[f"{mode} script fds"]
        assert {0, 1, 2} <= set(fds), msg
        beyond = {fd: t for fd, t in fds.items() if fd > 2}
        # only the directory ls itself opened to list /proc/self/fd
        assert len(beyond) <= 1 and all(t.startswith("/proc/") and t.endswith("/fd")
                                        for t in beyond.values()), msg
    assert o.ok, msg


def test_environment_is_catalogue_plus_configured(rt):
    o = scenarios.env_list(rt)
    msg = _show(o)
    assert "LEAK_TEST" in o.facts["Kea's own environment (keys)"], msg
    want = sorted(scenarios.expected_env(rt, "pkt4_receive", {"PATH": "", "SMOKE_RECORD": ""}))
    for mode in ("sync", "async"):
        assert o.facts[f"{mode} calls"] >= 2, msg  # DISCOVER and REQUEST
        assert o.facts[f"{mode} environment keys"] == want, msg
    assert o.ok, msg


@CODE_PATH
def test_hung_script_killed_on_time(rt):
    o = scenarios.hung_script(rt)
    msg = _show(o)
    assert o.facts["address"], msg
    assert o.facts["RUNSCRIPT_TIMEOUT lines"] >= 2, msg
    assert o.facts["sleep 300 left"] == [], msg
    assert o.ok, msg


@CODE_PATH
def test_no_zombies_after_10k_async_calls(rt):
    o = scenarios.async_zombies(rt)
    msg = _show(o)
    assert o.facts["calls + skipped"] >= 10000, msg
    share = scenarios.processes.MAX_SKIPPED_SHARE  # a slot leak skips all but the first 64
    assert o.facts["RUNSCRIPT_ASYNC_LIMIT (skipped runs)"] <= share * o.facts["calls + skipped"], msg
    assert o.facts["zombies after"] == [], msg
    assert o.facts["children after"] == [], msg
    assert o.ok, msg


@pytest.fixture(scope="module")
def lfc(rt):
    o = scenarios.lfc_with_async(rt)
    _show(o)
    return o


def test_lfc_completes_beside_async_scripts(lfc):
    msg = "\n" + lfc.summary()
    assert lfc.facts["DHCPSRV_MEMFILE_LFC_EXECUTE"] >= 3, msg
    assert lfc.facts["async scripts running at once (max seen)"] >= 2, msg
    # A kea-lfc zombie in one sample is a kea-lfc between its exit and Kea's reaping of it;
    # one not reaped within a second is a problem of its own (scenarios.lfc_with_async).
    lfc_problems = [p for p in lfc.problems if not p.startswith(scenarios.EXIT_STATUS_LOST)]
    assert not lfc_problems, msg


def test_sync_exit_code_applied_while_kea_runs_lfc(lfc):
    """The synchronous drop script beside the LFC (multi-threading): every exit 3 must drop.
    A lease for a MAC ending in 0 means the hook lost the script's exit status."""
    msg = "\n" + lfc.summary()
    assert lfc.facts["DISCOVERs without OFFER (drops, ~1/16 expected)"] >= 1, msg
    assert lfc.facts["drop script exits 3"] >= 1, msg
    if lfc.facts["launch path"] == "plain":
        # Without the launcher's supervisor (under qemu-user, which refuses its clone, and on
        # armel and s390x, which it is not built for) scripts are Kea's
        # plain children, and the SIGCHLD handler Kea runs for kea-lfc may reap one first
        # (docs/hook.md). The drops that were applied still hold.
        assert lfc.facts["RUNSCRIPT_EXIT_ACTION (drop applied)"] >= 1, msg
        return
    assert lfc.facts["exit statuses lost"] == 0, msg
    assert lfc.facts["leases of dropped MACs (*0)"] == [], msg


def test_bad_configs_refused_with_their_message(rt):
    o = scenarios.bad_configs(rt)
    msg = _show(o)
    refusals = o.facts["refusals"]
    assert len(refusals) == len(scenarios.bad_configs_list("/x", "/y")), msg
    for name, r in refusals.items():
        assert r["exit"] not in (0, 137), f"{name}{msg}"
        assert r["message"] and "RUNSCRIPT_LOAD_ERROR" in r["message"], f"{name}{msg}"
    assert o.facts["control (good parameters)"] == "started", msg
    # `kea-dhcp4 -t` (every Kea) and `-T` (Kea >= 2.3.6) refuse them with the message too.
    for flag in scenarios.check_flags(rt.cell.kea):
        for name, r in refusals.items():
            check = r[f"kea-dhcp4 {flag}"]
            assert check["exit"] != 0 and "RUNSCRIPT_LOAD_ERROR" in (check["message"] or ""), f"{name}{msg}"
        assert o.facts[f"control (good parameters), kea-dhcp4 {flag}"] == "exit 0", msg
    assert o.ok, msg


def test_config_tests_check_the_hook_and_run_nothing(rt):
    o = scenarios.config_tests(rt)
    msg = _show(o)
    for flag in scenarios.check_flags(rt.cell.kea):
        assert o.facts[f"kea-dhcp4 {flag}"]["exit"] == 0, msg
        assert o.facts[f"kea-dhcp4 {flag}"]["scripts run"] == [], msg
    assert sorted(set(o.facts["serving: scripts run"])) == ["handler", "load", "unload"], msg
    assert o.ok, msg


def test_lease_times_reach_the_script_as_kea_holds_them(rt):
    o = scenarios.lease_times(rt)
    msg = _show(o)
    assert o.facts["before 2038"]["script saw (cltt, valid lifetime, expired)"] is not None, msg
    assert o.ok, msg


def test_exit_code_drop_seen_by_client(rt):
    o = scenarios.exit_code_drop(rt)
    msg = _show(o)
    assert o.facts["allowed MAC address"], msg
    assert o.ok, msg


def test_hostname_bytes_reach_script_unchanged(rt):
    o = scenarios.hostname_bytes(rt)
    msg = _show(o)
    assert o.facts["pwned files"] == [], msg
    assert o.facts["KEA_LEASE4_HOSTNAME (shell printf)"] == repr(scenarios.HOSTNAME_BYTES), msg
    assert o.ok, msg


def test_perfdhcp_load_loses_no_lease(rt):
    o = scenarios.perfdhcp_no_lost_lease(rt, seconds=LOAD_SECONDS)
    msg = _show(o)
    assert o.facts["ACKs"] <= o.facts["lease file"]["lines"] <= o.facts["REQUESTs"], msg
    assert o.ok, msg


def test_reconfiguration_under_load_reloads_the_hook_cleanly(rt):
    o = scenarios.reconfigure(rt)
    msg = _show(o)
    assert o.facts["reloads"] == 20, msg
    assert o.facts["load runs"] == 21 and o.facts["unload runs (before the stop)"] == 20, msg
    assert o.facts["DORA after the reloads"], msg
    assert o.facts["processes below Kea after"] == [], msg
    # RELOAD_GROWTH_KB; on an emulated cell plus what Kea's own hook grows there (side by side)
    assert o.facts["VmSize growth per reload (kB)"] <= o.facts["VmSize growth allowed per reload (kB)"], msg
    if not o.facts.get("VmSize growth per reload with Kea's lease_cmds hook instead (kB)"):
        assert o.facts["VmSize growth allowed per reload (kB)"] == scenarios.RELOAD_GROWTH_KB, msg
    assert o.ok, msg


# -- issue 10, items 6-8: failures, trust, parameters and callouts ---------------------------


def test_on_failure_drop_fails_closed_for_every_failure_kind(rt):
    o = scenarios.on_failure(rt, "drop")
    msg = _show(o)
    results = o.facts["results"]
    assert results["control (script exits 0)"]["lease"], msg
    kinds = [k for k, _, _ in scenarios.FAILURE_KINDS] + ["async limit (max-async 1)"]
    for kind in kinds:
        assert results[kind]["lease"] is None, f"{kind}{msg}"
    assert o.ok, msg


def test_on_failure_default_continues_for_every_failure_kind(rt):
    o = scenarios.on_failure(rt, None)
    msg = _show(o)
    results = o.facts["results"]
    kinds = [k for k, _, _ in scenarios.FAILURE_KINDS] + ["async limit (max-async 1)"]
    for kind in kinds:
        assert results[kind]["lease"], f"{kind}{msg}"
    assert o.facts["RUNSCRIPT_FAILURE_ACTION lines"] == 0, msg
    assert o.ok, msg


def test_packet_dropped_by_an_earlier_library_runs_no_script(rt):
    o = scenarios.earlier_drop(rt)
    msg = _show(o)
    assert o.facts["second script calls, blocked MAC"] == 0, msg
    assert o.facts["second script calls, allowed MAC"] >= 2, msg
    assert o.ok, msg


@CODE_PATH
def test_top_level_settings_are_defaults_and_tiny_timeouts_stay_timeouts(rt):
    o = scenarios.parameter_defaults(rt)
    msg = _show(o)
    assert o.facts["recorder hook points"] == ["pkt4_receive"], msg
    assert o.facts["RUNSCRIPT_TIMEOUT lines"] >= 2, msg
    assert o.ok, msg


def test_script_trust_off_switch_and_kea_user_permissions(rt):
    o = scenarios.trust_checks(rt)
    msg = _show(o)
    assert o.facts["check-permissions false"] == "started", msg
    assert o.ok, msg


# --------------------------------------------------------------------------------------------
# issue 10: a flooding script and the teardown while endless scripts run


@CODE_PATH
@pytest.mark.parametrize("mt", [False, True], ids=["mt-off", "mt-on"])
@pytest.mark.parametrize("wait", [True, False], ids=["sync", "async"])
def test_output_flood_is_cut_at_the_timeout_and_bounded(rt, wait, mt):
    """`exec yes` with capture-output and timeout 1 at pkt4_receive (issue 10, item 1)."""
    o = scenarios.output_flood(rt, wait=wait, mt=mt)
    msg = _show(o)
    assert o.facts["runs (markers)"] >= 2 * 4, msg  # a DISCOVER and a REQUEST per scapy DORA
    assert o.facts["limit (s)"] == 1.0 + scenarios.DEADLINE_ALLOWANCE_S, msg
    assert o.facts["runs over the limit"] == [], msg
    assert o.facts["scapy DORAs answered"] == "4/4", msg
    assert o.facts["yes left"] == [], msg
    assert o.facts["'dropped' lines"] >= o.facts["runs (markers)"], msg
    assert o.facts["peak RSS growth (kB)"] <= scenarios.FLOOD_RSS_GROWTH_KB, msg
    assert o.ok, msg


@CODE_PATH
def test_output_flood_without_newlines_is_bounded(rt):
    """A script that writes one endless line (no newline) with capture-output: the hook cuts
    it into bounded lines, and the flood's guarantees hold (synchronous, one thread)."""
    o = scenarios.output_flood(rt, wait=True, mt=False, writer="long-lines")
    msg = _show(o)
    assert o.facts["runs (markers)"] >= 2 * 4, msg
    assert o.facts["runs over the limit"] == [], msg
    assert o.ok, msg


@pytest.mark.parametrize("mt", [False, True], ids=["mt-off", "mt-on"])
def test_stop_and_reload_within_3s_while_endless_scripts_run(rt, mt):
    """7+ asynchronous `sleep 300`, one with timeout 0 and a chatty `yes` (issue 10, item 2):
    with the default drain, SIGHUP reloads and SIGTERM stops Kea within 3 s, nothing left."""
    o = scenarios.teardown(rt, mt=mt)
    msg = _show(o)
    assert o.facts["before SIGHUP: scripts running (sleep 300, yes)"] >= 7 + 2, msg
    secs = o.facts["SIGHUP -> RUNSCRIPT_LOADED (s)"]
    assert secs is not None and secs <= scenarios.TEARDOWN_BOUND_S, msg
    assert o.facts["DORA right after the reload"], msg
    secs = o.facts.get("SIGTERM -> kea-dhcp4 gone (s)")
    assert secs is not None and secs <= scenarios.TEARDOWN_BOUND_S, msg
    assert o.facts.get("left after the stop") == [], msg
    assert o.ok, msg


@pytest.mark.parametrize("mt", [False, True], ids=["mt-off", "mt-on"])
def test_stop_and_reload_follow_a_short_drain_timeout(rt, mt):
    """drain-timeout 0.5: Kea stops and reloads within 0.5 s + 1 s."""
    o = scenarios.teardown(rt, mt=mt, parameters={"drain-timeout": 0.5}, bound_s=1.5)
    msg = _show(o)
    assert o.facts["SIGHUP -> RUNSCRIPT_LOADED (s)"] is not None, msg
    assert o.facts.get("SIGTERM -> kea-dhcp4 gone (s)") is not None, msg
    assert o.facts.get("left after the stop") == [], msg
    assert o.ok, msg


def test_isc_documented_example_runs_with_only_the_library_changed(rt):
    o = scenarios.isc_documented_example(rt)
    msg = _show(o)
    assert o.facts["placeholders filled"] >= 13, msg
    assert {"leases4_committed", "lease4_release"} <= set(o.facts["hook points the script saw"]), msg
    assert o.ok, msg


def test_isc_sync_true_stays_asynchronous_and_wait_true_is_synchronous(rt):
    o = scenarios.isc_sync_flag(rt)
    msg = _show(o)
    assert o.facts["sync true: RUNSCRIPT_ISC_SYNC lines"] == 1, msg
    assert o.ok, msg


def test_debug_example_keeps_its_log_private(rt):
    """examples/debug.sh (issue 10, item 9): a 0600 log of Kea's user outside /tmp; links and
    files another user planted at DEBUG_LOG are neither followed nor written to."""
    o = scenarios.debug_log_private(rt)
    msg = _show(o)
    st = o.facts["its stat"]
    assert st and st["mode"] == "600" and st["uid"] == o.facts["Kea's uid"], msg
    assert o.facts["new files in /tmp"] == [], msg
    assert o.facts["link targets, after the calls"] == {"dangling link target": None,
                                                         "linked file": "original"}, msg
    assert o.ok, msg


# --------------------------------------------------------------------------------------------
# issue 14: persistent handlers, one Kea run (scenarios.handler_faults), judged phase by phase


@pytest.fixture(scope="module")
def handler_run(rt):
    o = scenarios.handler_faults(rt)
    _show(o)
    return o


def _phase(o: scenarios.Outcome, phase: str) -> list:
    return scenarios.phase_problems(o, phase)


@CODE_PATH
def test_handler_serves_from_load_on(handler_run):
    msg = "\n" + handler_run.summary()
    assert handler_run.facts["load records at start"] >= 1, msg
    assert len(handler_run.facts["control: handler records"]) >= 4, msg
    assert not _phase(handler_run, "control"), msg


@CODE_PATH
def test_handler_has_fds_0_1_2_only_and_its_output_reaches_the_log(handler_run):
    msg = "\n" + handler_run.summary()
    fds = handler_run.facts["fds and output: fds of the handlers"]
    assert fds and all(sorted(links) == [0, 1, 2] for links in fds.values()), msg
    assert not _phase(handler_run, "fds and output"), msg


@CODE_PATH
def test_handler_gets_hostile_client_bytes_as_the_exec_script_does(handler_run):
    """Option 12 with a newline and shell text, option 60 with bytes 0x01-0xff: each event's
    record is the exec script's environment, byte for byte and in order."""
    msg = "\n" + handler_run.summary()
    n_exec, n_handler = handler_run.facts["hostile bytes: events exec / handler"]
    assert n_exec >= 4 and n_handler == n_exec, msg
    assert handler_run.facts["hostile bytes: differences"] == [], msg
    assert handler_run.facts["hostile bytes: handler's KEA_LEASE4_HOSTNAME"] and all(
        h == repr(scenarios.HOSTNAME_BYTES) for h in handler_run.facts["hostile bytes: handler's KEA_LEASE4_HOSTNAME"]), msg
    assert not _phase(handler_run, "hostile bytes"), msg


@CODE_PATH
def test_handler_exit_code_drops_the_packet(handler_run):
    msg = "\n" + handler_run.summary()
    assert handler_run.facts["exit codes: RUNSCRIPT_EXIT_ACTION lines"] >= 1, msg
    assert not _phase(handler_run, "exit codes"), msg


@CODE_PATH
def test_hung_sync_handler_fails_each_event_within_its_timeout_and_is_replaced(handler_run):
    msg = "\n" + handler_run.summary()
    o = handler_run
    waited = o.facts.get("hang (sync): record -> timeout logged (s)")
    assert waited is not None and waited <= o.facts["timeout (s)"] + scenarios.DEADLINE_ALLOWANCE_S, msg
    assert not _phase(o, "hang (sync)"), msg


@CODE_PATH
def test_async_handler_that_never_reads_drops_and_counts(handler_run):
    msg = "\n" + handler_run.summary()
    o = handler_run
    assert o.facts["queue full (async): dropped (sum of the counts)"] >= 1, msg
    assert o.facts["queue full (async): most lines in one second"] <= 1, msg
    assert not _phase(o, "queue full (async)"), msg


@CODE_PATH
def test_crashed_handler_is_restarted_and_serves_again(handler_run):
    msg = "\n" + handler_run.summary()
    assert len(handler_run.facts["crash: EXITED lines"]) >= 2, msg
    assert not _phase(handler_run, "crash"), msg


@CODE_PATH
def test_sync_events_fail_at_once_while_a_handler_cannot_start(handler_run):
    msg = "\n" + handler_run.summary()
    assert not _phase(handler_run, "restart gap"), msg


@CODE_PATH
def test_reload_and_stop_under_load_leave_no_handler_and_no_zombie(handler_run):
    msg = "\n" + handler_run.summary()
    o = handler_run
    assert o.facts["reload: old handlers still running"] == [], msg
    assert o.facts.get("stop: handlers left") == [], msg
    for phase in ("reload", "stop", "zombies"):
        assert not _phase(o, phase), msg
    # every problem is one of a phase's, so that the tests above see them all
    assert all(p.split(":")[0] in scenarios.PHASES for p in o.problems), msg


# --------------------------------------------------------------------------------------------
# issue 20, item 10: skip, a small max-output-lines, the async failure messages, a failing load


@pytest.fixture(scope="module")
def actions_run(rt):
    o = scenarios.skip_and_async_failures(rt)
    _show(o)
    return o


def test_skip_at_lease4_select_by_exit_code_and_on_failure_naks_the_request(actions_run):
    """exit-codes {"4": "skip"} and on-failure skip at lease4_select: Kea skips the lease
    assignment, the client gets its OFFER and then a NAK; exit 0 and an unmapped exit 5 give
    leases."""
    o = actions_run
    msg = "\n" + o.summary()
    results = o.facts["results"]
    for name in ("skip by exit code", "skip by on-failure"):
        assert results[name]["lease"] is None, f"{name}{msg}"
    assert results["continue"]["lease"] and results["unmapped exit code"]["lease"], msg
    assert o.facts["RUNSCRIPT_EXIT_ACTION (skip)"] and o.facts["RUNSCRIPT_FAILURE_ACTION (skip)"], msg
    assert o.facts["RUNSCRIPT_SCRIPT_FAILED (exit 5, unmapped)"], msg
    assert not [p for p in o.problems if "skip" in p or "lease" in p or "SCRIPT_FAILED" in p], msg


def test_a_small_max_output_lines_logs_that_many_lines_and_one_dropped_line(actions_run):
    o = actions_run
    msg = "\n" + o.summary()
    assert o.facts["max-output-lines"] == scenarios.SMALL_MAX_OUTPUT_LINES, msg
    assert o.facts["captured runs (pids)"] >= 8, msg
    assert len(o.facts["a run's logged lines"]) == scenarios.SMALL_MAX_OUTPUT_LINES + 1, msg
    assert o.facts["runs not logged as max-output-lines + 1 lines"] == {}, msg


def test_async_failures_are_logged_in_a_real_kea(actions_run):
    """RUNSCRIPT_ASYNC_FAILED (exit 5), RUNSCRIPT_ASYNC_TIMEOUT (sleep past timeout 1 s),
    RUNSCRIPT_ASYNC_SPAWN_FAILED (script removed after load; RUNSCRIPT_SPAWN_FAILED on the plain
    path, where the exec's failure is known at once), each naming its script; a failing
    asynchronous load script does not refuse the library."""
    o = actions_run
    msg = "\n" + o.summary()
    for message in ("RUNSCRIPT_ASYNC_FAILED (exit 5)", "RUNSCRIPT_ASYNC_TIMEOUT", "RUNSCRIPT_ASYNC_SPAWN_FAILED"):
        assert o.facts[message], f"{message}{msg}"
    assert o.facts["library loaded despite the failing asynchronous load script"], msg
    assert o.ok, msg


def test_failing_sync_load_script_refuses_the_library(rt):
    o = scenarios.failing_load_script(rt)
    msg = _show(o)
    assert o.facts["exit"] not in (0, 137), msg
    assert o.facts["RUNSCRIPT_LIFECYCLE_FAILED"], msg
    assert o.ok, msg


@CODE_PATH
def test_a_busy_handler_pool_fails_events_without_killing_the_handler(rt):
    """Issue 20 item 2: the lock wait used to eat the whole timeout, then the round trip
    started with none left and SIGKILLed a healthy handler (TIMED_OUT, then HANDLER_DOWN)."""
    o = scenarios.busy_handler(rt)
    msg = _show(o)
    assert o.facts["RUNSCRIPT_HANDLER_BUSY lines"] > 0, msg
    assert o.facts["RUNSCRIPT_HANDLER_TIMEOUT lines"] == 0 and o.facts["handler after"] == o.facts["handler before"], msg
    assert o.ok, msg


def test_what_scripts_and_handlers_echo_from_a_client_is_logged_escaped(rt):
    """A client's control characters, backslash and non-UTF-8 bytes, echoed by exec scripts
    (sync, async) and a handler, reach Kea's log as \\xHH, never raw."""
    o = scenarios.log_bytes(rt)
    msg = _show(o)
    assert all(lines == scenarios.LOG_EXPECTED * 2 for lines in o.facts["logged"].values()), msg
    assert o.ok, msg


# --------------------------------------------------------------------------------------------
# issue 25: parked queries (park: true), one Kea run per multi-threading mode, judged by phase


@pytest.fixture(scope="module", params=[False, True], ids=["mt-off", "mt-on"])
def park_run(rt, request):
    o = scenarios.park(rt, request.param)
    _show(o)
    return o


@pytest.mark.parametrize("phase", scenarios.PARK_PHASES)
def test_parked_query(park_run, phase):
    msg = "\n" + park_run.summary()
    assert not scenarios.park_phase_problems(park_run, phase), msg
    if phase == "answer after the end":
        for who in ("exec", "handler"):
            assert park_run.facts[f"{who}: its ACK captured at"] > park_run.facts[f"{who}: slow run ended at"], msg
    if phase == "no thread blocked":
        assert park_run.facts["exec: other client's ACK captured at"] < park_run.facts["exec: slow run ended at"], msg
    if phase == "reload":
        assert park_run.facts["reload: parked queries resumed or found gone"] == 2, msg
    if phase == "DHCPv6":
        assert park_run.facts["DHCPv6: its REPLY received at"] > park_run.facts["DHCPv6: slow run ended at"], msg
        assert park_run.facts["DHCPv6: dropped client's address"] is None, msg


# --------------------------------------------------------------------------------------------
# issue 25: the lease replay (replay: true), judged by phase


@pytest.fixture(scope="module")
def replay_run(rt):
    o = scenarios.replay(rt)
    _show(o)
    return o


@pytest.mark.parametrize("phase", scenarios.REPLAY_PHASES)
def test_lease_replay(replay_run, phase):
    msg = "\n" + replay_run.summary()
    assert not scenarios.replay_phase_problems(replay_run, phase), msg
    if phase == "restart":
        assert replay_run.facts["restart: lease4_replay events per entry"] == {
            "exec": 2, "handler-sync": 2, "handler-async": 2, "handler-park": 2}, msg
    if phase == "stop":
        assert replay_run.facts["stop: RUNSCRIPT_REPLAY_STOPPED / _DONE lines"] == [1, 0], msg
