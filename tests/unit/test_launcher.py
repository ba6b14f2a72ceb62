"""The process launcher (hook/launcher.cc) on its own: what the script inherits, timeouts,
asynchronous runs without zombies and without stealing other children."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from kea_runscript import ROOT
from kea_runscript.launcher_driver import build_driver


@pytest.fixture(scope="module")
def driver():
    return build_driver(ROOT / "build" / "test-launcher")


def script(tmp_path, body, name="s.sh"):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def run(driver, path, wait=1, timeout_ms=5000, *extra):
    out = subprocess.run([str(driver), "run", str(path), str(wait), str(timeout_ms), *extra],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    kind, code, ms = out.split()[:3]
    return kind, int(code), float(ms)


# wait=0: the asynchronous launch hands a copy of the call to the supervisor and returns
# before the exec; the driver then overwrites its own argv/env strings.
@pytest.mark.parametrize("wait", [1, 0], ids=["sync", "async"])
def test_script_gets_only_fds_0_to_2(driver, tmp_path, wait):
    out = tmp_path / "fds"
    # exec: list the fds of the program the script becomes, not the shell's own.
    path = script(tmp_path, f"exec ls /proc/self/fd > {out}\n")
    assert run(driver, path, wait)[:2] == (("exited", 0) if wait else ("started", 0))
    # The driver holds 5 extra open fds, like Kea's sockets; ls opens one for the listing.
    fds = sorted(int(x) for x in out.read_text().split())
    assert fds == [0, 1, 2, 3]


@pytest.mark.parametrize("wait", [1, 0], ids=["sync", "async"])
def test_only_fds_0_to_2_without_close_range(tmp_path, wait):
    # Kernels before 5.9 (Debian 10, Ubuntu 20.04 cells): the fds listed in /proc/self/fd are
    # closed one by one, the captured output pipe kept.
    driver = build_driver(ROOT / "build" / "test-launcher", defines=("RUNSCRIPT_NO_CLOSE_RANGE",))
    out = tmp_path / "fds"
    path = script(tmp_path, f"exec ls /proc/self/fd > {out}\n")
    assert run(driver, path, wait)[:2] == (("exited", 0) if wait else ("started", 0))
    assert sorted(int(x) for x in out.read_text().split()) == [0, 1, 2, 3]
    lines = subprocess.run([str(driver), "capture", str(script(tmp_path, "echo out; echo err >&2\n", "c.sh")),
                            str(wait)], capture_output=True, text=True, timeout=60, check=True).stdout
    assert lines.splitlines()[1:] == ["line out", "line err"]


@pytest.mark.parametrize("wait", [1, 0], ids=["sync", "async"])
def test_environment_and_argv_are_exact(driver, tmp_path, wait):
    out = tmp_path / "env"
    path = script(tmp_path, f'printf "%s\\n" "$0" "$1" > {out}; env >> {out}\n')
    run(driver, path, wait, 5000, "lease4_renew")
    lines = out.read_bytes().split(b"\n")
    assert lines[0].endswith(b"s.sh") and lines[1] == b"lease4_renew"
    env = b"\n".join(lines[2:])
    assert b"KEA_TEST=1" in env
    # Bytes a client could send reach the script unchanged: no shell, no re-encoding.
    assert b"KEA_BYTES=a;$(reboot)\n\xff\xfe end" in env
    names = {line.split(b"=")[0] for line in lines[2:] if b"=" in line}
    assert names <= {b"KEA_TEST", b"KEA_BYTES", b"PWD", b"SHLVL", b"_", b" end"}


def test_signal_dispositions_and_mask_are_reset(driver, tmp_path):
    out = tmp_path / "status"
    path = script(tmp_path, f"exec grep -E '^(SigBlk|SigIgn)' /proc/self/status > {out}\n")
    run(driver, path)
    fields = dict(line.split(":\t") for line in out.read_text().splitlines())
    assert int(fields["SigBlk"], 16) == 0
    # The driver ignores SIGPIPE and SIGHUP; the script must not. glibc keeps its two
    # reserved real-time signals (32, 33) to itself: mask them out.
    glibc_reserved = (1 << 31) | (1 << 32)
    assert int(fields["SigIgn"], 16) & ~glibc_reserved == 0


def test_script_has_its_own_process_group(driver, tmp_path):
    out = tmp_path / "pg"
    path = script(tmp_path, f"ps -o pid=,pgid= -p $$ > {out} 2>/dev/null || "
                            f"awk '{{print $1, $5}}' /proc/$$/stat > {out}\n")
    run(driver, path)
    pid, pgid = out.read_text().split()[:2]
    assert pid == pgid


def test_exit_status_is_reported(driver, tmp_path):
    assert run(driver, script(tmp_path, "exit 3\n"))[:2] == ("exited", 3)


def test_missing_script_is_a_spawn_failure_not_a_crash(driver, tmp_path):
    kind, code, _ = run(driver, tmp_path / "nope")
    assert kind == "spawn_failed" and code == 2  # ENOENT


@pytest.mark.parametrize("wait", [1, 0], ids=["sync", "async"])
def test_an_environment_larger_than_the_copy_area_arrives_whole(driver, tmp_path, wait):
    # 100 kB: more than an async launch copies to its supervisor (it then waits for the exec),
    # less than the kernel's 128 kB limit for one variable.
    out = tmp_path / "big"
    path = script(tmp_path, f'printf "%s" "$KEA_BIG" | wc -c > {out}\n')
    subprocess.run([str(driver), "run", str(path), str(wait), "5000"], check=True, timeout=60,
                   capture_output=True, env={**os.environ, "DRIVER_BIG_ENV": "100000"})
    assert int(out.read_text()) == 100000


def test_missing_script_in_async_mode_is_reported_by_the_reaper(driver, tmp_path):
    out = subprocess.run([str(driver), "run", str(tmp_path / "nope"), "0", "5000"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    first, *events = out.splitlines()
    assert first.split()[0] == "started"
    assert events == ["event 3 2"]  # AsyncEvent::SPAWN_FAILED, ENOENT


def test_hung_script_and_its_children_are_killed_on_time(driver, tmp_path):
    marker = tmp_path / "child.pid"
    path = script(tmp_path, f"sleep 300 & echo $! > {marker}\nsleep 300\n")
    kind, _, ms = run(driver, path, 1, 300)
    assert kind == "timed_out"
    assert ms < 5000
    child = int(marker.read_text())
    for _ in range(50):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the script's child survived the timeout")


def test_async_returns_at_once(driver, tmp_path):
    kind, _, ms = run(driver, script(tmp_path, "sleep 2\n"), 0, 5000)
    assert kind == "started" and ms < 1000


def test_many_async_runs_leave_no_zombie_and_do_not_steal_foreign_children(driver, tmp_path):
    path = script(tmp_path, "exit 0\n")
    out = subprocess.run([str(driver), "async-many", str(path), "10000", "64"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    report = dict(zip(out.split()[::2], out.split()[1::2]))
    assert report["running_after"] == "0"
    assert int(report["started"]) + int(report["limited"]) == 10000
    assert int(report["started"]) > 1000
    assert report["failed"] == "0" and report["nonzero"] == "0"
    assert report["zombies"] == "0"
    # The foreign child (think kea-lfc) was reaped by its parent, with its real status.
    assert out.split("foreign ")[1].split() == ["reaped", "42"]


def test_async_limit_is_enforced(driver, tmp_path):
    path = script(tmp_path, "sleep 1\n")
    out = subprocess.run([str(driver), "async-many", str(path), "20", "5"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    report = dict(zip(out.split()[::2], out.split()[1::2]))
    assert int(report["started"]) >= 5 and int(report["limited"]) > 0


@pytest.mark.parametrize("wait", ["1", "0"])
def test_captured_output_arrives_line_by_line(driver, tmp_path, wait):
    path = script(tmp_path, 'echo first; echo "to stderr" >&2; printf "no newline"\n')
    out = subprocess.run([str(driver), "capture", str(path), wait],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    lines = [l[5:] for l in out.splitlines() if l.startswith("line ")]
    assert lines == ["first", "to stderr", "no newline"]


def test_capture_does_not_wait_for_a_background_child_holding_the_pipe(driver, tmp_path):
    path = script(tmp_path, "sleep 30 &\necho done\n")
    started = time.monotonic()
    out = subprocess.run([str(driver), "capture", str(path), "1"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "line done" in out
    assert time.monotonic() - started < 10


def test_exit_status_survives_a_process_wide_waitpid(driver, tmp_path):
    """Kea reaps its own children (kea-lfc) with waitpid(-1): scripts are started as silent
    children (no SIGCHLD), which such a waitpid does not see, so exit codes are never lost."""
    path = script(tmp_path, "sleep 0.05\nexit 3\n")
    out = subprocess.run([str(driver), "thief", str(path)],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    report = dict(zip(out.split()[::2], out.split()[1::2]))
    assert report == {"exited3": "20", "stolen": "0"}


def test_launch_memory_is_freed_when_the_launcher_stops(driver, tmp_path):
    # Kea unloads and reloads the library at every reconfiguration: nothing may stay mapped.
    out = subprocess.run([str(driver), "mappings", str(script(tmp_path, "exit 0\n"))],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    during, after = int(out[1]), int(out[3])
    assert during >= 1 and after == 0
