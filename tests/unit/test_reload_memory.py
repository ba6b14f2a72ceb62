"""Scenario 10 reads Kea's memory at two reloads: the launcher's launch mappings (kept for
reuse, as many as the peak of concurrent runs since the last load) are counted apart, so
that their number cannot pass for growth (CI once saw +165 kB a reload from 11 more of them)."""

import re
from pathlib import Path

from tests.support.scenarios import load

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "maps"
PAGE, STACK, CALL, MAP_KB = (load.LAUNCH_PAGE_KB, load.LAUNCH_STACK_KB, load.LAUNCH_CALL_AREA_KB,
                             load.LAUNCH_MAPPING_KB)


def _maps(regions, base=0x7F0000000000):
    """/proc/<pid>/maps lines for contiguous regions [(kB, perms, name or "")]; a kB of 0
    leaves a gap of one page."""
    lines, at = [], base
    for kb, perms, name in regions:
        if kb == 0:
            at += 4096
            continue
        end = at + kb * 1024
        lines.append(f"{at:x}-{end:x} {perms} 00000000 00:00 0" + (f"          {name}" if name else ""))
        at = end
    return "\n".join(lines) + "\n"


def _launch_block(n):
    """n launch mappings side by side, as mmap places them: each one's supervisor stack
    merges with the next one's Supervision page and call area."""
    regions = []
    for i in range(n):
        first = PAGE + CALL + (STACK if i else 0)
        regions += [(first, "rw-p", ""), (PAGE, "---p", ""), (STACK, "rw-p", ""), (PAGE, "---p", "")]
    regions.append((STACK, "rw-p", ""))
    return regions


THREAD = [(PAGE, "---p", ""), (8192, "rw-p", "")]


def test_the_sizes_are_launch_memory_cc_s():
    # The launcher takes the page size from the kernel; load.py describes the launch mapping
    # with the 4 KiB pages of the x86_64 Kea that scenario 10 measures.
    text = (ROOT / "hook" / "launch_memory.cc").read_text()
    const = {m.group(1): m.group(2) for m in
             re.finditer(r"const std::size_t (\w+) = ([^;]+);", text)}
    assert const["PAGE"] == "kernel_page_size()" and PAGE == 4
    rounded = lambda expr: eval(re.fullmatch(r"page_rounded\((.+)\)", expr).group(1))
    assert rounded(const["STACK_SIZE"]) == STACK * 1024
    assert rounded(const["CALL_AREA_SIZE"]) == CALL * 1024
    assert const["SCRIPT_STACK_AT"].replace(" ", "") == "PAGE+CALL_AREA_SIZE+PAGE"
    assert const["SUPERVISOR_STACK_AT"].replace(" ", "") == "SCRIPT_STACK_AT+STACK_SIZE+PAGE"
    assert const["MAPPING_SIZE"].replace(" ", "") == "SUPERVISOR_STACK_AT+STACK_SIZE"
    assert MAP_KB == 204


def test_a_block_of_launch_mappings_is_counted_whole():
    for n in (1, 2, 10):
        text = _maps([(0, "", "")] + _launch_block(n) + [(0, "", "")])
        assert load.launch_mappings(text) == n
        assert load.mapped_kb(text) == n * MAP_KB


def test_merged_into_a_thread_stack_and_followed_by_a_thread_guard():
    # below: a thread stack merges with the first call area (8192 + 68 kB); above: a thread's
    # guard page right after the last supervisor stack is no launch mapping's
    block = _launch_block(3)
    text = _maps(THREAD[:1] + [(8192 + block[0][0], "rw-p", "")] + block[1:] + THREAD + THREAD)
    assert load.launch_mappings(text) == 3


def test_thread_stacks_arenas_and_files_are_not_launch_mappings():
    text = _maps(THREAD * 4 + [(0, "", ""), (132, "rw-p", ""), (65404, "---p", ""), (0, "", ""),
                              (PAGE, "---p", ""), (STACK, "rw-p", "/usr/lib/x.so"), (PAGE, "---p", ""),
                              (STACK, "rw-p", ""), (0, "", ""), (STACK, "rw-p", ""), (PAGE, "---p", ""),
                              (STACK, "rw-p", ""), (PAGE, "---p", ""), (STACK, "rw-p", "")])
    assert load.launch_mappings(text) == 0


def test_a_real_kea_at_two_reloads_differs_only_by_launch_mappings():
    # kea-dhcp4 2.2.0 under scenario 10 after reload 5 and reload 20 (this repository's run)
    many = (DATA / "kea2.2.0-11-launch-mappings.txt").read_text()
    few = (DATA / "kea2.2.0-1-launch-mapping.txt").read_text()
    assert (load.launch_mappings(many), load.launch_mappings(few)) == (11, 1)
    whole = load.mapped_kb(few) - load.mapped_kb(many)
    less = (load.mapped_kb(few) - MAP_KB) - (load.mapped_kb(many) - 11 * MAP_KB)
    assert whole / 15 < -64  # read whole: "shrank" by 130 kB a reload
    assert abs(less) / 15 < 8  # without them: a few kB
