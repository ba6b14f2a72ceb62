"""Scenarios 5, 9 and 10: Kea under perfdhcp load: lease file cleanup while asynchronous scripts
run, no lease lost, reconfiguration."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List, Optional

from kea_runscript.verify import testnet
from .runtime import C_RT_OUT, MAC_ALLOWED, MT4, Outcome, Runtime, timed

#: The most Kea's VmSize may grow per reload of its configuration (scenario 10).
RELOAD_GROWTH_KB = 64


# --------------------------------------------------------------------------------------------
# 5. kea-lfc while asynchronous scripts run


LFC_FAIL = r"DHCPSRV_MEMFILE_LFC_[A-Z_]*FAIL|LFC_FAIL_"
#: the prefix of lfc_with_async's problem about the synchronous script's lost exit status
EXIT_STATUS_LOST = "exit status lost"


@timed
def lfc_with_async(rt: Runtime, rate: int = 100, seconds: int = 8) -> Outcome:
    """memfile persist + lfc-interval 1 while `sleep 0.2` runs asynchronously at pkt4_receive
    under perfdhcp (multi-threading, 4 threads): kea-lfc runs and completes each time, Kea
    reaps it, no error. Beside it a synchronous script drops (exit 3 -> drop) the clients
    whose MAC ends in 0: Kea's own child reaping must not take its exit status (a lease for
    such a MAC would show the drop was lost)."""
    o = Outcome("lfc-with-async")
    # An emulated kea-lfc (arm64 under qemu-user, on a busy CI machine) can take longer than a
    # second: its cleanups get three times the interval and the waits three times the time.
    slow = 3 if rt.emulated else 1
    m = _lfc_run(rt, rate, seconds, slow)
    o.facts["emulated"] = rt.emulated
    o.facts["launch path"] = "supervised" if rt.supervised else "plain"
    _judge_lfc_runs(o, m, seconds, slow)
    _judge_lfc_files(o, m, slow)
    _judge_lfc_exit_statuses(o, m)
    return o


def _lfc_run(rt: Runtime, rate: int, seconds: int, slow: int) -> dict:
    """The run of lfc_with_async: what was seen during and after the load."""
    sleeper = rt.script("sleep02.sh", "#!/bin/sh\nsleep 0.2\n")
    drops = f"{C_RT_OUT}/drop0-calls"
    hook_log = f"{testnet.C_LOGS}/rt-lfc-hook.log"
    rt.sh(f"rm -f {drops} {hook_log}")
    dropper = rt.script("drop0.sh", "#!/bin/sh\ncase \"$KEA_QUERY4_HWADDR\" in\n"
                                    f"  *0) printf '%s\\n' \"$KEA_QUERY4_HWADDR\" >> {drops}; exit 3;;\n"
                                    "esac\nexit 0\n")
    params = {"max-async": 500, "scripts": [
        {"script": sleeper, "wait": False, "hook-points": ["pkt4_receive"]},
        {"script": dropper, "wait": True, "hook-points": ["pkt4_receive"], "exit-codes": {"3": "drop"}},
    ]}
    text, log, lease = rt.config4("lfc", params, persist=True, lfc_interval=slow, big_pool=True,
                                  multi_threading=MT4, hook_debug_log=hook_log)
    out = f"{testnet.C_OUT}/rt-lfc-kea-dhcp4.out"
    m: dict = {"lease": lease, "log": log}
    with rt.kea4("lfc", text, log, lease_file=lease) as pid:
        samples: List[List[dict]] = []

        def watch():
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                samples.append(rt.processes())
                time.sleep(0.25)
        w = threading.Thread(target=watch)
        w.start()
        m["perf"] = rt.perfdhcp4(rate=rate, seconds=seconds, clients=16000000, tag="lfc")
        w.join()
        time.sleep(2.5 * slow)  # more LFC rounds without load
        m["quiet"], procs = _lfc_quiet_moment(rt, lease, slow)
        m["executed"] = rt.count_in(log, "DHCPSRV_MEMFILE_LFC_EXECUTE")
        m["fails"] = rt.sh(f"grep -h -E '{LFC_FAIL}' {log} {out} | head -5", check=False).output.strip()
        m["errors"] = rt.sh(f"grep -h -E ' (ERROR|FATAL) ' {log} {out} | head -5", check=False).output.strip()
        m["sleeps_seen"] = max((sum(1 for p in rt.descendants(pid, s) if p["comm"] == "sleep02.sh")
                                for s in samples), default=0)
        m["samples"] = samples
        m["zombies_after"] = rt.zombies(pid, procs)
        m["leases_text"] = rt.read(f"{lease}.2") + rt.read(lease)
        m["async_limit"] = rt.skipped_runs(log)
    rt.tn.keep(hook_log, "rt-lfc-hook.log")
    m["exits3"] = len(rt.read(drops).split())
    m["applied"] = rt.count_in(hook_log, "RUNSCRIPT_EXIT_ACTION")
    return m


def _lfc_quiet_moment(rt: Runtime, lease: str, slow: int):
    """A moment between two cleanups: no kea-lfc running, no pid file, and no .1 (Kea moves the
    lease file to .1 a moment before it starts kea-lfc: a .1 seen then is no leftover; one that
    never goes leaves no quiet moment, which is reported). (the lease files then, or None; the
    processes last seen)"""
    procs: List[dict] = []
    for _ in range(40 * slow):
        procs = rt.processes()
        files = rt.sh(f"ls -1 {lease}* 2>/dev/null", check=False).output.split()
        if (not any(p["comm"] == "kea-lfc" for p in procs) and f"{lease}.pid" not in files
                and f"{lease}.1" not in files):
            return files, procs
        time.sleep(0.1)
    return None, procs


def _judge_lfc_runs(o: Outcome, m: dict, seconds: int, slow: int) -> None:
    """kea-lfc ran, overlapped the asynchronous scripts, failed never, was reaped promptly."""
    samples, executed = m["samples"], m["executed"]
    lfc_seen = sorted({p["pid"] for s in samples for p in s if p["comm"] == "kea-lfc"})
    lfc_zombie_samples = [p for s in samples for p in s if p["comm"] == "kea-lfc" and p["state"] == "Z"]
    # A kea-lfc zombie seen in 4 samples (0.25 s apart) was not reaped promptly; a kea-lfc
    # running in 8 samples hangs (a cleanup of a few hundred leases takes milliseconds).
    stuck = sorted({p["pid"] for p in lfc_zombie_samples
                    if sum(1 for q in lfc_zombie_samples if q["pid"] == p["pid"]) >= 4})
    lfc_samples = [p["pid"] for s in samples for p in s if p["comm"] == "kea-lfc"]
    hung = sorted({pid_ for pid_ in lfc_samples if lfc_samples.count(pid_) >= 8 * slow})
    o.facts.update({"DHCPSRV_MEMFILE_LFC_EXECUTE": executed, "kea-lfc processes seen": len(lfc_seen),
                    "async scripts running at once (max seen)": m["sleeps_seen"],
                    "perfdhcp ACKs": m["perf"].acks, "RUNSCRIPT_ASYNC_LIMIT": m["async_limit"],
                    "kea-lfc zombie samples": len(lfc_zombie_samples)})
    if executed < 3:
        o.problems.append(f"DHCPSRV_MEMFILE_LFC_EXECUTE logged {executed} times in {seconds + 2.5 * slow:.0f}s "
                          f"with lfc-interval {slow}")
    if m["sleeps_seen"] < 2:
        o.problems.append(f"at most {m['sleeps_seen']} asynchronous scripts seen running at once: the LFC "
                          f"did not overlap them")
    if m["fails"]:
        o.problems.append(f"LFC failures logged: {m['fails']}")
    if m["errors"]:
        o.problems.append(f"errors logged: {m['errors']}")
    if stuck:
        o.problems.append(f"kea-lfc zombies not reaped for >= 1 s: pids {stuck}")
    if hung:
        o.problems.append(f"kea-lfc running for >= {2 * slow} s: pids {hung}")
    if m["zombies_after"]:
        o.problems.append(f"zombie children of Kea after the load: {m['zombies_after']}")


def _judge_lfc_files(o: Outcome, m: dict, slow: int) -> None:
    """The cleanups completed and left nothing behind; the lease files hold every ACK."""
    if m["quiet"] is None:
        o.problems.append(f"no moment without a running kea-lfc (or its pid file, or a .1 file) within "
                          f"{4 * slow} s after the load")
    files = m["quiet"] or []
    o.facts["lease files after"] = files
    base = Path(m["lease"]).name
    names = {Path(f).name for f in files}
    leftovers = sorted(n for n in names if n.endswith((".completed", ".output", ".pid", ".1")))
    if leftovers:
        o.problems.append(f"LFC left {leftovers} behind (an unfinished cleanup)")
    if f"{base}.2" not in names:
        o.problems.append(f"no {base}.2: no cleanup completed (files: {sorted(names)})")
    stats = lease_file_stats(m["leases_text"])
    o.facts["leases after cleanup"] = stats
    perf = m["perf"]
    # Every ACK is a lease; an ACK that reached perfdhcp after its wait counts as its drop but is
    # a lease all the same (a loaded machine), so a lease needs only a REQUEST behind it.
    if not perf.acks <= stats["addresses"] <= perf.requests:
        o.problems.append(f"the cleaned-up lease files hold {stats['addresses']} addresses, perfdhcp got "
                          f"{perf.acks} ACKs for {perf.requests} REQUESTs")


def _judge_lfc_exit_statuses(o: Outcome, m: dict) -> None:
    """Every exit 3 of the synchronous script was applied (drop): Kea's reaping of kea-lfc took
    none of them."""
    exits3, applied, perf = m["exits3"], m["applied"], m["perf"]
    dropped_leased = sorted({ln.split(",")[1] for ln in m["leases_text"].splitlines()
                             if ln.count(",") > 1 and ln.split(",")[1].endswith("0")})
    o.facts.update({"drop script exits 3": exits3, "RUNSCRIPT_EXIT_ACTION (drop applied)": applied,
                    "exit statuses lost": exits3 - applied, "leases of dropped MACs (*0)": dropped_leased})
    o.facts["DISCOVERs without OFFER (drops, ~1/16 expected)"] = perf.get("DISCOVER-OFFER", "drops")
    if perf.get("DISCOVER-OFFER", "drops") < 1:
        o.problems.append("no DISCOVER was dropped: the synchronous drop script did not act")
    if exits3 != applied:
        o.problems.append(f"{EXIT_STATUS_LOST}: the synchronous script exited 3 {exits3} times, the hook "
                          f"applied 'drop' {applied} times (RUNSCRIPT_EXIT_ACTION)")
    if dropped_leased:
        o.problems.append(f"{EXIT_STATUS_LOST}: {len(dropped_leased)} clients the synchronous script dropped "
                          f"(exit 3) got a lease (its exit code 3 -> drop was not applied): {dropped_leased[:5]}")


# --------------------------------------------------------------------------------------------
# 9. perfdhcp load, no lease lost


def lease_file_stats(text: str) -> dict:
    """Kea's memfile CSV (v4): data lines, unique addresses, unique hwaddrs."""
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("address,")]
    addrs = {ln.split(",", 1)[0] for ln in lines}
    macs = {ln.split(",")[1] for ln in lines if ln.count(",") >= 1}
    return {"lines": len(lines), "addresses": len(addrs), "hwaddrs": len(macs)}


