"""matrix.yaml: parsing, validation errors (file:line, did you mean), ids, session generation."""

import textwrap

import pytest

from kea_runscript import cli, facts, matrix
from kea_runscript.matrix import MatrixError, cell_id, parse, parse_id

HEAD = textwrap.dedent("""\
    os:
      debian12: {distro: debian, release: "12", suite: bookworm}
      debiansid: {distro: debian, release: sid, suite: sid}
      ubuntu22.04: {distro: ubuntu, release: "22.04", suite: jammy}
    cells:
    """)


def doc(*cells):
    return HEAD + "".join(f"  - {c}\n" for c in cells)


def error_of(text):
    with pytest.raises(MatrixError) as e:
        parse(text)
    return str(e.value)


def test_real_matrix_loads_with_expected_verified_cells():
    m = matrix.load()
    assert [c.id for c in m.verified] == [
        "kea2.2.0-debian12-amd64", "kea2.6.3-debian13-amd64", "kea3.0.4-debiansid-amd64",
        "kea3.0.3-debian13-amd64",
        "kea2.2.0-debian12-arm64", "kea2.6.3-debian13-arm64", "kea3.0.4-debiansid-arm64"]
    assert m.by_id("kea3.0.3-debian13-amd64").backports
    assert not any(c.backports for c in m.cells if c.kea != "3.0.3")
    sid = m.by_id("kea3.0.4-debiansid-amd64")
    assert sid.apt_ignore_valid_until and sid.os.suite == "sid"
    assert not m.by_id("kea2.6.3-debian13-amd64").apt_ignore_valid_until


def test_real_matrix_declares_the_historic_series():
    m = matrix.load()
    for s in ("1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9", "2.0", "2.4", "2.6", "3.0"):
        assert m.in_series(s), s
    assert {c.source for c in m.cells if c.version_tuple < (1, 6)} == {"source"}
    assert all(c.source == "isc-repo" for c in m.cells if not c.verified and c.version_tuple >= (1, 6))


def test_cells_are_frozen():
    c = matrix.load().cells[0]
    with pytest.raises(Exception):
        c.kea = "9.9.9"


@pytest.mark.parametrize("ident", ["kea2.6.3-debian13-amd64", "kea3.0.4-debiansid-amd64",
                                   "kea1.8.2-ubuntu20.04-amd64", "kea1.7.10-debian10-arm64"])
def test_id_round_trip(ident):
    f = parse_id(ident)
    assert cell_id(f["kea"], f["distro"], f["release"], f["arch"]) == ident


def test_every_matrix_id_round_trips():
    for c in matrix.load().cells:
        f = parse_id(c.id)
        assert (f["kea"], f["distro"], f["release"], f["arch"]) == (c.kea, c.os.distro, c.os.release, c.arch)


@pytest.mark.parametrize("bad", ["kea2.6-debian13-amd64", "2.6.3-debian13-amd64", "kea2.6.3-fedora39-amd64",
                                 "kea2.6.3-debian13"])
def test_bad_ids_rejected(bad):
    with pytest.raises(ValueError):
        parse_id(bad)


def test_release_stays_text():
    m = parse(doc('{kea: "2.4.1", os: ubuntu22.04, source: isc-repo, status: declared}'))
    assert m.cells[0].id == "kea2.4.1-ubuntu22.04-amd64"


def test_unknown_cell_key_has_line_and_did_you_mean():
    text = doc('{kea: "2.2.0", os: debian12, source: debian, status: verified}',
               '{kea: "2.2.1", os: debian12, source: debian, stauts: verified}')
    msg = error_of(text)
    assert msg.startswith("matrix.yaml:7: ")
    assert "unknown key 'stauts'" in msg and "did you mean 'status'?" in msg


def test_unknown_os_key_did_you_mean():
    text = HEAD.replace("suite: bookworm", "suit: bookworm") + "  []\n"
    msg = error_of(text.replace("cells:\n  []", "cells: []"))
    assert msg.startswith("matrix.yaml:2: ") and "did you mean 'suite'?" in msg


