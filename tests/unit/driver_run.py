"""subprocess.run for the test drivers, with what a hung driver was doing.

A driver that does not end within its timeout is reported with each of its threads and those
of its descendants (state, kernel wait channel, current system call) before it is killed:
one hung once under qemu-user for 120 s, its own 20 s watchdog silent, and the plain
TimeoutExpired said nothing of where."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import List


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return "?"


def _descendants(pid: int) -> List[int]:
    children: dict = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            stat = _read(d / "stat")
            if ")" in stat:
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def process_report(pid: int) -> str:
    """One line per thread of `pid` and of its descendants: pid/tid, name, state, wchan, syscall."""
    lines = []
    for p in _descendants(pid):
        for task in sorted((Path(f"/proc/{p}/task")).glob("*"), key=lambda t: int(t.name)):
            stat = _read(task / "stat")
            name = stat[stat.find("(") + 1:stat.rfind(")")]
            state = stat.rsplit(")", 1)[1].split()[0] if ")" in stat else "?"
            lines.append(f"  {p}/{task.name} {name} {state} wchan={_read(task / 'wchan')} "
                         f"syscall={_read(task / 'syscall').split(' ')[0]}")
    return "\n".join(lines) or "  (gone)"


def _pipe_holders(proc: subprocess.Popen) -> List[int]:
    """Processes other than this one holding the driver's output pipes: after a timeout, a
    script's process group forked by the driver (under qemu-user, once, a fork stuck before
    its exec) keeps them open, and reading them to the end would wait for ever."""
    inodes = {f"pipe:[{os.fstat(f.fileno()).st_ino}]" for f in (proc.stdout, proc.stderr) if f}
    holders = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (d / "fd").iterdir()):
                holders.add(int(d.name))
        except OSError:
            continue
    return sorted(holders)


def run(argv: list, *, timeout: float, check: bool = False, capture_output: bool = False,
        text: bool = False, **popen) -> subprocess.CompletedProcess:
    """As subprocess.run(argv, timeout=..., ...); a timeout fails with the process report."""
    pipe = subprocess.PIPE if capture_output else None
    with subprocess.Popen(argv, stdout=popen.pop("stdout", pipe), stderr=popen.pop("stderr", pipe),
                          text=text, **popen) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            report = process_report(proc.pid)
            proc.kill()
            proc.wait()
            # Ours (they hold the pipes of the driver we started): killed by PID, then the
            # output is read to its end, which now comes.
            holders = _pipe_holders(proc)
            for pid in holders:
                report += f"\n  {pid} held the driver's output pipes: " + process_report(pid).strip()
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"{Path(str(argv[0])).name} {' '.join(map(str, argv[1:3]))} did not end "
                                 f"within {timeout} s; its threads then:\n{report}\n"
                                 f"its output: {str(out)[-600:]}\nits stderr: {str(err)[-600:]}") from None
    result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result
