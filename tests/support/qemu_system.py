"""Runs programs on a real Linux kernel of another architecture under full-system emulation
(qemu-system-aarch64, -riscv64, -ppc64).

qemu-user (binfmt_misc) runs other architectures' programs on this machine's kernel, and
refuses some of what they ask of it: the launcher's supervisor is cloned with CLONE_VM but
without CLONE_THREAD, which qemu-user answers with EINVAL, so there the launcher falls back to
plain children. What users get on real hardware, the supervised path, only runs on a kernel of
their architecture: this module boots Debian's kernel in a virtual machine with an initramfs of
busybox, the files given and an /init that runs the commands given, prints each one's output
between markers and powers the machine off. The machine has no network.

The kernels (:data:`KERNELS`): arm64's cloud kernel with 4 KiB pages and its 16 KiB-page kernel
(from trixie), where a launcher that assumed 4 KiB pages could launch nothing; riscv64's; and
ppc64el's, with 64 KiB pages.

The kernel and busybox come from Debian's packages of that architecture, fetched by apt through
a private apt state (this machine's apt sources, or Debian's mirror for the kernel's suite; that
architecture only) under ~/.cache/kea-runscript/, so the machine's own dpkg architectures are
left as they are; the .debs are kept there by file name and reused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kea-runscript"


@dataclass(frozen=True)
class Kernel:
    """A flavour of Debian's kernel for an architecture: its metapackage, the suite it and
    busybox come from (None: this machine's apt sources), its deb's file name pattern, the
    kernel's file in it, the machine qemu emulates for it and its console."""
    name: str
    arch: str
    package: str
    suite: str | None
    deb_glob: str
    page_kib: int
    machine: tuple = ()
    image: str = "./boot/vmlinuz-*"
    console: str = "ttyAMA0"

    @property
    def qemu(self) -> str:
        return self.machine[0]


#: 4k: the cloud flavour, a kernel for virtual machines, a third of the generic one's download.
#: 16k: 16 KiB pages, as Raspberry Pi 5's default kernel and Apple-silicon machines use; Debian
#: ships it from trixie on (no 64 KiB flavour: tests/unit's page-size shim covers 64 KiB). A
#: Cortex-A57 has no 16 KiB granule: the emulated CPU is qemu's "max" (pointer authentication
#: with qemu's cheap algorithm, else every return costs an emulated QARMA).
#: riscv64 and ppc64el: the supervisor's code of those architectures on their kernels (trixie's),
#: in `nox -s arches`.
KERNELS = {
    "4k": Kernel("4k", "arm64", "linux-image-cloud-arm64", None, "linux-image-*-cloud-arm64_*_arm64.deb", 4,
                 ("qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57")),
    "16k": Kernel("16k", "arm64", "linux-image-arm64-16k", "trixie", "linux-image-*-arm64-16k_*_arm64.deb", 16,
                  ("qemu-system-aarch64", "-M", "virt", "-cpu", "max,pauth-impdef=on")),
    "riscv64": Kernel("riscv64", "riscv64", "linux-image-riscv64", "trixie",
                      "linux-image-*-riscv64_*_riscv64.deb", 4,
                      ("qemu-system-riscv64", "-M", "virt"), "./boot/vmlinux-*", "ttyS0"),
    "ppc64el": Kernel("ppc64el", "ppc64el", "linux-image-powerpc64le", "bookworm",
                      "linux-image-*-powerpc64le_*_ppc64el.deb", 64,
                      ("qemu-system-ppc64", "-M", "pseries,cap-cfpc=broken,cap-sbbc=broken,"
                       "cap-ibs=broken,cap-ccf-assist=off", "-cpu", "power9"),
                      "./boot/vmlinux-*", "hvc0"),
}
#: Where a kernel of another suite than this machine's comes from.
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BUSYBOX_PACKAGE = "busybox-static"
SETUP_HINT = ("run ./bootstrap.sh as root (on amd64 it installs qemu-system-arm, qemu-system-misc, "
              "qemu-system-ppc and cpio)")
TOOLS = {"cpio": "cpio", "dpkg-deb": "dpkg", "apt-get": "apt"}
#: The Debian package of each emulator.
QEMU_PACKAGES = {"qemu-system-aarch64": "qemu-system-arm", "qemu-system-riscv64": "qemu-system-misc",
                 "qemu-system-ppc64": "qemu-system-ppc"}
BEGIN = "@@@KEA-BEGIN "
END = "@@@KEA-END "


class VmUnavailable(RuntimeError):
    """What the virtual machine needs is missing here (a tool, or Debian's arm64 packages)."""


@dataclass
class Section:
    """One command's output in the machine, its exit status and how long it took (s)."""
    name: str
    output: str
    rc: int
    seconds: float


def require_tools(kernel: Kernel = KERNELS["4k"]) -> None:
    tools = {kernel.qemu: QEMU_PACKAGES[kernel.qemu], **TOOLS}
    missing = [f"{tool} (Debian package {package})" for tool, package in tools.items()
               if not shutil.which(tool)]
    if missing:
        raise VmUnavailable(f"the {kernel.arch} virtual machine needs {', '.join(missing)}; {SETUP_HINT}")


def _apt(cache: Path, arch: str, suite: str | None = None) -> list[str]:
    """apt options for a private state of `arch` alone with this machine's sources, or (suite)
    Debian's mirror for that suite only."""
    state = cache / (f"apt-{arch}" if suite is None else f"apt-{arch}-{suite}")
    for d in ("lists/partial", "archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    opts = ["-o", f"Dir::State={state}", "-o", f"Dir::State::Lists={state / 'lists'}",
            "-o", f"Dir::State::status={state / 'status'}", "-o", f"Dir::Cache={state}",
            "-o", f"Dir::Cache::archives={state / 'archives'}",
            "-o", f"APT::Architecture={arch}", "-o", f"APT::Architectures::={arch}"]
    if suite is not None:
        sources = state / "sources.list"
        sources.write_text(f"deb {DEBIAN_MIRROR} {suite} main\n")
        opts += ["-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=-"]
    return opts


def _run_apt(args: list[str], what: str, cwd: Path | None = None) -> str:
    r = subprocess.run(args, capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise VmUnavailable(f"apt could not {what} (Debian's packages of the virtual machine's "
                            f"architecture are needed): {' '.join(args[:1] + args[-2:])}: "
                            f"{(r.stderr or r.stdout).strip()[-800:]}")
    return r.stdout


def kernel_debs(cache: Path = CACHE, kernel: Kernel = KERNELS["4k"]) -> tuple[Path, Path]:
    """(kernel .deb, busybox-static .deb) of the kernel's architecture: the cached ones, else
    fetched by apt (busybox from the kernel's suite, but arm64's from this machine's)."""
    arch = kernel.arch
    debs = cache / f"{arch}-debs"
    kernels = sorted(debs.glob(kernel.deb_glob))
    busyboxes = sorted(debs.glob(f"{BUSYBOX_PACKAGE}_*_{arch}.deb"))
    if kernels and busyboxes:
        return kernels[-1], busyboxes[-1]
    require_tools(kernel)
    debs.mkdir(parents=True, exist_ok=True)
    wanted = []
    if not kernels:
        opts = _apt(cache, arch, kernel.suite)
        _run_apt(["apt-get", *opts, "update"], f"read the {arch} package lists")
        # The metapackage names the versioned kernel package, which holds the kernel itself.
        shown = _run_apt(["apt-cache", *opts, "show", "--no-all-versions", kernel.package],
                         f"find {kernel.package}")
        m = re.search(r"^Depends:.*?\b(linux-image-\d[\w.+-]*)", shown, re.M)
        if not m:
            raise VmUnavailable(f"{kernel.package} names no kernel package: {shown.strip()[:400]}")
        wanted.append((opts, m.group(1)))
    if not busyboxes:
        opts = _apt(cache, arch, None if arch == "arm64" else kernel.suite)
        _run_apt(["apt-get", *opts, "update"], f"read the {arch} package lists")
        wanted.append((opts, f"{BUSYBOX_PACKAGE}:{arch}"))
    for opts, package in wanted:
        with tempfile.TemporaryDirectory(dir=debs) as tmp:
            # Downloaded aside first: an interrupted download never leaves a cached .deb.
            _run_apt(["apt-get", *opts, "download", package], f"download {package}", cwd=Path(tmp))
            for deb in Path(tmp).glob("*.deb"):
                deb.replace(debs / deb.name)
    return kernel_debs(cache, kernel)


def _extract(deb: Path, member: str, dest: Path) -> Path:
    """One file of a .deb (a path inside it, './' first), written to dest."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as tar:
        data = subprocess.run(["tar", "-xO", "--wildcards", member], stdin=tar.stdout,
                              capture_output=True, check=True).stdout
    if not data:
        raise VmUnavailable(f"{deb.name} holds no {member}")
    dest.write_bytes(data)
    return dest


def build_initramfs(workdir: Path, busybox_deb: Path, commands: list[tuple[str, str]],
                    files: dict[str, tuple[bytes, int]]) -> Path:
    """An uncompressed newc initramfs: busybox, `files` ({path: (content, mode)}) and an /init
    that runs each (name, shell command) of `commands` between markers, then powers off."""
    root = workdir / "root"
    for d in ("bin", "dev", "proc", "sys", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    # ./bin/busybox up to bookworm, ./usr/bin/busybox from trixie on (merged /usr)
    busybox = _extract(busybox_deb, "./*bin/busybox", root / "bin" / "busybox")
    busybox.chmod(0o755)
    for path, (content, mode) in files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
    lines = ["#!/bin/busybox sh",
             "/bin/busybox --install -s /bin",
             "mount -t proc proc /proc",
             # Kernel messages on the console would land inside the markers' lines: none but
             # emergencies, and a new line after the boot's own (ppc64el's ends without one).
             "echo 1 > /proc/sys/kernel/printk",
             "echo",
             "mount -t sysfs sysfs /sys",
             "mount -t devtmpfs devtmpfs /dev",
             "mount -t tmpfs tmpfs /tmp",
             "export PATH=/bin"]
    for name, command in commands:
        # Each command in a subshell: a failing one neither stops /init nor leaks into the next.
        # The empty line keeps the end marker on a line of its own after output without one.
        lines += [f"echo \"{BEGIN}{name} $(cut -d' ' -f1 /proc/uptime)\"", f"( {command}\n) 2>&1",
                  "rc=$?", "echo", f"echo \"{END}{name} $rc $(cut -d' ' -f1 /proc/uptime)\""]
    # Gone without a clean power-off, the kernel panics, and -no-reboot ends qemu then too.
    lines += ["sync", "poweroff -f"]
    init = root / "init"
    init.write_text("\n".join(lines) + "\n")
    init.chmod(0o755)
    initrd = workdir / "initrd.cpio"
    listing = subprocess.run(["find", ".", "-mindepth", "1"], cwd=root, capture_output=True,
                             check=True).stdout
    with initrd.open("wb") as out:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
                       input=listing, stdout=out, check=True)
    return initrd


def run_vm(image: Path, initrd: Path, timeout: float = 600, kernel: Kernel = KERNELS["4k"]) -> str:
    """The machine's console output (the kernel's and /init's), once it has powered off."""
    args = [*kernel.machine, "-m", "1024", "-smp", "2",
            "-nographic", "-no-reboot", "-nic", "none", "-kernel", str(image),
            "-initrd", str(initrd), "-append", f"console={kernel.console} panic=-1 quiet"]
    try:
        r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        tail = (e.stdout or b"").decode(errors="replace")[-3000:]
        raise TimeoutError(f"the {kernel.arch} virtual machine did not power off within {timeout} s; "
                           f"console tail:\n{tail}") from None
    console = r.stdout.decode(errors="replace").replace("\r\n", "\n")
    if r.returncode != 0:
        raise RuntimeError(f"{kernel.qemu} exited {r.returncode}: "
                           f"{r.stderr.decode(errors='replace')[-2000:]}\n{console[-2000:]}")
    return console


def sections(console: str) -> dict[str, Section]:
    """{name: Section} of the markers /init printed."""
    found = {}
    pattern = re.compile(rf"^{re.escape(BEGIN)}(\S+) ([\d.]+)\n(.*?)^{re.escape(END)}\1 (\d+) ([\d.]+)$",
                         re.M | re.S)
    for m in pattern.finditer(console):
        name, began, output, rc, ended = m.groups()
        output = output[:-1] if output.endswith("\n") else output
        found[name] = Section(name, output, int(rc), round(float(ended) - float(began), 2))
    return found


def run_in_vm(commands: list[tuple[str, str]], files: dict[str, tuple[bytes, int]],
              cache: Path = CACHE, timeout: float = 600,
              kernel: Kernel = KERNELS["4k"]) -> tuple[dict[str, Section], str]:
    """Boots the machine of ``kernel`` once with `files`, runs `commands` there:
    ({name: Section}, the whole console)."""
    require_tools(kernel)
    kernel_deb, busybox_deb = kernel_debs(cache, kernel)
    with tempfile.TemporaryDirectory(prefix=f"kea-{kernel.arch}-vm-") as tmp:
        work = Path(tmp)
        image = _extract(kernel_deb, kernel.image, work / "kernel")
        initrd = build_initramfs(work, busybox_deb, commands, files)
        console = run_vm(image, initrd, timeout, kernel)
    return sections(console), console