def test_unknown_top_level_key():
    msg = error_of("cels: []\n" + HEAD + "  - {kea: \"2.2.0\", os: debian12, source: debian, status: verified}\n")
    assert msg.startswith("matrix.yaml:1: ") and "did you mean 'cells'?" in msg


@pytest.mark.parametrize("version", ['"2.6"', '"2.6.x"', '"v2.6.3"', "2.6"])
def test_bad_version(version):
    msg = error_of(doc(f"{{kea: {version}, os: debian12, source: debian, status: verified}}"))
    assert msg.startswith("matrix.yaml:6: ") and "is not X.Y.Z" in msg


def test_duplicate_ids():
    text = doc('{kea: "2.2.0", os: debian12, source: debian, status: verified}',
               '{kea: "2.2.0", os: debian12, source: isc-repo, status: declared}')
    msg = error_of(text)
    assert msg.startswith("matrix.yaml:7: ")
    assert "duplicate cell id kea2.2.0-debian12-amd64" in msg and "line 6" in msg


def test_duplicate_mapping_key():
    msg = error_of(doc('{kea: "2.2.0", kea: "2.2.1", os: debian12, source: debian, status: verified}'))
    assert msg.startswith("matrix.yaml:6: ") and "duplicate key 'kea'" in msg


def test_bad_enum_values_suggest():
    msg = error_of(doc('{kea: "2.2.0", os: debian12, source: isc-rep, status: verified}'))
    assert "did you mean 'isc-repo'?" in msg
    msg = error_of(doc('{kea: "2.2.0", os: debian21, source: debian, status: verified}'))
    assert "unknown os 'debian21'" in msg and "did you mean 'debian12'?" in msg
    msg = error_of(doc('{kea: "2.2.0", os: debian12, source: debian, status: verifed}'))
    assert "did you mean 'verified'?" in msg


def test_missing_required_key():
    msg = error_of(doc('{kea: "2.2.0", os: debian12, status: verified}'))
    assert msg.startswith("matrix.yaml:6: ") and "missing required key 'source'" in msg


def test_apt_option_must_be_bool():
    msg = error_of(doc('{kea: "2.2.0", os: debian12, source: debian, status: verified, '
                       'apt_ignore_valid_until: "maybe"}'))
    assert "apt_ignore_valid_until must be true or false" in msg


def test_backports_must_be_bool_and_exist():
    msg = error_of(doc('{kea: "2.2.0", os: debian12, source: debian, status: verified, backports: "yes"}'))
    assert msg.startswith("matrix.yaml:6: ") and "backports must be true or false" in msg
    msg = error_of(doc('{kea: "3.0.4", os: debiansid, source: debian, status: verified, backports: true}'))
    assert msg.startswith("matrix.yaml:6: ") and "sid has no backports" in msg
    assert parse(doc('{kea: "2.2.0", os: debian12, source: debian, status: verified, backports: true}')
                 ).cells[0].apt_suite == "bookworm-backports"


def test_invalid_yaml_has_line():
    msg = error_of(HEAD + "  - {kea: \"2.2.0\", os: [debian12\n")
    assert msg.startswith("matrix.yaml:") and "invalid YAML" in msg


def test_selection_globs_and_series():
    m = matrix.load()
    assert [c.id for c in m.select(["kea2.6*"])] == [c.id for c in m.cells if c.id.startswith("kea2.6")]
    assert [c.id for c in m.select(["kea2.6.3-debian13-amd64"])] == ["kea2.6.3-debian13-amd64"]
    assert all(c.series == "1.8" for c in m.select(series="1.8")) and m.select(series="1.8")
    assert m.select(series="2.6", verified_only=True) == (m.by_id("kea2.6.3-debian13-amd64"),
                                                          m.by_id("kea2.6.3-debian13-arm64"))


