"""The examples (``examples/``) run as their READMEs document them, on the test network
(:mod:`kea_runscript.verify.testnet`): the routing ones first under the packaged unit as it is (their
routes fail with the permission error their READMEs show), then with the systemd drop-in each
ships, and the routing table of the server shows their routes appear and go away. Part of the
smoke test (:func:`kea_runscript.verify.smoke.smoke_cell`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

from .. import ROOT
from ..model import units
from ..builder.hook import LIBRARY
from ..engine import containers
from ..model.catalogue import hook_points
from ..model.matrix import Cell
from .testnet import C_EXAMPLES, C_LOGS, C_OUT, EXAMPLES, NET, TIMERS, TestNet, Timers


# --------------------------------------------------------------------------------------------
# the examples (examples/): run as documented, the server's routing table is checked


def example_config(cell: Cell, path: Path, family: int, log_file: str, timers: Timers = TIMERS) -> dict:
    """An example's documented Kea config, adapted to the test network: interface, hooks directory,
    script paths under /smoke/examples, short lifetimes, in-memory leases, a log file; and
    debug.sh as a second script (through `scripts`) at every hook point."""
    cfg = json.loads(path.read_text())
    d = cfg[f"Dhcp{family}"]
    d["interfaces-config"]["interfaces"] = [NET.server_if]
    for s in d[f"subnet{family}"]:
        if "interface" in s:
            s["interface"] = NET.server_if
    d["lease-database"] = {"type": "memfile", "persist": False}
    d.update({"valid-lifetime": timers.valid, "renew-timer": timers.renew, "rebind-timer": timers.rebind})
    if family == 6:
        d["preferred-lifetime"] = timers.preferred
    d["expired-leases-processing"] = {"reclaim-timer-wait-time": 1, "flush-reclaimed-timer-wait-time": 1,
                                      "hold-reclaimed-time": 1, "max-reclaim-leases": 0, "max-reclaim-time": 0}
    (lib,) = d["hooks-libraries"]
    lib["library"] = f"{cell.hooks_dir}/{LIBRARY}"
    params = dict(lib["parameters"])
    params["script"] = f"{C_EXAMPLES}/{path.parent.name}/{Path(params['script']).name}"
    lib["parameters"] = {"scripts": [params, {"script": f"{C_EXAMPLES}/debug.sh",
                                              "hook-points": hook_points(cell.kea, family)}]}
    d["loggers"] = [{"name": f"kea-dhcp{family}", "severity": "INFO",
                     "output_options": [{"output": log_file}]}]
    return cfg


def _wait_for(tn: TestNet, script: str, want_output: bool, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while True:
        got = bool(tn.sh(script, check=False).output.strip())
        if got == want_output:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.3)


#: The examples that change routes, per family; each ships the systemd drop-in that gives Kea
#: CAP_NET_ADMIN (<example>/<unit>.d/runscript.conf).
ROUTING_EXAMPLES = {4: "slash32_leases", 6: "ipv6_prefix_delegation"}
#: What `ip route` says when Kea runs with the packaged unit's capabilities only (the READMEs
#: quote it).
PERMISSION_ERROR = "RTNETLINK answers: Operation not permitted"


def dropin_path(family: int) -> Path:
    return EXAMPLES / ROUTING_EXAMPLES[family] / f"{units.UNIT_NAMES[family]}.d" / "runscript.conf"


def example_units(tn: TestNet) -> Dict[int, Optional[units.ServiceUnit]]:
    """The cell's packaged units with the examples' drop-ins applied (None: no unit, root)."""
    out: Dict[int, Optional[units.ServiceUnit]] = {}
    for fam in ROUTING_EXAMPLES:
        base = tn.units.get(fam)
        path = dropin_path(fam)
        out[fam] = units.parse_unit(path.read_text(), str(path.relative_to(ROOT)), base=base) if base else None
    return out


def _example_configs(tn: TestNet, tag: str) -> tuple:
    logs = {4: f"{C_LOGS}/smoke-{tag}-dhcp4.log", 6: f"{C_LOGS}/smoke-{tag}-dhcp6.log"}
    confs = {4: example_config(tn.cell, EXAMPLES / "slash32_leases" / "kea-dhcp4.json", 4, logs[4]),
             6: example_config(tn.cell, EXAMPLES / "ipv6_prefix_delegation" / "kea-dhcp6.json", 6, logs[6])}
    return logs, confs


def run_examples_without_dropin(tn: TestNet) -> Dict[str, List[str]]:
    """The routing examples under the packaged units as they are (no drop-in): the route is
    not added, and the script's `ip` says PERMISSION_ERROR on Kea's stderr (the journal
    under systemd), as the examples' READMEs show. Skipped for a family without a unit
    (Kea runs as root there)."""
    results: Dict[str, List[str]] = {}
    tag = "examples-stock"
    logs, confs = _example_configs(tn, tag)
    pids = {}
    try:
        for fam in ROUTING_EXAMPLES:
            if tn.units.get(fam) is None:
                continue
            results[f"{ROUTING_EXAMPLES[fam]} without its drop-in"] = []
            pids[fam] = tn.start_kea(fam, json.dumps(confs[fam], indent=2), tag, logs[fam])
        if 4 in pids:
            p = results[f"{ROUTING_EXAMPLES[4]} without its drop-in"]
            a = tn.client("v4", "dora", "--mac", "02:00:00:00:32:11")
            shown = tn.sh(f"ip -n srv route show {a['address']}/32", check=False).output.strip()
            if shown:
                p.append(f"a /32 route for {a['address']} appeared without CAP_NET_ADMIN: {shown!r}")
        if 6 in pids:
            p = results[f"{ROUTING_EXAMPLES[6]} without its drop-in"]
            c = tn.client("v6", "sarr", "--duid-mac", "02:00:00:00:56:11", "--iaid", "5611", "--pd-only")
            shown = tn.sh(f"ip -n srv -6 route show {c['pd']['prefix']}", check=False).output.strip()
            if shown:
                p.append(f"a route for {c['pd']['prefix']} appeared without CAP_NET_ADMIN: {shown!r}")
    finally:
        for fam, pid in pids.items():
            tn.stop(pid)
            tn.keep(logs[fam], f"{tag}-kea-dhcp{fam}.log")
            tn.keep(f"{C_OUT}/{tag}-kea-dhcp{fam}.out", f"{tag}-kea-dhcp{fam}.out")
    for fam in pids:
        out = tn.out / f"{tag}-kea-dhcp{fam}.out"
        text = out.read_text(errors="replace") if out.exists() else ""
        if PERMISSION_ERROR not in text:
            results[f"{ROUTING_EXAMPLES[fam]} without its drop-in"].append(
                f"Kea's stderr ({out}) lacks {PERMISSION_ERROR!r}: {text.strip()[-300:]!r}")
    return results


# --------------------------------------------------------------------------------------------
# the example handlers (examples/handlers/): beside debug.sh, they must log the same events

#: The handlers that log, each in another mode, at every hook point of the family, each to
#: its own file. handler-go is handler.go built here (the images have no Go).
HANDLER_RUNS = (("handler.sh", {"wait": True}), ("handler.py", {"wait": False, "workers": 2}),
                ("handler-go", {"wait": True, "workers": 2}))
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def handler_log(name: str, family: int) -> str:
    return f"{C_LOGS}/examples-{name}-dhcp{family}.log"


#: Debian architecture -> Go's GOARCH (and GOARM for 32-bit ARM: armel is ARMv5, armhf ARMv7),
#: where Go names it otherwise.
GO_ARCH = {"i386": {"GOARCH": "386"}, "armhf": {"GOARCH": "arm", "GOARM": "7"},
           "armel": {"GOARCH": "arm", "GOARM": "5"}, "ppc64el": {"GOARCH": "ppc64le"}}


def install_go_handler(tn: TestNet) -> None:
    """handler.go, built static for the cell's architecture, as handlers/handler-go."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "handler-go"
        env = {**os.environ, "CGO_ENABLED": "0", "GOOS": "linux",
               **GO_ARCH.get(tn.cell.arch, {"GOARCH": tn.cell.arch})}
        p = subprocess.run(["go", "build", "-o", str(out), "handler.go"], cwd=EXAMPLES / "handlers",
                           env=env, capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"go build examples/handlers/handler.go for {tn.cell.arch}: {p.stderr[-1000:]}")
        tn.c.copy_into(out, f"{C_EXAMPLES}/handlers/handler-go")


