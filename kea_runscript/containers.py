"""Everything that talks to the Docker engine. No other module imports ``docker``.

* :func:`client` connects (or explains how to start the engine).
* Image helpers: :func:`image_id`, :func:`pull`, :func:`tag`, :func:`import_tarball`,
  :func:`build_image`.
* :class:`Container`: a throwaway container as a context manager with ``call``,
  ``copy_into``, ``copy_out``; removed on exit unless asked to keep it
  (``keep=True``, ``--keep-container`` or ``KEA_RUNSCRIPT_KEEP=1``).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional, Sequence

import docker
import docker.errors

from .matrix import MACHINE_ARCH

_local = threading.local()

START_HINT = ("start it as root with: apt-get install -y docker.io && (dockerd >/var/log/dockerd.log 2>&1 &) "
              "- or run ./bootstrap.sh")


class DockerUnavailable(RuntimeError):
    """The Docker engine cannot be reached."""


class ImageBuildError(RuntimeError):
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
        self.name = f"kea-runscript-{name}-{uuid.uuid4().hex[:8]}"
        self.keep = keep_requested() if keep is None else keep
        self.network = network
        self.cap_add = list(cap_add)
        self.env = dict(env or {})
        self._c = None

    def __enter__(self) -> "Container":
        self._c = client().containers.run(
            self.image, ["sleep", "infinity"], name=self.name, detach=True, init=True,
            network_mode=None if self.network else "none", cap_add=self.cap_add or None,
            environment=self.env, labels={"kea-runscript": "1"},
        )
        return self

    def __exit__(self, *exc) -> None:
        if self._c is None:
            return
        if self.keep:
            print(f"  keeping container {self.name} (docker exec -it {self.name} bash; "
                  f"docker rm -f {self.name})", flush=True)
            return
        try:
            self._c.remove(force=True)
        except docker.errors.APIError:
            pass

    def call(self, cmd: Sequence[str], *, env: Optional[dict] = None, workdir: Optional[str] = None,
             log: Optional[Path] = None) -> CallResult:
        """Run ``cmd`` (argv list); stdout+stderr together. Appends to ``log`` if given."""
        res = self._c.exec_run(list(cmd), environment=env or {}, workdir=workdir, demux=False)
        out = (res.output or b"").decode("utf-8", "replace")
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"$ {' '.join(cmd)}\n{out}")
                if out and not out.endswith("\n"):
                    f.write("\n")
                f.write(f"[exit status {res.exit_code}]\n")
        return CallResult(res.exit_code, out)

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
