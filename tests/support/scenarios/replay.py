"""Scenario 26: the lease replay (``replay: true``), kea-dhcp4 and kea-dhcp6 with lease files.

Four entries of ``scripts`` ask for the replay: an exec recorder (asynchronous runs whose ends
are counted), a synchronous handler (its round trips on the replay's thread), an asynchronous
one (its queue the bound) and a parking one (``park: true`` at leases4/6_committed: its events
posted and answered as a parked query's records, their ends counted), each writing what it got to a file of its own; with
kea-dhcp4 a fourth, a handler that exits at once and never runs, whose events must fail (one
wait for it) without holding the others up. Phases:

first start   Kea starts with an empty lease file: RUNSCRIPT_REPLAY_DONE with 0 leases, no event.
restart       clients take leases (one sends option 12 with hostile bytes), one releases its
              lease; Kea is stopped and started again on the same lease file: each entry gets
              exactly one ``lease4_replay`` event per active lease and none for the released
              one; the variables are exactly the catalogue's for lease4_replay, the address,
              MAC and hostname (byte for byte) those of the client; the handlers' records are
              the exec script's environment.
reload        SIGHUP keeps the lease database: RUNSCRIPT_REPLAY_SKIPPED, no event.
stop          with ``replay-rate: 1`` Kea is stopped during the replay: it exits within the
              drain, RUNSCRIPT_REPLAY_STOPPED, no event after.
DHCPv6        kea-dhcp6 restarted on its lease file: one ``lease6_replay`` per lease, an
              address (IA_NA) and a prefix (IA_PD) with their variables.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import Dict, List

from kea_runscript.model import catalogue
from kea_runscript.verify import checks, smoke, testnet

from .bounds import DEADLINE_ALLOWANCE_S
from .runtime import C_RT_OUT, LEASE_DIR, MT4, Outcome, Runtime, timed

PHASES = ("first start", "restart", "reload", "stop", "DHCPv6")

DRAIN_S = 1
# Option 12 as a client may send it: shell syntax, quotes, '=', a tab, non-UTF-8 bytes. (Not
# a newline or a comma: Kea's lease file cannot keep those, so no lease would be replayed.)
HOSTNAME_BYTES = b"r$(touch /tmp/pwned);`id`\t'\"x=y\xff\xfe"
MAC_HOSTILE = "02:00:00:00:26:01"
MAC_PLAIN = "02:00:00:00:26:02"
MAC_RELEASED = "02:00:00:00:26:03"
MAC_EXPIRED = "02:00:00:00:26:04"
MAC_DECLINED = "02:00:00:00:26:05"
MAC6 = "02:00:00:00:26:11"
ENTRIES = ("exec", "handler-sync", "handler-async", "handler-park")


class Replay:
    def __init__(self, rt: Runtime):
        self.rt = rt
        self.o = Outcome("replay")
        self.tag = "rpl"
        self.start_s = 60.0 if rt.emulated else 20.0
        self.records = {who: f"{C_RT_OUT}/rpl-{who}.jsonl" for who in ENTRIES}
        self.lease_file = f"{LEASE_DIR}/rt-{self.tag}-leases4.csv"
        self.lease_file6 = f"{LEASE_DIR}/rt-{self.tag}-leases6.csv"
        rt.sh(f"rm -f {C_RT_OUT}/rpl-* {self.lease_file}* {self.lease_file6}*")
        handler = f"{testnet.C_TOOLS}/handler_recorder.py"
        # the recorders are run at lease4_release / lease6_release too: nothing else at run time
        self.entries = [
            {"script": testnet.RECORDER, "wait": False},
            {"script": handler, "persistent": True, "wait": True, "timeout": 10},
            {"script": handler, "persistent": True, "wait": False},
            # its replay events are posted and answered as a parked query's records are
            {"script": handler, "persistent": True, "park": True, "timeout": 10,
             "hook-points": ["leases4_committed", "leases6_committed"]},
        ]
        for entry, who in zip(self.entries, ENTRIES):
            entry.setdefault("hook-points", ["lease4_release", "lease6_release"])
            entry.update({"replay": True, "environment": {"SMOKE_RECORD": self.records[who]}})
        # a handler that exits at once, never running (DHCPv4 only): its events fail after one
        # wait for it, and the others' replay is not held up
        broken = rt.script("rpl-broken.sh", "#!/bin/sh\nexit 7\n")
        self.broken = {"script": broken, "persistent": True, "wait": True, "replay": True,
                       "timeout": 1, "hook-points": ["lease4_release"]}

    def problem(self, phase: str, text: str) -> None:
        self.o.problems.append(f"{phase}: {text}")

    def config(self, family: int, name: str, rate: int = 1000, mt=None) -> tuple:
        log = f"{testnet.C_LOGS}/rt-{self.tag}-{name}.log"
        params = {"drain-timeout": DRAIN_S, "replay-rate": rate,
                  "scripts": self.entries + ([self.broken] if family == 4 else [])}
        flag = mt if isinstance(mt, (bool, type(None))) else True
        cfg = json.loads(smoke.kea_config(self.rt.cell, family, params, multi_threading=flag, log_file=log))
        d = cfg[f"Dhcp{family}"]
        if isinstance(mt, dict):
            d["multi-threading"] = dict(mt)
        d["lease-database"] = {"type": "memfile", "persist": True, "lfc-interval": 0,
                               "name": self.lease_file if family == 4 else self.lease_file6}
        # the smoke's seconds-long lifetimes would expire the leases between the runs
        d.update({"valid-lifetime": 3600, "renew-timer": 900, "rebind-timer": 1800})
        if family == 6:
            d["preferred-lifetime"] = 2700
        if family == 4:  # the client's option 12 kept as sent
            d.update({"hostname-char-set": "", "ddns-replace-client-name": "never",
                      "ddns-qualifying-suffix": ""})
        return json.dumps(cfg, indent=2), log

    def start(self, family: int, name: str, **kw) -> tuple:
        text, log = self.config(family, name, **kw)
        pid = self.rt.tn.start_kea(family, text, f"rt-{self.tag}-{name}", log, start_s=self.start_s)
        return pid, log

    def stop(self, pid: int, log: str, name: str) -> None:
        self.rt.tn.stop(pid)
        self.rt.tn.keep(log, f"rt-{self.tag}-{name}.log")

    def replayed(self, who: str, point: str = "lease4_replay") -> List[dict]:
        return [r for r in self.rt.tn.read_records(self.records[who]) if r.get("argv", [None, None])[1] == point]

    def wait_done(self, log: str, phase: str, message: str = "RUNSCRIPT_REPLAY_DONE") -> str:
        """The line of ``message`` in Kea's log, waited for (bounded)."""
        # the broken handler's events wait for it once (its timeout, 1 s)
        deadline = time.monotonic() + (90 if self.rt.emulated else 30)
        while time.monotonic() < deadline:
            lines = [l for l in self.rt.read(log).splitlines() if message in l]
            if lines:
                return lines[-1]
            time.sleep(0.2)
        self.problem(phase, f"no {message} in Kea's log")
        return ""

    def run(self) -> Outcome:
        self.o.facts["multi-threading (DHCPv4)"] = MT4
        self.first_start_and_leases()
        self.restart()
        self.stop_during_replay()
        self.dhcpv6()
        return self.o

    def first_start_and_leases(self) -> None:
        rt, o = self.rt, self.o
        pid, log = self.start(4, "first", mt=MT4)
        try:
            done = self.wait_done(log, "first start")
            o.facts["first start: RUNSCRIPT_REPLAY_DONE"] = done.split("RUNSCRIPT_REPLAY_DONE", 1)[-1].strip()
            if done and " 0 active leases replayed" not in done:
                self.problem("first start", f"an empty lease file replayed something: {done}")
            self.leases: Dict[str, str] = {}
            for mac, extra in ((MAC_HOSTILE, ("--hostname-hex", HOSTNAME_BYTES.hex())), (MAC_PLAIN, ()),
                               (MAC_RELEASED, ())):
                ack = rt.dora(mac, *extra)
                self.leases[mac] = ack.get("address")
                if not ack.get("address"):
                    self.problem("restart", f"{mac} got no lease")
            rt.tn.client("v4", "release", "--mac", MAC_RELEASED, "--addr", self.leases[MAC_RELEASED] or "0.0.0.0",
                         check=False)
            o.facts["leases taken"] = dict(self.leases)
        finally:
            self.stop(pid, log, "first")
        self.plant_inactive()
        early = {who: len(self.replayed(who)) for who in ENTRIES}
        o.facts["first start: lease4_replay events"] = early
        if any(early.values()):
            self.problem("first start", f"events for an empty lease file: {early}")

    def plant_inactive(self) -> None:
        """Two leases no client holds, written into the lease file while Kea is stopped: a copy
        of MAC_PLAIN's row that expired 100 s ago, and one declined (Kea's state 1)."""
        script = f"""
import csv, sys, time
path = {self.lease_file!r}
rows = list(csv.reader(open(path, newline="", encoding="latin-1")))
head, plain = rows[0], [r for r in rows[1:] if r[1] == {MAC_PLAIN!r}][-1]
col = {{name: i for i, name in enumerate(head)}}
expired, declined = list(plain), list(plain)
expired[col["address"]], expired[col["hwaddr"]] = "192.0.2.150", {MAC_EXPIRED!r}
expired[col["expire"]] = str(int(time.time()) - 100)
declined[col["address"]], declined[col["hwaddr"]] = "192.0.2.151", {MAC_DECLINED!r}
declined[col["state"]] = "1"
with open(path, "a", newline="", encoding="latin-1") as f:
    csv.writer(f, lineterminator="\\n").writerows([expired, declined])
"""
        self.rt.sh(f"python3 -c {shlex.quote(script)}")

    def restart(self) -> None:
        rt, o = self.rt, self.o
        pid, log = self.start(4, "restart", mt=MT4)
        try:
            done = self.wait_done(log, "restart")
            o.facts["restart: RUNSCRIPT_REPLAY_DONE"] = done.split("RUNSCRIPT_REPLAY_DONE", 1)[-1].strip()
            failed = re.search(r"(\d+) runs failed", done)
            o.facts["restart: runs failed (the broken handler's 2)"] = int(failed.group(1)) if failed else None
            if not failed or int(failed.group(1)) != 2:
                self.problem("restart", f"expected the 2 events of the handler that never runs to fail, "
                                        f"and only those: {done}")
            skipped = re.search(r"(\d+) leases not active skipped", done)
            o.facts["restart: leases not active skipped"] = int(skipped.group(1)) if skipped else None
            if not skipped or int(skipped.group(1)) < 2:
                self.problem("restart", f"the expired and the declined lease were not skipped: {done}")
            time.sleep(0.5)  # the asynchronous handler's last records reach its file
            self.check_events()
            before = {who: len(self.replayed(who)) for who in ENTRIES}
            loaded = rt.count_in(log, "RUNSCRIPT_LOADED")
            rt.sh(f"kill -HUP {pid}")
            deadline = time.monotonic() + (30 if rt.emulated else 10)
            while rt.count_in(log, "RUNSCRIPT_LOADED") <= loaded and time.monotonic() < deadline:
                time.sleep(0.2)
            skipped = self.wait_done(log, "reload", "RUNSCRIPT_REPLAY_SKIPPED")
            o.facts["reload: RUNSCRIPT_REPLAY_SKIPPED"] = bool(skipped)
            time.sleep(1.0)
            after = {who: len(self.replayed(who)) for who in ENTRIES}
            o.facts["reload: events before / after"] = [before, after]
            if after != before:
                self.problem("reload", f"a reload that keeps the lease database replayed again: {before} -> {after}")
        finally:
            self.stop(pid, log, "restart")

    def check_events(self) -> None:
        o = self.o
        names = [v.name for v in catalogue.load().variables_at("lease4_replay")]
        active = {MAC_HOSTILE: self.leases.get(MAC_HOSTILE), MAC_PLAIN: self.leases.get(MAC_PLAIN)}
        by_entry = {who: self.replayed(who) for who in ENTRIES}
        o.facts["restart: lease4_replay events per entry"] = {who: len(r) for who, r in by_entry.items()}
        raw = lambda r, k: r["env"].get(k, "").encode("utf-8", "surrogateescape")  # noqa: E731
        for who, records in by_entry.items():
            macs = sorted(r["env"].get("KEA_LEASE4_HWADDR", "") for r in records)
            if macs != sorted(active):
                self.problem("restart", f"{who}: events for {macs}, expected one each for {sorted(active)} "
                                        f"(not {MAC_RELEASED}: released, {MAC_EXPIRED}: expired, "
                                        f"{MAC_DECLINED}: declined)")
            for r in records:
                env = r["env"]
                got = sorted(k for k in env if k.startswith("KEA_"))  # the recorders sort them
                if got != sorted(names):
                    self.problem("restart", f"{who}: variables {got}, expected {names}")
                mac = env.get("KEA_LEASE4_HWADDR")
                if mac in active and env.get("KEA_LEASE4_ADDRESS") != active[mac]:
                    self.problem("restart", f"{who}: {mac}'s address {env.get('KEA_LEASE4_ADDRESS')}, "
                                            f"its lease is {active[mac]}")
                if env.get("KEA_LEASE4_STATE") != "default" or env.get("KEA_LEASE4_IS_EXPIRED") != "0":
                    self.problem("restart", f"{who}: {mac} is not an active lease: state "
                                            f"{env.get('KEA_LEASE4_STATE')}, expired {env.get('KEA_LEASE4_IS_EXPIRED')}")
                if mac == MAC_HOSTILE:
                    o.facts[f"restart: {who}'s KEA_LEASE4_HOSTNAME"] = repr(raw(r, "KEA_LEASE4_HOSTNAME"))
                    if raw(r, "KEA_LEASE4_HOSTNAME") != HOSTNAME_BYTES:
                        self.problem("restart", f"{who}: hostname {raw(r, 'KEA_LEASE4_HOSTNAME')!r}, sent "
                                                f"{HOSTNAME_BYTES!r}")
        for who in ("handler-sync", "handler-async", "handler-park"):
            for p in checks.compare_handler(by_entry["exec"], by_entry[who], own_names=("SMOKE_RECORD",)):
                self.problem("restart", f"{who}: {p}")
        if self.rt.exists("/tmp/pwned"):
            self.problem("restart", "/tmp/pwned exists: a client's hostname was run")

    def stop_during_replay(self) -> None:
        """replay-rate 1: the 2 leases take a second; Kea is stopped at once."""
        rt, o = self.rt, self.o
        before = {who: len(self.replayed(who)) for who in ENTRIES}
        pid, log = self.start(4, "stop", rate=1, mt=MT4)
        began = time.monotonic()
        rt.tn.stop(pid)
        o.facts["stop: SIGTERM -> exit (s)"] = round(time.monotonic() - began, 2)
        rt.tn.keep(log, f"rt-{self.tag}-stop.log")
        stopped = rt.count_in(log, "RUNSCRIPT_REPLAY_STOPPED")
        done = rt.count_in(log, "RUNSCRIPT_REPLAY_DONE")
        o.facts["stop: RUNSCRIPT_REPLAY_STOPPED / _DONE lines"] = [stopped, done]
        if stopped != 1 or done != 0:
            self.problem("stop", f"{stopped} RUNSCRIPT_REPLAY_STOPPED and {done} _DONE lines, expected 1 and 0")
        bound = DRAIN_S + DEADLINE_ALLOWANCE_S + (6 if rt.emulated else 0)
        if o.facts["stop: SIGTERM -> exit (s)"] > bound:
            self.problem("stop", f"Kea took {o.facts['stop: SIGTERM -> exit (s)']} s to stop (bound {bound} s)")
        time.sleep(0.5)
        after = {who: len(self.replayed(who)) for who in ENTRIES}
        o.facts["stop: events before / after"] = [before, after]
        if any(after[w] - before[w] > 1 for w in ENTRIES):
            self.problem("stop", f"more than the first lease replayed at 1 a second before the stop: {before} -> {after}")

    def dhcpv6(self) -> None:
        rt, o = self.rt, self.o
        pid, log = self.start(6, "v6-first", mt=False)
        try:
            c = rt.tn.client("v6", "sarr", "--duid-mac", MAC6, "--pd", check=False)
        finally:
            self.stop(pid, log, "v6-first")
        na, pd = (c.get("na") or {}).get("address"), (c.get("pd") or {}).get("prefix")
        o.facts["DHCPv6: leases taken"] = [na, pd]
        if not na or not pd:
            self.problem("DHCPv6", f"the client got no address and prefix: {c}")
            return
        pid, log = self.start(6, "v6-restart", mt=False)
        try:
            self.wait_done(log, "DHCPv6")
            time.sleep(0.5)
        finally:
            self.stop(pid, log, "v6-restart")
        names = [v.name for v in catalogue.load().variables_at("lease6_replay")]
        for who in ENTRIES:
            records = self.replayed(who, "lease6_replay")
            got = sorted((r["env"].get("KEA_LEASE6_TYPE"), r["env"].get("KEA_LEASE6_DELEGATED_PREFIX")
                          or r["env"].get("KEA_LEASE6_ADDRESS")) for r in records)
            o.facts[f"DHCPv6: {who}'s events"] = got
            if got != [("IA_NA", na), ("IA_PD", pd)]:
                self.problem("DHCPv6", f"{who}: events {got}, expected one for {na} and one for {pd}")
            for r in records:
                allowed = set(names)
                extra = [k for k in r["env"] if k.startswith("KEA_") and k not in allowed]
                if extra:
                    self.problem("DHCPv6", f"{who}: variables outside the catalogue's lease6_replay: {extra}")


@timed
def replay(rt: Runtime) -> Outcome:
    """``replay: true`` (module docstring)."""
    return Replay(rt).run()


def replay_phase_problems(o: Outcome, phase: str) -> list:
    assert phase in PHASES, phase
    return [p for p in o.problems if p.startswith(phase + ":")]