def add_handlers(cfg: dict, cell: Cell, family: int) -> None:
    """The example handlers as more `scripts` entries of an example's config."""
    (lib,) = cfg[f"Dhcp{family}"]["hooks-libraries"]
    for name, mode in HANDLER_RUNS:
        lib["parameters"]["scripts"].append(
            {"script": f"{C_EXAMPLES}/handlers/{name}", "persistent": True, **mode,
             "hook-points": hook_points(cell.kea, family),
             "environment": {"HANDLER_LOG": handler_log(name, family)}})


def logged_events(text: str, header: str) -> Counter:
    """The events of a debug.sh log (header "=== ") or an example handler's (header "== "):
    (hook point, sorted KEA_* NAME=value strings). A line that does not start NAME= goes on the
    value before it (multi-line values); debug.sh's entries are sorted and end with a blank
    line, a handler's keep the hook's order: hence sorted."""
    events: Counter = Counter()
    for chunk in re.split(rf"^{re.escape(header)}", text, flags=re.M)[1:]:
        first, _, body = chunk.partition("\n")
        point = first.split()[-3] if header == "=== " else first  # "<date> <point> (pid N)"
        lines: List[str] = []
        for line in body.split("\n"):
            if _VAR.match(line) or not lines:
                lines.append(line)
            else:
                lines[-1] += "\n" + line
        while lines and lines[-1].strip() == "":
            lines.pop()
        events[(point, tuple(sorted(v.rstrip("\n") for v in lines if v.startswith("KEA_"))))] += 1
    return events


