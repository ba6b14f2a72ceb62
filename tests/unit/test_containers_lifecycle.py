"""Containers are labelled, removed whatever interrupts a run, and stream long commands
(kea_runscript.containers, without Docker: a fake engine records what is asked of it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading

import pytest
import requests

from kea_runscript import ROOT, containers


class FakeAPI:
    def __init__(self, chunks=(), exit_code=0, on_remove=None):
        self.removed, self.chunks, self.exit_code, self.on_remove = [], list(chunks), exit_code, on_remove
        self.exec_args = None

    def remove_container(self, name, force=False):
        if self.on_remove:
            self.on_remove(name)
        self.removed.append(name)

    def exec_create(self, container, cmd, **kw):
        self.exec_args = (container, cmd, kw)
        return {"Id": "exec-1"}

    def exec_start(self, exec_id, stream=False, demux=False):
        assert stream and exec_id == "exec-1"
        return iter(self.chunks)

    def exec_inspect(self, exec_id):
        return {"ExitCode": self.exit_code, "Running": False}


class FakeModel:
    def __init__(self, client, name):
        self.client, self.name, self.id = client, name, f"id-{name}"


class FakeContainers:
    def __init__(self, client, on_run=None):
        self.client, self.on_run, self.runs = client, on_run, []

    def run(self, image, command, *, name, labels, **kw):
        self.runs.append({"image": image, "name": name, "labels": labels})
        if self.on_run:
            self.on_run(name)
        return FakeModel(self.client, name)


class FakeClient:
    def __init__(self, **api_kw):
        self.api = FakeAPI(**api_kw)
        self.containers = FakeContainers(self)


@pytest.fixture
def engine(monkeypatch):
    fake = FakeClient()
    monkeypatch.setattr(containers, "client", lambda: fake)
    yield fake
    containers._reset_interrupted()  # a test that interrupts must not refuse the next one's containers


def test_a_container_is_labelled_with_its_name_host_and_process(engine):
    with containers.Container("img", "kea2.6.3-debian13-amd64-smoke", keep=False) as c:
        pass
    labels = engine.containers.runs[0]["labels"]
    assert labels == {"kea-runscript": "1", "kea-runscript.name": "kea2.6.3-debian13-amd64-smoke",
                      "kea-runscript.host": socket.gethostname(), "kea-runscript.pid": str(os.getpid())}
    assert engine.api.removed == [c.name]


def test_a_container_whose_creation_was_interrupted_is_removed_by_name(engine):
    """Ctrl-C while the engine creates it: Docker made the container, we never got its handle."""
    def interrupted(name):
        raise KeyboardInterrupt
    engine.containers.on_run = interrupted
    c = containers.Container("img", "cell-smoke", keep=False)
    with pytest.raises(KeyboardInterrupt):
        with c:
            pytest.fail("the body must not run")
    assert engine.api.removed == [c.name]


def test_a_second_ctrl_c_while_removing_waits_until_the_container_is_gone(engine):
    def second_ctrl_c(name):
        signal.raise_signal(signal.SIGINT)  # arrives before the engine confirms the removal
    engine.api.on_remove = second_ctrl_c
    c = containers.Container("img", "cell-smoke", keep=False)
    with pytest.raises(KeyboardInterrupt):
        with c:
            pass
    assert engine.api.removed == [c.name]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_removal_retries_on_a_fresh_connection(monkeypatch):
    """An interrupt in the middle of a call can leave the thread's connection unusable."""
    broken, fresh = FakeClient(), FakeClient()

    def refuse(name):
        raise requests.exceptions.ConnectionError("connection aborted")
    broken.api.on_remove = refuse
    monkeypatch.setattr(containers, "client", lambda: broken)
    monkeypatch.setattr(containers, "fresh_client", lambda: fresh)
    with containers.Container("img", "cell-smoke", keep=False) as c:
        pass
    assert broken.api.removed == [] and fresh.api.removed == [c.name]


def test_an_interrupt_removes_the_containers_of_worker_threads_and_refuses_new_ones(engine, monkeypatch):
    """``build --jobs N``: the main thread gets the signal; the builds run in workers, each
    inside its container; removing it ends their ``make`` at once, and queued cells start none."""
    monkeypatch.setattr(containers, "fresh_client", lambda: engine)
    entered, release = threading.Event(), threading.Event()
    names = []

    def worker():
        with containers.Container("img", "cell-a", keep=False) as c:
            names.append(c.name)
            entered.set()
            release.wait(10)

    t = threading.Thread(target=worker)
    t.start()
    assert entered.wait(10)
    removed = containers.interrupt()
    assert removed == names and engine.api.removed == names
    with pytest.raises(containers.Interrupted):
        with containers.Container("img", "cell-b", keep=False):
            pytest.fail("no container may start after an interrupt")
    assert [r["name"] for r in engine.containers.runs] == names
    release.set()
    t.join(10)


