"""Scenarios 19 and 20: the `skip` action, a non-default max-output-lines, the asynchronous
failure messages, and a failing synchronous `load` script.

19. :func:`skip_and_async_failures`, one kea-dhcp4 run (``max-output-lines: 3``):

    * a synchronous script at lease4_select with ``exit-codes {"4": "skip"}``, ``on-failure:
      skip`` and ``capture-output``: at the REQUEST it exits 4 for one MAC and kills itself
      (SIGKILL) for another. Kea skips the lease assignment: each gets its OFFER, then a NAK
      (not a drop: the client hears an answer). A third MAC gets its lease (exit 0), a fourth
      too though its script exits 5 (an unmapped code: RUNSCRIPT_SCRIPT_FAILED, continue).
      Every run writes 10 lines: each run's pid has exactly 3 RUNSCRIPT_OUTPUT lines of them
      and one saying how many more were dropped.
    * asynchronous scripts at pkt4_receive: one that exits 5 for one MAC
      (RUNSCRIPT_ASYNC_FAILED) and sleeps past its 1 s timeout for another
      (RUNSCRIPT_ASYNC_TIMEOUT); one removed after load (RUNSCRIPT_ASYNC_SPAWN_FAILED); and an
      asynchronous `load` script that exits 1, which does not keep the library from loading.

20. :func:`failing_load_script`: a synchronous `load` script that exits 1 makes the library
    fail to load: RUNSCRIPT_LIFECYCLE_FAILED names it, kea-dhcp4 exits non-zero.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import Dict, List

from kea_runscript.verify import testnet
from .output import DROPPED_RE
from .runtime import C_RT, C_RT_OUT, Outcome, Runtime, answered, timed

#: max-output-lines of scenario 19 (the default is 100) and the lines each run writes.
SMALL_MAX_OUTPUT_LINES = 3
LINES_WRITTEN = 10

MAC_SKIP_EXIT = "02:00:00:00:19:01"    # exit 4 at the REQUEST -> exit-codes skip
MAC_SKIP_FAIL = "02:00:00:00:19:02"    # SIGKILL at the REQUEST -> on-failure skip
MAC_CONTINUE = "02:00:00:00:19:03"     # exit 0
MAC_UNMAPPED = "02:00:00:00:19:04"     # exit 5 at the REQUEST: not in exit-codes, continue
MAC_ASYNC_FAIL = MAC_CONTINUE          # its asynchronous script exits 5
MAC_ASYNC_SLOW = MAC_UNMAPPED          # its asynchronous script outlives its timeout

#: Messages the hook logs at debug level go to a file of their own (Runtime.config4's
#: hook_debug_log); these are counted there.
ASYNC_MESSAGES = ("RUNSCRIPT_ASYNC_FAILED", "RUNSCRIPT_ASYNC_TIMEOUT", "SPAWN_FAILED")


def _nak(err: str) -> bool:
    """The client's error says the REQUEST got a DHCPNAK (message type 6), not silence."""
    return "request" in err and "got message type" in err and bool(re.search(r"\b(nak|6)\b", err))


def output_runs(lines: List[str], script: str) -> Dict[str, List[str]]:
    """RUNSCRIPT_OUTPUT lines of ``script`` grouped by the run's pid: {pid: [text, ...]}."""
    runs: Dict[str, List[str]] = {}
    for line in lines:
        m = re.search(r"RUNSCRIPT_OUTPUT (\S+) \(pid ([0-9]+)\): (.*)$", line)
        if m and m.group(1) == script:
            runs.setdefault(m.group(2), []).append(m.group(3))
    return runs


