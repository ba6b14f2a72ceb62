"""Scenario 16: stop and reload while endless asynchronous scripts run."""

from __future__ import annotations

import re
import time
from typing import List, Optional

from .bounds import TEARDOWN_BOUND_S
from .runtime import MT4, Outcome, Runtime, timed



# --------------------------------------------------------------------------------------------
# 16. stop and reload while endless asynchronous scripts run


#: How long the scenario itself waits for Kea before it gives up (and kills Kea by PID).
TEARDOWN_CAP_S = 20


def _endless(procs: List[dict]) -> List[dict]:
    """The teardown scenario's scripts: `sleep 300` and the chatty `yes`."""
    return [p for p in procs if p["cmdline"][:2] == ["sleep", "300"] or p["comm"] == "yes"]


def signal_and_time(rt: Runtime, pid: int, sig: str, until: str, log: str, facts: dict) -> Optional[float]:
    """Sends ``sig`` to ``pid`` and returns the seconds until the shell condition ``until``
    held (measured in the container, polled every 50 ms), None after TEARDOWN_CAP_S; then
    ``facts["SIG<sig>: Kea at the cap"]`` says what Kea was doing (:func:`stuck_state`)."""
    # ``until`` is evaluated once per round and its first success is the answer: evaluated
    # again it may fail (a zombie Kea reaped between the two reads of gone's condition).
    r = rt.sh(f"""t0=$(date +%s%N); kill -{sig} {pid}
        i=0; held=0
        while [ $i -lt {TEARDOWN_CAP_S * 20} ]; do
            if ( {until} ); then held=1; break; fi
            sleep 0.05; i=$((i+1))
        done
        t1=$(date +%s%N); [ $held = 1 ] && echo "ms=$(( (t1 - t0) / 1000000 ))" || echo timeout""", check=False)
    m = re.search(r"ms=(\d+)", r.output)
    if not m:
        facts[f"SIG{sig}: Kea at the cap"] = stuck_state(rt, pid, log)
        return None
    return int(m.group(1)) / 1000


def stuck_state(rt: Runtime, pid: int, log: str) -> dict:
    """What a Kea that missed its stop or reload bound was doing, for the report: each
    thread's name and state (/proc/<pid>/task/*/stat) and the last lines of its log."""
    threads = rt.sh(f"for t in /proc/{pid}/task/*; do echo \"$(cat $t/comm 2>/dev/null) "
                    f"$(cut -d' ' -f3 $t/stat 2>/dev/null)\"; done | sort | uniq -c", check=False).output
    tail = rt.sh(f"tail -n 12 {log}", check=False).output
    return {"threads (count, name, state)": " | ".join(" ".join(x.split()) for x in threads.splitlines()),
            "log tail": [ln[:300] for ln in tail.splitlines()]}


def gone(pid: int) -> str:
    """Shell condition: `pid` has exited (gone, or a zombie its new parent has not reaped).
    One read of its state: no state (reaped, even between a test of the directory and the
    read) counts as gone."""
    return f"s=$(cut -d' ' -f3 /proc/{pid}/stat 2>/dev/null); [ -z \"$s\" ] || [ \"$s\" = Z ]"


def _still_alive(before: List[dict], procs: List[dict]) -> List[dict]:
    """The processes of ``before`` that still run (same pid and command line, not a zombie)."""
    now = {(p["pid"], tuple(p["cmdline"])): p for p in procs if p["state"] != "Z"}
    return [now[k] for k in ((p["pid"], tuple(p["cmdline"])) for p in before) if k in now]


@timed
def teardown(rt: Runtime, mt: bool = False, parameters: Optional[dict] = None,
             bound_s: float = TEARDOWN_BOUND_S, clients: int = 4) -> Outcome:
    """Endless asynchronous scripts: `sleep 300` (timeout 600 s) at pkt4_receive, started 8
    times by 4 DORAs, and from the load on a `sleep 300` with ``timeout: 0`` and a chatty
    ``exec yes`` with capture-output. SIGHUP: RUNSCRIPT_LOADED of the new configuration within
    ``bound_s`` and a DORA answered right after; the old scripts are gone. Then, with the
    same scripts running again, SIGTERM: kea-dhcp4 exits within ``bound_s`` and nothing it
    started is left. ``parameters``: added to the hook's (e.g. a drain time)."""
    return Teardown(rt, mt, parameters, bound_s, clients).run()