def compare_handler_logs(debug_text: str, handler_texts: Dict[tuple, str],
                         points: Dict[int, List[str]]) -> List[str]:
    """Each handler's events against debug.sh's at the hook points of its family."""
    problems = []
    exec_events = logged_events(debug_text, "=== ")
    for (name, fam), text in sorted(handler_texts.items()):
        want = Counter({e: n for e, n in exec_events.items() if e[0] in points[fam]})
        got = logged_events(text, "== ")
        if not want:
            problems.append(f"debug.sh logged no event of dhcp{fam}")
        if got != want:
            missing, extra = want - got, got - want
            problems.append(f"{name} (dhcp{fam}, {sum(got.values())} events, debug.sh "
                            f"{sum(want.values())}): missing {_first(missing)}; extra {_first(extra)}")
    return problems


def _first(events: Counter) -> str:
    if not events:
        return "none"
    (point, variables), n = next(iter(events.items()))
    return f"{sum(events.values())}, e.g. {point} x{n} {'; '.join(variables)[:300]!r}"


ROUTE4 = "ip -n srv route show {}/32"
ROUTE6 = "ip -n srv -6 route show {}"


def _slash32_routes(tn: TestNet, problems: List[str]) -> tuple:
    """slash32_leases: a lease gives a /32 route, its RELEASE takes it away, another lease
    gives one (left to expire). Returns the two ACKs."""
    a = tn.client("v4", "dora", "--mac", "02:00:00:00:32:01", "--opt121")
    routes121 = a.get("ack_options", {}).get("classless_static_routes", "")
    if "192.0.2.1/32:0.0.0.0" not in routes121 or "0.0.0.0/0:192.0.2.1" not in routes121:
        problems.append(f"ACK lacks the option 121 routes of the example (got {routes121!r})")
    shown = tn.sh(ROUTE4.format(a["address"]), check=False).output.strip()
    if f"dev {NET.server_if}" not in shown:
        problems.append(f"no /32 route for {a['address']} after the lease (ip route: {shown!r})")
    tn.client("v4", "release", "--mac", a["mac"], "--addr", a["address"], "--server", a["server"])
    if not _wait_for(tn, ROUTE4.format(a["address"]), False, 3):
        problems.append(f"/32 route for {a['address']} still there after RELEASE")
    b = tn.client("v4", "dora", "--mac", "02:00:00:00:32:02")
    if not _wait_for(tn, ROUTE4.format(b["address"]), True, 2):
        problems.append(f"no /32 route for {b['address']} after the lease")
    return a, b