@timed
def skip_and_async_failures(rt: Runtime) -> Outcome:
    o = Outcome("skip-and-async-failures")
    tag = "skip"
    hook_log = f"{testnet.C_LOGS}/rt-{tag}-hook.log"
    rt.sh(f"rm -f {hook_log}")
    skip = rt.script(f"{tag}.sh", f"""#!/bin/sh
i=1
while [ $i -le {LINES_WRITTEN} ]; do echo "line $i of {LINES_WRITTEN}"; i=$((i+1)); done
[ "$KEA_FAKE_ALLOCATION" = 0 ] || exit 0
case "$KEA_QUERY4_HWADDR" in
    {MAC_SKIP_EXIT}) exit 4 ;;
    {MAC_SKIP_FAIL}) kill -9 $$ ;;
    {MAC_UNMAPPED}) exit 5 ;;
esac
exit 0
""")
    async_fail = rt.script(f"{tag}-async.sh", f"""#!/bin/sh
[ "$1" = load ] && exit 1
case "$KEA_QUERY4_HWADDR" in
    {MAC_ASYNC_FAIL}) exit 5 ;;
    {MAC_ASYNC_SLOW}) exec sleep 30 ;;
esac
exit 0
""")
    gone = rt.script(f"{tag}-gone.sh", "#!/bin/sh\nexit 0\n")
    params = {
        "max-output-lines": SMALL_MAX_OUTPUT_LINES,
        "scripts": [
            {"script": skip, "hook-points": ["lease4_select"], "exit-codes": {"4": "skip"},
             "on-failure": "skip", "capture-output": True, "timeout": 5},
            {"script": async_fail, "wait": False, "timeout": 1, "hook-points": ["load", "pkt4_receive"]},
            {"script": gone, "wait": False, "hook-points": ["pkt4_receive"]},
        ],
    }
    results, counts, both = _skip_run(rt, tag, params, hook_log, gone)
    found = _skip_messages(both, skip, async_fail, gone)
    runs = output_runs(both, skip)
    bad_runs = {pid: texts for pid, texts in runs.items()
                if len(texts) != SMALL_MAX_OUTPUT_LINES + 1
                or texts[:SMALL_MAX_OUTPUT_LINES] != [f"line {i} of {LINES_WRITTEN}"
                                                      for i in range(1, SMALL_MAX_OUTPUT_LINES + 1)]
                or not re.search(DROPPED_RE, texts[-1])}
    o.facts.update({
        "results": results,
        "RUNSCRIPT_EXIT_ACTION (skip)": found["exit_action"][:2],
        "RUNSCRIPT_FAILURE_ACTION (skip)": found["failure_action"][:2],
        "RUNSCRIPT_SCRIPT_FAILED (exit 5, unmapped)": found["unmapped"][:2],
        "RUNSCRIPT_ASYNC_FAILED (exit 5)": found["async_failed"][:2],
        "RUNSCRIPT_ASYNC_TIMEOUT": found["async_timeout"][:2],
        "RUNSCRIPT_ASYNC_SPAWN_FAILED": found["async_spawn"][:2],
        "async message counts": counts,
        "library loaded despite the failing asynchronous load script": bool(found["loaded"]),
        "max-output-lines": SMALL_MAX_OUTPUT_LINES,
        "captured runs (pids)": len(runs),
        "a run's logged lines": next(iter(runs.values()), []),
        "runs not logged as max-output-lines + 1 lines": dict(list(bad_runs.items())[:3]),
    })
    _judge_skip(o, results, found, runs, bad_runs, skip)
    return o


