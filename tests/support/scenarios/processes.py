"""Scenarios 0-4: who Kea and its scripts run as, what a script inherits (file descriptors,
environment), a hung synchronous script, no zombies under load."""

from __future__ import annotations

import re
import threading
import time
from typing import Dict, List

from kea_runscript.verify import testnet
from kea_runscript.model import units
from .bounds import DEADLINE_ALLOWANCE_S
from .output import Lifetimes
from .runtime import C_RT_OUT, MT4, Outcome, Runtime, timed


# --------------------------------------------------------------------------------------------
# 0. Kea and its scripts run as the packaged unit says


@timed
def kea_identity(rt: Runtime) -> Outcome:
    """kea-dhcp4 runs as the cell's packaged unit (user, ambient capabilities) and a script it
    starts has exactly those: its /proc/self/status, written at pkt4_receive."""
    o = Outcome("kea-identity")
    status = f"{C_RT_OUT}/identity-status"
    rt.sh(f"rm -f {status}")
    path = rt.script("identity.sh", f"#!/bin/sh\nexec cat /proc/self/status > {status}\n")
    text, log, _ = rt.config4("identity", {"script": path, "hook-points": ["pkt4_receive"]})
    unit = rt.tn.units.get(4)
    with rt.kea4("identity", text, log) as pid:
        kea = rt.tn.identity(pid)
        ack = rt.dora("02:00:00:00:1d:01")
    fields = dict(line.partition(":")[::2] for line in rt.read(status).splitlines())
    script = {"uid": int(fields.get("Uid", "-1").split()[0]) if fields.get("Uid") else None,
              "CapEff": units.cap_names(int(fields.get("CapEff", "0").strip() or "0", 16)),
              "CapAmb": units.cap_names(int(fields.get("CapAmb", "0").strip() or "0", 16))}
    o.facts.update({"unit": unit.describe() if unit else None, "kea": kea, "script": script,
                    "DORA": ack.get("address")})
    want_user = rt.tn.kea_user(4)
    if kea["user"] != want_user:
        o.problems.append(f"kea-dhcp4 runs as {kea['user']}, the unit says {want_user}")
    if unit is not None and sorted(kea["CapAmb"]) != sorted(unit.ambient):
        o.problems.append(f"kea-dhcp4's ambient capabilities {kea['CapAmb']}, the unit says {list(unit.ambient)}")
    if script["uid"] != kea["uid"] or script["CapEff"] != kea["CapEff"]:
        o.problems.append(f"the script runs as uid {script['uid']} with {script['CapEff']}, "
                          f"Kea as uid {kea['uid']} with {kea['CapEff']}")
    return o


# --------------------------------------------------------------------------------------------
# 1. file descriptors