def test_call_streams_whole_lines_and_still_collects_the_output(tmp_path):
    api = FakeAPI(chunks=[b"line one\nli", b"ne two\n\xc3", b"\xa9t\xc3\xa9\n", b"no newline"], exit_code=2)
    c = containers.Container("img", "cell", keep=False)
    c._c = FakeModel(type("C", (), {"api": api})(), c.name)
    lines = []
    log = tmp_path / "build.log"
    r = c.call(["make", "-j2"], env={"A": "1"}, log=log, on_line=lines.append)
    assert lines == ["line one", "line two", "été", "no newline"]
    assert r.exit_code == 2 and r.output == "line one\nline two\nété\nno newline"
    assert log.read_text() == "$ make -j2\nline one\nline two\nété\nno newline\n[exit status 2]\n"
    assert api.exec_args[1] == ["make", "-j2"] and api.exec_args[2]["environment"] == {"A": "1"}


def info(name, pid=None, host=None, old=False):
    labels = {"kea-runscript": "1"}
    if not old:
        labels.update({"kea-runscript.name": name, "kea-runscript.pid": str(pid),
                       "kea-runscript.host": host or socket.gethostname()})
    return {"name": name, "labels": labels}


def test_clean_leaves_the_containers_of_a_live_run_alone():
    found = [info("live", pid=os.getpid()), info("gone", pid=2 ** 22 + 1), info("old", old=True),
             info("elsewhere", pid=os.getpid(), host="another-host")]
    assert containers.leftovers(found) == ["gone", "old", "elsewhere"]


def test_clean_images_spares_the_base_images():
    tags = ["kea-runscript/builder:kea2.6.3-debian13-amd64-81e0608933add5b3",
            "kea-runscript/runtime:kea2.2.0-debian12-amd64-361cb044a6dec115",
            "kea-runscript/debian:trixie", "debian:trixie", "someone/builder:x"]
    assert containers.recipe_images(tags, kinds=["builder", "runtime", "install-test"]) == tags[:2]


SIGNAL_SCRIPT = textwrap.dedent("""\
    import os, signal, sys, time
    sys.path.insert(0, {root!r})
    from kea_runscript import cli, containers, smoke

    class API:
        def remove_container(self, name, force=False):
            print("removed", name, flush=True)

    class Client:
        api = API()
        class containers:
            @staticmethod
            def run(image, command, *, name, **kw):
                print("created", name, flush=True)
                return type("M", (), {{"name": name, "id": name}})()

    containers.client = lambda: Client()
    containers.fresh_client = lambda: Client()

    def smoking(args, cells, m):
        with containers.Container("img", cells[0].id + "-smoke", keep=False):
            os.kill(os.getpid(), signal.{sig})
            time.sleep(30)
        return 0

    smoke.cli_main = smoking
    sys.exit(cli.main(["smoke", "--only", "kea2.6.3-debian13-amd64", "--no-build"]))
    """)


@pytest.mark.parametrize("sig,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_the_cli_removes_its_containers_on_sigint_and_sigterm(sig, status):
    """SIGTERM is what a cancelled CI job gets: it must unwind like Ctrl-C, and the command
    exits 128 + the signal's number with one line on stderr, no traceback."""
    p = subprocess.run([sys.executable, "-c", SIGNAL_SCRIPT.format(root=str(ROOT), sig=sig)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    created = [line.split()[1] for line in p.stdout.splitlines() if line.startswith("created")]
    removed = [line.split()[1] for line in p.stdout.splitlines() if line.startswith("removed")]
    assert len(created) == 1 and removed == created, p.stdout + p.stderr
    assert p.returncode == status, p.stdout + p.stderr
    assert "Traceback" not in p.stderr and f"interrupted ({sig})" in p.stderr, p.stderr


def test_the_clean_command_removes_leftovers_and_with_images_the_recipe_images(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(containers, "clean", lambda **kw: calls.append(kw) or ["kea-runscript-x"])
    from kea_runscript import cli
    assert cli.main(["clean"]) == 0
    assert cli.main(["clean", "--images"]) == 0
    assert calls[0]["kinds"] == () and "builder" in calls[1]["kinds"] and "runtime" in calls[1]["kinds"]


def test_a_removal_that_fails_for_good_says_so_and_keeps_the_body_exception(monkeypatch, capsys):
    down = FakeClient()

    def refuse(name):
        raise requests.exceptions.ConnectionError("engine gone")
    down.api.on_remove = refuse
    monkeypatch.setattr(containers, "client", lambda: down)
    monkeypatch.setattr(containers, "fresh_client", lambda: down)
    with pytest.raises(ValueError, match="the body's"):
        with containers.Container("img", "cell-smoke", keep=False) as c:
            raise ValueError("the body's")
    err = capsys.readouterr().err
    assert f"could not remove container {c.name}" in err and "kea-runscript clean" in err
