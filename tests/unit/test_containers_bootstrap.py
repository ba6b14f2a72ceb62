"""bootstrap.sh finds a Docker engine the toolkit can use, or installs and starts one, and says
so (``bootstrap.sh --dry-run`` prints the plan the same checks make, and acts on nothing).

The script runs on a PATH of stubs only: nothing real is installed or started."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kea_runscript import ROOT

# Present on a machine that has everything else the bootstrap checks for.
TOOLS = {"debootstrap": "", "gpg-agent": "", "apt-ftparchive": "", "python3": "",
         "dpkg": 'echo amd64'}


def fake_path(tmp_path: Path, docker: str = None, dockerd: bool = False) -> str:
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    tools = dict(TOOLS)
    if docker is not None:
        tools["docker"] = docker
    if dockerd:
        tools["dockerd"] = "exit 0"
    for name, body in tools.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    for real in ("dirname", "id", "cat", "grep", "seq", "sleep"):
        found = next(Path(d) / real for d in ("/usr/bin", "/bin") if (Path(d) / real).exists())
        (bin_ / real).symlink_to(found)
    return str(bin_)


def dry_run(tmp_path, **kw) -> subprocess.CompletedProcess:
    env = {"PATH": fake_path(tmp_path, **kw), "HOME": str(tmp_path)}
    return subprocess.run(["/bin/bash", str(ROOT / "bootstrap.sh"), "--dry-run", "nox", "-s", "tests"],
                          capture_output=True, text=True, env=env, timeout=60)


# The engine does not answer: what a client-only install says.
NO_ENGINE = 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1'


def test_a_docker_cli_without_dockerd_plans_docker_io_and_starting_it(tmp_path):
    p = dry_run(tmp_path, docker=NO_ENGINE)
    assert p.returncode == 0, p.stderr
    assert "install docker.io: no dockerd on PATH" in p.stdout, p.stdout
    assert "start dockerd" in p.stdout, p.stdout
    assert "would run: nox -s tests" in p.stdout, p.stdout


def test_a_remote_context_is_not_an_engine_the_toolkit_can_use(tmp_path):
    """``docker info`` answers through a docker context, which the toolkit's Python SDK does
    not read: the local engine (or $DOCKER_HOST) is what must answer."""
    docker = 'case "$*" in *"-H "*) exit 1;; *info*) echo remote; exit 0;; esac; exit 1'
    p = dry_run(tmp_path, docker=docker, dockerd=True)
    assert p.returncode == 0, p.stderr
    assert "docker.io" not in p.stdout, p.stdout
    assert "start dockerd" in p.stdout, p.stdout


def test_a_running_engine_is_left_as_it_is(tmp_path):
    p = dry_run(tmp_path, docker="exit 0", dockerd=True)
    assert p.returncode == 0, p.stderr
    assert "docker.io" not in p.stdout and "start dockerd" not in p.stdout, p.stdout
    assert "engine answers" in p.stdout, p.stdout


def test_the_dry_run_needs_no_root_and_acts_on_nothing(tmp_path):
    """Not root (fake id), no apt-get on PATH: a plan that tried to act would fail."""
    env_path = fake_path(tmp_path, docker=NO_ENGINE)
    (Path(env_path) / "id").unlink()
    (Path(env_path) / "id").write_text("#!/bin/sh\necho 1000\n")
    (Path(env_path) / "id").chmod(0o755)
    p = subprocess.run(["/bin/bash", str(ROOT / "bootstrap.sh"), "--dry-run"], capture_output=True,
                       text=True, env={"PATH": env_path, "HOME": str(tmp_path)}, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "apt-get" in p.stdout and "not found" not in p.stderr, p.stdout + p.stderr