@timed
def perfdhcp_no_lost_lease(rt: Runtime, seconds: int = 60, rate: int = 80) -> Outcome:
    """The 1.4 hook points, synchronous trivial script, MT 4 threads, perfdhcp DORA for
    ``seconds``: every ACK perfdhcp received is a lease write in the lease file."""
    o = Outcome("perfdhcp-no-lost-lease")
    rate = rt.rate(rate)
    path = rt.script("trivial.sh", "#!/bin/sh\nexit 0\n")
    text, log, lease = rt.config4("load", {"script": path, "wait": True}, multi_threading=MT4,
                                  persist=True, big_pool=True)
    with rt.kea4("load", text, log, lease_file=lease):
        perf = rt.perfdhcp4(rate=rate, seconds=seconds, clients=16000000, tag="load")
        time.sleep(0.5)
        problems_logged = rt.sh(f"grep -E 'RUNSCRIPT_(TIMEOUT|SPAWN_FAILED|SCRIPT_FAILED|SCRIPT_SIGNALED|CALLOUT_ERROR)|"
                                f" (ERROR|FATAL) ' {log} | head -5", check=False).output.strip()
    stats = lease_file_stats(rt.read(lease))
    o.facts.update({"seconds": seconds, "rate": rate, "perfdhcp DISCOVERs": perf.get("DISCOVER-OFFER", "sent packets"),
                    "OFFERs": perf.offers, "REQUESTs": perf.requests, "ACKs": perf.acks,
                    "REQUEST-ACK drops": perf.get("REQUEST-ACK", "drops"),
                    "lease file": stats})
    if perf.acks < seconds * rate * 0.5:
        o.problems.append(f"only {perf.acks} ACKs in {seconds}s at rate {rate}: Kea did not sustain the load")
    # Every ACK is a lease write; ACKs that reached perfdhcp after its wait are leases that it
    # counted as drops (seen on a loaded machine): a write needs only a REQUEST behind it.
    if not perf.acks <= stats["lines"] <= perf.requests:
        o.problems.append(f"lease file has {stats['lines']} lease writes, perfdhcp received {perf.acks} ACKs "
                          f"for {perf.requests} REQUESTs")
    if stats["addresses"] != stats["hwaddrs"]:
        o.problems.append(f"{stats['addresses']} addresses for {stats['hwaddrs']} clients in the lease file")
    if problems_logged:
        o.problems.append(f"Kea logged: {problems_logged}")
    return o


