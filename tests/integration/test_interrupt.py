"""An interrupted run leaves no container behind (issue 13, item 6).

``kea-runscript smoke`` runs as a child process on one built cell; once its container exists
(found by the labels the toolkit puts on every container, the child's pid among them), the
test sends SIGINT (Ctrl-C) or SIGTERM (a cancelled CI job) and checks the child is gone and so
is every container it created. Containers of other runs on the machine are not looked at.
The same through ``nox -s smoke-X.Y`` (the README's command): Ctrl-C to the terminal's process
group, SIGINT to nox alone, SIGTERM to nox alone (the noxfile turns nox's SIGTERM into its
Ctrl-C handling, and gives the command time to remove its containers before nox's SIGKILL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kea_runscript import ROOT
from kea_runscript.builder import hook
from kea_runscript.engine import containers
from kea_runscript.model import matrix

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
    r = hook.build_cell(cell)
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


def children(pid: int) -> list:
    """The direct children of ``pid`` (Linux: /proc/<pid>/task/*/children)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:  # gone already
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return found


def labelled_any(pids) -> list:
    return [n for p in pids for n in labelled(p)]


@pytest.mark.parametrize("sig,group", [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
                         ids=["ctrl-c-to-the-group", "sigint-to-nox", "sigterm-to-nox"])
def test_an_interrupted_nox_smoke_removes_its_container(built, sig, group, tmp_path):
    """Through nox (the README's command): Ctrl-C at a terminal signals the whole foreground
    group; a CI runner may signal nox alone. nox turns SIGINT into stopping its child (SIGINT
    already sent, or SIGTERM from nox, then SIGKILL): the child must get time to remove its
    container before nox's SIGKILL."""
    out = tmp_path / "nox.log"
    series = CELL[len("kea"):].split("-")[0].rsplit(".", 1)[0]
    with open(out, "w") as log:
        nox = subprocess.Popen(
            [sys.executable, "-m", "nox", "-s", f"smoke-{series}", "--", "--only", CELL, "--no-build", "--no-examples"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "KEA_RUNSCRIPT_KEEP": ""})
    kids = []
    try:
        deadline = time.monotonic() + START_BOUND_S
        while not labelled_any(kids):
            assert nox.poll() is None, f"nox exited ({nox.returncode}) before a container started:\n" \
                                       + out.read_text()
            assert time.monotonic() < deadline, f"no container after {START_BOUND_S} s:\n" + out.read_text()
            time.sleep(0.5)
            kids = children(nox.pid)
        time.sleep(2)
        if group:
            os.killpg(nox.pid, sig)
        else:
            nox.send_signal(sig)
        status = nox.wait(EXIT_BOUND_S)
        deadline = time.monotonic() + EXIT_BOUND_S
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        left_running = [k for k in kids if _alive(k)]
        left_containers = labelled_any(kids)
    finally:
        # Ours only: nox, then its command if nox left it behind (SIGTERM: it removes its
        # containers; it is not part of the assertion, which was taken above).
        if nox.poll() is None:
            nox.kill()
        nox.wait()
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGTERM)
        deadline = time.monotonic() + EXIT_BOUND_S
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
    text = out.read_text()
    assert status == 130, text  # nox's own exit status for an interrupted session
    assert left_running == [], f"nox left its command running:\n{text}"
    assert left_containers == [] and labelled_any(kids) == [], text
    assert "Traceback" not in text, text


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][0] != "Z"
    except OSError:
        return False


def test_clean_removes_what_a_killed_run_left(built, tmp_path):
    """SIGKILL leaves no chance to clean up: ``kea-runscript clean`` is the way out. Only this
    test's own leftover is asked about (other runs share the machine's engine)."""
    script = ("import sys, time; from kea_runscript.engine import containers\n"
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
