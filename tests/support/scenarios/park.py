"""Scenario 25: parked queries (``park: true``), in one kea-dhcp4 per multi-threading mode.

Two entries of ``scripts`` park at leases4_committed, each acting on its own clients and exiting
0 at once for the others: ``exec`` (park.sh) and ``handler`` (park-handler.py, persistent), both
with ``exit-codes {"3": "drop"}``, ``on-failure: drop`` and a timeout of TIMEOUT_S. Phases:

answer after the end  a client whose script (and one whose handler) sleeps SLOW_S gets its ACK,
                      and the capture's timestamp of that ACK (client.py) comes after the
                      timestamp the script / handler wrote just before it answered.
no thread blocked     while the slow script runs, another client gets its ACK before it has
                      ended: Kea goes on answering (with multi-threading off too, where a
                      synchronous script would hold Kea's only thread). (A handler's worker
                      takes its records in order: there the next record waits by design.)
exit code drops       the script / handler answers 3 for a client: no ACK, RUNSCRIPT_EXIT_ACTION.
timeout               the script / handler hangs: no ACK; the script's group is killed
                      (RUNSCRIPT_ASYNC_TIMEOUT), the handler is killed and restarted
                      (RUNSCRIPT_HANDLER_TIMEOUT), the next client is served.
handler killed        the handler is killed (SIGKILL) while it holds a parked query: that client
                      gets no ACK (on-failure), the handler is restarted, the next is served.
reload                SIGHUP while two queries are parked on hanging runs: the library reloads
                      (RUNSCRIPT_LOADED) within drain + allowance, nothing of the old
                      configuration runs after it, every query parked before it was resumed
                      or found gone (RUNSCRIPT_PARK_RESUMED / _LOST, one each), and a client is
                      served after.
"""

from __future__ import annotations

import threading
import time
from typing import Dict

from kea_runscript.verify import smoke, testnet

from .bounds import DEADLINE_ALLOWANCE_S
from .runtime import C_RT_OUT, MT4, Outcome, Runtime, timed
from .teardown import signal_and_time

DRAIN_S = 1

MAC_E_SLOW = "02:00:00:00:25:01"
MAC_E_DROP = "02:00:00:00:25:02"
MAC_E_HANG = "02:00:00:00:25:03"
MAC_H_SLOW = "02:00:00:00:25:11"
MAC_H_DROP = "02:00:00:00:25:12"
MAC_H_HANG = "02:00:00:00:25:13"
MAC_H_KILL = "02:00:00:00:25:14"
MAC_OK = "02:00:00:00:25:20"
MAC_OTHER = "02:00:00:00:25:21"
MAC_AFTER = "02:00:00:00:25:22"
MAC_AFTER_RELOAD = "02:00:00:00:25:23"

MAC6_SLOW = "02:00:00:00:25:31"
MAC6_DROP = "02:00:00:00:25:32"
MAC6_OK = "02:00:00:00:25:33"

PHASES = ("answer after the end", "no thread blocked", "exit code drops", "timeout",
          "handler killed", "reload", "DHCPv6")


def _exec_script(out: str, slow_s: int) -> str:
    return f"""#!/bin/sh
[ "$1" = leases4_committed ] || exit 0
case "$KEA_QUERY4_HWADDR" in
{MAC_E_SLOW}) date +%s.%N > {out}/park-exec-start; sleep {slow_s}; date +%s.%N > {out}/park-exec-end; exit 0 ;;
{MAC_E_DROP}) exit 3 ;;
{MAC_E_HANG}) echo $$ > {out}/park-exec-hang.pid; exec sleep 300 ;;
esac
exit 0
"""


def _exec_script6(out: str, slow_s: int) -> str:
    return f"""#!/bin/sh
[ "$1" = leases6_committed ] || exit 0
case "$KEA_QUERY6_DUID" in
*{MAC6_SLOW}) sleep {slow_s}; date +%s.%N > {out}/park-v6-end; exit 0 ;;
*{MAC6_DROP}) exit 3 ;;
esac
exit 0
"""


