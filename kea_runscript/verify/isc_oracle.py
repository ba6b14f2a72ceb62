"""ISC's hook as the oracle of our ISC dialect.

One kea-dhcp4 and one kea-dhcp6 load ISC's ``libdhcp_run_script.so`` (the cell's kea-common
ships it) and ours, both configured the way ISC documents (``{"name": ..., "sync": false}``),
each with its own copy of the recorder. The same traffic as the smoke modes' (perfdhcp, the
scenario clients, expiry, recovery; on Kea with ``addr6_register``, a client registering an
address twice) fires every hook point of ISC's. Then, per family:

* the two recorders' events must be equal as multisets (ISC's hook runs scripts
  asynchronously, so order says nothing): argv[1] and the environment, in its order, byte for
  byte; each argv[0] is its own copy's configured path. A difference names the hook point, the
  variable and both values;
* every event, ISC's own included, must carry exactly the names the catalogue's ``isc``
  section says ISC sends there (a drift of the catalogue from ISC's hook shows here);
* every hook point of ISC's that this Kea has must fire.

The copies live in the directory Kea 3.0 restricts ISC's script paths to
(``/usr/share/kea/scripts``, Debian's prefix), where earlier Kea accepts them as well.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Callable, Dict, List, Tuple

from ..builder.hook import LIBRARY
from ..model.catalogue import Catalogue, isc_hook_points
from ..model.versions import Version
from . import checks
from .testnet import C_LOGS, C_OUT, C_RECORDS, C_TOOLS, RECORDER, TestNet

#: the table's columns: our hook in ISC's dialect, ISC's hook (same Kea run)
MODE, ISC_MODE = "isc:ours", "isc:ISC"
ISC_LIBRARY = "libdhcp_run_script.so"
SCRIPTS_DIR = "/usr/share/kea/scripts"
#: the two recorders: each writes <records>/<name>.jsonl (recorder.py's default for a copy)
COPIES = {"isc": "isc-recorder", "ours": "our-recorder"}
#: the address the registering client configures and registers (the v6 subnet's, outside its
#: pool)
REGISTERED = "2001:db8:1::a:1"
REGISTER_DUID_MAC = "02:00:00:00:06:a1"
#: the persistent handler beside our recorder, and where it writes
HANDLER_RECORDER = f"{C_TOOLS}/handler_recorder.py"
HANDLER_RECORDS = f"{C_RECORDS}/isc-handler.jsonl"
#: a client whose hostname holds what a shell or a record format could trip on (NUL: the
#: environment ends the value there, in both hooks), kept by Kea as sent
HOSTNAME_AS_SENT = {"hostname-char-set": "", "ddns-replace-client-name": "never",
                    "ddns-qualifying-suffix": ""}
HOSTILE_MAC = "02:00:00:00:04:a1"
HOSTILE_HOSTNAME = b"a$(touch /tmp/pwned);`id`\nb=c\xff\xfe\x00d"


def script(side: str) -> str:
    return f"{SCRIPTS_DIR}/{COPIES[side]}.py"


def records_of(side: str) -> str:
    return f"{C_RECORDS}/{COPIES[side]}.jsonl"


def libraries(cell) -> List[dict]:
    """ISC's hook and ours, each with the parameters ISC documents (only the script differs:
    its own recorder). Ours runs up to 512 scripts at once (64 by default), as the smoke's
    asynchronous modes do: ISC's hook has no bound, and none of its events may be missed.
    Beside its recorder, ours has the persistent handler in ISC's dialect, whose records must
    be the recorder's events byte for byte."""
    return [
        {"library": f"{cell.hooks_dir}/{ISC_LIBRARY}",
         "parameters": {"name": script("isc"), "sync": False}},
        {"library": f"{cell.hooks_dir}/{LIBRARY}",
         "parameters": {"name": script("ours"), "sync": False, "max-async": 512,
                        "scripts": [{"name": HANDLER_RECORDER, "persistent": True,
                                     "environment": {"SMOKE_RECORD": HANDLER_RECORDS}}]}},
    ]


# --------------------------------------------------------------------------------------------
# comparison


def event_key(rec: dict, side: str) -> Tuple:
    """What must be equal between the two hooks' events: argv from [1] on, the environment in
    the order the hook passed it, and whether argv[0] was the copy's own configured path."""
    argv = rec.get("argv") or []
    return (argv[0] == script(side) if argv else False, tuple(argv[1:]),
            tuple(rec.get("environ") or ()))


def _as_dict(environ: Tuple[str, ...]) -> Dict[str, str]:
    return dict(item.partition("=")[::2] for item in environ)


