"""The width of ``time_t`` the hook was built with must be Kea's: the hook reads Kea's structures
(``Lease::cltt_`` is a ``time_t``), so a 32-bit hook in a 64-bit-time Kea reads every field
after it at the wrong offset. On 32-bit architectures Debian chose per release and
architecture (trixie moved armhf and armel to 64-bit time, kept i386 at 32; bookworm is 32-bit
everywhere), and a cross compiler's default need not be the one Kea was built with.

A 32-bit object built with 64-bit time calls glibc's ``__*time64`` entry points
(``__clock_gettime64``, ``__gmtime64_r``); one built with 32-bit time calls the plain ones. Both
are read off the dynamic symbols, of the hook and of libkea-dhcpsrv (where ``Lease`` lives).
"""

from __future__ import annotations

import re
from typing import Iterable, Optional

#: glibc's 64-bit-time entry points on 32-bit architectures (__time64, __clock_gettime64,
#: __gettimeofday64, __localtime64_r, __fcntl_time64, __stat64_time64, ...).
TIME64 = re.compile(r"^__\w*(time|clock)\w*64(_r)?$")
#: The 32-bit-time entry points one of which every object using time calls.
TIME32 = frozenset({"time", "clock_gettime", "gettimeofday", "gmtime_r", "localtime_r", "mktime", "timegm"})
#: The library whose structures carrying time_t the hook reads.
KEA_LIBRARY = "libkea-dhcpsrv.so"


class TimeAbiMismatch(RuntimeError):
    """The hook and Kea were built with different widths of time_t."""


def undefined_symbols(readelf_dyn_syms: str) -> list:
    """Names of the undefined dynamic symbols of ``readelf --dyn-syms -W`` output (without
    their @version)."""
    out = []
    for line in readelf_dyn_syms.splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[6] == "UND":
            out.append(cols[7].split("@")[0])
    return out


def time_bits(symbols: Iterable[str], elf64: bool) -> Optional[int]:
    """The width of time_t an object was built with, from the symbols it calls: 64 on a 64-bit
    architecture; on a 32-bit one 64 or 32, or None when it calls no time function."""
    if elf64:
        return 64
    names = set(symbols)
    if any(TIME64.match(n) for n in names):
        return 64
    return 32 if names & TIME32 else None


def check(hook_bits: Optional[int], kea_bits: Optional[int], library: str, kea_library: str) -> None:
    """Refuse a hook whose time_t is not Kea's. A library that calls no time function (a stub)
    cannot be told, and passes; Kea's library always can."""
    if kea_bits is None:
        raise TimeAbiMismatch(f"cannot tell the width of time_t {kea_library} was built with: it calls no "
                              f"time function")
    if hook_bits is None:
        return
    if hook_bits != kea_bits:
        raise TimeAbiMismatch(
            f"{library} was built with {hook_bits}-bit time_t but Kea's {kea_library} with {kea_bits}-bit: "
            f"the hook would read Kea's leases (Lease::cltt_ and every field after it) at the wrong "
            f"offsets; build with the compiler flags Kea was built with "
            f"({'-D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64' if kea_bits == 64 else 'without -D_TIME_BITS=64'})")
