"""Scenarios 23 and 24: ISC's run_script configurations under this hook (ISC's dialect).

23. :func:`isc_documented_example`: ISC's own documentation, as the cell's ``kea-doc`` package
    installs it, gives the configuration (its ``hooks-libraries`` example) and the script (its
    example, a function per hook point behind a ``case "$1"``). The configuration runs with only
    the library path changed; the script's placeholder bodies (ISC writes ``...``) each become
    a call of the recorder. A lease, its release and a decline reach the script with ISC's
    variables. Nothing of ISC's text is in this repository: it is read from the cell.
24. :func:`isc_sync_flag`: ``"sync": true`` runs asynchronously, as ISC's hook did (the ACK
    comes while the script still waits), and RUNSCRIPT_ISC_SYNC says so at load; ``"wait":
    true`` beside ``name`` runs synchronously: its exit code 3 at ``leases4_committed`` with
    ``exit-codes: {"3": "drop"}`` leaves the client without an ACK.
"""

from __future__ import annotations

import html.parser
import json
import re
import time
from typing import List, Optional, Tuple

from kea_runscript.verify import testnet
from .runtime import C_RT_OUT, Outcome, Runtime, timed

#: Where ISC's documentation example puts its script, created as root's for the run.
DOC_SCRIPT = "/full_path_to/script_name.sh"
#: the recorder's file when no SMOKE_RECORD is given, as in ISC's dialect
DEFAULT_RECORDS = f"{testnet.C_RECORDS}/default.jsonl"


