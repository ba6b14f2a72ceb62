"""The parameters have one description (hook/parameters.yaml): the parser's key lists and limits
and every parameter table are generated from it, so the pages cannot promise what the parser
refuses, or hide what it accepts."""

import re

import pytest

from kea_runscript import ROOT
from kea_runscript.generate import parameters

PARSER = [ROOT / "hook" / name for name in ("parameters.cc", "parameter_values.cc")]


def test_the_generated_header_and_tables_match_the_description():
    assert parameters.differences() == [], "run `kea-runscript docs`"


def test_every_key_the_parser_reads_is_described_and_every_described_key_is_read():
    described = {p.name for p in parameters.load()}
    text = "".join(path.read_text() for path in PARSER)
    read = set(re.findall(r'\b(?:get|top|lookup|named|inherited)\("([a-z0-9-]+)"\)', text))
    assert read - described == set(), "the parser reads keys hook/parameters.yaml lacks"
    assert described - read == set(), "hook/parameters.yaml describes keys the parser never reads"


def test_the_parser_writes_no_limit_of_its_own():
    # A limit typed in the parser could drift from the one the tables show.
    text = "".join(path.read_text() for path in PARSER)
    for p in parameters.load():
        for r in (p.range, p.key_range, p.sub_range):
            for bound in r or ():
                if bound > 10:
                    assert not re.search(rf"(?<![\w.]){bound}(?![\w.])", text), (p.name, bound)


def test_every_parameter_is_on_the_reference_page_and_the_readme_links_it():
    page = parameters.page()
    for p in parameters.load():
        assert f"| `{p.name}` | {p.scope} |" in page
    readme = (ROOT / "README.md").read_text()
    assert "(docs/parameters.md)" in readme
    for p in parameters.load():
        if p.table != "none":
            assert f"| `{p.name}` | {p.type_cell()} | {p.default_cell()} |" in readme


def test_the_readme_tables_show_ranges_and_defaults_from_the_description():
    by_name = {p.name: p for p in parameters.load()}
    assert by_name["workers"].type_cell() == "integer 1–64"
    assert by_name["timeout"].type_cell() == "number (seconds) 0–86400"
    assert by_name["options4"].type_cell() == "list of codes 1–254, sub-options 0–255"
    assert by_name["exit-codes"].type_cell().startswith("map exit code 0–255 → ")
    assert by_name["on-failure"].default_cell() == '`"continue"`'
    header = parameters.header()
    assert "const long WORKERS_MAX = 64;" in header and "const long TIMEOUT_DEFAULT = 10;" in header


def test_links_on_the_reference_page_are_made_relative_to_docs():
    page = parameters.page()
    assert "](hook.md#script-trust)" in page and "](docs/" not in page


@pytest.mark.parametrize("entry, culprit", [
    ("{name: timeout, scope: script, table: main, kind: seconds, default: 1, meaning: m}", "needs a 'range'"),
    ("{name: wait, scope: everywhere, table: main, kind: bool, default: true, meaning: m}", "'scope'"),
    ("{name: wait, scope: script, table: main, kind: bool, meaning: m}", "exactly one of"),
    ("{name: q, scope: script, table: main, kind: count, range: [9, 1], default: 1, meaning: m}", "[min, max]"),
])
def test_a_mistake_in_the_description_names_the_parameter_and_the_field(tmp_path, entry, culprit):
    source = tmp_path / "parameters.yaml"
    source.write_text(f"parameters:\n  - {entry}\n")
    with pytest.raises(ValueError) as error:
        parameters.load(source)
    assert "parameters.yaml: parameters[0]" in str(error.value) and culprit in str(error.value)


def test_a_parameter_described_twice_is_refused(tmp_path):
    entry = "{name: wait, scope: script, table: main, kind: bool, default: true, meaning: m}"
    source = tmp_path / "parameters.yaml"
    source.write_text(f"parameters:\n  - {entry}\n  - {entry}\n")
    with pytest.raises(ValueError, match=r"parameters\[1\] \(wait\): described twice"):
        parameters.load(source)