def _pd_routes(tn: TestNet, problems: List[str]) -> tuple:
    """ipv6_prefix_delegation: a delegated prefix gets a route via the client's link-local
    address, its RELEASE takes it away, another one gets one (left to expire). Returns the
    two prefixes."""
    c = tn.client("v6", "sarr", "--duid-mac", "02:00:00:00:56:01", "--iaid", "5601", "--pd-only")
    pfx = c["pd"]["prefix"]
    shown = tn.sh(ROUTE6.format(pfx), check=False).output.strip()
    if "via fe80::" not in shown:
        problems.append(f"no route for the delegated prefix {pfx} (ip -6 route: {shown!r})")
    tn.c.write_file(f"{C_OUT}/pd-client.json", json.dumps(c))
    tn.client("v6", "release", "--state", f"{C_OUT}/pd-client.json")
    if not _wait_for(tn, ROUTE6.format(pfx), False, 3):
        problems.append(f"route for {pfx} still there after RELEASE")
    d = tn.client("v6", "sarr", "--duid-mac", "02:00:00:00:56:02", "--iaid", "5602", "--pd-only")
    pfx2 = d["pd"]["prefix"]
    if not _wait_for(tn, ROUTE6.format(pfx2), True, 2):
        problems.append(f"no route for the delegated prefix {pfx2}")
    return pfx, pfx2


#: Lifetimes long enough to outlast a stop and a start of Kea (emulated too).
REPLAY_TIMERS = Timers(valid=600, preferred=400, renew=200, rebind=300)
#: Where the routing examples keep how they routed each lease (their scripts' defaults).
EXAMPLE_STATE = ("/var/lib/kea/slash32-routes", "/var/lib/kea/pd-routes")


def replay_restores_routes(tn: TestNet, units_: Dict[int, Optional[units.ServiceUnit]]) -> Dict[int, List[str]]:
    """The routing examples' `"replay": true`: with a lease file, a client takes a lease and a
    router a prefix, Kea is stopped, their routes deleted (as a reboot would), Kea started
    again on the same lease files: both routes are back (lease4_replay / lease6_replay)."""
    problems: Dict[int, List[str]] = {4: [], 6: []}
    tag = "examples-replay"
    logs = {fam: f"{C_LOGS}/smoke-{tag}-dhcp{fam}.log" for fam in (4, 6)}
    leases = {fam: f"/var/lib/kea/{tag}-leases{fam}.csv" for fam in (4, 6)}
    confs = {4: example_config(tn.cell, EXAMPLES / "slash32_leases" / "kea-dhcp4.json", 4, logs[4], REPLAY_TIMERS),
             6: example_config(tn.cell, EXAMPLES / "ipv6_prefix_delegation" / "kea-dhcp6.json", 6, logs[6],
                               REPLAY_TIMERS)}
    for fam in (4, 6):
        confs[fam][f"Dhcp{fam}"]["lease-database"] = {"type": "memfile", "persist": True,
                                                       "name": leases[fam], "lfc-interval": 0}
    tn.sh(f"rm -f {leases[4]}* {leases[6]}*")

    def start(run: str) -> Dict[int, int]:
        return {fam: tn.start_kea(fam, json.dumps(confs[fam], indent=2), f"{tag}-{run}", logs[fam],
                                  unit=units_[fam]) for fam in (4, 6)}

    def stop(pids: Dict[int, int], run: str) -> None:
        for fam, pid in pids.items():
            tn.stop(pid)
            tn.keep(logs[fam], f"{tag}-{run}-kea-dhcp{fam}.log")

    pids = start("first")
    try:
        a = tn.client("v4", "dora", "--mac", "02:00:00:00:32:21")
        c = tn.client("v6", "sarr", "--duid-mac", "02:00:00:00:56:21", "--iaid", "5621", "--pd-only")
    finally:
        stop(pids, "first")
    routes = {4: ROUTE4.format(a["address"]), 6: ROUTE6.format(c["pd"]["prefix"])}
    try:
        for fam, show in routes.items():
            made = tn.sh(show, check=False).output.strip()
            if not made:
                problems[fam].append(f"no route before the restart ({show})")
                continue
            tn.sh(show.replace(" show ", " del "), check=False)
        pids = start("restart")
        try:
            for fam, show in routes.items():
                if not _wait_for(tn, show, True, 30 if tn.cell.emulated(containers.engine_arch()) else 10):
                    problems[fam].append(f"the route deleted while Kea was stopped is not back after "
                                         f"its start ({show}): lease{fam}_replay did not restore it")
        finally:
            stop(pids, "restart")
    finally:
        for show in routes.values():
            tn.sh(show.replace(" show ", " del "), check=False)
        tn.sh(f"rm -rf {leases[4]}* {leases[6]}* {' '.join(EXAMPLE_STATE)}", check=False)
    return problems