def parse_ls_fd(text: str) -> Dict[int, str]:
    """``ls -l /proc/self/fd`` -> {fd: target}."""
    out = {}
    for line in text.splitlines():
        m = re.search(r"\s(\d+) -> (.*)$", line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


@timed
def fd_list(rt: Runtime) -> Outcome:
    """Scripts started by the real Kea hold fds 0-2 only (+ the directory ls reads)."""
    o = Outcome("fd-list")
    files = {}
    scripts = []
    for name, wait, capture in (("sync", True, False), ("async", False, False),
                                ("capture", True, True)):
        files[name] = f"{C_RT_OUT}/fd-{name}.txt"
        path = rt.script(f"fd-{name}.sh", f"#!/bin/sh\nexec ls -l /proc/self/fd > {files[name]}\n")
        scripts.append({"script": path, "wait": wait, "capture-output": capture,
                        "hook-points": ["pkt4_receive"]})
    rt.sh(f"rm -f {C_RT_OUT}/fd-*.txt")
    text, log, lease = rt.config4("fd", {"scripts": scripts}, persist=True)
    with rt.kea4("fd", text, log, lease_file=lease) as pid:
        kea_fds = rt.fds(pid)
        ack = rt.dora("02:00:00:00:f1:01")
        time.sleep(0.5)
    o.facts["kea fds"] = len(kea_fds)
    o.facts["kea fd targets"] = sorted(set(re.sub(r"\[\d+\]", "[..]", t) for t in kea_fds.values()))
    if not ack:
        o.problems.append("no DORA with the fd scripts configured")
    if len(kea_fds) <= 4 or not any(t.startswith("socket:") for t in kea_fds.values()):
        o.problems.append(f"Kea itself has only {kea_fds}: the check would prove nothing")
    for name, path in files.items():
        seen = parse_ls_fd(rt.read(path))
        o.facts[f"{name} script fds"] = seen
        if not seen:
            o.problems.append(f"{name} script: no ls output in {path}")
            continue
        extra = {fd: t for fd, t in seen.items() if fd > 2}
        own = {fd: t for fd, t in extra.items() if re.fullmatch(r"/proc/\d+/fd", t)}
        if len(own) > 1 or set(extra) - set(own):
            o.problems.append(f"{name} script inherited fds beyond 0-2: "
                              f"{ {fd: t for fd, t in extra.items() if fd not in own} or extra}")
        if not {0, 1, 2} <= set(seen):
            o.problems.append(f"{name} script lacks some of fds 0-2: {seen}")
    return o


# --------------------------------------------------------------------------------------------
# 2. environment


LEAK = {"LEAK_TEST": "1"}
EXTRA_ENV = {"PATH": "/usr/bin:/bin"}


def expected_env(rt: Runtime, hook_point: str, environment: dict) -> set:
    """The catalogue's unconditional variables of the hook point for this Kea + ``environment``
    (the conditional ones, e.g. option 60 or 82, are absent: the client sends neither)."""
    return {v.name for v in rt.catalogue.variables_at(hook_point)
            if v.since <= rt.kea and not v.conditional} | set(environment)


@timed
def env_list(rt: Runtime) -> Outcome:
    """At pkt4_receive the environment is the catalogue's variables + `environment`, exactly."""
    o = Outcome("env-list")
    records = {"sync": f"{C_RT_OUT}/env-sync.jsonl", "async": f"{C_RT_OUT}/env-async.jsonl"}
    rt.sh(f"rm -f {C_RT_OUT}/env-*.jsonl")
    scripts = [{"script": testnet.RECORDER, "wait": name == "sync", "hook-points": ["pkt4_receive"],
                "environment": dict(EXTRA_ENV, SMOKE_RECORD=path)} for name, path in records.items()]
    text, log, _ = rt.config4("env", {"scripts": scripts})
    with rt.kea4("env", text, log, env=LEAK) as pid:
        kea_env = rt.sh(f"tr '\\0' '\\n' < /proc/{pid}/environ").output.split()
        rt.dora("02:00:00:00:e1:01")
        time.sleep(0.5)
    kea_keys = sorted({e.partition("=")[0] for e in kea_env})
    o.facts["Kea's own environment (keys)"] = kea_keys
    if "LEAK_TEST=1" not in kea_env:
        o.problems.append(f"Kea was not started with LEAK_TEST=1 (its environment: {kea_keys})")
    for name, path in records.items():
        want = expected_env(rt, "pkt4_receive", dict(EXTRA_ENV, SMOKE_RECORD=path))
        recs = rt.tn.read_records(path)
        o.facts[f"{name} calls"] = len(recs)
        if not recs:
            o.problems.append(f"{name}: the recorder was not called at pkt4_receive")
        for rec in recs:
            got = set(rec["env"])
            if got != want:
                o.problems.append(f"{name}: environment keys differ: extra {sorted(got - want)}, "
                                  f"missing {sorted(want - got)}")
                break
            if rec["env"].get("PATH") != EXTRA_ENV["PATH"]:
                o.problems.append(f"{name}: PATH={rec['env'].get('PATH')!r}, configured {EXTRA_ENV['PATH']!r}")
                break
        if recs:
            o.facts[f"{name} environment keys"] = sorted(recs[0]["env"])
    return o


# --------------------------------------------------------------------------------------------
# 3. a hung synchronous script


def _sleepers(procs: List[dict]) -> List[dict]:
    return [p for p in procs if p["cmdline"][:2] == ["sleep", "300"]]


@timed
def hung_script(rt: Runtime) -> Outcome:
    """`sleep 300` with timeout 1 at pkt4_receive: killed (group) within the deadline
    allowance (each run's lifetime measured by a watcher, not by the DORA's time, which an
    emulated Kea's own packet handling stretches), logged, Kea answers."""
    o = Outcome("hung-script")
    hang = rt.script("hang.sh", "#!/bin/sh\n# sleep is a child of the shell: the process group must go\nsleep 300\necho never\n")
    text, log, _ = rt.config4("hang", {"script": hang, "wait": True, "timeout": 1,
                                       "hook-points": ["pkt4_receive"]})
    if _sleepers(rt.processes()):
        o.problems.append("a `sleep 300` was already running before the scenario")
    with rt.kea4("hang", text, log) as pid:
        with Lifetimes(rt, "hang.sh", "hang") as lt:
            t = time.monotonic()
            ack = rt.dora("02:00:00:00:a1:01")
            o.facts["DORA seconds"] = round(time.monotonic() - t, 2)
            time.sleep(0.5)
            runs = lt.collect()
        procs = rt.processes()
        left = _sleepers(procs)
        kids = rt.children(pid, procs)
        timeouts = rt.count_in(log, "RUNSCRIPT_TIMEOUT")
    o.facts["address"] = ack.get("address")
    o.facts["RUNSCRIPT_TIMEOUT lines"] = timeouts
    o.facts["sleep 300 left"] = left
    o.facts["Kea's children after the DORA"] = kids
    limit = 1 + DEADLINE_ALLOWANCE_S
    # judged on what a run surely lived, as in the flood scenarios
    late = [(r["pid"], r["at_least"], r["seconds"]) for r in runs if r["seconds"] is None or r["at_least"] > limit]
    o.facts["run lifetimes (s)"] = [r["seconds"] for r in runs]
    o.facts["watcher's longest pass (s)"] = lt.longest_pass
    if not ack:
        o.problems.append("Kea did not complete the DORA with the hung script (timeout 1 s)")
    elif o.facts["DORA seconds"] < 1.8:
        o.problems.append(f"DORA took {o.facts['DORA seconds']}s: the script did not block ~1 s per message")
    if len(runs) < 2:
        o.problems.append(f"the watcher saw {len(runs)} runs of hang.sh, expected one per DISCOVER and REQUEST")
    if late:
        o.problems.append(f"runs outlived their 1 s timeout by more than {DEADLINE_ALLOWANCE_S} s (killed late; "
                          f"pid, lived at least, at most): {late}")
    if timeouts < 2:
        o.problems.append(f"{timeouts} RUNSCRIPT_TIMEOUT lines in Kea's log, expected one per DISCOVER and REQUEST")
    if left:
        o.problems.append(f"`sleep 300` still running after the timeout: {left}")
    if kids:
        o.problems.append(f"Kea still has children: {kids}")
    return o


# --------------------------------------------------------------------------------------------
# 4. 10k asynchronous calls, no zombies


def _zombie_watch(rt: Runtime, pid: int, samples: list, stop: threading.Event) -> None:
    while not stop.is_set():
        procs = rt.processes()
        samples.append((len(rt.children(pid, procs)), len(rt.zombies(pid, procs))))
        stop.wait(0.5)


#: The share of asynchronous runs that may be skipped at the max-async limit (scenario 4). What
#: it catches is a slot never given back: then every run after the first 64 is skipped (over
#: 99 % of 10 000). A working reaper skips none on a quiet machine (0 of 10 392), but up to 17 %
#: were seen with the machine loaded (CI beside other work), which failed a 10 % bound: the
#: bound sits between the two.
MAX_SKIPPED_SHARE = 0.5


@timed
def async_zombies(rt: Runtime, rate: int = 100, seconds: int = 13, min_calls: int = 10000,
                  max_rounds: int = 10, settle_s: float = 1.5) -> Outcome:
    """wait: false at the 1.4 hook points, >= 10k calls under perfdhcp, MT 4 threads:
    no zombie child of Kea once the calls are over. perfdhcp runs in rounds of `seconds`
    until the calls reach min_calls: a busy machine, or an emulated Kea (arm64 cells on an
    amd64 machine: 40-150 calls a second), completes fewer exchanges per second: such a cell
    gets three times the rounds, and the reaper ``settle_s`` times three once the load ends."""
    o = Outcome("async-zombies")
    if rt.emulated:
        max_rounds, settle_s = 3 * max_rounds, 3 * settle_s
    count = f"{C_RT_OUT}/async-count"
    rt.sh(f"rm -f {count}")
    path = rt.script("async-count.sh", f"#!/bin/sh\nprintf . >> {count}\nexit 0\n")
    text, log, _ = rt.config4("async", {"script": path, "wait": False}, multi_threading=MT4,
                              big_pool=True)
    with rt.kea4("async", text, log) as pid:
        samples: list = []
        stop = threading.Event()
        watcher = threading.Thread(target=_zombie_watch, args=(rt, pid, samples, stop))
        watcher.start()
        acks = requests = rounds = 0
        try:
            while rounds < max_rounds:
                rounds += 1
                perf = rt.perfdhcp4(rate=rate, seconds=seconds, clients=1000000,
                                    tag=f"async{rounds}")
                acks, requests = acks + perf.acks, requests + perf.requests
                done = len(rt.read(count)) + rt.skipped_runs(log)
                if done >= min_calls:
                    break
        finally:
            stop.set()
            watcher.join()
        time.sleep(settle_s)  # the last scripts finish, the reaper collects them
        procs = rt.processes()
        zombies = rt.zombies(pid, procs)
        kids = rt.children(pid, procs)
        limit = rt.skipped_runs(log)
        errors = rt.sh(f"grep -E ' (ERROR|FATAL) ' {log} | grep -v RUNSCRIPT_ASYNC_LIMIT | head -5",
                       check=False).output.strip()
        calls = len(rt.read(count))
    o.facts.update({"script calls": calls, "RUNSCRIPT_ASYNC_LIMIT (skipped runs)": limit,
                    "calls + skipped": calls + limit, "perfdhcp rounds": rounds,
                    "perfdhcp ACKs": acks, "perfdhcp REQUESTs": requests,
                    "max children during load": max((s[0] for s in samples), default=0),
                    "max zombies in one sample during load": max((s[1] for s in samples), default=0),
                    "zombies after": zombies, "children after": kids})
    if calls + limit < min_calls:
        o.problems.append(f"only {calls} calls + {limit} skipped: fewer than {min_calls}")
    # Skips at the max-async limit are rare with a working reaper (0 of 10 392 measured); a
    # slot never given back turns every run after the 64th into one.
    if limit > (calls + limit) * MAX_SKIPPED_SHARE:
        o.problems.append(f"{limit} of {calls + limit} runs skipped at the max-async limit: more than "
                          f"{MAX_SKIPPED_SHARE:.0%} (slots not given back?)")
    if zombies:
        o.problems.append(f"{len(zombies)} zombie children of Kea after the calls: {zombies[:5]}")
    if kids:
        o.problems.append(f"Kea still has {len(kids)} children {settle_s} s after the load: {kids[:5]}")
    if errors:
        o.problems.append(f"Kea logged errors: {errors}")
    return o
