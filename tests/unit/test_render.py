"""Rendering: every series renders, matches its golden files, and bad versions are refused."""

import re

import pytest

from kea_runscript.model import catalogue
from kea_runscript.generate import golden
from kea_runscript.model.facts import UnsupportedVersion, facts_for, resolve_version, supported_series
from kea_runscript.generate.render import render_files, render_tree


def test_golden_files_match_every_series():
    problems = golden.differences()
    assert not problems, "\n".join(problems) + "\n(run `kea-runscript golden --update` and review the diff)"


@pytest.mark.parametrize("series", supported_series())
def test_every_series_renders_a_complete_tree(series, tmp_path):
    tree = render_tree(series, tmp_path / series)
    names = {p.name for p in tree.iterdir()}
    assert {"Makefile", "callouts.cc", "kea_features.h", "load.cc", "launcher.cc"} <= names
    makefile = (tree / "Makefile").read_text()
    for source in re.search(r"^SOURCES = (.*)$", makefile, re.M).group(1).split():
        assert source in names


def test_series_resolve_to_their_reference_release_and_exact_versions_stay():
    assert str(resolve_version("2.6")) == "2.6.3"
    assert str(resolve_version("2.6.1")) == "2.6.1"


@pytest.mark.parametrize("bad", ["0.9", "4.0", "2.x", "", "1.10.0"])
def test_unsupported_versions_name_the_supported_ones(bad):
    with pytest.raises(UnsupportedVersion, match="1.1.*3.3"):
        facts_for(bad)


def test_subnet_pointer_type_follows_the_facts():
    assert "ConstSubnet4Ptr value;" in render_files("2.7.5")["callouts.cc"]
    assert "ConstSubnet4Ptr" not in render_files("2.7.4")["callouts.cc"]


def test_hook_points_missing_from_a_release_get_no_callout():
    old = render_files("1.3")["callouts.cc"]
    assert "int callout_leases4_committed" not in old
    assert '{"leases4_committed", false' in old
    assert "int callout_leases4_committed" in render_files("1.4")["callouts.cc"]


def test_every_catalogue_variable_is_extracted_in_the_newest_release():
    text = render_files("3.0")["callouts.cc"]
    for variable in catalogue.load().variables():
        assert f'"{variable.name}="' in text


def test_library_names_and_standard_follow_the_facts():
    assert "-lkea-dhcp++" in render_files("2.6")["Makefile"]
    assert "-lkea-dhcp " in render_files("3.0")["Makefile"]
    assert "-std=c++14" in render_files("1.3")["Makefile"]


def test_cfg_globals_shim_only_where_the_install_tree_lacks_the_header():
    assert "make-cfg-globals-shim.sh" in render_files("2.2")
    assert "make-cfg-globals-shim.sh" not in render_files("2.4")
    assert "make-cfg-globals-shim.sh" not in render_files("2.0")


@pytest.mark.parametrize("kea, replays", [("1.4", False), ("1.5", True), ("3.0", True)])
def test_replay_events_follow_the_facts(kea, replays):
    """lease4_replay / lease6_replay (replay: true) exist from Kea 1.5 (dhcp4/6_srv_configured,
    paged lease reads), their callouts registered at those Kea hook points; the Kea-typed lease
    reader only in a tree that replays."""
    callouts = render_files(kea)["callouts.cc"]
    rows = re.findall(r'\{"(lease[46]_replay)", (true|false), [^\n]*"(\w+)", (true|false),\s*\d, ', callouts)
    assert [(n, a == "true", hook, r == "true") for n, a, hook, r in rows] == [
        ("lease4_replay", replays, "dhcp4_srv_configured", True),
        ("lease6_replay", replays, "dhcp6_srv_configured", True)]
    assert ('#include "lease_source.h"' in callouts) == replays
    assert ("int callout_lease4_replay(" in callouts) == replays
    assert "int callout_lease4_select(" in callouts


@pytest.mark.parametrize("kea, parking", [
    ("1.9.6", []),
    ("2.2.0", ["leases4_committed", "leases6_committed"]),
    ("2.5.6", ["leases4_committed", "leases6_committed"]),
    ("2.6.3", ["leases4_committed", "leases6_committed", "subnet4_select", "subnet6_select"]),
])
def test_parking_hook_points_follow_the_facts(kea, parking):
    """park: true is accepted where this hook parks queries for that Kea (kea_facts.yaml
    `parking`), and only those callouts hand their query over to be parked."""
    assert sorted(facts_for(kea).parking_points()) == parking
    callouts = render_files(kea)["callouts.cc"]
    table = re.findall(r'\{"(\w+)", (?:true|false), (?:true|false), "[\d.]+", \d, '
                       r'(?:true|false), (?:true|false), (?:true|false), (true|false), "([\d.]*)", "\w+", (?:true|false),\s*\d, "[^"]*", \d, "[^"]*"\}',
                       callouts)
    assert sorted(name for name, parks, _ in table if parks == "true") == parking
    handing_over = sorted(re.findall(r"int callout_(\w+)\(CalloutHandle& handle\) \{(?:(?!\nint callout_).)*?parked_query<", callouts, re.S))
    assert handing_over == parking
    assert ('#include "parked_query.h"' in callouts) == bool(parking)
    since = {name: s for name, _, s in table}
    assert since["leases4_committed"] == "1.9.7" and since["subnet6_select"] == "2.5.7" and since["pkt4_receive"] == ""