def _handler(out: str, slow_s: int) -> str:
    return f"""#!/usr/bin/python3
import os, sys, time
buf = b""
def mac(record):
    for field in record.split(b"\\0")[1:]:
        if field.startswith(b"KEA_QUERY4_HWADDR="):
            return field.split(b"=", 1)[1].decode()
    return ""
while True:
    chunk = sys.stdin.buffer.read1(65536)
    if not chunk:
        break
    *records, buf = (buf + chunk).split(b"\\0\\0")
    for record in records:
        m, code = mac(record), 0
        if m == "{MAC_H_SLOW}":
            open("{out}/park-handler-start", "w").write("%.9f" % time.time())
            time.sleep({slow_s})
            open("{out}/park-handler-end", "w").write("%.9f" % time.time())
        elif m == "{MAC_H_DROP}":
            code = 3
        elif m == "{MAC_H_HANG}":
            open("{out}/park-handler-hang.pid", "w").write(str(os.getpid()))
            time.sleep(300)
        elif m == "{MAC_H_KILL}":
            os.kill(os.getpid(), 9)
        sys.stdout.write("exit %d\\n" % code)
        sys.stdout.flush()
"""


class Park:
    def __init__(self, rt: Runtime, mt: bool):
        self.rt, self.mt = rt, mt
        self.o = Outcome(f"park-{'mt' if mt else 'st'}")
        # an emulated Kea answers a DORA in about a second: the slow run outlasts several
        self.slow_s = 10 if rt.emulated else 3
        self.timeout_s = self.slow_s + (4 if rt.emulated else 3)
        self.tag = self.o.name
        out = C_RT_OUT
        self.out = out
        rt.sh(f"rm -f {out}/park-*")
        exec_path = rt.script("park.sh", _exec_script(out, self.slow_s))
        handler_path = rt.script("park-handler.py", _handler(out, self.slow_s))
        common = {"hook-points": ["leases4_committed"], "park": True, "exit-codes": {"3": "drop"},
                  "on-failure": "drop", "timeout": self.timeout_s}
        params = {"drain-timeout": DRAIN_S,
                  "scripts": [dict(common, script=exec_path),
                              dict(common, script=handler_path, persistent=True)]}
        # the hook's own messages, debug level included, go to a file of their own
        self.hook_log = f"{testnet.C_LOGS}/rt-{self.tag}-hook.log"
        self.text, self.log, _ = rt.config4(self.tag, params, multi_threading=MT4 if mt else False,
                                            hook_debug_log=self.hook_log)

    def problem(self, phase: str, text: str) -> None:
        self.o.problems.append(f"{phase}: {text}")

    def read_time(self, name: str):
        text = self.rt.read(f"{self.out}/{name}").strip()
        try:
            return float(text)
        except ValueError:
            return None

    def run(self) -> Outcome:
        rt, o = self.rt, self.o
        o.facts["multi-threading"] = self.mt
        with rt.kea4(self.tag, self.text, self.log) as pid:
            control = rt.dora(MAC_OK)
            o.facts["control lease"] = control.get("address")
            if not control.get("address"):
                self.problem("answer after the end", f"{MAC_OK} (both answer 0 at once) got no lease")
            self.slow_client("exec", MAC_E_SLOW, other_mac=MAC_OTHER)
            # a handler's worker takes its records in order: another client's record waits
            # behind the slow one there, so only the answer's time is checked
            self.slow_client("handler", MAC_H_SLOW, other_mac=None)
            self.drops()
            self.handler_killed()
            self.reload(pid)
        self.dhcpv6()
        return o

    def dhcpv6(self) -> None:
        """kea-dhcp6 with an exec script parked at leases6_committed: the REPLY comes after the
        run's end (the kernel's receive time of it), exit 3 drops, another client is served."""
        rt, o = self.rt, self.o
        script = rt.script("park6.sh", _exec_script6(self.out, self.slow_s))
        params = {"script": script, "hook-points": ["leases6_committed"], "park": True,
                  "exit-codes": {"3": "drop"}, "on-failure": "drop", "timeout": self.timeout_s}
        log = f"{testnet.C_LOGS}/rt-{self.tag}-dhcp6.log"
        text = smoke.kea_config(rt.cell, 6, params, multi_threading=self.mt, log_file=log)
        pid = rt.tn.start_kea(6, text, f"rt-{self.tag}", log)
        try:
            slow = rt.tn.client("v6", "sarr", "--duid-mac", MAC6_SLOW, "--timeout",
                                str(self.slow_s + 6), check=False)
            dropped = rt.tn.client("v6", "sarr", "--duid-mac", MAC6_DROP, "--timeout", "3", check=False)
            ok = rt.tn.client("v6", "sarr", "--duid-mac", MAC6_OK, check=False)
        finally:
            rt.tn.stop(pid)
            rt.tn.keep(log, f"rt-{self.tag}-kea-dhcp6.log")
        end = self.read_time("park-v6-end")
        o.facts["DHCPv6: slow run ended at"] = end
        o.facts["DHCPv6: its REPLY received at"] = slow.get("reply_captured_at")
        o.facts["DHCPv6: dropped client's address"] = (dropped.get("na") or {}).get("address")
        o.facts["DHCPv6: other client's address"] = (ok.get("na") or {}).get("address")
        if not slow.get("reply_captured_at") or end is None:
            self.problem("DHCPv6", f"{MAC6_SLOW} got no REPLY ({slow}) or the run wrote no end time ({end})")
        elif slow["reply_captured_at"] <= end:
            self.problem("DHCPv6", f"the REPLY ({slow['reply_captured_at']:.3f}) came before the run "
                         f"ended ({end:.3f})")
        if dropped:
            self.problem("DHCPv6", f"{MAC6_DROP} (script exits 3) got a REPLY: {dropped}")
        if not (ok.get("na") or {}).get("address"):
            self.problem("DHCPv6", f"{MAC6_OK} got no address")

    def slow_client(self, who: str, mac: str, other_mac) -> None:
        rt, o = self.rt, self.o
        result: Dict[str, dict] = {}
        t = threading.Thread(target=lambda: result.update(slow=rt.tn.client(
            "v4", "dora", "--mac", mac, "--timeout", str(self.slow_s + 6), check=False)))
        t.start()
        start_file = f"park-{who}-start"
        deadline = time.monotonic() + 30
        while self.read_time(start_file) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        other = rt.dora(other_mac) if other_mac else None
        t.join()
        slow = result.get("slow") or {}
        end = self.read_time(f"park-{who}-end")
        o.facts[f"{who}: slow run ended at"] = end
        o.facts[f"{who}: its ACK captured at"] = slow.get("ack_captured_at")
        if not slow.get("address") or end is None:
            self.problem("answer after the end", f"{who}: {mac} got no lease ({slow}) or the run "
                         f"wrote no end time ({end})")
        elif slow["ack_captured_at"] <= end:
            self.problem("answer after the end", f"{who}: the ACK ({slow['ack_captured_at']:.3f}) came "
                         f"before the run ended ({end:.3f})")
        if other is None:
            return
        o.facts[f"{who}: other client's ACK captured at"] = other.get("ack_captured_at")
        if not other.get("address"):
            self.problem("no thread blocked", f"{who}: {MAC_OTHER} got no lease while {mac} was parked")
        elif end is not None and other["ack_captured_at"] >= end:
            self.problem("no thread blocked", f"{who}: {MAC_OTHER}'s ACK ({other['ack_captured_at']:.3f}) "
                         f"waited for the parked run's end ({end:.3f})")

    def no_lease(self, phase: str, mac: str, why: str) -> None:
        ack = self.rt.dora(mac, "--timeout", "3")
        self.o.facts[f"{phase}: {mac} lease"] = ack.get("address")
        if ack.get("address"):
            self.problem(phase, f"{mac} ({why}) got a lease: {ack.get('address')}")

    def no_leases(self, phase: str, clients) -> None:
        """no_lease for each (mac, why) at once: the clients' waits overlap."""
        threads = [threading.Thread(target=self.no_lease, args=(phase, mac, why)) for mac, why in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def drops(self) -> None:
        rt, o = self.rt, self.o
        self.no_leases("exit code drops", ((MAC_E_DROP, "script exits 3"), (MAC_H_DROP, "handler replies exit 3")))
        actions = rt.count_in(self.hook_log, "RUNSCRIPT_EXIT_ACTION")
        o.facts["RUNSCRIPT_EXIT_ACTION lines"] = actions
        if actions < 2:
            self.problem("exit code drops", f"{actions} RUNSCRIPT_EXIT_ACTION lines, expected 2")
        self.no_leases("timeout", ((MAC_E_HANG, "script hangs"), (MAC_H_HANG, "handler hangs")))
        # both runs started before the clients gave up: their timeouts have passed by then
        # (with the allowance), and both were killed; the wait ends once both are logged
        timeouts = ("RUNSCRIPT_ASYNC_TIMEOUT", "RUNSCRIPT_HANDLER_TIMEOUT")
        deadline = time.monotonic() + self.timeout_s + DEADLINE_ALLOWANCE_S
        while time.monotonic() < deadline and not all(rt.count_in(self.hook_log, m) for m in timeouts):
            time.sleep(0.2)
        time.sleep(0.3)  # the kill's end (the log line comes first)
        for message in timeouts:
            n = rt.count_in(self.hook_log, message)
            o.facts[f"{message} lines"] = n
            if n < 1:
                self.problem("timeout", f"no {message} in Kea's log")
        for name in ("park-exec-hang.pid", "park-handler-hang.pid"):
            pid = rt.read(f"{self.out}/{name}").strip()
            if pid and rt.exists(f"/proc/{pid}") and "Z" not in rt.sh(f"cat /proc/{pid}/stat", check=False).output.split()[2:3]:
                self.problem("timeout", f"the hung run ({name}: {pid}) still runs after its timeout")
        after = rt.dora(MAC_AFTER)
        o.facts["timeout: next client's lease"] = after.get("address")
        if not after.get("address"):
            self.problem("timeout", f"{MAC_AFTER} got no lease after the timeouts")

    def handler_killed(self) -> None:
        rt, o = self.rt, self.o
        exited = rt.count_in(self.hook_log, "RUNSCRIPT_HANDLER_EXITED")
        self.no_lease("handler killed", MAC_H_KILL, "handler killed mid-run")
        n = rt.count_in(self.hook_log, "RUNSCRIPT_HANDLER_EXITED") - exited
        o.facts["handler killed: RUNSCRIPT_HANDLER_EXITED lines"] = n
        if n < 1:
            self.problem("handler killed", "no RUNSCRIPT_HANDLER_EXITED for the killed handler")
        after = rt.dora(MAC_OK)
        o.facts["handler killed: next client's lease"] = after.get("address")
        if not after.get("address"):
            self.problem("handler killed", f"{MAC_OK} got no lease after the handler was killed")

    def reload(self, pid: int) -> None:
        rt, o = self.rt, self.o
        rt.sh(f"rm -f {self.out}/park-*-hang.pid")
        parked_before = rt.count_in(self.hook_log, "RUNSCRIPT_PARK_RESUMED|RUNSCRIPT_PARK_LOST")
        clients = [threading.Thread(target=lambda m=m: rt.tn.client(
            "v4", "dora", "--mac", m, "--timeout", "3", check=False)) for m in (MAC_E_HANG, MAC_H_HANG)]
        for t in clients:
            t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (rt.exists(f"{self.out}/park-exec-hang.pid")
                                                  and rt.exists(f"{self.out}/park-handler-hang.pid")):
            time.sleep(0.1)
        hung = [rt.read(f"{self.out}/{n}").strip() for n in ("park-exec-hang.pid", "park-handler-hang.pid")]
        o.facts["reload: parked runs (pids)"] = hung
        loaded = rt.count_in(self.hook_log, "RUNSCRIPT_LOADED")
        bound = DRAIN_S + DEADLINE_ALLOWANCE_S + (4 if rt.emulated else 0)
        secs = signal_and_time(rt, pid, "HUP", f"[ $(grep -c RUNSCRIPT_LOADED {self.hook_log}) -gt {loaded} ]",
                               self.log, o.facts)
        for t in clients:
            t.join()
        o.facts["reload: SIGHUP -> RUNSCRIPT_LOADED (s)"] = secs
        if secs is None or secs > bound:
            self.problem("reload", f"no new RUNSCRIPT_LOADED within {bound} s ({secs})")
        time.sleep(0.3)
        alive = [p for p in hung if p and rt.exists(f"/proc/{p}")]
        if alive:
            self.problem("reload", f"runs of the old configuration still there after the reload: {alive}")
        resumed = rt.count_in(self.hook_log, "RUNSCRIPT_PARK_RESUMED|RUNSCRIPT_PARK_LOST") - parked_before
        o.facts["reload: parked queries resumed or found gone"] = resumed
        if resumed != 2:
            self.problem("reload", f"{resumed} RUNSCRIPT_PARK_RESUMED/_LOST lines for the 2 queries parked "
                         f"at the reload (none may be left behind)")
        after = rt.dora(MAC_AFTER_RELOAD)
        o.facts["reload: next client's lease"] = after.get("address")
        if not after.get("address"):
            self.problem("reload", f"{MAC_AFTER_RELOAD} got no lease after the reload")


@timed
def park(rt: Runtime, mt: bool = False) -> Outcome:
    """``park: true`` at leases4_committed, exec and handler (module docstring)."""
    return Park(rt, mt).run()


def park_phase_problems(o: Outcome, phase: str) -> list:
    """The problems of one phase of :func:`park` (each starts with its name)."""
    assert phase in PHASES, phase
    return [p for p in o.problems if p.startswith(phase + ":")]

