"""Smoke tests of the verified cells (``pytest -m integration`` / ``nox -s integration``).

Per cell (test ids carry the cell id): the hook is built (cached when dist/<id>/ is current),
then :func:`kea_runscript.verify.smoke.smoke_cell` runs the real kea-dhcp4 / kea-dhcp6 of the cell's
OS with real clients in every mode and the examples. The whole run happens once per cell
(module-scoped fixture); the tests below read its result and what it kept in
build/<id>/smoke/.
"""

from __future__ import annotations

import json

import pytest

from kea_runscript.builder import hook
from kea_runscript.verify import checks, isc_oracle, smoke
from kea_runscript.model import matrix
from kea_runscript.model.catalogue import isc_hook_points, load as load_catalogue

pytestmark = pytest.mark.integration

VERIFIED = matrix.load().verified


@pytest.fixture(scope="module", params=VERIFIED, ids=lambda c: c.id)
def smoked(request):
    cell = request.param
    b = hook.build_cell(cell)
    assert b.ok, f"{cell.id}: build failed: {b.message} (log {b.log})"
    result = smoke.smoke_cell(cell)
    print("\n" + smoke.table(result))
    return result


def test_every_hook_point_fires_with_the_catalogue_variables(smoked):
    assert smoked.ok, "\n" + smoke.table(smoked) + "\n" + smoke.details(smoked) + \
        f"\nKea logs and recorder lines: {smoked.out_dir}"


def test_every_catalogue_hook_point_was_seen_in_every_mode(smoked):
    """Independent of the verdicts: the table has a call count for each (point, mode)."""
    for run in smoked.runs:
        silent = [p for p in run.expected if not run.points[p].fired]
        assert not silent, f"{smoked.cell.id} [{run.mode} v{run.family}]: did not fire: {silent}"
    modes = {r.mode for r in smoked.runs}
    assert modes == {m.name for m in smoke.MODES} | {isc_oracle.MODE, isc_oracle.ISC_MODE}


def test_iscs_hook_and_ours_in_iscs_dialect_agree_on_every_event(smoked):
    """Issue 24: ISC's hook is the oracle: both hooks in one Kea, every ISC hook point of this
    Kea fired for both, the same events byte for byte (the comparison's problems are in our
    run's), every name the catalogue's."""
    runs = {(r.mode, r.family): r for r in smoked.runs if r.mode in (isc_oracle.MODE, isc_oracle.ISC_MODE)}
    assert set(runs) == {(m, f) for m in (isc_oracle.MODE, isc_oracle.ISC_MODE) for f in (4, 6)}
    for (mode, family), run in runs.items():
        assert run.expected == sorted(isc_hook_points(smoked.cell.kea, family)), (mode, family)
        assert run.ok, f"{smoked.cell.id} [{mode} v{family}]: {run.problems} " + "; ".join(
            f"{p}: {r.problems}" for p, r in run.points.items() if not r.ok)


def test_handler_mode_gets_every_event_the_exec_script_gets(smoked):
    """Issue 14: beside the exec recorder, in every mode but the 1.4-style one, a persistent
    handler at the same hook points: every hook point fires for it too, its records pass the
    same catalogue checks, and they are the exec calls of the same run byte for byte."""
    handler_runs = [r for r in smoked.runs if r.handler]
    assert {(r.mode, r.family) for r in handler_runs} == \
        {(m.name, f) for m in smoke.MODES if m.handler for f in (4, 6)}
    for run in handler_runs:
        where = f"{smoked.cell.id} [{smoke.column(run.mode, True)} v{run.family}]"
        silent = [p for p in run.expected if not run.points[p].fired]
        assert not silent, f"{where}: did not fire: {silent}"
        assert run.ok, f"{where}: {run.problems[:8]}\n" + smoke.details(smoked)
        exec_run = next(r for r in smoked.runs if not r.handler and (r.mode, r.family) == (run.mode, run.family))
        assert {p: pr.calls for p, pr in run.points.items()} == {p: pr.calls for p, pr in exec_run.points.items()}, where


def test_compat_config_calls_only_the_14_hook_points(smoked):
    cat = load_catalogue()
    for run in smoked.runs:
        if run.mode != "1.4-config":
            continue
        fired = {p for p, pr in run.points.items() if pr.calls}
        assert fired == {p.name for p in cat.hook_points if p.default and p.family == run.family}


def test_examples_routes_appear_and_go(smoked):
    assert smoked.examples, "the examples did not run"
    bad = {k: v for k, v in smoked.examples.items() if v}
    assert not bad, bad


def test_lease6_type_is_a_documented_value(smoked):
    """KEA_LEASE6_TYPE must be one of the values the catalogue documents."""
    seen = set()
    for path in sorted(smoked.out_dir.glob("*-records-v6.jsonl")):
        for line in path.read_text().splitlines():
            env = json.loads(line)["env"]
            if "KEA_LEASE6_TYPE" in env:
                seen.add(env["KEA_LEASE6_TYPE"])
    assert seen, "no lease6 call recorded"
    documented = load_catalogue().variable("KEA_LEASE6_TYPE").values
    assert seen <= set(documented), \
        f"{smoked.cell.id}: KEA_LEASE6_TYPE values {sorted(seen)}, catalogue documents {documented}"


def test_kea_ran_as_the_packaged_unit_and_the_report_says_so(smoked):
    """Issue 15: every start of Kea had the user and ambient capabilities of the cell's
    packaged unit (the routing examples: plus CAP_NET_ADMIN from their drop-in), read back
    from /proc/<pid>/status; the report names them."""
    assert smoked.kea_as, "no Kea start recorded"
    report = smoke.table(smoked)
    for tag, ident in smoked.kea_as.items():
        if ident["unit"].startswith("root:"):
            assert ident["user"] == "root", (tag, ident)
            continue
        assert ident["user"] != "root", (tag, ident)
        assert f"{ident['name']} ran as {ident['user']} (uid {ident['uid']}" in report
        with_dropin = tag.startswith(("examples-dhcp", "examples-replay"))  # the drop-in runs
        assert ("CAP_NET_ADMIN" in ident["CapAmb"]) == with_dropin, (tag, ident)
    stock = [t for t in smoked.kea_as if t.startswith("examples-stock")]
    dropin = [t for t in smoked.kea_as if t.startswith(("examples-dhcp", "examples-replay"))]
    if any(not i["unit"].startswith("root:") for i in smoked.kea_as.values()):
        assert stock and dropin, sorted(smoked.kea_as)