class _Pre(html.parser.HTMLParser):
    """The text of every <pre> block of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: List[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self._depth += 1
            self.blocks.append("")

    def handle_endtag(self, tag):
        if tag == "pre" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.blocks[-1] += data


def documented_example(page: str) -> Tuple[Optional[dict], Optional[str]]:
    """ISC's example hooks-libraries entry for run_script and its example script, from the
    HTML of its manual (None for what the page lacks)."""
    parser = _Pre()
    parser.feed(page)
    config = script = None
    for block in parser.blocks:
        if config is None and "libdhcp_run_script" in block and '"name"' in block:
            try:
                config = json.loads(block)["hooks-libraries"][0]
            except (ValueError, KeyError, IndexError):
                pass
        if script is None and "unknown_handle" in block and 'case "$1"' in block:
            script = block
    return config, script


def fill_placeholders(script: str, recorder: str) -> Tuple[str, int]:
    """ISC's example with each ``...`` body line replaced by a call of ``recorder`` naming the
    function it is in (the hook point); returns the script and how many were replaced."""
    out, function, n = [], "", 0
    for line in script.splitlines():
        m = re.match(r"^(\w+)\s*\(\)\s*\{", line)
        if m:
            function = m.group(1)
        if line.strip() == "..." and function:
            line = line.replace("...", f"{recorder} {function}")
            n += 1
        out.append(line)
    return "\n".join(out) + "\n", n


@timed
def isc_documented_example(rt: Runtime) -> Outcome:
    o = Outcome("ISC's documented example")
    found = rt.sh("grep -rl --include='*.html' unknown_handle /usr/share/doc/kea* 2>/dev/null | head -n 1",
                  check=False).output.strip()
    if not found:
        o.problems.append("no page of the cell's kea-doc holds ISC's example script")
        return o
    config, script = documented_example(rt.read(found))
    o.facts["page"] = found
    o.facts["ISC's example parameters"] = config and config.get("parameters")
    if not config or not script:
        o.problems.append(f"{found}: example configuration {'found' if config else 'missing'}, "
                          f"example script {'found' if script else 'missing'}")
        return o
    filled, placeholders = fill_placeholders(script, testnet.RECORDER)
    o.facts["placeholders filled"] = placeholders
    o.facts["script's first line"] = filled.splitlines()[0]
    rt.sh(f"mkdir -p {DOC_SCRIPT.rsplit('/', 1)[0]} && chmod 0755 {DOC_SCRIPT.rsplit('/', 1)[0]}")
    rt.tn.c.write_file(DOC_SCRIPT, filled, mode=0o755)
    rt.sh(f"rm -f {DEFAULT_RECORDS}")
    parameters = dict(config["parameters"])  # unchanged: only the library path differs
    text, log, _ = rt.config4("isc-doc", parameters)
    with rt.kea4("isc-doc", text, log):
        first = rt.dora("02:00:00:00:23:01")
        released = rt.tn.client("v4", "release", "--mac", "02:00:00:00:23:01",
                                "--addr", first.get("address", ""), check=False) if first else None
        time.sleep(1.0)  # asynchronous, as in ISC's hook
    records = rt.tn.read_records(DEFAULT_RECORDS)
    points = [r["argv"][1] for r in records if len(r.get("argv") or []) > 1]
    o.facts["hook points the script saw"] = sorted(set(points))
    o.facts["DORA"] = first.get("address") if first else None
    committed = [r["env"] for r in records if r["argv"][1:2] == ["leases4_committed"]
                 and r["env"].get("LEASES4_SIZE") == "1"]
    release = [r["env"] for r in records if r["argv"][1:2] == ["lease4_release"]]
    if not first:
        o.problems.append("the client got no lease")
    elif not committed or committed[0].get("LEASES4_AT0_ADDRESS") != first.get("address"):
        o.problems.append(f"no leases4_committed with LEASES4_AT0_ADDRESS={first.get('address')}: "
                          f"{[c.get('LEASES4_AT0_ADDRESS') for c in committed]}")
    if released and (not release or release[0].get("LEASE4_ADDRESS") != first.get("address")
                                           or release[0].get("QUERY4_TYPE") != "DHCPRELEASE"):
        o.problems.append(f"lease4_release: {release[:1]}")
    leaked = [k for r in records for k in r["env"] if k.startswith("KEA_")]
    if leaked:
        o.problems.append(f"KEA_* variables in ISC's dialect: {sorted(set(leaked))}")
    return o


SLOW = """#!/bin/sh
# leases4_committed: waits (at most 5 s) for the test's go, then records; other points: records
if [ "$1" = leases4_committed ]; then
    i=0
    while [ ! -e {go} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi
exec {recorder} "$@"
"""


@timed
def isc_sync_flag(rt: Runtime) -> Outcome:
    o = Outcome("ISC's sync flag")
    go, rec = f"{C_RT_OUT}/isc-sync-go", DEFAULT_RECORDS
    script = rt.script("isc-slow.sh", SLOW.replace("{go}", go).replace("{recorder}", testnet.RECORDER))
    rt.sh(f"rm -f {go} {rec}")
    text, log, _ = rt.config4("isc-sync", {"name": script, "sync": True})
    with rt.kea4("isc-sync", text, log):
        ack = rt.dora("02:00:00:00:24:01")
        before = [r for r in rt.tn.read_records(rec) if r["argv"][1:2] == ["leases4_committed"]]
        rt.sh(f"touch {go}")
        time.sleep(1.0)
        after = [r for r in rt.tn.read_records(rec) if r["argv"][1:2] == ["leases4_committed"]]
    warned = rt.count_in(log, "RUNSCRIPT_ISC_SYNC")
    o.facts.update({"sync true: ACK": ack.get("address") if ack else None,
                    "sync true: committed records when the ACK came / after the go": [len(before), len(after)],
                    "sync true: RUNSCRIPT_ISC_SYNC lines": warned})
    if not ack:
        o.problems.append("sync true: no ACK while the script waited: it ran synchronously")
    if before:
        o.problems.append("sync true: the script had recorded before the ACK")
    if not after:
        o.problems.append("sync true: the script never recorded leases4_committed")
    if warned != 1:
        o.problems.append(f"sync true: {warned} RUNSCRIPT_ISC_SYNC lines, expected 1")

    exits3 = rt.script("isc-exit3.sh", "#!/bin/sh\nexit 3\n")
    text, log, _ = rt.config4("isc-wait", {"name": exits3, "wait": True, "exit-codes": {"3": "drop"},
                                           "hook-points": ["leases4_committed"]})
    with rt.kea4("isc-wait", text, log):
        dropped = rt.dora("02:00:00:00:24:02")
    o.facts["wait true, exit 3 -> drop: ACK"] = dropped.get("address") if dropped else None
    if dropped:
        o.problems.append(f"wait true + exit-codes drop at leases4_committed: the client got {dropped.get('address')}")
    if rt.count_in(log, "RUNSCRIPT_ISC_SYNC"):
        o.problems.append("RUNSCRIPT_ISC_SYNC logged without sync")
    return o