def describe_difference(isc_key: Tuple, our_key: Tuple) -> List[str]:
    point = isc_key[1][0] if isc_key[1] else "?"
    out = []
    if isc_key[1] != our_key[1]:
        out.append(f"{point}: argv: ISC {list(isc_key[1])!r}, ours {list(our_key[1])!r}")
    a, b = _as_dict(isc_key[2]), _as_dict(our_key[2])
    for name in sorted(set(a) | set(b)):
        if a.get(name) != b.get(name):
            out.append(f"{point}: {name}: ISC {a.get(name)!r}, ours {b.get(name)!r}")
    if not out and isc_key[2] != our_key[2]:
        out.append(f"{point}: same variables in another order: ISC {[i.partition('=')[0] for i in isc_key[2]]}, "
                   f"ours {[i.partition('=')[0] for i in our_key[2]]}")
    return out


def compare(isc_records: List[dict], our_records: List[dict], max_problems: int = 12) -> List[str]:
    """Problems of the two multisets of events; each unmatched ISC event is shown against the
    closest unmatched one of ours at the same hook point."""
    problems = []
    for side, records in (("isc", isc_records), ("ours", our_records)):
        wrong = [r.get("argv") for r in records if not event_key(r, side)[0]]
        if wrong:
            problems.append(f"{side}: argv[0] is not the configured path {script(side)}: {wrong[0]!r}")
    isc = Counter(event_key(r, "isc")[1:] for r in isc_records)
    ours = Counter(event_key(r, "ours")[1:] for r in our_records)
    only_isc = list((isc - ours).elements())
    only_ours = list((ours - isc).elements())
    for key in only_isc:
        point = key[0][:1]
        candidates = [k for k in only_ours if k[0][:1] == point]
        if not candidates:
            problems.append(f"{point[0] if point else '?'}: an event of ISC's hook has no counterpart "
                            f"in ours ({len(key[1])} variables)")
            continue
        best = min(candidates, key=lambda k: len(set(k[1]) ^ set(key[1])))
        only_ours.remove(best)
        problems += describe_difference((True,) + key, (True,) + best)
    for key in only_ours:
        problems.append(f"{key[0][0] if key[0] else '?'}: an event of ours has no counterpart in "
                        f"ISC's hook ({len(key[1])} variables)")
    return problems[:max_problems] + ([f"... {len(problems) - max_problems} more"]
                                      if len(problems) > max_problems else [])


def catalogue_problems(rec: dict, catalogue: Catalogue, kea: Version) -> List[str]:
    """The names of one event against the catalogue's ISC section: none unknown, none
    missing (a conditional variable, or an only-if-set block, may be absent)."""
    argv = rec.get("argv") or []
    point = argv[1] if len(argv) > 1 else "?"
    env = _as_dict(tuple(rec.get("environ") or ()))
    isc = catalogue.isc
    try:
        emits = isc.hook_point(point).emits
    except KeyError:
        return [f"{point}: not one of ISC's hook points in the catalogue"]
    sizes = {}
    for emit in emits:
        if emit.each:
            value = env.get(emit.prefix + "_SIZE", "")
            if not value.isdigit():
                return [f"{point}: {emit.prefix}_SIZE is {value!r}, not a count"]
            sizes[emit.prefix] = int(value)
    problems = []
    names = isc.names_at(point, kea, sizes)
    optional_prefixes = [e.prefix for e in emits if e.only_if_set]
    for name, var in names:
        optional = (var is not None and bool(var.when)) or any(
            name.startswith(p + "_") for p in optional_prefixes)
        if name not in env and not optional:
            problems.append(f"{point}: {name} missing")
    known = {name for name, _ in names}
    problems += [f"{point}: {name} is not in the catalogue's ISC section" for name in env
                 if name not in known]
    for emit in emits:  # an only-if-set block comes whole or not at all
        block = [n for n, v in names if emit.only_if_set and n.startswith(emit.prefix + "_")
                 and not (v and v.when)]
        if any(n in env for n in block) and not all(n in env for n in block):
            problems.append(f"{point}: {emit.prefix}_* sent in part")
    return problems


def check_side(records: List[dict], catalogue: Catalogue, kea: Version, family: int,
               side: str, expected: List[str]) -> checks.RunResult:
    points = {p: checks.PointResult(p) for p in expected}
    run = checks.RunResult(family, ISC_MODE if side == "isc" else MODE, points, list(expected))
    for rec in records:
        argv = rec.get("argv") or []
        point = argv[1] if len(argv) > 1 else "?"
        pr = points.setdefault(point, checks.PointResult(point))
        pr.calls += 1
        problems = catalogue_problems(rec, catalogue, kea)
        if problems:
            pr.bad_calls += 1
            for p in problems:
                pr.counts[p] = pr.counts.get(p, 0) + 1
                if len(pr.problems) < 5 and p not in pr.problems:
                    pr.problems.append(p)
    unexpected = sorted(set(points) - set(expected))
    if unexpected:
        run.problems.append(f"{side}: events at hook points ISC's dialect does not have here: {unexpected}")
    return run