# --------------------------------------------------------------------------------------------
# 10. reconfiguration under load


#: The launcher's launch memory (hook/launch_memory.h): one mapping per
#: script run in flight, kept for reuse up to 64 of them, made of [the Supervision page and
#: call area: 68 kB][guard page][script stack: 64 kB][guard page][supervisor stack: 64 kB].
#: How many are kept depends on the peak of concurrent runs since the last load, so a VmSize
#: read at one reload and at another differs by up to 64 of them without anything leaking.
#: tests/unit/test_reload_memory.py checks these sizes against launch_memory.cc.
LAUNCH_PAGE_KB = 4
LAUNCH_STACK_KB = 64
LAUNCH_CALL_AREA_KB = 64
#: How many launch mappings Kea may hold at a time: the launcher's kept pool (MAPPINGS_KEPT in
#: hook/launch_memory.cc) plus one per run in flight (max-async's default 64 asynchronous runs, one
#: synchronous run per Kea packet thread, 4 here). A mapping lost once per run or per reload
#: passes it within a few hundred runs or a few reloads.
LAUNCH_MAPPINGS_BOUND = 64 + 64 + 4
LAUNCH_MAPPING_KB = LAUNCH_PAGE_KB + LAUNCH_CALL_AREA_KB + LAUNCH_PAGE_KB + LAUNCH_STACK_KB + LAUNCH_PAGE_KB + LAUNCH_STACK_KB


