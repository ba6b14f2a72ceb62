"""What Kea does with `skip` / `drop` at each hook point (kea_facts.yaml's callout_status): the
facts are complete and well-formed, the rendered hook carries the verdicts of its Kea version,
and docs/hook.md's table is generated from the same facts."""

import re

import pytest

from kea_runscript.generate import statuses
from kea_runscript.generate.render import render_files
from kea_runscript.model import catalogue
from kea_runscript.model.facts import FACTS_FILE, facts_for, load_table

ROW = re.compile(r'\{"(\w+)", (?:true|false),.*?,\s*(\d), ("[^"]*"), (\d), ("[^"]*")\}', re.S)


def rendered_verdicts(kea: str) -> dict:
    callouts = render_files(kea)["callouts.cc"]
    return {name: (int(skip), int(drop)) for name, skip, _, drop, _ in ROW.findall(callouts)}


def test_every_kea_hook_point_has_both_statuses_and_the_replay_events_none():
    table = load_table()["callout_status"]
    for point in catalogue.load().hook_points:
        assert (point.name in table) == (not point.replay), point.name
    assert "addr6_register" in table  # ISC's dialect calls scripts there


def test_the_hook_page_table_is_generated_from_the_facts():
    assert statuses.section() == statuses.status_section(), "run `kea-runscript docs`"
    text = statuses.status_section()
    assert "| `lease4_select` |" in text and "< 1.4.0: **refused**: Kea ignores it" in text


@pytest.mark.parametrize("kea, point, verdicts", [
    # (skip, drop): 0 ok, 1 warning, 2 refused
    ("1.3", "pkt4_receive", (0, 2)),        # drop ignored before 1.4.0
    ("2.2", "pkt4_receive", (0, 0)),
    ("2.2", "lease6_select", (2, 2)),       # skip crashed Kea until 2.3.4; drop never read
    ("2.6", "lease6_select", (0, 2)),
    ("2.6", "leases4_committed", (2, 1)),   # skip ignored; drop: no answer, lease committed
    ("3.0", "pkt6_send", (2, 1)),           # skip sends an empty packet
    ("3.0", "lease4_release", (1, 1)),
    ("3.0", "lease4_replay", (0, 0)),       # the hook's own event: no status
])
def test_the_rendered_hook_carries_the_verdicts_of_its_kea(kea, point, verdicts):
    assert rendered_verdicts(kea)[point] == verdicts


def test_a_status_boundary_bounds_the_rendered_tree():
    # lease6_release's drop changed at 2.3.2: a 2.2 tree does not vouch for it
    assert facts_for("2.2").valid_until <= facts_for("2.3.2").version


def test_a_bad_verdict_is_refused_naming_point_and_status(tmp_path):
    source = FACTS_FILE.read_text().replace(
        "pkt4_send:\n    skip: [{since: 1.1.0, verdict: refuse,", "pkt4_send:\n    skip: [{since: 1.1.0, verdict: maybe,", 1)
    bad = tmp_path / "kea_facts.yaml"
    bad.write_text(source)
    with pytest.raises(ValueError, match=r"callout_status: pkt4_send skip: each step needs a verdict"):
        load_table(bad)
