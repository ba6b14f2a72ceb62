"""Everything that talks to the Docker engine. No other module imports ``docker``.

* :func:`client` connects (or explains how to start the engine).
* Image helpers: :func:`image_id`, :func:`pull`, :func:`tag`, :func:`import_tarball`,
  :func:`build_image`.
* :class:`Container`: a throwaway container as a context manager with ``call`` (which can
  stream the output line by line), ``copy_into``, ``copy_out``; removed on exit, also when
  interrupted, unless asked to keep it (``keep=True``, ``--keep-container`` or
  ``KEA_RUNSCRIPT_KEEP=1``).
* Interrupts: :func:`interrupt` (the CLI's SIGINT/SIGTERM handler) removes the containers
  worker threads hold and refuses new ones; :func:`clean` removes what a killed run left
  (every container carries the :data:`LABEL` labels).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import signal
import socket
import sys
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, List, Optional, Sequence

import docker
import docker.errors

from ..errors import ExitCode, ToolkitError
from ..model.matrix import MACHINE_ARCH

_local = threading.local()

START_HINT = ("start it as root with: apt-get install -y docker.io && (dockerd >/var/log/dockerd.log 2>&1 &) "
              "- or run ./bootstrap.sh")


#: Every container the toolkit creates carries ``kea-runscript=1`` and ``kea-runscript.name``,
#: ``.host`` and ``.pid`` (who created it): ``clean`` tells a live run's containers from leftovers.
LABEL = "kea-runscript"


class DockerUnavailable(ToolkitError, RuntimeError):
    """The Docker engine cannot be reached."""

    exit_code = ExitCode.DOCKER


class Interrupted(RuntimeError):
    """A container was asked for after SIGINT/SIGTERM: the run is being torn down."""


class ImageBuildError(ToolkitError, RuntimeError):
    def __init__(self, tag: str, log_path: Path, tail: str):
        super().__init__(f"building image {tag} failed; full log: {log_path}\n{tail}")
        self.tag, self.log_path, self.tail = tag, log_path, tail


def keep_requested() -> bool:
    """``KEA_RUNSCRIPT_KEEP=1`` keeps containers for debugging (empty counts as unset)."""
    return os.environ.get("KEA_RUNSCRIPT_KEEP", "").strip() not in ("", "0", "false", "no")


def client():
    """A Docker client for this thread (the SDK's HTTP session is not shared across threads)."""
    c = getattr(_local, "client", None)
    if c is None:
        try:
            c = docker.from_env(timeout=600)
            c.ping()
        except Exception as e:  # DockerException, requests' ConnectionError, PermissionError...
            raise DockerUnavailable(
                f"cannot reach the Docker engine ({type(e).__name__}: {e}); {START_HINT}") from None
        _local.client = c
    return c


def fresh_client():
    """A new client with its own connections, for removals that must not depend on a connection
    an interrupt may have left half-read (or that another thread is using)."""
    return docker.from_env(timeout=60)


# --------------------------------------------------------------------------------------------
# images


def engine_arch() -> str:
    """Debian architecture of the machine the engine runs containers on natively (``amd64``)."""
    if not hasattr(_local, "arch"):
        machine = client().info().get("Architecture", "")
        _local.arch = MACHINE_ARCH.get(machine, machine)
    return _local.arch


def image_id(ref: str) -> Optional[str]:
    """Id (sha256:...) of a local image, or None if there is no such tag."""
    try:
        return client().images.get(ref).id
    except docker.errors.ImageNotFound:
        return None


def pull(repository: str, tag: str) -> Optional[str]:
    """Pull ``repository:tag``; return its id, or None if the pull failed (registry unreachable)."""
    try:
        return client().images.pull(repository, tag=tag).id
    except docker.errors.APIError:
        return None


def tag(src: str, repository: str, tag_: str) -> None:
    client().images.get(src).tag(repository, tag_)


def import_tarball(path: Path, repository: str, tag_: str, changes: Sequence[str] = ()) -> str:
    """``docker import``: a root filesystem tarball becomes image ``repository:tag``."""
    client().api.import_image_from_file(str(path), repository=repository, tag=tag_,
                                        changes=list(changes) or None)
    found = image_id(f"{repository}:{tag_}")
    if not found:
        raise RuntimeError(f"docker import of {path} did not produce {repository}:{tag_}")
    return found


def build_image(context_dir: Path, tag_: str, log_path: Path) -> str:
    """Build ``context_dir/Dockerfile`` as ``tag_``, streaming the output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    error = None
    with open(log_path, "w", encoding="utf-8") as log:
        for chunk in client().api.build(path=str(context_dir), tag=tag_, rm=True, forcerm=True,
                                        decode=True, pull=False):
            text = chunk.get("stream") or chunk.get("status") or ""
            if "error" in chunk:
                error = chunk["error"]
                text = f"ERROR: {error}\n"
            if text:
                log.write(text)
                log.flush()
                lines.extend(text.splitlines())
                del lines[:-40]
    if error:
        raise ImageBuildError(tag_, log_path, "\n".join(lines[-25:]))
    found = image_id(tag_)
    if not found:
        raise ImageBuildError(tag_, log_path, "\n".join(lines[-25:]))
    return found


# --------------------------------------------------------------------------------------------
# containers


@dataclass(frozen=True)
class CallResult:
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Files copied in belong to root and are writable by their owner only, whatever the
    checkout's owner and umask: the hook refuses scripts others could change."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode &= ~0o022
    return info


class Container:
    """A container to run commands in; ``with Container(image, "kea2.6.3-...") as c: c.call([...])``.

    It idles (``sleep infinity``) between calls. Its name is ``kea-runscript-<name>-<uuid8>``.
    ``network=False`` (default) runs it without network; ``cap_add`` grants specific
    capabilities (this Docker refuses ``--privileged``).
    """

    def __init__(self, image: str, name: str, *, keep: Optional[bool] = None, network: bool = False,
                 cap_add: Iterable[str] = (), env: Optional[dict] = None):
        self.image = image
        self.label_name = name
        self.name = f"kea-runscript-{name}-{uuid.uuid4().hex[:8]}"
        self.keep = keep_requested() if keep is None else keep
        self.network = network
        self.cap_add = list(cap_add)
        self.env = dict(env or {})
        self._c = None

    def labels(self) -> dict:
        return {LABEL: "1", f"{LABEL}.name": self.label_name, f"{LABEL}.host": socket.gethostname(),
                f"{LABEL}.pid": str(os.getpid())}

    def __enter__(self) -> "Container":
        with _live_lock:
            if _interrupted.is_set():
                raise Interrupted(f"not starting {self.name}: the run was interrupted")
            _live[self.name] = (self, threading.current_thread())
        try:
            self._c = client().containers.run(
                self.image, ["sleep", "infinity"], name=self.name, detach=True, init=True,
                network_mode=None if self.network else "none", cap_add=self.cap_add or None,
                environment=self.env, labels=self.labels(),
            )
        except DockerUnavailable:
            raise
        except BaseException:
            # Interrupted while the engine was creating it: it may exist without our knowing.
            self._remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.keep and self._c is not None:
            with _live_lock:
                _live.pop(self.name, None)
            print(f"  keeping container {self.name} (docker exec -it {self.name} bash; "
                  f"docker rm -f {self.name})", flush=True)
            return
        self._remove()

    def _remove(self) -> None:
        try:
            with _signals_held():
                _force_remove(self.name)
        except Exception as e:  # the body's own exception, if any, matters more
            print(f"  could not remove container {self.name} ({type(e).__name__}: {e}); "
                  f"`kea-runscript clean` removes it", file=sys.stderr, flush=True)
        with _live_lock:
            _live.pop(self.name, None)

    def call(self, cmd: Sequence[str], *, env: Optional[dict] = None, workdir: Optional[str] = None,
             log: Optional[Path] = None, on_line: Optional[Callable[[str], None]] = None) -> CallResult:
        """Run ``cmd`` (argv list); stdout+stderr together, all of it (see :data:`_GATE`).
        Appends to ``log`` if given, as the output comes; ``on_line`` gets each line as it
        comes (a long ``make`` shows progress)."""
        api = self._c.client.api
        end = uuid.uuid4().hex
        exec_id = api.exec_create(self._c.id, ["/bin/sh", "-c", _GATE, "gate", end, *cmd], stdin=True,
                                  stdout=True, stderr=True, environment=env or {}, workdir=workdir)["Id"]
        f = None
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            f = open(log, "a", encoding="utf-8")
        try:
            if f:
                f.write(f"$ {' '.join(cmd)}\n")
            # exec_start(socket=True), keeping the response: it owns the connection
            response = api._post_json(api._url("/exec/{0}/start", exec_id), stream=True,
                                      headers={"Connection": "Upgrade", "Upgrade": "tcp"},
                                      data={"Tty": False, "Detach": False})
            sock = api._get_raw_response_socket(response)
            gated = _GatedOutput(getattr(sock, "_sock", sock), end)
            try:
                out = _lines(gated.chunks(), on_line, f)
            finally:
                for done in (response.close, sock.close):
                    with contextlib.suppress(OSError, ValueError):
                        done()
            exit_code = api.exec_inspect(exec_id)["ExitCode"]
            if exit_code is None:
                exit_code = gated.status
            if gated.status is None:
                raise OutputLost(f"the output of `{' '.join(cmd)[:200]}` in {self.name} ended without its "
                                 f"end mark (exit status {exit_code}): the engine lost some of it")
            if f:
                f.write(("" if not out or out.endswith("\n") else "\n") + f"[exit status {exit_code}]\n")
        finally:
            if f:
                f.close()
        return CallResult(exit_code, out)

    def sh(self, script: str, **kw) -> CallResult:
        return self.call(["/bin/sh", "-c", script], **kw)

    def copy_into(self, src: Path, dest: str) -> None:
        """Copy a local file or directory to the path ``dest`` in the container."""
        src = Path(src)
        destp = PurePosixPath(dest)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(src), arcname=destp.name, filter=_root_owned)
        self._c.put_archive(str(destp.parent), buf.getvalue())

    def write_file(self, dest: str, content: str, mode: int = 0o644) -> None:
        destp = PurePosixPath(dest)
        data = content.encode()
        info = tarfile.TarInfo(destp.name)
        info.size, info.mode = len(data), mode
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(info, io.BytesIO(data))
        self.call(["mkdir", "-p", str(destp.parent)])
        self._c.put_archive(str(destp.parent), buf.getvalue())

    def copy_out(self, src: str, dest: Path) -> None:
        """Copy one file from the container to the local path ``dest``."""
        stream, _stat = self._c.get_archive(src)
        buf = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=buf) as tar:
            member = tar.getmembers()[0]
            f = tar.extractfile(member)
            if f is None:
                raise RuntimeError(f"{src} in {self.name} is not a regular file")
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            Path(dest).write_bytes(f.read())

    def debug_info(self) -> str:
        self._c.reload()
        return json.dumps({"name": self.name, "image": self.image, "status": self._c.status}, indent=1)


#: How a call's command runs in the container. The engine can lose an exec's output: CI saw
#: `grep -c` exit 0 with no output (about 1 call in 10 000 on a busy machine), as when a
#: process writes before its output is attached or ends before all of it was copied
#: (moby#27289). So the command waits for a line on stdin, which the caller sends once it is
#: attached; its stderr joins its stdout there (one stream keeps their order); an end mark
#: (a fresh random word, $1) follows its output with its exit status, and the command's
#: shell waits for the caller to close stdin, which it does once it has read the mark.
_GATE = ('end=$1; shift; read -r _ || exit 125; "$@" </dev/null 2>&1; rc=$?; '
         'printf "\\n%s %d\\n" "$end" "$rc"; read -r _; exit "$rc"')


class OutputLost(RuntimeError):
    """A call's output ended before its end mark."""


class _GatedOutput:
    """Reads the engine's multiplexed stream of a :data:`_GATE`-run command from its hijacked
    socket: opens the gate, yields the output up to the end mark (held back as long as it
    could be the mark's start), then closes stdin and reads to the end. ``status``: the exit
    status the mark carried; None if the stream ended without it."""

    def __init__(self, raw, end: str):
        self.raw, self.mark = raw, b"\n" + end.encode() + b" "
        self.status: Optional[int] = None

    def _payloads(self) -> Iterable[bytes]:
        pending = b""
        while True:
            data = self.raw.recv(65536)
            if not data:
                return
            pending += data
            while len(pending) >= 8:
                size = int.from_bytes(pending[4:8], "big")
                if len(pending) < 8 + size:
                    break
                yield pending[8:8 + size]
                pending = pending[8 + size:]

    def chunks(self) -> Iterable[bytes]:
        self.raw.settimeout(None)  # a make can be silent for minutes
        self.raw.sendall(b"\n")
        held = b""
        payloads = self._payloads()
        for payload in payloads:
            held += payload
            at = held.find(self.mark)
            if at >= 0:
                line_end = held.find(b"\n", at + len(self.mark))
                if line_end < 0:
                    continue
                yield held[:at]
                self.status = int(held[at + len(self.mark):line_end])
                with contextlib.suppress(OSError):
                    self.raw.shutdown(socket.SHUT_WR)
                for _ in payloads:  # the shell's exit: nothing more is written
                    pass
                return
            keep = len(self.mark)
            if len(held) > keep:
                yield held[:-keep]
                held = held[-keep:]
        if held:
            yield held


def _lines(chunks: Iterable[bytes], on_line: Optional[Callable[[str], None]], log) -> str:
    """Decode a stream of output chunks (cut anywhere, even inside a UTF-8 character); give each
    complete line to ``on_line`` and the log; return the whole text."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    parts, pending = [], ""
    for chunk in chunks:
        text = decoder.decode(chunk)
        parts.append(text)
        if log:
            log.write(text)
            log.flush()
        pending += text
        *complete, pending = pending.split("\n")
        if on_line:
            for line in complete:
                on_line(line.rstrip("\r"))
    tail = decoder.decode(b"", final=True)
    parts.append(tail)
    pending += tail
    if log and tail:
        log.write(tail)
    if on_line and pending:
        on_line(pending.rstrip("\r"))
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# interrupts and leftovers

_live: dict = {}  # name -> (Container, thread that entered it)
_live_lock = threading.Lock()
_interrupted = threading.Event()


def _force_remove(name: str) -> None:
    """``docker rm -f name``; gone already is fine. A failure on this thread's connection is
    retried once on a fresh one."""
    for attempt in range(2):
        try:
            (client() if attempt == 0 else fresh_client()).api.remove_container(name, force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if e.status_code == 409 and "in progress" in str(e.explanation):
                return  # interrupt() and the container's own exit raced: one of them removes it
            if attempt:
                raise
            _local.client = None
        except Exception:
            if attempt:
                raise
            _local.client = None


@contextlib.contextmanager
def _signals_held():
    """A second Ctrl-C (or a SIGTERM) while a container is being removed takes effect once it
    is removed, instead of leaving it half-removed. Only the main thread has signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = {s: signal.signal(s, lambda n, _f: got.append(n)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for n in got[:1]:
            signal.raise_signal(n)


def interrupt() -> List[str]:
    """On SIGINT/SIGTERM, before the main thread unwinds: refuse new containers and remove the
    ones other threads hold (``build --jobs``), so their commands end now and the main thread
    does not wait for them. The main thread's own containers go as its ``with`` blocks exit."""
    _interrupted.set()
    with _live_lock:
        others = [name for name, (c, t) in _live.items()
                  if t is not threading.current_thread() and not c.keep]
    removed = []
    for name in others:
        try:
            fresh_client().api.remove_container(name, force=True)
            removed.append(name)
        except docker.errors.NotFound:
            removed.append(name)
        except Exception:
            pass  # the worker's own exit tries again; clean is the last resort
    return removed


def _reset_interrupted() -> None:
    _interrupted.clear()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers(found: Sequence[dict]) -> List[str]:
    """Names among ``found`` (``{"name", "labels"}``) that no live run on this host owns."""
    here = socket.gethostname()
    out = []
    for c in found:
        labels = c["labels"]
        pid = labels.get(f"{LABEL}.pid", "")
        if labels.get(f"{LABEL}.host") == here and pid.isdigit() and _alive(int(pid)):
            continue
        out.append(c["name"])
    return out


def snapshot_of_mine(script: str, seconds: int = 20) -> str:
    """``script``'s output in each running container this process started (what a test that
    passed its time bound left running: processes, log tails). Never raises: it is a report."""
    try:
        mine = client().containers.list(filters={"label": [f"{LABEL}=1", f"{LABEL}.pid={os.getpid()}"]})
    except Exception as e:  # noqa: BLE001 - the report says why there is no snapshot
        return f"(no snapshot of the containers: {e})"
    out = []
    for c in mine:
        try:
            r = c.exec_run(["timeout", str(seconds), "sh", "-c", script])
            out.append(f"--- container {c.name} (exit {r.exit_code}):\n{r.output.decode(errors='replace')}")
        except Exception as e:  # noqa: BLE001
            out.append(f"--- container {c.name}: no snapshot ({e})")
    return "\n".join(out) or "(no container of this test process was running)"


def recipe_images(tags: Sequence[str], kinds: Sequence[str]) -> List[str]:
    """The image tags built from the toolkit's recipes (``kea-runscript/<kind>:...``); base
    images (``kea-runscript/<distro>:<suite>``, a debootstrap each without a registry) stay."""
    repos = {f"kea-runscript/{k}" for k in kinds}
    return [t for t in tags if t.rsplit(":", 1)[0] in repos]


def clean(*, kinds: Sequence[str] = (), only: Optional[dict] = None,
          say: Callable[[str], None] = print) -> List[str]:
    """Remove the labelled containers no live run owns (``only``: extra label filters) and, for
    ``kinds``, the recipe images of those kinds. Returns the names removed."""
    filters = [f"{LABEL}=1"] + [f"{k}={v}" for k, v in (only or {}).items()]
    found = [{"name": c.name, "labels": c.labels}
             for c in client().containers.list(all=True, filters={"label": filters})]
    removed = []
    for name in leftovers(found):
        _force_remove(name)
        removed.append(name)
        say(f"removed container {name}")
    kept = len(found) - len(removed)
    if kept:
        say(f"left {kept} container(s) alone: their commands still run")
    if kinds:
        tags = [t for img in client().images.list(name="kea-runscript/*") for t in img.tags]
        for t in recipe_images(tags, kinds):
            try:
                client().images.remove(t)
                say(f"removed image {t}")
            except docker.errors.APIError as e:  # in use by a container of a live run
                say(f"kept image {t}: {e.explanation or e}")
    return removed
