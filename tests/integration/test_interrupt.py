"""An interrupted run leaves no container behind (issue 13, item 6).

``kea-runscript smoke`` runs as a child process on one built cell; once its container exists
(found by the labels the toolkit puts on every container, the child's pid among them), the
test sends SIGINT (Ctrl-C) or SIGTERM (a cancelled CI job) and checks the child is gone and so
is every container it created. Containers of other runs on the machine are not looked at.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kea_runscript import ROOT, build, containers, matrix

CELL = "kea2.6.3-debian13-amd64"
# With the other tests of this cell on one xdist worker: never two of its Kea runs at once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(CELL)]

#: Bounds of the waits (not measurements): building the runtime image on a cold machine can
#: take minutes; removing a container takes the engine a few seconds at most.
START_BOUND_S = 600
EXIT_BOUND_S = 60


def labelled(pid: int) -> list:
    return [c.name for c in containers.client().containers.list(
        all=True, filters={"label": [f"{containers.LABEL}=1", f"{containers.LABEL}.pid={pid}"]})]


@pytest.fixture(scope="module")
def built():
    cell = matrix.load().by_id(CELL)
    r = build.build_cell(cell)
    assert r.ok, f"{CELL}: build failed: {r.message} (log {r.log})"
    return cell


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupted_smoke_removes_its_container(built, sig, tmp_path):
    out = tmp_path / "smoke.log"
    with open(out, "w") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "kea_runscript.cli", "smoke", "--only", CELL, "--no-build", "--no-examples"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "KEA_RUNSCRIPT_KEEP": ""})
    try:
        deadline = time.monotonic() + START_BOUND_S
        while not labelled(child.pid):
            assert child.poll() is None, f"smoke exited ({child.returncode}) before starting a container:\n" \
                                         + out.read_text()
            assert time.monotonic() < deadline, f"no container after {START_BOUND_S} s:\n" + out.read_text()
            time.sleep(0.5)
        time.sleep(2)  # well into the smoke test: Kea starting, clients running
        child.send_signal(sig)
        status = child.wait(EXIT_BOUND_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    text = out.read_text()
    assert status == 128 + sig, text
    assert f"interrupted ({sig.name})" in text and "Traceback" not in text, text
    assert labelled(child.pid) == [], text


def test_clean_removes_what_a_killed_run_left(built, tmp_path):
    """SIGKILL leaves no chance to clean up: ``kea-runscript clean`` is the way out. Only this
    test's own leftover is asked about (other runs share the machine's engine)."""
    script = ("import sys, time; from kea_runscript import containers\n"
              "with containers.Container(sys.argv[1], 'clean-test', keep=False) as c:\n"
              "    print(c.name, flush=True); time.sleep(120)\n")
    image = containers.client().images.list(name="kea-runscript/debian")[0].tags[0]
    child = subprocess.Popen([sys.executable, "-c", script, image], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    name = child.stdout.readline().strip()
    child.kill()
    child.wait()
    assert labelled(child.pid) == [name]
    removed = containers.clean(only={f"{containers.LABEL}.pid": str(child.pid)}, say=lambda s: None)
    assert removed == [name]
    assert labelled(child.pid) == []