def test_declared_cells_say_why():
    c = matrix.load().by_id("kea1.8.2-debian10-amd64")
    assert "cloudsmith" in c.why_not_buildable_here() and "cannot reach" in c.why_not_buildable_here()
    c = matrix.load().by_id("kea1.4.0-debian10-amd64")
    assert "downloads.isc.org" in c.why_not_buildable_here()


def test_session_plan_from_matrix():
    m = matrix.load()
    plan = {s.name: s for s in cli.session_plan(m)}
    assert plan["build"].args == ("build",)
    for s in m.series:
        assert plan[f"build-{s}"].args == ("build", "--series", s)
        assert plan[f"render-{s}"].args == ("render", "--kea", s, "--series", s)
    # Every series the facts know renders, even without a matrix cell.
    for s in facts.supported_series():
        assert plan[f"render-{s}"].args[:3] == ("render", "--kea", s)
    assert plan["render-3.3"].args == ("render", "--kea", "3.3")
    assert "build-1.8" in plan and "build-2.6" in plan and "render-3.0" in plan
    assert all(s.doc for s in plan.values())


def test_session_plan_follows_a_different_matrix():
    m = parse(doc('{kea: "2.2.0", os: debian12, source: debian, status: verified}',
                  '{kea: "9.1.0", os: debiansid, source: debian, status: declared}'))
    names = [s.name for s in cli.session_plan(m)]
    series_names = [n for n in names if "-" in n and not n.startswith("render-")]
    assert {n.split("-", 1)[1] for n in series_names} == {"2.2", "9.1"}
    for kind in ("build", "smoke"):
        assert f"{kind}-2.2" in names and f"{kind}-9.1" in names
    assert names[0] == "build" and len(names) == len(set(names))


def test_cli_list_needs_no_docker(capsys):
    assert cli.main(["list", "--only", "kea2.6*"]) == 0
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert "kea2.6.3-debian13-amd64" in ids and all(i.startswith("kea2.6") for i in ids)


def test_declared_cell_fails_fast_without_docker(capsys):
    # Declared cells fail before any Docker call (the fixture would raise otherwise).
    assert cli.main(["build", "--only", "kea1.8.2-debian10-amd64"]) == 1
    out = capsys.readouterr().out
    assert "cell kea1.8.2-debian10-amd64 is declared, not verified" in out
    assert "cloudsmith" in out and "verified cells: kea2.2.0-debian12-amd64" in out


def test_ci_runs_exactly_the_readme_test_command():
    from kea_runscript import ROOT
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line.split("=", 1)[1].strip('"') for line in ci.splitlines()
                   if line.startswith("TEST_COMMAND="))
    readme_lines = [line.split("#")[0].strip() for line in (ROOT / "README.md").read_text().splitlines()]
    assert command in readme_lines, f"README.md must show the test command {command!r}"
    assert "success_codes" not in (ROOT / "noxfile.py").read_text()  # exit 5 (no tests) must fail


def _ids(argv):
    return [c.id for c in cli.select(matrix.load(), cli._parser().parse_args(argv))]


def test_cli_selection_rules():
    m = matrix.load()
    assert _ids(["build"]) == [c.id for c in m.verified]
    assert _ids(["build", "--only", "kea2.6*"]) == ["kea2.6.3-debian13-amd64", "kea2.6.3-debian13-arm64"]
    assert _ids(["build", "--all", "--only", "kea2.6*"]) == [c.id for c in m.cells if c.series == "2.6"]
    assert _ids(["build", "--series", "1.8"]) == [c.id for c in m.in_series("1.8")]
    assert _ids(["build", "--only", "kea1.8.2-debian10-amd64"]) == ["kea1.8.2-debian10-amd64"]
    assert _ids(["build", "--only", "kea2.2.0-debian12-amd64,kea3.0*"]) == [
        "kea2.2.0-debian12-amd64", "kea3.0.4-debiansid-amd64", "kea3.0.3-debian13-amd64",
        "kea3.0.4-debiansid-arm64"]