# --------------------------------------------------------------------------------------------
# the run


def install_recorders(tn: TestNet) -> None:
    for side in COPIES:
        tn.sh(f"mkdir -p {SCRIPTS_DIR} && install -m 0755 -o root -g root {RECORDER} {script(side)}")


def run_oracle(tn: TestNet, catalogue: Catalogue, deadline_s: float,
               kea_config: Callable[..., str]) -> List[checks.RunResult]:
    """Both hooks in one Kea per family, the smoke's traffic, the comparison; ``kea_config``
    is the smoke's (:func:`.smoke.kea_config`). The runs it returns: per family, ours (its
    problems include the comparison's) and ISC's."""
    cell = tn.cell
    kea = Version.parse(cell.kea)
    tag = "isc-oracle"
    install_recorders(tn)
    tn.sh(f"rm -f {C_RECORDS}/*")
    pids, logs = {}, {}
    wanted = {f: set(isc_hook_points(kea, f)) for f in (4, 6)}
    try:
        for fam in (4, 6):
            logs[fam] = f"{C_LOGS}/smoke-{tag}-dhcp{fam}.log"
            conf = json.loads(kea_config(cell, fam, {}, multi_threading=None, log_file=logs[fam],
                                         libraries=libraries(cell)))
            # the client's hostname reaches the lease as it was sent (shell syntax, a newline,
            # a NUL, non-UTF-8 bytes): no replacement, no qualifying suffix
            conf[f"Dhcp{fam}"].update(HOSTNAME_AS_SENT)
            conf = json.dumps(conf, indent=1)
            pids[fam] = tn.start_kea(fam, conf, tag, logs[fam])
        tn.perfdhcp(4)
        tn.client("v4", "scenario")
        tn.client("v4", "dora", "--mac", HOSTILE_MAC, "--hostname-hex", HOSTILE_HOSTNAME.hex())
        tn.perfdhcp(6)
        tn.client("v6", "scenario")
        if "addr6_register" in wanted[6]:
            tn.client("v6", "register", "--addr", REGISTERED, "--duid-mac", REGISTER_DUID_MAC)
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            seen = {f: _points(tn.read_records(records_of("isc")), f) &
                    _points(tn.read_records(records_of("ours")), f) for f in (4, 6)}
            if all(wanted[f] <= seen[f] for f in (4, 6)):
                break
            time.sleep(1)
        time.sleep(1.5)  # the last expiries' scripts
    finally:
        for fam, pid in pids.items():
            tn.stop(pid)
        # kept also when a client failed: its Kea log is what says why (a flake of kea3.0.4's
        # ADDR-REG-INFORM without reply left nothing to read)
        for fam in pids:
            tn.keep(logs[fam], f"{tag}-kea-dhcp{fam}.log")
            tn.keep(f"{C_OUT}/{tag}-kea-dhcp{fam}.out", f"{tag}-kea-dhcp{fam}.out")
    time.sleep(1)  # asynchronous runs started just before the stop
    results = []
    isc_all, ours_all = tn.read_records(records_of("isc")), tn.read_records(records_of("ours"))
    for fam in (4, 6):
        isc = [r for r in isc_all if _family(r) == fam]
        ours = [r for r in ours_all if _family(r) == fam]
        for side, records in (("isc", isc), ("ours", ours)):
            with open(tn.out / f"{tag}-{side}-records-v{fam}.jsonl", "w") as f:
                for rec in records:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
        expected = sorted(wanted[fam])
        ours_run = check_side(ours, catalogue, kea, fam, "ours", expected)
        isc_run = check_side(isc, catalogue, kea, fam, "isc", expected)
        ours_run.problems += [f"ISC's hook vs ours: {p}" for p in compare(isc, ours)]
        handled = [r for r in tn.read_records(HANDLER_RECORDS) if _family(r) == fam]
        ours_run.problems += [f"persistent handler vs our recorder: {p}"
                              for p in checks.compare_handler(ours, handled)]
        errors = tn.sh(f"grep -E ' (ERROR|FATAL) ' {logs[fam]} | head -n 5", check=False).output.strip()
        if errors:
            ours_run.problems.append(f"Kea logged errors: {errors}")
        results += [ours_run, isc_run]
    return results


def _family(rec: dict) -> int:
    argv = rec.get("argv") or []
    return 6 if len(argv) > 1 and "6" in argv[1] else 4


def _points(records: List[dict], family: int) -> set:
    return {r["argv"][1] for r in records if len(r.get("argv") or []) > 1 and _family(r) == family}
