"""Scenario 15's lifetime watcher, run on this machine against processes whose lifetime the
test knows: the exit lies between what the watcher says a run surely lived and its upper
bound, also when the watcher itself is kept off the CPU (stopped) while a run exits."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.support.scenarios.output import _LIFETIMES

COMM = "sleep"


def _watch(tmp_path):
    prog = tmp_path / "watch.py"
    prog.write_text(_LIFETIMES)
    out, stop = tmp_path / "watch.json", tmp_path / "watch.stop"
    watcher = subprocess.Popen([sys.executable, str(prog), COMM, str(out), str(stop)])
    time.sleep(0.3)
    return watcher, out, stop


def _stop(watcher, out, stop):
    stop.touch()
    watcher.wait(timeout=10)
    return json.loads(out.read_text())


def _boottime():
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def test_a_run_is_bracketed_by_what_it_surely_lived_and_its_end(tmp_path):
    watcher, out, stop = _watch(tmp_path)
    try:
        child = subprocess.Popen(["sleep", "0.6"])
        child.wait()
        ended = _boottime()
        time.sleep(0.2)
    finally:
        data = _stop(watcher, out, stop)
    run = next(r for r in data["runs"] if r["pid"] == child.pid)
    assert run["end"] is not None
    assert run["start"] <= run["alive"] <= ended, run
    assert run["alive"] - run["start"] >= 0.4, run  # it was seen running most of its 0.6 s
    assert run["end"] - run["start"] >= 0.59, run
    assert data["longest pass"] < 0.5, data["longest pass"]


def test_a_watcher_kept_off_the_cpu_does_not_lengthen_what_a_run_surely_lived(tmp_path):
    watcher, out, stop = _watch(tmp_path)
    try:
        child = subprocess.Popen(["sleep", "0.3"])
        time.sleep(0.15)  # the watcher has seen it running
        os.kill(watcher.pid, signal.SIGSTOP)
        child.wait()
        ended = _boottime()
        time.sleep(1.0)  # the exit is only noticed a second late
        os.kill(watcher.pid, signal.SIGCONT)
        time.sleep(0.2)
    finally:
        os.kill(watcher.pid, signal.SIGCONT)
        data = _stop(watcher, out, stop)
    run = next(r for r in data["runs"] if r["pid"] == child.pid)
    assert run["end"] - run["start"] >= 1.0, run          # the upper bound carries the stop
    assert run["alive"] <= ended, run                      # the lower one does not
    assert run["alive"] - run["start"] <= 0.3 + 0.1, run
    assert data["longest pass"] >= 0.9, data["longest pass"]
