"""The variables catalogue: schema, coverage of the 1.4 README, consistency with the facts."""

import re

import pytest
import yaml

from kea_runscript import ROOT
from kea_runscript.model import catalogue
from kea_runscript.model.facts import load_table as load_facts
from kea_runscript.model.versions import Version

# The original project's README, shipped beside the checkout as ../shared/seed.
SEED = ROOT.parent / "shared" / "seed" / "000_2ea8bd2f90537978.txt"


@pytest.fixture(scope="module")
def cat():
    return catalogue.load()


def test_names_are_unique_and_prefixed(cat):
    names = [v.name for v in cat.variables()]
    assert len(names) == len(set(names))
    assert all(n.startswith("KEA_") for n in names)


def _extractors() -> str:
    """The headers the extractors are in: fields.h, and field_text.h for the ones that only
    write a Kea value as text (also fields of ISC's dialect)."""
    return "".join((ROOT / "hook" / name).read_text() for name in ("fields.h", "field_text.h"))


def test_every_field_has_an_extractor(cat):
    fields_h = _extractors()
    defined = set(re.findall(r"\bvoid (\w+)\(Environment& env", fields_h))
    missing = {v.field for v in cat.variables()} - defined
    assert not missing, f"fields without an extractor in hook/fields.h: {sorted(missing)}"


def test_every_hook_point_is_known_to_the_facts(cat):
    known = set(load_facts()["hook_points"])
    assert {p.name for p in cat.hook_points} | {p.name for p in cat.isc.hook_points} == known


def test_every_field_of_iscs_dialect_has_an_extractor(cat):
    fields_h = _extractors()
    defined = set(re.findall(r"\bvoid (\w+)\(Environment& env", fields_h))
    used = {v.field for b in cat.isc.blocks.values() for v in b.variables}
    assert used - defined == set()


def test_every_block_of_iscs_dialect_has_a_type_fact(cat):
    facts = load_facts()["facts"]
    for block in cat.isc.blocks.values():
        assert f"type_{block.object}" in facts, block.name
    for point in cat.isc.hook_points:
        for emit in point.emits:
            if emit.each:
                assert f"type_{cat.isc.blocks[emit.block].object}_collection" in facts, point.name


def test_iscs_names_in_order_with_collections_and_versions(cat):
    names = [n for n, _ in cat.isc.names_at("leases6_committed", Version(3, 0, 4),
                                            {"LEASES6": 2, "DELETED_LEASES6": 0})]
    assert names[:2] == ["QUERY6_TYPE", "QUERY6_TXID"]
    assert names[12:16] == ["QUERY6_OPTION_18", "QUERY6_OPTION_37", "QUERY6_OPTION_38", "LEASES6_SIZE"]
    assert names[16] == "LEASES6_AT0_ADDRESS" and "LEASES6_AT1_TYPE" in names
    assert names[-1] == "DELETED_LEASES6_SIZE"
    # ISC's hook sends the relay options from Kea 2.7.0 on
    assert "QUERY6_OPTION_18" not in [n for n, _ in cat.isc.names_at("lease6_renew", Version(2, 6, 3))]
    assert cat.isc.variable_for("leases4_committed", "DELETED_LEASES4_AT3_STATE", Version(2, 2, 0)).suffix == "_STATE"
    with pytest.raises(KeyError):
        cat.isc.variable_for("leases4_committed", "LEASES4_AT01_STATE", Version(2, 2, 0))


def test_iscs_same_names_our_variable_of_the_same_data(cat):
    for block in cat.isc.blocks.values():
        for v in block.variables:
            if v.same:
                ours = cat.variable(v.same)
                # one extractor, or the same Kea object read with ISC's format
                assert ours.field == v.field or v.type != ours.type, (block.name, v.suffix)


def test_every_group_object_has_a_type_fact(cat):
    facts = load_facts()["facts"]
    for group in cat.groups.values():
        assert f"type_{group.object}" in facts, group.name


def test_covers_every_variable_of_the_1_4_readme(cat):
    seed_names = set(re.findall(r"^(KEA_[A-Z0-9_]+)\s*\|?$", SEED.read_text(), re.M))
    assert len(seed_names) > 80
    missing = seed_names - {v.name for v in cat.variables()}
    assert not missing


def test_seed_hook_point_lists_are_a_minimum(cat):
    """1.4's per-hook-point lists (order given in the issue) are all emitted."""
    text = SEED.read_text()
    v4, v6 = text.split("Here are all possible variables for DHCPv6")
    order4 = ["pkt4_receive", "pkt4_send", "subnet4_select", "lease4_select", "lease4_renew",
              "lease4_release", "lease4_decline", "lease4_expire", "lease4_recover"]
    order6 = ["pkt6_receive", "pkt6_send", "subnet6_select", "lease6_select", "lease6_renew",
              "lease6_rebind", "lease6_decline", "lease6_release", "lease6_expire",
              "lease6_recover"]
    for part, order in ((v4, order4), (v6, order6)):
        lists_text = part.split("For each Kea hook point")[1]
        lists = _split_lists(lists_text.splitlines())
        assert len(lists) == len(order)
        for point, names in zip(order, lists):
            emitted = {v.name for v in cat.variables_at(point)}
            assert not set(names) - emitted, (point, set(names) - emitted)


def _split_lists(lines):
    """The seed's flat lists, one after the other: a list ends where a name repeats."""
    lists, current = [], []
    for line in (l.strip() for l in lines):
        if not re.fullmatch(r"KEA_[A-Z0-9_]+", line):
            continue
        if line in current:
            lists.append(current)
            current = []
        current.append(line)
    if current:
        lists.append(current)
    return lists


def test_query_variables_are_the_same_at_every_hook_point_with_the_query(cat):
    for family in ("4", "6"):
        group = cat.groups[f"query{family}"]
        for point in cat.hook_points:
            if f"query{family}" in point.emits:
                emitted = [v.name for v in cat.variables_at(point.name)]
                assert all(v.name in emitted for v in group.variables), point.name


def test_conditions_named_in_the_issue(cat):
    assert cat.variable("KEA_QUERY4_OPTION60").conditional
    assert cat.variable("KEA_QUERY4_RAI").conditional
    assert cat.variable("KEA_LEASE6_DELEGATED_PREFIX").conditional
    assert not cat.variable("KEA_SUBNET4").conditional  # empty value, not absent


def test_committed_hook_points_are_opt_in(cat):
    assert not cat.hook_point("leases4_committed").default
    assert cat.hook_point("pkt4_receive").default


def test_schema_errors_name_the_culprit():
    data = yaml.safe_load((ROOT / "hook" / "variables.yaml").read_text())
    data["groups"]["query4"]["variables"][0]["colour"] = "red"
    with pytest.raises(catalogue.CatalogueError, match="KEA_QUERY4_TYPE.*colour"):
        catalogue.parse(data)
    data = yaml.safe_load((ROOT / "hook" / "variables.yaml").read_text())
    data["hook_points"]["pkt4_receive"]["emits"] = ["query44"]
    with pytest.raises(catalogue.CatalogueError, match="pkt4_receive.*query44"):
        catalogue.parse(data)