class Teardown:
    """One run of :func:`teardown`: the configuration, a reload and a stop."""

    LOADED = "RUNSCRIPT_LOADED"

    def __init__(self, rt: Runtime, mt: bool, parameters: Optional[dict], bound_s: float, clients: int):
        self.rt, self.bound_s, self.clients = rt, bound_s, clients
        self.o = Outcome(f"teardown-mt-{'on' if mt else 'off'}" + (
            "-" + "-".join(f"{k}-{v}" for k, v in parameters.items()) if parameters else ""))
        self.tag = self.o.name.replace("teardown", "td").replace(".", "")
        sleeper = rt.script("td-sleep.sh", "#!/bin/sh\n# sleep is the shell's child: the whole group must go\n"
                                           "sleep 300\n")
        chatty = rt.script("td-yes.sh", "#!/bin/sh\nexec yes\n")
        params = dict(parameters or {})
        params["scripts"] = [
            {"script": sleeper, "wait": False, "timeout": 600, "hook-points": ["pkt4_receive"]},
            {"script": sleeper, "wait": False, "timeout": 0, "hook-points": ["load"]},
            {"script": chatty, "wait": False, "timeout": 600, "capture-output": True, "hook-points": ["load"]},
        ]
        self.text, self.log, _ = rt.config4(self.tag, params, multi_threading=MT4 if mt else False)
        self.started: List[dict] = []  # everything below Kea at some point: killed by PID at the end

    def run(self) -> Outcome:
        rt, o = self.rt, self.o
        if _endless(rt.processes()):
            o.problems.append(f"endless scripts were already running before the scenario: "
                              f"{_endless(rt.processes())[:3]}")
        try:
            with rt.kea4(self.tag, self.text, self.log) as pid:
                if self.reload(pid):
                    self.stop(pid)
                else:
                    rt.sh(f"kill -KILL {pid}", check=False)  # it hangs in the reload
            if "SIGTERM -> kea-dhcp4 gone (s)" not in o.facts:
                # the stop still has to be measured, with a Kea that did not go through a reload
                for p in _still_alive(self.started, rt.processes()):
                    rt.sh(f"kill -KILL {p['pid']}", check=False)
                with rt.kea4(self.tag + "-stop", self.text, self.log) as pid:
                    self.stop(pid)
        finally:
            # what a failing hook left behind must not disturb the next scenario
            for p in _still_alive(self.started, rt.processes()):
                rt.sh(f"kill -KILL {p['pid']}", check=False)
        return o

    def start_scripts(self, pid: int, round_: str, macs: List[str]) -> List[dict]:
        rt, o = self.rt, self.o
        for mac in macs:
            if not rt.dora(mac).get("address"):
                o.problems.append(f"{round_}: no lease for {mac}")
        time.sleep(0.3)
        below = rt.descendants(pid, rt.processes())
        self.started.extend(below)
        o.facts[f"{round_}: scripts running (sleep 300, yes)"] = len(_endless(below))
        if len(_endless(below)) < 2 * self.clients + 2:
            o.problems.append(f"{round_}: {len(_endless(below))} endless scripts running, "
                              f"expected {2 * self.clients + 2}")
        return below

    def reload(self, pid: int) -> bool:
        """SIGHUP; False when Kea did not finish the reload within TEARDOWN_CAP_S."""
        rt, o, log, loaded = self.rt, self.o, self.log, self.LOADED
        before = self.start_scripts(pid, "before SIGHUP", [f"02:00:00:00:d0:{i + 1:02x}" for i in range(self.clients)])
        n_loaded = rt.count_in(log, loaded)
        secs = signal_and_time(rt, pid, "HUP", f"[ $(grep -c {loaded} {log}) -gt {n_loaded} ]", log, o.facts)
        o.facts["SIGHUP -> RUNSCRIPT_LOADED (s)"] = secs
        if secs is None or secs > self.bound_s:
            o.problems.append(f"SIGHUP: no new {loaded} within {self.bound_s} s "
                              f"({'none within ' + str(TEARDOWN_CAP_S) + ' s' if secs is None else f'{secs} s'})")
        ack = rt.dora("02:00:00:00:d1:01")
        o.facts["DORA right after the reload"] = ack.get("address")
        if not ack.get("address"):
            o.problems.append("no lease for a client right after the reload")
        old = _still_alive(_endless(before), rt.processes())
        o.facts["old scripts alive after the reload"] = len(old)
        if old:
            o.problems.append(f"{len(old)} scripts of the old configuration still run after the reload: {old[:3]}")
        return secs is not None

    def stop(self, pid: int) -> None:
        rt, o = self.rt, self.o
        below = self.start_scripts(pid, "before SIGTERM", [f"02:00:00:00:d2:{i + 1:02x}" for i in range(self.clients)])
        secs = signal_and_time(rt, pid, "TERM", gone(pid), self.log, o.facts)
        o.facts["SIGTERM -> kea-dhcp4 gone (s)"] = secs
        if secs is None or secs > self.bound_s:
            o.problems.append(f"SIGTERM: kea-dhcp4 still there {self.bound_s} s after the signal "
                              f"({'after ' + str(TEARDOWN_CAP_S) + ' s too' if secs is None else f'gone after {secs} s'})")
        time.sleep(0.2)
        left = _still_alive(below, rt.processes())
        o.facts["left after the stop"] = left
        if left:
            o.problems.append(f"{len(left)} processes Kea started outlived it: {left[:4]}")
