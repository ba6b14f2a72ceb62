"""matrix.yaml: parsing, validation errors (file:line, did you mean), ids, session generation."""

import os
import subprocess
import sys
import textwrap

import pytest

from kea_runscript import ROOT, cli
from kea_runscript.model import facts, matrix
from kea_runscript.errors import ExitCode
from kea_runscript.model.matrix import MatrixError, cell_id, parse, parse_id

HEAD = textwrap.dedent("""\
    os:
      debian12: {distro: debian, release: "12", suite: bookworm}
      debiansid: {distro: debian, release: sid, suite: sid}
      ubuntu22.04: {distro: ubuntu, release: "22.04", suite: jammy}
    cells:
    """)


# A small matrix for behaviour: verified cells of two architectures, declared ones of each source.
SMALL = textwrap.dedent("""\
    os:
      debian10: {distro: debian, release: "10", suite: buster, mirror: "http://archive.debian.org/debian"}
      debian12: {distro: debian, release: "12", suite: bookworm}
      debian13: {distro: debian, release: "13", suite: trixie}
      debiansid: {distro: debian, release: sid, suite: sid}
    sources:
      debian: {dev: kea-dev, servers: [kea-dhcp4-server, kea-dhcp6-server]}
      isc-repo: {dev: isc-kea-dev, servers: [isc-kea-dhcp4, isc-kea-dhcp6]}
    cells:
      - {kea: "2.2.0", os: debian12,  source: debian, status: verified}
      - {kea: "2.6.3", os: debian13,  source: debian, status: verified}
      - {kea: "3.0.4", os: debiansid, source: debian, status: verified}
      - {kea: "2.6.3", os: debian13,  source: debian, arch: arm64, status: verified}
      - {kea: "1.8.2", os: debian10,  source: isc-repo, status: declared}
      - {kea: "2.6.1", os: debian12,  source: isc-repo, status: declared}
      - {kea: "1.4.0", os: debian10,  source: source, status: declared}
    """)


@pytest.fixture
def small_file(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(SMALL)
    return path


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
        "kea2.2.0-debian12-arm64", "kea2.6.3-debian13-arm64", "kea3.0.4-debiansid-arm64",
        "kea2.6.3-debian13-armhf", "kea2.6.3-debian13-i386", "kea2.6.3-debian13-riscv64",
        "kea2.2.0-debian12-armhf", "kea2.2.0-debian12-armel", "kea2.2.0-debian12-i386",
        "kea2.2.0-debian12-ppc64el"]
    # every architecture Debian ships Kea for has a cell, verified where this machine runs it
    assert {c.arch for c in m.cells if c.tier == "arches"} == set(matrix.MULTIARCH) - {"amd64", "arm64"}
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
    assert all(c.source == "isc-repo" for c in m.cells
               if not c.verified and c.version_tuple >= (1, 6) and c.tier != "arches")
    # Debian's architectures this project's machines cannot run say why
    assert all(c.note for c in m.cells if not c.verified and c.tier == "arches")


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


@pytest.mark.parametrize("version", ['"2.6"', '"2.6.x"', '"v2.6.3"', "2.6", r'"2.6.3\n"'])
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
    m = parse(SMALL)
    assert [c.id for c in m.select(["kea2.6*"])] == [
        "kea2.6.3-debian13-amd64", "kea2.6.3-debian13-arm64", "kea2.6.1-debian12-amd64"]
    assert [c.id for c in m.select(["kea2.6.3-debian13-amd64"])] == ["kea2.6.3-debian13-amd64"]
    assert [c.id for c in m.select(["*-arm64", "kea1.4*"])] == ["kea2.6.3-debian13-arm64", "kea1.4.0-debian10-amd64"]
    assert [c.id for c in m.select(series="1.8")] == ["kea1.8.2-debian10-amd64"]
    assert m.select(series="2.6", verified_only=True) == (m.by_id("kea2.6.3-debian13-amd64"),
                                                          m.by_id("kea2.6.3-debian13-arm64"))
    assert m.series == ["1.4", "1.8", "2.2", "2.6", "3.0"]


def test_declared_cells_say_why():
    m = parse(SMALL)
    why = m.by_id("kea1.8.2-debian10-amd64").why_not_buildable_here()
    assert "cloudsmith" in why and "isc/kea-1-8" in why and "cannot reach" in why
    assert "downloads.isc.org/isc/kea/1.4.0/" in m.by_id("kea1.4.0-debian10-amd64").why_not_buildable_here()
    assert m.by_id("kea2.2.0-debian12-amd64").why_not_buildable_here() == ""


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
                  '{kea: "3.1.0", os: debiansid, source: debian, status: declared}'))
    names = [s.name for s in cli.session_plan(m)]
    series_names = [n for n in names if "-" in n and not n.startswith("render-")]
    assert {n.split("-", 1)[1] for n in series_names} == {"2.2", "3.1"}
    for kind in ("build", "smoke"):
        assert f"{kind}-2.2" in names and f"{kind}-3.1" in names
    assert names[0] == "build" and len(names) == len(set(names))


