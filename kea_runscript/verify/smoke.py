"""Smoke tests: the real Kea loads each built hook, real clients fire every hook point.

Per cell, one container from the cell's runtime image (Debian's kea-dhcp4-server,
kea-dhcp6-server, kea-admin for perfdhcp, python3-scapy, iproute2), without any network
(``network_mode none``) and with NET_ADMIN, NET_RAW, SYS_ADMIN, SYS_PTRACE only. Inside it:

* two network namespaces, ``srv`` (Kea) and ``cli`` (clients), joined by a veth pair:
  192.0.2.1/24 + 2001:db8:1::1/64 on the server side, 192.0.2.2/24 + 198.18.0.1/24 (a relay's
  giaddr) on the client side. Nothing is routed anywhere else;
* the cell's ``dist/<id>/kea-hook-runscript.so`` in Kea's hooks directory, configured with
  ``tools/recorder.py`` which writes each call's argv and complete environment as one
  JSON line; beside it, at the same hook points with the same ``wait``, the persistent handler
  ``tools/handler_recorder.py`` (``"persistent": true``, 2 workers when Kea is
  multi-threaded) writes each record it reads as a line of the same format;
* Kea runs as the cell's packaged systemd unit runs it (:mod:`kea_runscript.model.units`: its
  user, group, ambient capabilities and environment, through ``setpriv``); what it writes is
  given to that user; who it ran as is read back from /proc/<pid>/status after each start;
* per mode (:data:`MODES`: ``wait`` true/false x Kea multi-threading on/off, plus a
  kea-hook-runscript 1.4-style configuration), kea-dhcp4 and kea-dhcp6 start with short
  lifetimes; perfdhcp runs DORA / SARR (with IA_PD), ``tools/client.py`` (scapy) runs
  the rest (RELEASE, DECLINE, INFORM, unicast renew, option 60, option 82 through a relay;
  DHCPv6 RENEW, REBIND, RELEASE, DECLINE, IA_PD); then the leases expire and the declined ones
  are recovered; Kea stops;
* every recorded call is checked against the catalogue and the traffic
  (:mod:`kea_runscript.verify.checks`); every hook point must fire (a silent one fails the run);
  the handler's records get the same checks, and must be exactly the exec script's events of
  the same run, byte for byte (:func:`checks.compare_handler`);
* the examples (``examples/``, :mod:`kea_runscript.verify.examples`) run as they are
  documented: the routing ones first under the packaged unit as it is (their routes fail with
  the permission error their READMEs show), then with the systemd drop-in each ships, and the
  routing table of the server shows their routes appear and go away.

The result is a table per cell (hook point x v4/v6 x mode, the handler's columns marked
``h``); the Kea logs, the recorder's lines
and the clients' reports are kept under ``build/<id>/smoke/``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import jinja2

from .. import ROOT, output
from . import checks
from ..engine import containers, images
from ..generate import templating
from ..builder.hook import LIBRARY, Paths, SanitizedBuild
from ..model.catalogue import hook_points
from ..model.catalogue import load as load_catalogue
from ..errors import ExitCode, ToolkitError
from ..model.facts import facts_for
from ..model.matrix import Cell
from .isc_oracle import run_oracle
from .testnet import (C_LOGS, C_OUT, C_RECORDS, C_TOOLS, CAPS, NET, PERFDHCP_MAC, PERFDHCP_MAC6,
                      RECORDER, TIMERS, SmokeError, TestNet, Timers)
from ..model.versions import Version

TEMPLATES = ROOT / "templates" / "smoke"
#: The persistent handler beside the exec recorder (every mode but the 1.4-style one).
HANDLER_RECORDER = f"{C_TOOLS}/handler_recorder.py"
#: Handler processes per hook entry when Kea is multi-threaded (one otherwise).
HANDLER_WORKERS_MT = 2


# --------------------------------------------------------------------------------------------
# modes


@dataclass(frozen=True)
class Mode:
    name: str
    wait: Optional[bool]
    multi_threading: Optional[bool]  # None: Kea's default for the version
    compat14: bool = False  # kea-hook-runscript 1.4 parameters only: script, wait
    #: `options4` / `options6` (:data:`OPTIONS`) configured: the query's options as hex
    options: bool = False
    #: leases4/6_committed by `park: true` entries of the same recorders (where the cell's Kea
    #: parks there): the answer waits, parked, for them
    park: bool = False

    @property
    def handler(self) -> bool:
        """The run has the persistent handler beside the exec recorder."""
        return not self.compat14

    def describe(self, kea: Version) -> str:
        mt = self.multi_threading
        if mt is None:
            mt = bool(facts_for(str(kea)).multi_threading_default_on)
        return f"wait={'true' if self.wait is not False else 'false'}, multi-threading {'on' if mt else 'off'}" + (
            ", 1.4-style parameters" if self.compat14 else "")


#: The options the smoke's `options4` / `options6` list (in the modes with ``options``), each
#: checked against the bytes the clients sent (client.py reports them): option 60 whole (with
#: NUL bytes: its hex form carries every byte; listing 60 makes KEA_QUERY4_OPTION60 that hex
#: form), option 82 whole and its sub-options 1 and 2 (the relayed client); DHCPv6 option 1
#: (in the client's message) and 18 / 37 (only in the relay's message of the relayed client).
OPTIONS = {4: [60, 82, "82.1", "82.2"], 6: [1, 18, 37]}
#: `--mode` name of the ISC oracle run (:mod:`.isc_oracle`), which follows the modes.
ORACLE_MODE = "isc-oracle"
#: max-async of the asynchronous modes (the default is 64).
SMOKE_MAX_ASYNC = 512

MODES = (
    Mode("wait+mt", wait=True, multi_threading=True),
    Mode("async+mt", wait=False, multi_threading=True, options=True),
    Mode("wait+st", wait=True, multi_threading=False, options=True, park=True),
    Mode("async+st", wait=False, multi_threading=False),
    Mode("1.4-config", wait=True, multi_threading=None, compat14=True),
)


def exec_environment(mode: Mode, family: int) -> dict:
    """The exec recorder's `environment` (which a handler's records do not carry)."""
    return {"SMOKE_RECORD": record_path(mode, family), "SMOKE_MODE": mode.name}


def hook_parameters(cell: Cell, mode: Mode, family: int) -> dict:
    if mode.compat14:
        return {"script": RECORDER, "wait": bool(mode.wait)}
    points = hook_points(cell.kea, family)
    handler = {"script": HANDLER_RECORDER, "persistent": True, "wait": bool(mode.wait), "timeout": 10,
               "hook-points": points,
               "environment": {"SMOKE_RECORD": record_path(mode, family, handler=True), "SMOKE_MODE": mode.name}}
    if mode.multi_threading:
        handler["workers"] = HANDLER_WORKERS_MT
    scripts = [{"script": RECORDER, "wait": bool(mode.wait), "timeout": 10, "hook-points": points,
                "environment": exec_environment(mode, family)}, handler]
    committed = f"leases{family}_committed"
    if mode.park and committed in points and facts_for(str(cell.kea)).parks_at(committed):
        # one more entry of each recorder, parking there (writing to the same record file)
        for entry in list(scripts):
            entry["hook-points"] = [p for p in points if p != committed]
            scripts.append({**entry, "hook-points": [committed], "park": True})
            del scripts[-1]["wait"]
            if entry.get("persistent"):
                scripts[-1].pop("workers", None)
    parameters = {"scripts": scripts}
    if mode.options:
        parameters[f"options{family}"] = list(OPTIONS[family])
    if not mode.wait:
        # Every event must reach the asynchronous recorder: a burst of Python recorders under
        # qemu-user can outlast the default 64 slots (RUNSCRIPT_ASYNC_LIMIT is tested apart,
        # in the run-time scenarios).
        parameters["max-async"] = SMOKE_MAX_ASYNC
    return parameters


def record_path(mode: Mode, family: int, handler: bool = False) -> str:
    if mode.compat14:
        return f"{C_RECORDS}/default.jsonl"  # the recorder's default: 1.4 configs have no `environment`
    return f"{C_RECORDS}/{mode.name}-v{family}{'-handler' if handler else ''}.jsonl"


def kept_records(tag: str, family: int, handler: bool = False) -> str:
    """The file name under build/<id>/smoke/ of a run's recorded calls."""
    return f"{tag}-{'handler-' if handler else ''}records-v{family}.jsonl"


