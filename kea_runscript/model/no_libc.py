"""The rule of hook/supervisor.cc (hook/supervisor.h says why): no libc, kept by the build.

FLAGS come last when supervisor.cc is compiled, in the generated Makefile and in the test
programs alike, so that no distribution's or sanitizer's flag brings a runtime back; and both
refuse the object by :func:`violations`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List

#: The file that holds the code without libc (hook/).
SOURCE = "supervisor.cc"

#: No stack protector (it reads the canary of another thread's TLS), no calls the compiler
#: makes up (memcpy, memset: what GCC's loop distribution still makes is refused by the
#: check), no exception tables' personality, no sanitizer runtime. Accepted by GCC and clang. (A
#: coverage build keeps its __gcov_* calls whatever comes after --coverage: refused.)
FLAGS = ("-fno-stack-protector", "-fno-builtin", "-fno-exceptions", "-fno-sanitize=all")

#: Defined by the object where the supervisor exists (hook/supervisor.h says where). Elsewhere the object's
#: only user is a vfork child whose parent thread is suspended, and raw_syscall is libc's.
SUPERVISOR_SYMBOL = "runscript_clone"


#: What the object may reference: the linker's own names for the GOT and the TOC, which
#: i386's and ppc64el's position-independent code address their constants from (no code runs
#: there).
LINKER_DEFINED = ("_GLOBAL_OFFSET_TABLE_", ".TOC.")


def violations(nm: str, obj: Path) -> List[str]:
    """The symbols the object references although it must not: any at all but the linker's
    (LINKER_DEFINED), where it holds the supervisor."""
    def names(*flags: str) -> List[str]:
        out = subprocess.run([nm, *flags, str(obj)], capture_output=True, text=True, check=True).stdout
        return [line.split()[-1] for line in out.splitlines() if line.strip()]
    if SUPERVISOR_SYMBOL not in names("--defined-only"):
        return []
    return [n for n in names("--undefined-only") if n not in LINKER_DEFINED]


class LibcInSupervisor(RuntimeError):
    """supervisor.cc compiled into an object that references symbols."""
