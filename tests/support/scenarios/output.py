"""Scenario 15: a script that floods its captured output."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Dict, List, Optional

from kea_runscript.verify import testnet
from .bounds import DEADLINE_ALLOWANCE_S
from .runtime import C_RT, C_RT_OUT, MT4, Outcome, PERF_RELAY, Perf, Runtime, parse_perfdhcp, timed


# --------------------------------------------------------------------------------------------
# 15. a script that floods its captured output


#: Watches the lifetime of every process named argv[1] until the file argv[3] exists, then
#: writes [{pid, start, alive, end}] (seconds on CLOCK_BOOTTIME) to argv[2]. The start is the
#: kernel's (/proc/<pid>/stat), the end is when the process's pidfd was seen readable, i.e.
#: after it exited, before anyone reaps it: neither depends on the hook's own logging. The
#: watcher itself can be kept off a busy machine's CPU, so the exit is only known to lie
#: between ``alive`` (the last look that found the process running) and ``end``; the
#: longest pass of the loop is written too.
_LIFETIMES = r"""
import json, os, select, sys, time
comm, out, stop = sys.argv[1:4]
tick = os.sysconf('SC_CLK_TCK')
now = lambda: time.clock_gettime(time.CLOCK_BOOTTIME)
runs, open_fds, known = [], {}, set()
poller = select.poll()
last, longest = now(), 0.0
while not os.path.exists(stop):
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            stat = open(f'/proc/{d}/stat').read()
        except OSError:
            continue
        if stat[stat.index('(') + 1:stat.rindex(')')] != comm:
            continue
        start = int(stat[stat.rindex(')') + 2:].split()[19]) / tick
        if (int(d), start) in known:
            continue
        known.add((int(d), start))
        run = {'pid': int(d), 'start': start, 'alive': start, 'end': None}
        runs.append(run)
        try:
            fd = os.pidfd_open(int(d))
        except ProcessLookupError:
            run['end'] = now()  # already gone: an upper bound
            continue
        # any other error (no pidfd_open: kernel < 5.3) ends the watcher: it would measure nothing
        open_fds[fd] = run
        poller.register(fd, select.POLLIN)
    before = now()
    ready = dict(poller.poll(20))
    t = now()
    longest, last = max(longest, t - last), t
    for fd, run in list(open_fds.items()):
        if fd not in ready:
            run['alive'] = before  # poll looked after this and found it running
            continue
        run['end'] = t
        poller.unregister(fd)
        os.close(fd)
        del open_fds[fd]