# --------------------------------------------------------------------------------------------
# Kea configuration (templates/smoke/)


def _env() -> jinja2.Environment:
    return templating.environment(TEMPLATES)


def kea_config(cell: Cell, family: int, parameters: dict, *, multi_threading: Optional[bool],
               log_file: str, timers: Timers = TIMERS, option_data: Sequence = (),
               severity: str = "INFO", debuglevel: int = 0,
               libraries: Optional[Sequence[dict]] = None) -> str:
    """The JSON text of the smoke test's kea-dhcp4/6 configuration (validated as JSON): our
    library with ``parameters``, or the ``libraries`` given ({"library", "parameters"})."""
    if libraries is None:
        libraries = [{"library": f"{cell.hooks_dir}/{LIBRARY}", "parameters": parameters}]
    text = _env().get_template(f"kea-dhcp{family}.json.j2").render(
        net=NET, timers=timers, multi_threading=multi_threading, libraries=list(libraries),
        log_file=log_file, option_data=list(option_data),
        severity=severity, debuglevel=debuglevel)
    json.loads(text)
    return text


def traffic_for(family: int, client_report: dict, options: Sequence = ()) -> checks.Traffic:
    """What the checks know: clients' reports (client.py's JSON), perfdhcp's bases, pools;
    ``options``: the `options4` / `options6` configured."""
    t = checks.Traffic(family=family, options=[str(o) for o in options])
    subnets = NET.subnets4 if family == 4 else NET.subnets6
    t.pools = {s.subnet: list(s.pools) for s in subnets}
    t.pd_pools = [pd for s in subnets for pd in s.pd_pools]
    for name, c in (client_report.get("clients") or {}).items():
        if family == 4:
            relay = c.get("relay") or {}
            t.clients.append(checks.Client(
                name=name, mac=c["mac"], option60=c.get("option60"), giaddr=relay.get("giaddr", ""),
                hops=relay.get("hops", 0), rai=relay.get("rai", ""),
                circuit_id=relay.get("circuit_id", ""), remote_id=relay.get("remote_id", ""),
                options=dict(c.get("options") or {})))
        else:
            iaids = tuple(c[k]["iaid"] for k in ("na", "pd") if k in c)
            t.clients.append(checks.Client(name=name, mac=c["duid_mac"], duid=c["duid"], iaids=iaids,
                                           options=dict(c.get("options") or {}), relayed=bool(c.get("relay"))))
    if family == 4:
        t.patterns = [re.escape(PERFDHCP_MAC[:-2]) + "[0-9a-f]{2}"]
        t.perfdhcp_giaddr = NET.client_v4
    else:
        # DUID-LLT (00:01, hw type 00:01, 4 bytes of time) or DUID-LL (00:03) of the MAC
        t.patterns = ["00:0[13]:00:01:(?:[0-9a-f]{2}:){4}" + re.escape(PERFDHCP_MAC6[:-2]) + "[0-9a-f]{2}",
                      "00:03:00:01:" + re.escape(PERFDHCP_MAC6[:-2]) + "[0-9a-f]{2}"]
    return t


