"""The benchmark's report (`nox -s bench`): the capacity tables and the ratios against the
targets the issues name, from the measured results (:mod:`kea_runscript.bench.dhcp`)."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from .rows import SCRIPT_LABELS, Row, empty_twin, references
from .trials import RowResult


def _ratio(a: Optional[int], b: Optional[int], bound: bool = False) -> str:
    return f"{a / b:.2f}{'*' if bound else ''}" if a and b else "–"


def _pass_ratio(res: RowResult, ref: RowResult, i: int) -> str:
    if i >= len(res.passes) or i >= len(ref.passes):
        return "–"
    return _ratio(res.capacity(i), ref.capacity(i), res.passes[i].at_edge or ref.passes[i].at_edge)


def capacity_table(results: Dict[str, RowResult], family: int, leases: int = 0) -> str:
    """One family's rows with one lease database (0: the empty Kea) as a Markdown table; the
    lease tables also compare each row with its empty-Kea twin when that was measured."""
    rows = [r.row for r in results.values() if r.row.family == family and r.row.leases == leases]
    if not rows:
        return ""
    npass = max(len(results[r.key].passes) for r in rows)
    exch = "DORA" if family == 4 else "SARR"
    head = ["Kea configuration", "MT", "script"]
    head += [f"capacity {exch}/s" + (f" pass {i + 1}" if npass > 1 else "") for i in range(npass)]
    head += ["÷ no hook", "÷ ISC"]
    head += ["÷ empty Kea"] if leases else [f"{exch} latency ms at ½ capacity"]
    head += ["Kea RSS MiB"] + (["Kea start s"] if leases else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        res = results[r.key]
        none, isc = references(r, rows)
        caps = [res.passes[i].show() if i < len(res.passes) else "–" for i in range(npass)]
        def ratios(ref):
            if ref is None or ref == r:
                return "1" if ref == r else "–"
            return " / ".join(_pass_ratio(res, results[ref.key], i) for i in range(npass))
        cells = [r.label, "on" if r.mt else "off", "" if r.hook == "none" else SCRIPT_LABELS[r.script],
                 *caps, ratios(none), ratios(isc)]
        if leases:
            twin = results.get(empty_twin(r).key)
            cells.append(_pass_ratio(res, twin, 0) if twin else "–")
        else:
            lat = res.latency
            cells.append(f"{lat.delay_ms:.2f}" if lat is not None and lat.delay_ms is not None else "–")
        cells.append(f"{res.rss_mib:.0f}" if res.rss_mib else "–")
        if leases:
            cells.append(f"{res.start_s:.1f}" if res.start_s is not None else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(results: Dict[str, RowResult]) -> List[str]:
    """The issue's targets, as measured ratios (printed for reading; nothing is asserted)."""
    rows = [r.row for r in results.values()]
    out = []
    picks = [
        ("leases4_committed, wait: false, MT on (target ≥ 2× ISC)",
         Row(4, "runscript", True, points=("leases4_committed",))),
        ("1.4 default (every default point), wait: true, MT off (target ≥ 0.5× ISC)",
         Row(4, "runscript", False, wait=True)),
        ("1.4 default, wait: true, MT on (target ≥ 0.5× ISC)", Row(4, "runscript", True, wait=True)),
    ]
    for text, row in picks:
        if row.key not in results:
            continue
        res = results[row.key]
        vals = []
        for isc in [r for r in rows if r.family == 4 and r.hook == "isc" and r.script == row.script
                    and not r.leases]:
            ref = results[isc.key]
            ratios = " / ".join(_pass_ratio(res, ref, i) for i in range(len(res.passes)))
            vals.append(f"{ratios} (ISC with MT {'on' if isc.mt else 'off'})")
        if vals:
            out.append(f"{text}: {'; '.join(vals)}")
    return out


#: Script runs per DORA with the 1.4 hook points: pkt4_receive, subnet4_select, lease4_select
#: and pkt4_send, for the DISCOVER and for the REQUEST (the smoke tests count them); the same
#: four points (pkt6_receive, subnet6_select, lease6_select, pkt6_send) twice per SARR.
SYNC_RUNS_PER_DORA = 8


def sync_floor(results: Dict[str, RowResult], spawn_us: Dict[str, float]) -> List[str]:
    """What no launcher can beat for the 1.4 default with MT off: SYNC_RUNS_PER_DORA
    synchronous runs per DORA, each at least a bare posix_spawn+waitpid of the script
    (measured in the same run)."""
    out = []
    for script, label in SCRIPT_LABELS.items():
        row, isc = Row(4, "runscript", False, script=script, wait=True), Row(4, "isc", False, script=script)
        if label not in spawn_us or row.key not in results or isc.key not in results:
            continue
        bound = 1e6 / (SYNC_RUNS_PER_DORA * spawn_us[label])
        ref = results[isc.key]
        ratios = " / ".join(f"{bound / ref.capacity(i):.2f}" for i in range(len(ref.passes))
                            if ref.capacity(i))
        out.append(f"floor of the 1.4 default, MT off, {label}: {SYNC_RUNS_PER_DORA} × {spawn_us[label]:.0f} µs "
                   f"(bare posix_spawn+waitpid) per DORA leave at most {bound:.0f} DORA/s, "
                   f"whatever the launcher = {ratios}× ISC (MT off)")
    return out


#: issue 14's targets for the handler rows at the default points: (reference, at least)
#: where a target lies below the measured floor, the share of the floor a row must reach (issue 25)
FLOOR_SHARE = 0.9
HANDLER_TARGETS = {True: (("no hook", 0.5), ("ISC", 3.0)), False: (("no hook", 0.9),)}


