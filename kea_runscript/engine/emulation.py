"""Whether this machine can run a cell's Kea of another architecture (qemu-user + binfmt_misc).

A foreign cell's images hold Kea of the cell's architecture on the machine's own OS; the kernel
hands its binaries to qemu-user through a binfmt_misc entry. Inside containers that works only
when the entry has the F flag (the kernel opens the interpreter when it is registered, so the
container needs no qemu of its own). ``./bootstrap.sh`` sets this up; this module only checks it.
"""

from __future__ import annotations

from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
#: Debian architecture -> binfmt_misc entry name of Debian's qemu-user-static.
ENTRIES = {"amd64": "qemu-x86_64", "arm64": "qemu-aarch64", "armhf": "qemu-arm", "armel": "qemu-arm",
           "i386": "qemu-i386", "ppc64el": "qemu-ppc64le", "s390x": "qemu-s390x",
           "riscv64": "qemu-riscv64"}
SETUP_HINT = "run ./bootstrap.sh as root (installs qemu-user-static and registers it with binfmt_misc)"


class EmulationMissing(RuntimeError):
    """A cell of another architecture was asked for on a machine that cannot run it."""


def require(arch: str, cell_id: str) -> None:
    missing = problem(arch)
    if missing:
        raise EmulationMissing(f"{cell_id}: {missing}")


def problem(arch: str, binfmt: Path = BINFMT) -> str:
    """'' when binaries of ``arch`` run in this machine's containers, else what is missing."""
    name = ENTRIES.get(arch, f"qemu-{arch}")
    if not (binfmt / "status").exists():
        return (f"{arch} binaries need qemu-user through binfmt_misc, which is not mounted at {binfmt}; "
                f"{SETUP_HINT}")
    entry = binfmt / name
    try:
        lines = entry.read_text().splitlines()
    except OSError:
        return f"no binfmt_misc entry {entry} for {arch} binaries; {SETUP_HINT}"
    if "enabled" not in lines:
        return f"the binfmt_misc entry {entry} is disabled; {SETUP_HINT}"
    flags = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("flags:")), "")
    if "F" not in flags:
        return (f"the binfmt_misc entry {entry} lacks the F flag (flags: {flags or 'none'}), so containers "
                f"cannot find its interpreter; remove it (echo -1 > {entry}) and {SETUP_HINT}")
    return ""