def launch_mappings(maps: str, page_kb: int = LAUNCH_PAGE_KB) -> int:
    """How many of the launcher's launch mappings a /proc/<pid>/maps text holds. Adjacent
    anonymous mappings with the same permissions merge into one line, so a launch mapping is
    found by its guarded script stack: a guard page, exactly one stack of read-write memory,
    a guard page, then read-write memory (the supervisor stack, maybe merged with what
    follows), the first guard preceded by at least the Supervision page and call area (a
    thread stack's guard page right after a supervisor stack is not taken for one).
    ``page_kb``: the kernel's page size (guards and the Supervision page are one page each)."""
    regions = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or "-" not in fields[0]:
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        regions.append((start, end, fields[1], len(fields) > 5))  # named: a file or [stack] ...
    kb = lambda r: (r[1] - r[0]) // 1024
    count = 0
    for i in range(1, len(regions) - 3):
        before, guard1, stack, guard2, after = regions[i - 1:i + 4]
        chain = (before, guard1, stack, guard2, after)
        if any(r[3] for r in chain) or any(a[1] != b[0] for a, b in zip(chain, chain[1:])):
            continue
        if (guard1[2] == guard2[2] == "---p" and kb(guard1) == kb(guard2) == page_kb
                and stack[2] == "rw-p" and kb(stack) == LAUNCH_STACK_KB
                and after[2] == "rw-p" and kb(after) >= LAUNCH_STACK_KB
                and before[2] == "rw-p" and kb(before) >= page_kb + LAUNCH_CALL_AREA_KB):
            count += 1
    return count