def run_examples(tn: TestNet) -> Dict[str, List[str]]:
    """slash32_leases (v4) and ipv6_prefix_delegation (v6): first under the packaged units as
    they are (the routes fail, run_examples_without_dropin), then with the drop-ins the
    examples ship, both at once, with debug.sh and the example handlers beside them."""
    results: Dict[str, List[str]] = run_examples_without_dropin(tn)
    results.update({"slash32_leases": [], "ipv6_prefix_delegation": [], "debug.sh": [], "handlers": []})
    with_dropin = example_units(tn)
    p4, p6 = results["slash32_leases"], results["ipv6_prefix_delegation"]
    debug_log = f"{C_LOGS}/kea-hook-runscript-debug.log"  # debug.sh's default
    handler_logs = {(name, fam): handler_log(name, fam) for name, _ in HANDLER_RUNS for fam in (4, 6)}
    tn.sh(f"rm -f {debug_log} {' '.join(handler_logs.values())}")
    install_go_handler(tn)
    logs, confs = _example_configs(tn, "examples")
    for fam in (4, 6):
        add_handlers(confs[fam], tn.cell, fam)
    pids = {}
    expire_wait = TIMERS.valid + 6
    try:
        for fam in (4, 6):
            pids[fam] = tn.start_kea(fam, json.dumps(confs[fam], indent=2), "examples", logs[fam],
                                        unit=with_dropin[fam])
        a, b = _slash32_routes(tn, p4)
        pfx, pfx2 = _pd_routes(tn, p6)

        # both expire
        if not _wait_for(tn, ROUTE4.format(b["address"]), False, expire_wait):
            p4.append(f"/32 route for {b['address']} still there {expire_wait}s after the lease (expiry)")
        if not _wait_for(tn, ROUTE6.format(pfx2), False, expire_wait):
            p6.append(f"route for {pfx2} still there {expire_wait}s after the lease (expiry)")
    finally:
        for fam, pid in pids.items():
            tn.stop(pid)
        for fam in (4, 6):
            tn.keep(logs[fam], f"examples-kea-dhcp{fam}.log")
        tn.keep(debug_log, "examples-debug.log")
        for path in handler_logs.values():
            tn.keep(path, Path(path).name)
    replayed = replay_restores_routes(tn, with_dropin)
    results["slash32_leases after a restart"] = replayed[4]
    results["ipv6_prefix_delegation after a restart"] = replayed[6]
    # debug.sh logged every call, hook point and variables
    text = (tn.out / "examples-debug.log").read_text(errors="replace") \
        if (tn.out / "examples-debug.log").exists() else ""
    for point in ("pkt4_receive", "lease4_select", "lease4_release", "lease4_expire",
                  "pkt6_receive", "lease6_select", "lease6_release", "lease6_expire"):
        if f" {point} (pid " not in text:
            results["debug.sh"].append(f"{debug_log} has no entry for {point}")
    for needle in (f"KEA_LEASE4_ADDRESS={a['address']}", f"KEA_LEASE6_DELEGATED_PREFIX={pfx}"):
        if needle not in text:
            results["debug.sh"].append(f"{debug_log} lacks {needle}")
    # after Kea's stop: the asynchronous handler has drained its queue
    texts = {}
    for key, path in handler_logs.items():
        local = tn.out / Path(path).name
        texts[key] = local.read_text(errors="replace") if local.exists() else ""
    results["handlers"] = compare_handler_logs(
        text, texts, {fam: hook_points(tn.cell.kea, fam) for fam in (4, 6)})
    return results