def _skip_run(rt: Runtime, tag: str, params: dict, hook_log: str, gone: str):
    """Four clients, one per outcome of the synchronous script, while the asynchronous runs end
    (or time out): (each client's lease or error, the counts of the asynchronous messages,
    the lines of the hook's and Kea's logs)."""
    text, log, _ = rt.config4(tag, params, hook_debug_log=hook_log)
    results = {}
    with rt.kea4(tag, text, log):
        rt.sh(f"rm -f {gone}")
        for name, mac in (("skip by exit code", MAC_SKIP_EXIT), ("skip by on-failure", MAC_SKIP_FAIL),
                          ("continue", MAC_CONTINUE), ("unmapped exit code", MAC_UNMAPPED)):
            address, err = answered(rt, mac)
            results[name] = {"lease": address, "client": err[-160:]}
        # the asynchronous runs end (or time out) after the DORAs: wait for their messages
        counts: Dict[str, int] = {}
        for _ in range(100):
            counts = {m: rt.count_in(hook_log, m) for m in ASYNC_MESSAGES}
            if all(counts.values()):
                break
            time.sleep(0.1)
    rt.tn.keep(hook_log, f"rt-{tag}-hook.log")
    hook_lines = rt.read(hook_log).splitlines()
    kea_lines = rt.read(log).splitlines()
    return results, counts, hook_lines + kea_lines


def _skip_messages(both: List[str], skip: str, async_fail: str, gone: str) -> Dict[str, List[str]]:
    """The log lines each outcome must leave, by what they show."""
    def grep(pattern: str) -> List[str]:
        return [ln[ln.index("RUNSCRIPT_"):][:300] for ln in both if re.search(pattern, ln)]

    exit_action = grep(rf"RUNSCRIPT_EXIT_ACTION script {re.escape(skip)} at lease4_select exited with status 4: .*skip")
    failure_action = grep(rf"RUNSCRIPT_FAILURE_ACTION script {re.escape(skip)} at lease4_select .*skip")
    unmapped = grep(rf"RUNSCRIPT_SCRIPT_FAILED script {re.escape(skip)} at lease4_select exited with status 5")
    async_failed = grep(rf"RUNSCRIPT_ASYNC_FAILED asynchronous script {re.escape(async_fail)} \(pid [0-9]+\) exited with status 5")
    async_timeout = grep(rf"RUNSCRIPT_ASYNC_TIMEOUT asynchronous script {re.escape(async_fail)} \(pid [0-9]+\) did not finish")
    # Where the exec's failure is known before Kea moves on (the plain path: qemu-user, no
    # pidfd), the callout logs it (RUNSCRIPT_SPAWN_FAILED); a supervised launch learns it later,
    # in the reaper (RUNSCRIPT_ASYNC_SPAWN_FAILED). Both are documented (README, on-failure).
    async_spawn = grep(rf"RUNSCRIPT_ASYNC_SPAWN_FAILED cannot start asynchronous script {re.escape(gone)}: "
                       rf"|RUNSCRIPT_SPAWN_FAILED cannot start script {re.escape(gone)} at ")
    loaded = grep("RUNSCRIPT_LOADED")
    return {"exit_action": exit_action, "failure_action": failure_action, "unmapped": unmapped,
            "async_failed": async_failed, "async_timeout": async_timeout, "async_spawn": async_spawn,
            "loaded": loaded}


def _judge_skip(o: Outcome, results: dict, found: Dict[str, List[str]], runs: dict, bad_runs: dict,
                skip: str) -> None:
    """Skips gave NAKs, the others leases, each outcome its message, each run its lines."""
    for name in ("skip by exit code", "skip by on-failure"):
        r = results[name]
        if r["lease"]:
            o.problems.append(f"{name}: skip at lease4_select, but the client got a lease ({r['lease']})")
        elif not _nak(r["client"]):
            o.problems.append(f"{name}: the REQUEST should get a NAK (Kea skips the assignment, it does "
                              f"not drop), the client says {r['client']!r}")
    for name in ("continue", "unmapped exit code"):
        if not results[name]["lease"]:
            o.problems.append(f"{name}: no lease: {results[name]['client']!r}")
    if not found["exit_action"]:
        o.problems.append("no RUNSCRIPT_EXIT_ACTION with skip for the exit 4 at lease4_select")
    if not found["failure_action"]:
        o.problems.append("no RUNSCRIPT_FAILURE_ACTION with skip for the killed run at lease4_select")
    if not found["unmapped"]:
        o.problems.append("no RUNSCRIPT_SCRIPT_FAILED for the unmapped exit 5")
    for message, lines in (("RUNSCRIPT_ASYNC_FAILED (exit 5)", found["async_failed"]),
                           ("RUNSCRIPT_ASYNC_TIMEOUT", found["async_timeout"]),
                           ("RUNSCRIPT_ASYNC_SPAWN_FAILED or RUNSCRIPT_SPAWN_FAILED", found["async_spawn"])):
        if not lines:
            o.problems.append(f"no {message} naming its script in Kea's logs")
    if not found["loaded"]:
        o.problems.append("the library did not load: an asynchronous load script's failure must not refuse it")
    # 4 clients x (DISCOVER + REQUEST), the lease4_select of each
    if len(runs) < 2 * len(results):
        o.problems.append(f"{len(runs)} runs of {skip} logged output, {2 * len(results)} expected")
    if bad_runs:
        o.problems.append(f"{len(bad_runs)} of {len(runs)} runs not logged as their first "
                          f"{SMALL_MAX_OUTPUT_LINES} lines + one 'dropped' line: {dict(list(bad_runs.items())[:2])}")


