"""How the stop and reload scenarios wait for Kea (tests.support.scenarios.teardown), run
with this machine's /bin/sh and /proc instead of a container's."""

from __future__ import annotations

import importlib
import os
import subprocess
import time

from kea_runscript.engine.containers import CallResult
# the module, not the scenario function the package exports under the same name
teardown = importlib.import_module("tests.support.scenarios.teardown")


class LocalShell:
    """The one method of a Runtime the waits use, on this machine."""

    def sh(self, script: str, check: bool = True) -> CallResult:
        r = subprocess.run(["/bin/sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        return CallResult(r.returncode, r.stdout)


def test_a_condition_that_held_once_is_the_answer(tmp_path):
    """A condition true at one read and false at the next (what a zombie Kea reaped between
    two reads did: CI saw "still there after 20 s" for a Kea that left within the bound) is
    reported as met, with its time."""
    target = subprocess.Popen(["sleep", "30"])
    seen = tmp_path / "seen"
    once = f"[ ! -e {seen} ] && touch {seen}"
    facts: dict = {}
    try:
        t0 = time.monotonic()
        secs = teardown.signal_and_time(LocalShell(), target.pid, "TERM", once, str(tmp_path / "log"), facts)
    finally:
        target.kill()
        target.wait()
    assert secs is not None and 0 <= secs <= time.monotonic() - t0, facts
    assert facts == {}


def test_a_condition_never_met_gives_none_and_what_the_process_did(tmp_path, monkeypatch):
    monkeypatch.setattr(teardown, "TEARDOWN_CAP_S", 1)
    target = subprocess.Popen(["sleep", "30"])
    log = tmp_path / "log"
    log.write_text("a line of the log\n")
    facts: dict = {}
    try:
        secs = teardown.signal_and_time(LocalShell(), target.pid, "CONT", "false", str(log), facts)
    finally:
        target.kill()
        target.wait()
    assert secs is None
    assert facts["SIGCONT: Kea at the cap"]["log tail"] == ["a line of the log"]
    assert facts["SIGCONT: Kea at the cap"]["threads (count, name, state)"].endswith("sleep S")


def test_gone_is_true_for_an_exited_process_and_a_zombie_only():
    sh = LocalShell()
    assert not sh.sh(teardown.gone(os.getpid())).ok
    zombie = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    assert sh.sh(teardown.gone(zombie.pid)).ok
    zombie.wait()
    assert sh.sh(teardown.gone(zombie.pid)).ok