def mapped_kb(maps: str) -> int:
    """The size of every mapping of a /proc/<pid>/maps text (kB): VmSize, read at the same
    instant as the mappings themselves (script runs start and end between two reads)."""
    total = 0
    for line in maps.splitlines():
        fields = line.split()
        if fields and "-" in fields[0]:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            total += (end - start) // 1024
    return total


def _memory(rt: Runtime, pid: int) -> dict:
    """Kea's VmSize / VmRSS (kB), its number of mappings, the launcher's launch mappings
    among them and the size of the rest ("VmSize less launch memory", from the same read of
    the mappings)."""
    r = rt.sh(f"grep -E '^(VmSize|VmRSS):' /proc/{pid}/status; cat /proc/{pid}/maps", check=False)
    out = {}
    maps = []
    for line in r.output.split("\n"):
        if line.startswith(("VmSize:", "VmRSS:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
        elif line.strip():
            maps.append(line)
    out["maps"] = len(maps)
    out["launch mappings"] = launch_mappings("\n".join(maps))
    out["VmSize less launch memory"] = mapped_kb("\n".join(maps)) - out["launch mappings"] * LAUNCH_MAPPING_KB
    return out


@timed
def reconfigure(rt: Runtime, reloads: int = 20, rate: int = 60, warmup: int = 5) -> Outcome:
    """Kea reloads its configuration (SIGHUP) ``reloads`` times under perfdhcp load, which
    unloads the library and loads it again each time: the unload and load scripts run each
    time, Kea keeps answering, no script or supervisor is left behind, and the hook's memory
    does not grow with the reloads (measured after ``warmup`` reloads and after the last)."""
    o = Outcome("reconfigure")
    rate = rt.rate(rate)
    m = _reconfigure_run(rt, reloads, rate, warmup, o)
    _judge_reloads(o, m, rt, rate)
    _judge_reload_memory(o, m, rt, rate, reloads, warmup)
    return o


def _reconfigure_run(rt: Runtime, reloads: int, rate: int, warmup: int, o: Outcome) -> dict:
    """The reloads under perfdhcp, and what was seen after them."""
    life, count = f"{C_RT_OUT}/reconf-life", f"{C_RT_OUT}/reconf-count"
    rt.sh(f"rm -f {life} {count}")
    lifecycle = rt.script("reconf-life.sh", f'#!/bin/sh\necho "$1" >> {life}\n')
    counter = rt.script("reconf-count.sh", f"#!/bin/sh\nprintf . >> {count}\n")
    parameters = {"scripts": [
        {"script": lifecycle, "wait": True, "hook-points": ["load", "unload"]},
        {"script": counter, "wait": False, "hook-points": ["pkt4_receive", "leases4_committed"]},
        {"script": counter, "wait": True, "hook-points": ["lease4_select"]}]}
    # Under qemu-user each reload of a multi-threaded Kea grows the emulator's own memory by
    # about 1 MB (its state of the threads Kea makes anew; measured with Kea's own
    # libdhcp_lease_cmds.so instead of this hook: 1.1 MB a reload), which would hide the hook's:
    # an emulated cell reloads a single-threaded Kea.
    text, log, _ = rt.config4("reconf", parameters, multi_threading=False if rt.emulated else MT4,
                              big_pool=True)
    loaded = "RUNSCRIPT_LOADED"
    seconds = int(reloads * 0.8) + 4
    with rt.kea4("reconf", text, log) as pid:
        perf: dict = {}
        load = threading.Thread(target=lambda: perf.update(
            p=rt.perfdhcp4(rate=rate, seconds=seconds, clients=1000000, tag="reconf")))
        load.start()
        memory = {}
        done = 0
        try:
            for i in range(1, reloads + 1):
                time.sleep(0.3)
                rt.sh(f"kill -HUP {pid}")
                deadline = time.monotonic() + 15
                while rt.count_in(log, loaded) < i + 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
                if rt.count_in(log, loaded) < i + 1:
                    o.problems.append(f"reload {i}: no {loaded} within 15 s")
                    break
                done = i
                if i in (warmup, reloads):
                    memory[i] = _memory(rt, pid)
        finally:
            load.join()
        time.sleep(1.5)  # the last asynchronous scripts end
        answer = rt.dora(MAC_ALLOWED)
        procs = rt.processes()
        below = rt.descendants(pid, procs)
        alive = any(p["pid"] == pid for p in procs)
        lines = rt.read(life).split()
        errors = rt.sh(f"grep -E ' (ERROR|FATAL) ' {log} | head -5", check=False).output.strip()
    return {"done": done, "memory": memory, "perf": perf.get("p"), "answer": answer, "below": below,
            "alive": alive, "lines": lines, "errors": errors, "runs": len(rt.read(count)), "seconds": seconds}


def _judge_reloads(o: Outcome, m: dict, rt: Runtime, rate: int) -> None:
    """Kea kept answering, load and unload ran once per reload, nothing was left behind."""
    done, lines, perf_result, answer, below = m["done"], m["lines"], m["perf"], m["answer"], m["below"]
    o.facts.update({"reloads": done, "rate": rate, "multi-threading": not rt.emulated,
                    "load runs": lines.count("load"),
                    "unload runs (before the stop)": lines.count("unload"),
                    "async + sync script runs": m["runs"],
                    "perfdhcp ACKs": perf_result.acks if perf_result else None,
                    "DORA after the reloads": answer.get("address"),
                    "processes below Kea after": below, "memory": m["memory"]})
    if not m["alive"]:
        o.problems.append("kea-dhcp4 is gone")
    if lines.count("load") != done + 1 or lines.count("unload") != done:
        o.problems.append(f"{done} reloads, but load ran {lines.count('load')} and unload "
                          f"{lines.count('unload')} times")
    if not answer.get("address"):
        o.problems.append("no lease for a client after the reloads")
    # A floor that tells "kept answering" from an outage (a hung reload answers nearly nothing),
    # not a throughput target (those are benchmarks): an emulated Kea answers a few DORAs a
    # second at best while it reloads (28 of 60 seen), and a real one on a CI machine running
    # three cells at once on 2 cores answered 599 of 1200 (1100-1150 when alone).
    if perf_result is None or perf_result.acks < rate * m["seconds"] * 0.25:
        o.problems.append("Kea did not keep answering perfdhcp during the reloads")
    if below:
        o.problems.append(f"left below Kea after the reloads: {below[:5]}")
    if m["errors"]:
        o.problems.append(f"Kea logged errors: {m['errors']}")


def _judge_reload_memory(o: Outcome, m: dict, rt: Runtime, rate: int, reloads: int, warmup: int) -> None:
    """Launch memory stays within its pool; Kea's memory does not grow with the reloads."""
    memory, done, seconds = m["memory"], m["done"], m["seconds"]
    for i, sample in sorted(memory.items()):
        if sample["launch mappings"] > LAUNCH_MAPPINGS_BOUND:
            o.problems.append(f"after reload {i}: {sample['launch mappings']} launch mappings in Kea, more than "
                              f"{LAUNCH_MAPPINGS_BOUND} (kept pool + runs in flight): launch memory lost")
    if warmup in memory and reloads in memory and done == reloads:
        grown = memory[reloads]["VmSize less launch memory"] - memory[warmup]["VmSize less launch memory"]
        per_reload = grown / (reloads - warmup)
        o.facts["VmSize growth per reload (kB)"] = round(per_reload, 1)
        # Kea keeps the library mapped across a reload (it opens the new configuration's
        # libraries before closing the old), so this catches growth of what each load creates;
        # the launcher's own mappings are checked by test_launch_memory_is_freed_when_the_launcher_stops.
        allowed = RELOAD_GROWTH_KB
        if rt.emulated:
            # qemu-user never frees what it keeps per guest thread (about 280 kB; a static
            # arm64 program making 200 threads one after the other grew 100 MB under qemu-user,
            # one making 200 vforks nothing), and each load of this hook starts its reaper
            # thread: side by side, the same reloads and traffic with Kea's own lease_cmds hook
            # and one Kea packet thread (made anew at each reload) are the comparison.
            control = _reload_growth_control(rt, rate, seconds, reloads, warmup)
            o.facts["VmSize growth per reload with Kea's lease_cmds hook instead (kB)"] = control
            # The emulator's own per-thread memory varies from run to run: 286-371 kB a reload
            # with this hook against 295-298 with Kea's, so the margin there is 4 x 64 kB (a leak
            # of the hook's own would be per reload on top, as on amd64).
            allowed = 4 * RELOAD_GROWTH_KB + max(0.0, control or 0.0)
        o.facts["VmSize growth allowed per reload (kB)"] = round(allowed, 1)
        if per_reload > allowed:
            o.problems.append(f"Kea's VmSize grew {per_reload:.0f} kB per reload "
                              f"(over {allowed:.0f} kB)")


def _reload_growth_control(rt: Runtime, rate: int, seconds: int, reloads: int,
                           warmup: int) -> Optional[float]:
    """VmSize growth per reload (kB) of kea-dhcp4 with Kea's own libdhcp_lease_cmds.so in place
    of this hook and one packet thread (one thread made per reload, as the hook's reaper), under
    the same perfdhcp load and reloads; None if it could not be measured."""
    library = f"{rt.cell.hooks_dir}/libdhcp_lease_cmds.so"
    one_thread = {"enable-multi-threading": True, "thread-pool-size": 1, "packet-queue-size": 16}
    text, log, _ = rt.config4("reconf-control", {}, multi_threading=one_thread, big_pool=True,
                              extra={"hooks-libraries": [{"library": library}]})
    memory = {}
    with rt.kea4("reconf-control", text, log) as pid:
        load = threading.Thread(target=lambda: rt.perfdhcp4(rate=rate, seconds=seconds, clients=1000000,
                                                            tag="reconf-control"))
        load.start()
        try:
            for i in range(1, reloads + 1):
                time.sleep(0.3)
                before = rt.count_in(log, "DHCP4_CONFIG_COMPLETE")
                rt.sh(f"kill -HUP {pid}")
                deadline = time.monotonic() + 15
                while rt.count_in(log, "DHCP4_CONFIG_COMPLETE") <= before and time.monotonic() < deadline:
                    time.sleep(0.1)
                if i in (warmup, reloads):
                    memory[i] = _memory(rt, pid)
        finally:
            load.join()
    if warmup not in memory or reloads not in memory:
        return None
    return round((memory[reloads]["VmSize less launch memory"] - memory[warmup]["VmSize less launch memory"])
                 / (reloads - warmup), 1)