@timed
def failing_load_script(rt: Runtime, max_seconds: float = 10.0) -> Outcome:
    """A synchronous script at `load` that exits 1: the library fails to load
    (RUNSCRIPT_LIFECYCLE_FAILED naming the script and `load`), kea-dhcp4 exits non-zero."""
    o = Outcome("failing-load-script")
    tag = "load-fails"
    ran = f"{C_RT_OUT}/{tag}.ran"
    rt.sh(f"rm -f {ran}")
    path = rt.script(f"{tag}.sh", f"#!/bin/sh\n[ \"$1\" = load ] && {{ echo \"$1\" >> {ran}; exit 1; }}\nexit 0\n")
    text, log, _ = rt.config4(tag, {"script": path, "hook-points": ["load", "pkt4_receive"]},
                              interfaces=[])
    conf = f"{testnet.C_CONF}/rt-{tag}-dhcp4.json"
    out = f"{testnet.C_OUT}/rt-{tag}-kea-dhcp4.out"
    rt.tn.c.write_file(conf, text)
    rt.sh(f"rm -f {log}")
    # `timeout` only guards against a server that would start: it is our own child.
    r = rt.sh(f"timeout -s KILL {max_seconds} {rt.tn.kea_prefix(4)} kea-dhcp4 -c {shlex.quote(conf)} "
              f">{out} 2>&1 </dev/null; echo \"rc=$?\"", check=False)
    m = re.search(r"rc=(\d+)", r.output)
    rc = int(m.group(1)) if m else -1
    rt.tn.keep(out, f"rt-{tag}-kea-dhcp4.out")
    rt.tn.keep(log, f"rt-{tag}-kea-dhcp4.log")
    lines = [ln.strip() for ln in (rt.read(out) + rt.read(log)).splitlines() if "RUNSCRIPT_LIFECYCLE_FAILED" in ln]
    message = lines[0][lines[0].index("RUNSCRIPT_LIFECYCLE_FAILED"):] if lines else None
    o.facts.update({"exit": rc, "RUNSCRIPT_LIFECYCLE_FAILED": message,
                    "load script ran": rt.read(ran).split()})
    if rc in (0, 137):
        o.problems.append(f"kea-dhcp4 exit status {rc}: "
                          f"{'it kept running' if rc == 137 else 'it started'} although the load script failed")
    if rt.read(ran).split() != ["load"]:
        o.problems.append(f"the load script did not run once at load: {rt.read(ran).split()}")
    if not message:
        o.problems.append("no RUNSCRIPT_LIFECYCLE_FAILED in Kea's output")
    elif f"{path} at load" not in message:
        o.problems.append(f"RUNSCRIPT_LIFECYCLE_FAILED does not name {path} at load: {message!r}")
    return o