def _verdict(values: Sequence[Optional[float]], target: float) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "not measured"
    met = [v >= target for v in got]
    if all(met):
        return "met"
    if not any(met):
        return "missed"
    return "met in pass " + ", ".join(str(i + 1) for i, m in enumerate(met) if m) + " only"


def park_targets(results: Dict[str, RowResult]) -> List[str]:
    """Issue 25's targets for parked queries, as ratios within each pass: `park: true` against
    the same configuration with `wait: false` (target ≥ 0.9) and with `wait: true` (≥ 3)."""
    out = []
    for res in results.values():
        row = res.row
        if not row.park:
            continue
        twins = {"wait: false": Row(row.family, row.hook, row.mt, row.script, False, row.points),
                 "wait: true": Row(row.family, row.hook, row.mt, row.script, True, row.points)}
        parts = []
        for what, twin in twins.items():
            other = results.get(twin.key)
            if other is None:
                continue
            ratios = [res.capacity(i) / other.capacity(i) for i in range(len(res.passes))
                      if res.capacity(i) and other.capacity(i)]
            target = 0.9 if what == "wait: false" else 3.0
            shown = " / ".join(f"{r:.2f}" for r in ratios) or "n/a"
            verdict = "met" if ratios and min(ratios) >= target else "missed"
            parts.append(f"÷ {what} {shown} (target ≥ {target:g}: {verdict})")
        if parts:
            out.append(f"DHCPv{row.family}, {SCRIPT_LABELS[row.script]}, MT {'on' if row.mt else 'off'}: "
                       + "; ".join(parts))
    return out


def handler_targets(results: Dict[str, RowResult], costs: Dict[str, Dict[str, float]]) -> List[str]:
    """Each handler row at the default points (empty Kea) against issue 14's targets, as
    ratios within each pass; where a target is missed, what bounds it, from this run's
    measurements: the records per exchange times a record's cost to the handler (costs:
    launcher.handler_costs) beside Kea's own time per exchange (1 / no-hook capacity)."""
    rows = [r.row for r in results.values()]
    out = []
    for row in rows:
        if not row.handler or row.points is not None or row.leases:
            continue
        res = results[row.key]
        refs = dict(zip(("no hook", "ISC"), references(row, rows)))
        exch = "DORA" if row.family == 4 else "SARR"
        parts, missed = [], False
        for name, target in HANDLER_TARGETS[row.wait]:
            ref = refs.get(name)
            if ref is None:
                continue
            ref_res = results[ref.key]
            vals = [res.capacity(i) / ref_res.capacity(i) if res.capacity(i) and ref_res.capacity(i) else None
                    for i in range(len(res.passes))]
            verdict = _verdict(vals, target)
            missed = missed or verdict != "met"
            shown = " / ".join(_pass_ratio(res, ref_res, i) for i in range(len(res.passes)))
            parts.append(f"{shown}× {name} (target {'>' if name == 'ISC' else '≥'} {target:g}×: {verdict})")
        if not parts:
            continue
        line = (f"handler ({SCRIPT_LABELS[row.script]}), default points, DHCPv{row.family}, "
                f"wait: {'true' if row.wait else 'false'}, MT {'on' if row.mt else 'off'}: " + "; ".join(parts))
        cost = costs.get(SCRIPT_LABELS[row.script])
        none = refs.get("no hook")
        if missed and cost and none is not None:
            line += ". " + _bound(row, res, results[none.key], cost, exch)
        out.append(line)
    return out


def _bound(row: Row, res: RowResult, none: RowResult, cost: Dict[str, float], exch: str) -> str:
    """What bounds a handler row, measured: per exchange, SYNC_RUNS_PER_DORA records at the
    handler's round trip (wait: true: Kea's thread waits for each) or at its per-record cost
    back to back (wait: false: the writer thread and the handler share the cores with Kea),
    beside Kea's own time per exchange without the hook; the rest is the hook's own work."""
    c0, c = none.capacity(0), res.capacity(0)
    if not c0:
        return ""
    if row.wait:
        # the faster of the bare round trips: sleeping for the reply at once, or reading it
        # without sleeping first as the hook does
        per = min(cost["roundtrip_us"], cost.get("roundtrip_spin_us", cost["roundtrip_us"]))
        what = "round trip (write, wait for the reply; the faster bare way)"
    else:
        per, what = cost["stream_us"], "record written back to back"
    kea_us = 1e6 / c0
    pipe_us = SYNC_RUNS_PER_DORA * per
    text = (f"Bound (pass 1): {SYNC_RUNS_PER_DORA} records per {exch} × {per:.1f} µs per {what}, "
            f"measured = {pipe_us:.0f} µs beside Kea's own {kea_us:.0f} µs per {exch} (1 / no-hook "
            f"capacity): at most {kea_us / (kea_us + pipe_us):.2f}× no hook if Kea's thread paid "
            f"all of it")
    if res.passes[0].at_edge or none.passes[0].at_edge:
        # a capacity that is only a bound (no trial failed) gives no time per exchange
        return text + "; the rest is not known: a capacity in pass 1 is only a bound"
    if c:
        rest = 1e6 / c - kea_us - pipe_us
        text += (f"; measured {1e6 / c:.0f} µs per {exch}, so the hook's own work (variables, "
                 f"record, hand-over, its threads' wake-ups) is {rest / SYNC_RUNS_PER_DORA:.0f} µs "
                 f"per event")
        text += (": bounded by the pipe" if pipe_us >= rest else
                 f": bounded by the hook's own work ({rest:.0f} µs per {exch}), not by the pipe")
        reached = c * (kea_us + pipe_us) / 1e6
        text += (f"; the row reaches {reached:.2f} of that floor (target ≥ {FLOOR_SHARE:g}: "
                 f"{'met' if reached >= FLOOR_SHARE else 'missed'})")
    return text