# --------------------------------------------------------------------------------------------
# results


@dataclass
class CellResult:
    cell: Cell
    runs: List[checks.RunResult] = field(default_factory=list)
    examples: Dict[str, List[str]] = field(default_factory=dict)  # example -> problems
    problems: List[str] = field(default_factory=list)
    seconds: float = 0.0
    out_dir: Optional[Path] = None
    #: start_kea tag -> who Kea ran as (TestNet.identity, plus the unit it followed)
    kea_as: Dict[str, dict] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (not self.problems and bool(self.runs) and all(r.ok for r in self.runs)
                and all(not p for p in self.examples.values()))


def table(result: CellResult) -> str:
    """Hook point x v4/v6 x mode: ``ok`` (fired, every call's variables ok), ``FAIL``
    (fired, some call wrong), ``--`` (did not fire), or blank (not configured in that mode)."""
    modes = []
    for r in result.runs:
        if (r.mode, r.handler) not in modes:
            modes.append((r.mode, r.handler))
    by = {(r.family, r.mode, r.handler): r for r in result.runs}
    labels = [column(m, h) for m, h in modes]
    width = max([len(m) for m in labels] + [6])
    lines = [f"{result.cell.id}: {'PASSED' if result.ok else 'FAILED'} ({result.seconds:.0f}s)",
             f"  {'hook point':<20}" + "".join(f" {m:>{width}}" for m in labels)]
    catalogue = load_catalogue()
    points = list(catalogue.hook_points) + [p for p in catalogue.isc.hook_points
                                            if not any(o.name == p.name for o in catalogue.hook_points)]
    for point in points:
        cells = []
        for m, h in modes:
            r = by.get((point.family, m, h))
            pr = r.points.get(point.name) if r else None
            if r is None or (point.name not in r.expected and (pr is None or not pr.calls)):
                cells.append("")
            elif pr is None or not pr.fired:
                cells.append("--")
            else:
                cells.append(f"{'ok' if pr.ok and point.name in r.expected else 'FAIL'} {pr.calls}")
        lines.append(f"  {point.name:<20}" + "".join(f" {c:>{width}}" for c in cells))
    if any(h for _, h in modes):
        lines.append("  (columns '<mode> h': the persistent handler beside the exec script, same Kea run)")
    for name, probs in result.examples.items():
        lines.append(f"  example {name:<12} {'ok' if not probs else 'FAIL'}")
    lines += [f"  {line}" for line in kea_as_lines(result.kea_as)]
    return "\n".join(lines)


