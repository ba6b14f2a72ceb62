"""Containers are labelled, removed whatever interrupts a run, and stream long commands
(kea_runscript.engine.containers, without Docker: a fake engine records what is asked of it)."""

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

from kea_runscript import ROOT
from kea_runscript.engine import containers


class HijackedExec:
    """The engine's side of an exec whose connection was hijacked, run on this machine: the
    command (the gate and all) is a local process; what it writes comes back in the engine's
    multiplexed frames, cut into pieces of ``piece`` bytes (anywhere: in a header, a UTF-8
    character, the end mark); ``lose_end``: the engine stops copying the output after that
    many bytes, as moby#27289's race does."""

    def __init__(self, cmd, env, piece=3, lose_end=None):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env={"PATH": os.environ["PATH"], **env})
        self.piece, self.lose_end, self.copied, self.frames = piece, lose_end, 0, b""

    def settimeout(self, t):
        pass

    def sendall(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def shutdown(self, how):
        assert how == socket.SHUT_WR
        self.proc.stdin.close()

    def recv(self, n):
        if not self.frames:
            lost = self.lose_end is not None and self.copied >= self.lose_end
            data = b"" if lost else os.read(self.proc.stdout.fileno(), 4096)
            if self.lose_end is not None:
                data = data[:max(0, self.lose_end - self.copied)]
            self.copied += len(data)
            if not data:
                self.proc.stdin.close()
                self.proc.wait()
                return b""
            self.frames = b"\x01\x00\x00\x00" + len(data).to_bytes(4, "big") + data
        out, self.frames = self.frames[:min(n, self.piece)], self.frames[min(n, self.piece):]
        return out

    def close(self):
        pass


class FakeResponse:
    def close(self):
        pass


class FakeAPI:
    def __init__(self, on_remove=None, **exec_kw):
        self.removed, self.on_remove, self.exec_kw = [], on_remove, exec_kw
        self.exec_args = self.hijacked = None

    def remove_container(self, name, force=False):
        if self.on_remove:
            self.on_remove(name)
        self.removed.append(name)

    def exec_create(self, container, cmd, **kw):
        self.exec_args = (container, cmd, kw)
        return {"Id": "exec-1"}

    def _url(self, path, *args):
        return path.format(*args)

    def _post_json(self, url, **kw):
        assert url == "/exec/exec-1/start" and kw["stream"] and kw["data"] == {"Tty": False, "Detach": False}
        return FakeResponse()

    def _get_raw_response_socket(self, response):
        _, cmd, kw = self.exec_args
        self.hijacked = HijackedExec(cmd, kw["environment"], **self.exec_kw)
        return self.hijacked

    def exec_inspect(self, exec_id):
        return {"ExitCode": self.hijacked.proc.wait(), "Running": False}


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


def _container(**exec_kw):
    api = FakeAPI(**exec_kw)
    c = containers.Container("img", "cell", keep=False)
    c._c = FakeModel(type("C", (), {"api": api})(), c.name)
    return c, api


MAKE = ["sh", "-c", "printf 'line one\\nline two\\n\\303\\251t\\303\\251\\n' && echo warning >&2 && "
                    "printf \"no newline $A\"; exit 2"]


@pytest.mark.parametrize("piece", [1, 3, 4096])
def test_call_streams_whole_lines_and_still_collects_the_output(tmp_path, piece):
    c, api = _container(piece=piece)
    lines = []
    log = tmp_path / "build.log"
    r = c.call(MAKE, env={"A": "1"}, log=log, on_line=lines.append)
    assert lines == ["line one", "line two", "été", "warning", "no newline 1"]
    assert r.exit_code == 2 and r.output == "line one\nline two\nété\nwarning\nno newline 1"
    assert log.read_text() == f"$ {' '.join(MAKE)}\nline one\nline two\nété\nwarning\nno newline 1\n[exit status 2]\n"
    gate = api.exec_args[1]
    assert gate[:4] == ["/bin/sh", "-c", containers._GATE, "gate"] and gate[5:] == MAKE
    assert api.exec_args[2]["environment"] == {"A": "1"} and api.exec_args[2]["stdin"]


def test_a_call_without_output_or_with_a_last_newline_is_returned_as_it_is():
    c, _ = _container()
    assert c.call(["true"]) == containers.CallResult(0, "")
    assert c.sh("echo one; echo; exit 7") == containers.CallResult(7, "one\n\n")
    assert c.sh("cat") == containers.CallResult(0, "")  # stdin is not the gate's


def test_the_command_runs_only_once_the_caller_is_attached(tmp_path):
    """The gate holds the command until the caller's line: nothing is written before."""
    c, api = _container()
    flag = tmp_path / "ran"
    out = {}
    t = threading.Thread(target=lambda: out.update(r=c.sh(f"touch {flag}; echo ran")))
    original = HijackedExec.sendall
    seen = []

    def sendall(self, data):
        seen.append(flag.exists())
        original(self, data)
    HijackedExec.sendall = sendall
    try:
        t.start()
        t.join(10)
    finally:
        HijackedExec.sendall = original
    assert seen and seen[0] is False and out["r"] == containers.CallResult(0, "ran\n")


@pytest.mark.parametrize("lose_end", [0, 5, 40])
def test_output_the_engine_lost_is_an_error_not_a_short_answer(lose_end):
    """moby#27289: `grep -c` exited 0 with no output; now the missing end mark says so."""
    c, _ = _container(lose_end=lose_end)
    with pytest.raises(containers.OutputLost, match="ended without its end mark"):
        c.sh("echo 12345678; echo done")


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
    from kea_runscript import cli
    from kea_runscript.engine import containers
    from kea_runscript.verify import smoke

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