def test_cli_list_needs_no_docker(capsys, small_file):
    assert cli.main(["--matrix", str(small_file), "list", "--only", "kea2.6*"]) == 0
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    # list shows declared cells too.
    assert ids == ["kea2.6.3-debian13-amd64", "kea2.6.3-debian13-arm64", "kea2.6.1-debian12-amd64"]


def test_declared_cell_fails_fast_without_docker(capsys, small_file, monkeypatch):
    from kea_runscript.engine import containers

    def no_docker(*args, **kwargs):
        raise AssertionError("a declared cell must fail before any Docker call")

    monkeypatch.setattr(containers, "client", no_docker)
    assert cli.main(["--matrix", str(small_file), "build", "--only", "kea1.8.2-debian10-amd64"]) == 1
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
    return [c.id for c in cli.select(parse(SMALL), cli._parser().parse_args(argv))]


def test_cli_selection_rules():
    m = parse(SMALL)
    assert _ids(["build"]) == [c.id for c in m.verified]
    assert _ids(["build", "--only", "kea2.6*"]) == ["kea2.6.3-debian13-amd64", "kea2.6.3-debian13-arm64"]
    assert _ids(["build", "--all", "--only", "kea2.6*"]) == [
        "kea2.6.3-debian13-amd64", "kea2.6.3-debian13-arm64", "kea2.6.1-debian12-amd64"]
    assert _ids(["build", "--series", "1.8"]) == ["kea1.8.2-debian10-amd64"]
    assert _ids(["build", "--only", "kea1.8.2-debian10-amd64"]) == ["kea1.8.2-debian10-amd64"]
    assert _ids(["build", "--only", "kea2.2.0-debian12-amd64,kea3.0*"]) == [
        "kea2.2.0-debian12-amd64", "kea3.0.4-debiansid-amd64"]



# --------------------------------------------------------------------------------------------
# A broken matrix: one line `file:line: message`, from the CLI and from nox, never a traceback


def one_line_error(text):
    msg = error_of(text)
    assert "\n" not in msg and "\r" not in msg, msg
    return msg


OK_CELL = '{kea: "2.2.0", os: debian12, source: debian, status: verified}'
# Line 7 of this matrix: a string where a list of packages belongs.
BROKEN = doc(OK_CELL, '{kea: "2.6.3", os: debian12, source: debian, status: verified,\n'
                      '     packages: {servers: kea-dhcp4-server}}')


def _run(argv, matrix_file, cwd=ROOT):
    env = dict(os.environ, KEA_RUNSCRIPT_MATRIX=str(matrix_file))
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_broken_matrix_fixture_names_line_8():
    assert one_line_error(BROKEN).startswith("matrix.yaml:8: ")


# `-s tests` only collects, should the noxfile ever run its sessions on a broken matrix.
@pytest.mark.parametrize("nox_args", [["-l"], ["-s", "tests", "--", "--collect-only", "-q"]])
def test_nox_reports_a_broken_matrix_in_one_line(tmp_path, nox_args):
    broken = tmp_path / "matrix.yaml"
    broken.write_text(BROKEN)
    r = _run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), *nox_args], broken)
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "Traceback" not in out
    assert f"{broken}:8: " in r.stderr
    assert "servers must be a list" in r.stderr


def test_nox_lists_sessions_of_the_matrix_named_by_the_environment(tmp_path):
    # The variable is honoured: the sessions follow the fixture, not the project's matrix.
    fixture = tmp_path / "matrix.yaml"
    fixture.write_text(doc('{kea: "3.1.0", os: debiansid, source: debian, status: declared}'))
    r = _run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"], fixture)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "build-3.1" in r.stdout and "build-2.6" not in r.stdout


def test_nox_reports_an_unreadable_matrix_in_one_line(tmp_path):
    missing = tmp_path / "matrix.yaml"
    r = _run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"], missing)
    assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"{missing}: ")