def column(mode: str, handler: bool) -> str:
    return f"{mode} h" if handler else mode


def kea_as_lines(kea_as: Dict[str, dict]) -> List[str]:
    """Who Kea ran as, read back from /proc/<pid>/status: one line per distinct identity,
    with how many starts had it."""
    groups: Dict[tuple, int] = {}
    for ident in kea_as.values():
        key = (ident["name"], ident["user"], ident["uid"], ident["gid"],
               " ".join(ident["CapEff"]) or "none", " ".join(ident["CapAmb"]) or "none", ident.get("unit", ""))
        groups[key] = groups.get(key, 0) + 1
    return [f"{name} ran as {user} (uid {uid}, gid {gid}), CapEff {eff}, CapAmb {amb}: {unit} "
            f"[{n} start{'s' if n > 1 else ''}]"
            for (name, user, uid, gid, eff, amb, unit), n in sorted(groups.items())]


def details(result: CellResult, log_tail: int = 8) -> str:
    """The problems below the table: each distinct one once, with its hook point, the number
    of calls that had it and the modes it showed in; Kea's log tail for runs that failed."""
    lines = [f"  {p}" for p in result.problems]
    for r in result.runs:
        for p in r.problems:
            lines.append(f"  [{column(r.mode, r.handler)} v{r.family}] {p}")
    seen: Dict[tuple, list] = {}
    for r in result.runs:
        for pr in r.points.values():
            for msg, n in pr.counts.items():
                entry = seen.setdefault((pr.hook_point, msg), [0, []])
                entry[0] += n
                entry[1].append(column(r.mode, r.handler))
    for (point, msg), (n, modes) in seen.items():
        lines.append(f"  {point}: {msg}  [{n} call{'s' if n > 1 else ''}; {', '.join(dict.fromkeys(modes))}]")
    for r in result.runs:
        tag = r.mode.replace("+", "-").replace(".", "")
        log = result.out_dir / f"{tag}-kea-dhcp{r.family}.log" if result.out_dir else None
        if r.problems and log is not None and log.is_file():
            tail = log.read_text(errors="replace").splitlines()[-log_tail:]
            lines.append(f"  [{column(r.mode, r.handler)} v{r.family}] last lines of {log}:")
            lines += [f"    {t}" for t in tail]
        # Scripts without capture-output write to Kea's stdout/stderr: a recorder that failed
        # (an event missing from its records) said why there.
        out = log.with_suffix(".out") if log is not None else None
        if r.problems and out is not None and out.is_file() and out.stat().st_size:
            tail = out.read_text(errors="replace").splitlines()[-log_tail:]
            lines.append(f"  [{column(r.mode, r.handler)} v{r.family}] last lines of {out} (Kea's stdout and stderr):")
            lines += [f"    {t}" for t in tail]
    for name, probs in result.examples.items():
        for p in probs:
            lines.append(f"  [example {name}] {p}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# one mode


def run_mode(tn: TestNet, mode: Mode, catalogue, deadline_s: float) -> List[checks.RunResult]:
    cell = tn.cell
    kea = Version.parse(cell.kea)
    tag = mode.name.replace("+", "-").replace(".", "")
    pids, logs = {}, {}
    tn.sh(f"rm -f {C_RECORDS}/*")
    try:
        for fam in (4, 6):
            logs[fam] = f"{C_LOGS}/smoke-{tag}-dhcp{fam}.log"
            conf = kea_config(cell, fam, hook_parameters(cell, mode, fam),
                              multi_threading=mode.multi_threading, log_file=logs[fam])
            pids[fam] = tn.start_kea(fam, conf, tag, logs[fam])
        reports = {}
        perf = {4: tn.perfdhcp(4)}
        reports[4] = tn.client("v4", "scenario")
        perf[6] = tn.perfdhcp(6)
        reports[6] = tn.client("v6", "scenario")
        for fam in (4, 6):
            (tn.out / f"{tag}-perfdhcp{fam}.txt").write_text(perf[fam])
            (tn.out / f"{tag}-client{fam}.json").write_text(json.dumps(reports[fam], indent=1))

        # Leases expire, declined ones are recovered: wait until every hook point has fired.
        wanted = {f: set(hook_points(cell.kea, f, defaults_only=mode.compat14)) for f in (4, 6)}
        end = time.monotonic() + deadline_s
        while True:
            seen = _points_seen(tn, mode)
            missing = {f: wanted[f] - seen[f] for f in (4, 6)}
            if not any(missing.values()) or time.monotonic() > end:
                break
            time.sleep(1)
        # Calls for leases still around keep coming; give the last expiry a moment.
        time.sleep(1.5)
    finally:
        for fam, pid in pids.items():
            tn.stop(pid)
    if mode.wait is False:
        time.sleep(1)  # asynchronous calls started just before the stop

    results = []
    for fam in (4, 6):
        records = tn.read_records(record_path(mode, fam))
        if mode.compat14:
            records = [r for r in records if _family_of(r) == fam]
        tn.keep(logs[fam], f"{tag}-kea-dhcp{fam}.log")
        tn.keep(f"{C_OUT}/{tag}-kea-dhcp{fam}.out", f"{tag}-kea-dhcp{fam}.out")
        _write_records(tn.out / kept_records(tag, fam), records)
        expected = hook_points(cell.kea, fam, defaults_only=mode.compat14)
        forbidden = [p for p in hook_points(cell.kea, fam) if p not in expected]
        traffic = traffic_for(fam, reports[fam], OPTIONS[fam] if mode.options else ())
        run = checks.check_run(records, catalogue, kea, traffic, expected,
                               mode=mode.name, forbidden_points=forbidden)
        errors = tn.sh(f"grep -E ' (ERROR|FATAL) ' {logs[fam]} | head -n 5", check=False).output.strip()
        if errors:
            run.problems.append(f"Kea logged errors: {errors}")
        results.append(run)
        if mode.handler:
            handled = tn.read_records(record_path(mode, fam, handler=True))
            _write_records(tn.out / kept_records(tag, fam, handler=True), handled)
            hrun = checks.check_run(handled, catalogue, kea, traffic, expected, mode=mode.name,
                                    forbidden_points=forbidden)
            hrun.handler = True
            hrun.problems += checks.compare_handler(records, handled, exec_environment(mode, fam))
            results.append(hrun)
    return results


def _write_records(path: Path, records: List[dict]) -> None:
    with open(path, "w") as f:
        for rec in records:
            f.write(json.dumps(rec, sort_keys=True) + "\n")


def _family_of(record: dict) -> int:
    argv = record.get("argv") or []
    return 6 if len(argv) > 1 and "6" in argv[1] else 4


def _points_seen(tn: TestNet, mode: Mode) -> Dict[int, set]:
    """The hook points seen so far, per family: by the exec recorder and (when the mode has
    one) by the handler, each."""
    seen = {4: set(), 6: set()}
    sides = (False, True) if mode.handler else (False,)
    for fam in (4, 6):
        per_side = []
        for handler in sides:
            points = set()
            for rec in tn.read_records(record_path(mode, fam, handler)):
                argv = rec.get("argv") or []
                if len(argv) > 1 and _family_of(rec) == fam:
                    points.add(argv[1])
            per_side.append(points)
        seen[fam] = set.intersection(*per_side)
    return seen


def compare_compat(runs: List[checks.RunResult], records_dir: Path) -> List[str]:
    """The 1.4-style run must give the same variables as the run with today's defaults.

    Conditional variables (OPTION60, RAI*, DELEGATED_PREFIX*) follow the traffic that
    happened to reach each hook point in each run (which leases expired in the window, say);
    every call's conditional variables are checked on their own, so they are left out here.
    """
    problems = []
    cat = load_catalogue()
    conditional = {v.name for v in cat.variables() if v.conditional}

    def configured_option(name: str) -> bool:  # a variable of `options4` / `options6`
        return any(re.match(p.regex, name) for p in cat.patterns())

    def names(tag: str, fam: int) -> Dict[str, set]:
        out: Dict[str, set] = {}
        p = records_dir / kept_records(tag, fam)
        if not p.exists():
            return out
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            out.setdefault(rec["argv"][1], set()).update(
                k for k in rec["env"] if k.startswith("KEA_") and k not in conditional
                and not configured_option(k))
        return out

    for fam in (4, 6):
        ref, compat = names("wait-mt", fam), names("14-config", fam)
        if not compat:
            continue
        for point in sorted(set(ref) & set(compat)):
            if ref[point] != compat[point]:
                problems.append(f"1.4-style config, {point}: variables differ from the default run: "
                                f"only 1.4 {sorted(compat[point] - ref[point])}, "
                                f"only default {sorted(ref[point] - compat[point])}")
    return problems


# --------------------------------------------------------------------------------------------
# one cell


#: Where a sanitized hook's reports go (ASan's and UBSan's log_path; Kea runs as _kea).
C_SANITIZER = f"{C_OUT}/sanitizer"


def sanitizer_env(sanitized: SanitizedBuild, lib_dir: str) -> Dict[str, str]:
    """Kea's environment for a sanitized hook: ASan's runtime first (Kea is not instrumented),
    reports to files, the first error ends Kea. No leak check: Kea's own allocations at exit,
    which ASan's malloc sees too, would be reported as the hook's."""
    return {"LD_PRELOAD": f"{lib_dir}/{sanitized.preload.name}",
            "ASAN_OPTIONS": f"log_path={C_SANITIZER}/asan:detect_leaks=0:abort_on_error=1:halt_on_error=1",
            "UBSAN_OPTIONS": f"log_path={C_SANITIZER}/ubsan:print_stacktrace=1:halt_on_error=1"}


def smoke_cell(cell: Cell, *, paths: Paths = Paths(), modes: Sequence[Mode] = MODES,
               examples: bool = True, keep: Optional[bool] = None,
               say: Callable[[str], None] = print,
               sanitized: Optional[SanitizedBuild] = None, isc_oracle: bool = True) -> CellResult:
    """``sanitized``: test that build (hook.build_sanitized) instead of dist/<id>/, with the
    sanitizers' runtimes, and count any report they write as a problem. ``isc_oracle``: after
    the modes, ISC's hook and ours in ISC's dialect side by side (:mod:`.isc_oracle`)."""
    t0 = time.monotonic()
    result = CellResult(cell)
    out = paths.build / cell.id / ("smoke-asan" if sanitized else "smoke")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_file():
            old.unlink()
    result.out_dir = out
    so = sanitized.library if sanitized else paths.out(cell) / LIBRARY
    if not so.is_file():
        result.problems.append(f"{so} does not exist: build the cell first (kea-runscript build --only {cell.id})")
        return result
    catalogue = load_catalogue()
    from .examples import run_examples  # built on this module's hook points
    try:
        image = images.ensure_image("runtime", cell, paths.logs(cell), say)
        with containers.Container(image.tag, f"{cell.id}-smoke", keep=keep, cap_add=CAPS) as c:
            tn = TestNet(cell, c, out, say)
            result.kea_as = tn.identities  # filled as Kea starts
            tn.setup(so)
            if sanitized:
                for lib in sanitized.libraries:
                    c.copy_into(lib, f"{cell.kea_lib}/{lib.name}")
                tn.sh(f"mkdir -p {C_SANITIZER} && chmod 1777 {C_SANITIZER}")
                tn.kea_env = sanitizer_env(sanitized, cell.kea_lib)
            try:
                deadline = TIMERS.valid + TIMERS.probation + 10
                for mode in modes:
                    t = time.monotonic()
                    runs = run_mode(tn, mode, catalogue, deadline)
                    result.runs += runs
                    say(f"{cell.id}: mode {mode.name} ({mode.describe(Version.parse(cell.kea))}): "
                        f"{'ok' if all(r.ok for r in runs) else 'FAILED'} in {time.monotonic() - t:.0f}s")
                result.problems += compare_compat(result.runs, out)
                if isc_oracle:
                    t = time.monotonic()
                    runs = run_oracle(tn, catalogue, deadline, kea_config)
                    result.runs += runs
                    say(f"{cell.id}: ISC's hook as the oracle of ISC's dialect: "
                        f"{'ok' if all(r.ok for r in runs) else 'FAILED'} in {time.monotonic() - t:.0f}s")
                if examples:
                    t = time.monotonic()
                    try:
                        result.examples = run_examples(tn)
                    except SmokeError as e:
                        result.examples = {"examples": [str(e)]}
                    ok = all(not p for p in result.examples.values())
                    say(f"{cell.id}: examples ({', '.join(result.examples)}): "
                        f"{'ok' if ok else 'FAILED'} in {time.monotonic() - t:.0f}s")
            finally:
                # Read even when a run failed: a report ends Kea, which is how runs fail.
                if sanitized:
                    # Report files, and what reached Kea's stderr (UBSan writes there even
                    # with its log_path when it runs inside ASan's runtime).
                    reports = tn.sh(f"cat {C_SANITIZER}/* 2>/dev/null; grep -h -A14 -E "
                                    f"'runtime error:|ERROR: [A-Za-z]+Sanitizer' {C_OUT}/*.out 2>/dev/null",
                                    check=False).output.strip()
                    if reports:
                        result.problems.append("sanitizer reports:\n" + reports[-6000:])
    except (SmokeError, containers.ImageBuildError) as e:
        result.problems.append(str(e))
    result.seconds = time.monotonic() - t0
    (out / "result.txt").write_text(table(result) + "\n" + details(result) + "\n")
    return result


def smoke_cells(cells: Sequence[Cell], *, modes: Sequence[Mode] = MODES, examples: bool = True,
                keep: Optional[bool] = None, say: Callable[[str], None] = print,
                isc_oracle: bool = True) -> List[CellResult]:
    results = []
    for cell in cells:
        if not cell.verified:
            r = CellResult(cell, problems=[f"declared cell, not smoke-tested here: {cell.why_not_buildable_here()}"])
            results.append(r)
            continue
        say(f"{cell.id}: smoke test ({len(modes)} modes{', examples' if examples else ''})")
        results.append(smoke_cell(cell, modes=modes, examples=examples, keep=keep, say=say,
                                  isc_oracle=isc_oracle))
    for r in results:
        say("")
        say(table(r))
        if not r.ok:
            say(details(r))
            if r.out_dir:
                say(f"  Kea logs, recorder lines, client reports: {r.out_dir}")
    return results


def cli_main(args, cells: Sequence[Cell], m) -> ExitCode:
    """``kea-runscript smoke``: build the cells (cached: a no-op when dist/ is current), then
    smoke-test them. OK when every cell passed, FAILED otherwise."""
    from ..builder import hook
    # argparse's choices took only names of MODES
    modes = [x for x in MODES if x.name in args.mode] if args.mode else list(MODES)
    isc_oracle = not args.mode or ORACLE_MODE in args.mode
    keep = True if args.keep_container else None
    t0 = time.monotonic()
    declared = [c for c in cells if not c.verified]
    if len(declared) == len(cells):
        raise ToolkitError(hook.nothing_to_build(
            declared, args.series, "smoke-test",
            "smoke tests verified cells only; a declared cell builds with `kea-runscript build "
            "--allow-declared` on a runner with that network"))
    for c in declared:
        print(f"smoke: skipping {c.id} (declared, not verified here: {c.why_not_buildable_here()})")
    cells = [c for c in cells if c.verified]
    if not args.no_build:
        built = hook.build_cells(cells, keep=keep, verified_ids=[c.id for c in m.verified])
        failed = [r.cell.id for r in built if not r.ok]
        if failed:
            output.error(f"not smoke-testing {', '.join(failed)}: the build failed")
        cells = [r.cell for r in built if r.ok]
        if not cells:
            return ExitCode.FAILED
    results = smoke_cells(cells, modes=modes, examples=not args.no_examples, keep=keep, say=output.say,
                          isc_oracle=isc_oracle)
    print(f"\nsmoke: {sum(r.ok for r in results)}/{len(results)} cells passed in "
          f"{time.monotonic() - t0:.0f}s")
    return ExitCode.OK if results and all(r.ok for r in results) else ExitCode.FAILED