json.dump({'runs': runs, 'now': now(), 'longest pass': longest}, open(out, 'w'))
"""


class Lifetimes:
    """The lifetimes of the processes named ``comm`` in the container, measured by a watcher
    (:data:`_LIFETIMES`) running beside Kea; ``with Lifetimes(rt, "yes", "flood") as lt: ...``,
    then ``lt.runs``: [{pid, start, alive, end, seconds, at_least}] (end and seconds None:
    still running at the end; ``at_least``: alive - start, what the run surely lived)."""

    def __init__(self, rt: Runtime, comm: str, tag: str):
        self.rt, self.comm = rt, comm
        self.prog, self.out, self.stop = (f"{C_RT}/{tag}-{x}" for x in ("watch.py", "watch.json", "watch.stop"))
        self.runs: List[dict] = []
        self.longest_pass = 0.0

    def __enter__(self) -> "Lifetimes":
        self.rt.script(Path(self.prog).name, _LIFETIMES, mode=0o644)
        self.rt.sh(f"rm -f {self.out} {self.stop}; nohup python3 {self.prog} {self.comm} {self.out} {self.stop} "
                   f">{self.out}.err 2>&1 </dev/null &")
        time.sleep(0.3)
        return self

    def collect(self) -> List[dict]:
        """Stops the watcher and reads what it saw (bounded: 10 s)."""
        self.rt.sh(f"touch {self.stop}; for i in $(seq 100); do test -s {self.out} && exit 0; sleep 0.1; done",
                   check=False)
        text = self.rt.read(self.out)
        if not text.strip():
            raise testnet.SmokeError(f"the lifetime watcher wrote nothing: {self.rt.read(self.out + '.err')[-800:]}")
        data = json.loads(text)
        self.runs = [dict(r, seconds=None if r["end"] is None else round(r["end"] - r["start"], 3),
                          at_least=round(r["alive"] - r["start"], 3))
                     for r in data["runs"]]
        self.longest_pass = round(data.get("longest pass", 0.0), 3)
        return self.runs

    def __exit__(self, *exc) -> None:
        if not self.runs:
            self.rt.sh(f"touch {self.stop}", check=False)


#: A line the hook logs once a run's captured lines exceed max-output-lines: "... 12345 more
#: lines dropped" (loose on purpose: the count and the verb's form may vary).
DROPPED_RE = r"[0-9]+ more (output )?lines? (were |was |have been )?dropped"
#: max-output-lines' default: captured lines logged per run, then the one "dropped" line.
MAX_OUTPUT_LINES = 100

#: The flood writers: how a script that writes without pause starts, its command name, the
#: longest line it makes the hook log (the hook cuts lines at 4096 bytes) and whether it
#: writes more lines than max-output-lines (then each run ends with a "dropped" line).
FLOODS = {
    "yes": ("exec yes", "yes", 1, True),                              # short lines, at full speed
    "long-lines": ("exec tr '\\000' x < /dev/zero", "tr", 4096, False),  # one line, never ended
}

#: How much Kea's peak RSS may exceed its RSS right after start-up during the flood (kB).
#: The hook holds at most one read (64 KiB) and one cut line (4 KiB) per running script and
#: at most max-async (64) asynchronous scripts run: ~4.5 MB. Kea's own growth from a dozen
#: leases is well under a megabyte. The unbounded queue this catches grew by 92 MB in seconds.
FLOOD_RSS_GROWTH_KB = 24 * 1024


def _status_kb(rt: Runtime, pid: int) -> Dict[str, int]:
    r = rt.sh(f"grep -E '^(VmRSS|VmHWM):' /proc/{pid}/status", check=False)
    return {k: int(v.split()[0]) for k, _, v in (ln.partition(":") for ln in r.output.splitlines()) if v}


def _perfdhcp_slow(rt: Runtime, tag: str, seconds: int, wait_s: int) -> Perf:
    """perfdhcp DORA, one new exchange per second for ``seconds``; then it waits ``wait_s``
    for the last answers, and only a packet unanswered for ``wait_s`` counts as lost (a
    synchronous script per packet queues them). (With -n instead of -p, perfdhcp exits as
    soon as it sent the last DISCOVER, and counts what is still in flight as dropped.)"""
    cmd = (f"timeout -s KILL {seconds + wait_s + 10} ip netns exec cli perfdhcp -4 -l {PERF_RELAY} "
           f"-r 1 -p {seconds} -R 1000 -d {wait_s} -W {wait_s * 1000000} "
           f"-b mac={testnet.PERFDHCP_MAC} {testnet.NET.server_v4}")
    r = rt.sh(cmd, check=False)
    (rt.tn.out / f"rt-{tag}-perfdhcp4.txt").write_text(f"$ {cmd}\n{r.output}")
    return parse_perfdhcp(r.output)


@timed
def output_flood(rt: Runtime, wait: bool = True, mt: bool = False, writer: str = "yes",
                 timeout: float = 1.0, clients: int = 4, perf_seconds: int = 4) -> Outcome:
    """A script that writes without pause (``exec yes``) with capture-output and ``timeout``
    at pkt4_receive: each run is killed within timeout + DEADLINE_ALLOWANCE_S (its lifetime
    measured by a watcher, not by the hook), ``clients`` scapy DORAs and a perfdhcp run (a DORA a second for
    ``perf_seconds``) are all answered, no script runs afterwards, Kea's log holds at
    most max-output-lines + 1 lines per run with one "dropped" line per run, and its peak
    RSS stays within FLOOD_RSS_GROWTH_KB of its RSS at start."""
    mode = f"{'sync' if wait else 'async'}-mt-{'on' if mt else 'off'}-{writer}"
    o = Outcome(f"output-flood-{mode}")
    tag = f"flood-{mode}"
    m = _flood_run(rt, tag, wait, mt, writer, timeout, clients, perf_seconds)
    _judge_flood_runs(o, m, writer, timeout, clients, perf_seconds)
    _judge_flood_log(o, m, writer, clients, perf_seconds)
    return o


def _flood_run(rt: Runtime, tag: str, wait: bool, mt: bool, writer: str, timeout: float, clients: int,
               perf_seconds: int) -> dict:
    """The flood script under clients and perfdhcp: its runs' lifetimes, Kea's answers, log and
    memory."""
    start_cmd, comm = FLOODS[writer][:2]
    runs_file = f"{C_RT_OUT}/{tag}-runs"
    rt.sh(f"rm -f {runs_file}")
    # the marker is written before exec: $$ is then the writer's pid
    path = rt.script(f"{tag}.sh", f"#!/bin/sh\necho $$ >> {runs_file}\n{start_cmd}\n")
    params = {"script": path, "wait": wait, "timeout": timeout, "capture-output": True,
              "hook-points": ["pkt4_receive"]}
    text, log, _ = rt.config4(tag, params, multi_threading=MT4 if mt else False)
    # One allowance for every mode: the bug this guards against kept runs for 5-61 s, and on a
    # busy 2-core machine (three test workers, emulated cells among them) runs surely lived up
    # to 0.73 s past the timeout (a native synchronous run: Kea's thread waits for a CPU too);
    # an asynchronous run's reaper thread competes with the other runs' floods, and an emulated
    # Kea (qemu-user) runs its kill path slower.
    limit = timeout + DEADLINE_ALLOWANCE_S
    answered: Dict[str, Optional[str]] = {}
    with rt.kea4(tag, text, log) as pid:
        rss_start = _status_kb(rt, pid)
        with Lifetimes(rt, comm, tag) as lt:
            for i in range(clients):
                mac = f"02:00:00:00:f0:{i + 1:02x}"
                answered[mac] = rt.dora(mac).get("address")
            # synchronous: each DORA holds one of Kea's threads for two runs of `timeout`
            queued = 2 * timeout * perf_seconds / (MT4["thread-pool-size"] if mt else 1) if wait else 0
            perf = _perfdhcp_slow(rt, tag, perf_seconds, wait_s=int(queued) + 3)
            time.sleep(limit + 0.5)  # the last runs reach their deadline
            runs = lt.collect()
        procs = rt.processes()
        rss_end = _status_kb(rt, pid)
        left = [p for p in procs if p["comm"] == comm]
        logs = rt.sh(f"ls {log}*", check=False).output.split()
        log_bytes = sum(int(x) for x in rt.sh(f"cat {' '.join(logs)} | wc -c", check=False).output.split()[:1])
        output_lines = sum(rt.count_in(f, "RUNSCRIPT_OUTPUT") for f in logs)
        dropped_lines = sum(rt.count_in(f, DROPPED_RE) for f in logs)
        dropped_sample = rt.sh(f"grep -h -m1 -E {shlex.quote(DROPPED_RE)} {' '.join(logs)}",
                               check=False).output.strip()[:300]
    markers = [int(x) for x in rt.read(runs_file).split() if x.isdigit()]
    return {"answered": answered, "perf": perf, "runs": runs, "rss_start": rss_start, "rss_end": rss_end,
            "left": left, "logs": logs, "log_bytes": log_bytes, "output_lines": output_lines,
            "dropped_lines": dropped_lines, "dropped_sample": dropped_sample, "markers": markers,
            "longest_pass": lt.longest_pass, "limit": limit}


def _judge_flood_runs(o: Outcome, m: dict, writer: str, timeout: float, clients: int, perf_seconds: int) -> None:
    """Every run killed on time, every client answered, nothing left running."""
    comm = FLOODS[writer][1]
    runs, markers, answered, perf, limit = m["runs"], m["markers"], m["answered"], m["perf"], m["limit"]
    rss_start, rss_end, left, logs = m["rss_start"], m["rss_end"], m["left"], m["logs"]
    seen = {r["pid"] for r in runs}
    unmeasured = [p for p in markers if p not in seen]
    # judged on what a run surely lived: the watcher's own delays (passes up to 1 s seen under
    # load) are not the hook's
    late = [r for r in runs if r["seconds"] is None or r["at_least"] > limit]
    lifetimes = sorted(r["seconds"] for r in runs if r["seconds"] is not None)
    n = len(markers)
    o.facts.update({
        "runs (markers)": n, "runs measured": len(runs),
        "lifetimes (s), longest first": lifetimes[::-1][:10],
        "surely lived (s), longest first": sorted((r["at_least"] for r in runs), reverse=True)[:10],
        "runs over the limit": [(r["pid"], r["at_least"], r["seconds"]) for r in late][:10],
        "limit (s)": limit,
        "watcher's longest pass (s)": m["longest_pass"],
        "scapy DORAs answered": f"{sum(1 for a in answered.values() if a)}/{clients}",
        "perfdhcp": f"{perf.get('DISCOVER-OFFER', 'sent packets')} DISCOVERs, {perf.offers} OFFERs, "
                    f"{perf.requests} REQUESTs, {perf.acks} ACKs",
        "Kea RSS at start (kB)": rss_start.get("VmRSS"), "Kea VmHWM at end (kB)": rss_end.get("VmHWM"),
        "log files": len(logs), "log bytes": m["log_bytes"], "RUNSCRIPT_OUTPUT lines": m["output_lines"],
        "'dropped' lines": m["dropped_lines"], "a 'dropped' line": m["dropped_sample"],
        f"{comm} left": left,
    })
    if n == 0:
        o.problems.append("the flood script never ran")
    if unmeasured:
        o.problems.append(f"runs the watcher did not see (their lifetime is unknown): {unmeasured[:5]}")
    if late:
        o.problems.append(f"{len(late)} of {len(runs)} runs lived longer than timeout + {limit - timeout:.1f} s = {limit} s "
                          f"(pid, lived at least, at most): {[(r['pid'], r['at_least'], r['seconds']) for r in late][:5]} "
                          f"(None: still running; the watcher's longest pass: {m['longest_pass']} s)")
    if not all(answered.values()):
        o.problems.append(f"scapy clients without a lease: {[m for m, a in answered.items() if not a]}")
    discovers = perf.get("DISCOVER-OFFER", "sent packets")
    if discovers < perf_seconds - 1 or perf.acks != discovers:
        o.problems.append(f"perfdhcp: {perf.acks} ACKs for {discovers} DISCOVERs in {perf_seconds} s "
                          f"({perf.offers} OFFERs, {perf.requests} REQUESTs)")
    if left:
        o.problems.append(f"{len(left)} flood scripts still running after the traffic: {left[:3]}")


def _judge_flood_log(o: Outcome, m: dict, writer: str, clients: int, perf_seconds: int) -> None:
    """Kea's log bounded per run, one "dropped" line per run, its memory bounded."""
    _, _, line_max, many_lines = FLOODS[writer]
    n, logs, output_lines, dropped_lines = len(m["markers"]), m["logs"], m["output_lines"], m["dropped_lines"]
    log_bytes, rss_start, rss_end = m["log_bytes"], m["rss_start"], m["rss_end"]
    if output_lines > n * (MAX_OUTPUT_LINES + 1):
        o.problems.append(f"{output_lines} RUNSCRIPT_OUTPUT lines for {n} runs: more than "
                          f"{MAX_OUTPUT_LINES} + 1 per run")
    # Kea's own lines: start-up, a few per packet and per timeout; the hook's: bounded per run
    log_cap = 64 * 1024 + n * (MAX_OUTPUT_LINES + 1) * (line_max + 300) + (clients + perf_seconds) * 2 * 1024
    if log_bytes > log_cap:
        o.problems.append(f"Kea's log holds {log_bytes} bytes ({len(logs)} files), over {log_cap} "
                          f"for {n} runs")
    if many_lines and n and dropped_lines < n:
        o.problems.append(f"{dropped_lines} lines saying how many lines were dropped "
                          f"(/{DROPPED_RE}/) for {n} runs, each of which wrote more than {MAX_OUTPUT_LINES}")
    growth = (rss_end.get("VmHWM") or 0) - (rss_start.get("VmRSS") or 0)
    o.facts["peak RSS growth (kB)"] = growth
    if not rss_end:
        o.problems.append("Kea was gone at the end of the flood")
    elif growth > FLOOD_RSS_GROWTH_KB:
        o.problems.append(f"Kea's peak RSS grew by {growth} kB during the flood (cap {FLOOD_RSS_GROWTH_KB} kB)")