@pytest.mark.parametrize("text, line", [
    (BROKEN, 8),
    (doc(OK_CELL, '{kea: "2.2.1", os: debian12, source: debian, stauts: verified}'), 7),
    (HEAD + '  - {kea: "2.2.0", os: [debian12\n', 7),
])
def test_cli_matrix_error_is_one_line_with_file_and_line(tmp_path, capsys, text, line):
    broken = tmp_path / "matrix.yaml"
    broken.write_text(text)
    assert cli.main(["--matrix", str(broken), "list"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    # the command's one error prefix, then the compiler-style `file:line: message`
    assert err.startswith(f"kea-runscript: {broken}:{line}: ") and err.count("\n") == 1, err


def test_cli_unreadable_matrix_is_one_line(tmp_path, capsys):
    assert cli.main(["--matrix", str(tmp_path / "nope.yaml"), "list"]) == ExitCode.USAGE
    assert capsys.readouterr().err == \
        f"kea-runscript: {tmp_path / 'nope.yaml'}: cannot read the matrix: No such file or directory\n"


def test_cli_default_matrix_follows_the_environment(tmp_path):
    broken = tmp_path / "matrix.yaml"
    broken.write_text(BROKEN)
    r = _run([sys.executable, "-m", "kea_runscript.cli", "list"], broken)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"kea-runscript: {broken}:8: ") and r.stderr.count("\n") == 1, r.stderr


# string lists


@pytest.mark.parametrize("where, text, line", [
    ("sources", HEAD.replace("cells:\n", "sources:\n  debian: {dev: kea-dev, servers: kea-dhcp4-server}\n"
                             "cells:\n") + f"  - {OK_CELL}\n", 6),
    ("packages", doc(OK_CELL.replace("}", ", packages: {servers: kea-dhcp4-server}}")), 6),
])
def test_servers_must_be_a_list(where, text, line):
    msg = one_line_error(text)
    assert msg.startswith(f"matrix.yaml:{line}: ") and "servers must be a list" in msg, msg


@pytest.mark.parametrize("element", ["[kea-dhcp4-server]", "{a: b}", "null", "true"])
def test_server_list_elements_must_be_strings(element):
    msg = one_line_error(doc(OK_CELL.replace("}", f", packages: {{servers: [kea-dhcp4-server, {element}]}}}}")))
    assert msg.startswith("matrix.yaml:6: ") and "must be a package name" in msg, msg


def test_server_list_element_error_names_its_own_line():
    text = doc(OK_CELL.replace("}", ",\n     packages: {servers: [\n       kea-dhcp4-server,\n"
                                    "       \"bad name\"]}}"))
    msg = one_line_error(text)
    assert msg.startswith("matrix.yaml:9: ") and "'bad name'" in msg, msg


def test_dev_package_must_be_a_string():
    msg = one_line_error(doc(OK_CELL.replace("}", ", packages: {dev: [kea-dev]}}")))
    assert msg.startswith("matrix.yaml:6: ") and "dev must be a package name" in msg, msg


def test_string_lists_parse():
    c = parse(doc(OK_CELL.replace("}", ", packages: {dev: kea-dev, servers: [kea-dhcp4-server, kea-dhcp6-server]}}"))
              ).cells[0]
    assert c.dev_package == "kea-dev" and c.server_packages == ("kea-dhcp4-server", "kea-dhcp6-server")
    c = parse(doc(OK_CELL.replace("}", ", packages: {dev: \"\", servers: []}}"))).cells[0]
    assert c.dev_package == "" and c.server_packages == ()


# Kea versions the facts know


def test_kea_version_unknown_to_the_facts():
    msg = one_line_error(doc(OK_CELL, '{kea: "9.9.9", os: debian12, source: debian, status: declared}'))
    first, last = facts.supported_series()[0], facts.supported_series()[-1]
    assert msg == (f"matrix.yaml:7: Kea 9.9.9 is not a version the facts know "
                   f"(hook/kea_facts.yaml: supported {first}..{last})")


# strict names: what reaches paths, Dockerfiles and CI files


def test_release_cannot_leave_build_dir():
    # The id names build/<id>/src, which the render step empties.
    text = ('os:\n  "debian12/../../../../tmp/victim": {distro: debian, release: "12/../../../../tmp/victim",'
            ' suite: bookworm}\ncells:\n'
            '  - {kea: "2.2.0", os: "debian12/../../../../tmp/victim", source: debian, status: verified}\n')
    msg = one_line_error(text)
    assert msg.startswith("matrix.yaml:2: ") and "release '12/../../../../tmp/victim'" in msg, msg


@pytest.mark.parametrize("release", ['"12 "', '"Sid"', '"12."', '"1-2"', '""'])
def test_bad_release_names(release):
    text = HEAD.replace('release: "12"', f"release: {release}") + f"  - {OK_CELL}\n"
    msg = one_line_error(text)
    assert msg.startswith("matrix.yaml:2: ") and "release" in msg, msg


@pytest.mark.parametrize("packages", ['{servers: ["kea-dhcp4-server; touch /x"]}',
                                      '{dev: "kea-dev; touch /x"}',
                                      '{servers: [Kea-dhcp4]}', '{servers: [k]}', '{dev: "-kea"}'])
def test_package_names_follow_debian_policy(packages):
    msg = one_line_error(doc(OK_CELL.replace("}", f", packages: {packages}}}")))
    assert msg.startswith("matrix.yaml:6: ") and "is not a Debian package name" in msg, msg


def test_package_names_in_sources_follow_debian_policy():
    text = HEAD.replace("cells:\n", "sources:\n  debian:\n    dev: kea-dev\n    servers: [kea-dhcp4-server, "
                        "\"x$(reboot)\"]\ncells:\n") + f"  - {OK_CELL}\n"
    msg = one_line_error(text)
    assert msg.startswith("matrix.yaml:8: ") and "'x$(reboot)' is not a Debian package name" in msg, msg


@pytest.mark.parametrize("suite", [r'"bookworm\nfoo: bar"', '"book worm"', "Bookworm", '"bookworm\'"',
                                   '"-bookworm"', '"bookworm/updates"'])
def test_bad_suite_names(suite):
    text = HEAD.replace("suite: bookworm", f"suite: {suite}") + f"  - {OK_CELL}\n"
    msg = one_line_error(text)
    assert msg.startswith("matrix.yaml:2: ") and "suite" in msg, msg


def test_backports_suite_is_a_valid_suite_name():
    c = parse(doc('{kea: "2.2.0", os: debian12, source: debian, status: verified, backports: true}')).cells[0]
    assert c.apt_suite == "bookworm-backports"
    assert parse(HEAD.replace("suite: bookworm", "suite: bookworm-security") + f"  - {OK_CELL}\n")


@pytest.mark.parametrize("mirror", ['"ftp://deb.debian.org/debian"', '"http://deb.debian.org/debian main"',
                                    '"http://deb.debian.org/debian\'; touch /x; \'"', '"deb.debian.org/debian"',
                                    r'"http://deb.debian.org/debian\nfoo"', '"http:///debian"'])
def test_bad_mirrors(mirror):
    text = HEAD.replace("suite: bookworm}", f"suite: bookworm, mirror: {mirror}}}") + f"  - {OK_CELL}\n"
    msg = one_line_error(text)
    assert msg.startswith("matrix.yaml:2: ") and "mirror" in msg, msg


@pytest.mark.parametrize("mirror", ["http://archive.debian.org/debian", "https://deb.debian.org/debian/",
                                    "http://mirror.example:8080/debian-archive/debian"])
def test_good_mirrors(mirror):
    text = HEAD.replace("suite: bookworm}", f"suite: bookworm, mirror: \"{mirror}\"}}") + f"  - {OK_CELL}\n"
    assert parse(text).cells[0].os.default_mirror == mirror


@pytest.mark.parametrize("arch", ["x86_64", "ARM64", '"arm 64"', '"amd64\\n"'])
def test_bad_arch(arch):
    msg = one_line_error(doc(OK_CELL.replace("}", f", arch: {arch}}}")))
    assert msg.startswith("matrix.yaml:6: ") and "arch" in msg, msg


@pytest.mark.parametrize("note", [r'"two\nlines"', r'"bell\a"', r'"tab\there"', "[a, list]"])
def test_note_is_one_line_of_text(note):
    msg = one_line_error(doc(OK_CELL.replace("}", f", note: {note}}}")))
    assert msg.startswith("matrix.yaml:6: ") and "note" in msg, msg


def test_distro_is_checked():
    msg = one_line_error(HEAD.replace("distro: debian, release: \"12\"", "distro: fedora, release: \"12\"")
                         .replace("debian12", "fedora12") + f"  - {OK_CELL.replace('debian12', 'fedora12')}\n")
    assert msg.startswith("matrix.yaml:2: ") and "distro 'fedora'" in msg, msg


def test_tier_is_ci_or_arches():
    assert parse(doc('{kea: "2.2.0", os: debian12, source: debian, arch: armhf, status: verified, '
                     'tier: arches}')).cells[0].tier == "arches"
    assert parse(doc('{kea: "2.2.0", os: debian12, source: debian, status: verified}')).cells[0].tier == "ci"
    assert "tier 'arch' is not one of ci, arches; did you mean 'arches'?" in error_of(
        doc('{kea: "2.2.0", os: debian12, source: debian, status: verified, tier: arch}'))


def test_i386_cells_run_natively_on_amd64_and_other_arches_under_emulation():
    m = parse(doc('{kea: "2.2.0", os: debian12, source: debian, arch: i386, status: verified}',
                  '{kea: "2.2.0", os: debian12, source: debian, arch: armhf, status: verified}'))
    i386, armhf = m.cells
    assert i386.foreign("amd64") and not i386.emulated("amd64") and i386.emulated("arm64")
    assert armhf.emulated("amd64")
    assert i386.tool("g++", "amd64") == "i686-linux-gnu-g++" and i386.kea_lib == "/usr/lib/i386-linux-gnu"
    assert armhf.tool("g++", "amd64") == "arm-linux-gnueabihf-g++"
