"""kea_runscript/builder/time_abi.py: the width of time_t of a 32-bit hook and of Kea's
libkea-dhcpsrv, read off their dynamic symbols, must agree."""

from __future__ import annotations

import pytest

from kea_runscript.builder import time_abi


def readelf(*undefined: str) -> str:
    """A ``readelf --dyn-syms -W`` table with these undefined symbols (and one defined)."""
    rows = [f"    {i}: 00000000     0 FUNC    GLOBAL DEFAULT  UND {name}@GLIBC_2.34 (3)"
            for i, name in enumerate(undefined, 1)]
    rows.append(f"   {len(rows) + 1}: 00012340    40 FUNC    GLOBAL DEFAULT   12 load")
    return "Symbol table '.dynsym' contains entries:\n   Num:    Value  Size Type    Bind   Vis      Ndx Name\n" \
        + "\n".join(rows)


def test_undefined_symbols_are_read_without_their_version():
    assert time_abi.undefined_symbols(readelf("__clock_gettime64", "poll")) == ["__clock_gettime64", "poll"]


@pytest.mark.parametrize("symbols, bits", [
    # the hook on trixie armhf (Debian's gcc defaults to 64-bit time there) and on i386
    (["__clock_gettime64", "__nanosleep64", "__ppoll64", "poll"], 64),
    (["clock_gettime", "nanosleep", "ppoll", "poll"], 32),
    # libkea-dhcpsrv of trixie armhf and of bookworm armhf
    (["__fcntl_time64", "__gettimeofday64", "__gmtime64_r", "__time64"], 64),
    (["time", "gmtime_r", "gettimeofday"], 32),
    (["poll", "malloc"], None),
])
def test_time_bits_of_a_32_bit_object(symbols, bits):
    assert time_abi.time_bits(symbols, elf64=False) == bits


def test_a_64_bit_object_has_64_bit_time():
    assert time_abi.time_bits(["clock_gettime"], elf64=True) == 64


def test_a_hook_of_another_width_than_kea_is_refused_naming_both():
    with pytest.raises(time_abi.TimeAbiMismatch) as e:
        time_abi.check(32, 64, "/src/kea-hook-runscript.so", "/usr/lib/arm-linux-gnueabihf/libkea-dhcpsrv.so")
    text = str(e.value)
    assert "32-bit time_t" in text and "64-bit" in text and "Lease::cltt_" in text
    assert "/usr/lib/arm-linux-gnueabihf/libkea-dhcpsrv.so" in text and "-D_TIME_BITS=64" in text
    time_abi.check(64, 64, "a", "b")
    time_abi.check(32, 32, "a", "b")
    with pytest.raises(time_abi.TimeAbiMismatch, match="cannot tell"):
        time_abi.check(32, None, "a", "b")
    time_abi.check(None, 64, "stub.so", "b")  # a library calling no time function: nothing to tell
