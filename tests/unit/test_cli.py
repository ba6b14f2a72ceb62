"""The maintainer commands do what they say: ``build``/``smoke`` of a series build what can be
built here and report declared cells as skipped, a series with nothing buildable exits 1 with
one line naming what is missing, ``list`` shows every cell with its status. No Docker: the
build of a verified cell is replaced by a fake that records the call. The commands read a small
fixture matrix (tests/unit/fakes.py) through the global ``--matrix``; only the README's list
commands are checked against the real matrix.yaml."""

import re
import subprocess
import sys

import pytest

from kea_runscript import ROOT, cli, errors
from kea_runscript.builder import hook
from kea_runscript.engine import containers
from kea_runscript.model import matrix
from kea_runscript.verify import smoke
from kea_runscript.errors import ExitCode
from tests.unit.fakes import small_matrix, write_small_matrix

M = small_matrix()


@pytest.fixture
def matrix_file(tmp_path):
    return write_small_matrix(tmp_path / "matrix.yaml")


@pytest.fixture
def kr(matrix_file):
    """``kea-runscript`` on the small matrix."""
    return lambda argv: cli.main(["--matrix", str(matrix_file), *argv])


@pytest.fixture
def fake_build(monkeypatch):
    """Verified cells "build" instantly; declared ones go through the real build_cell (which
    refuses them before any Docker call unless allow_declared, and then a fake failure stands
    for the unreachable network). Returns the list of cells build_cell was called for."""
    real = hook.build_cell
    called = []

    def fake(cell, **kw):
        called.append(cell.id)
        if cell.verified:
            return hook.Result(cell, "built", 0.1, info={"sha256": "ab" * 32})
        if kw.get("allow_declared"):
            return hook.Result(cell, "failed", 0.1, "could not reach the network (fake)")
        return real(cell, **kw)

    monkeypatch.setattr(hook, "build_cell", fake)
    return called


def _lines_of(out, ident):
    return [line for line in out.splitlines() if line.split()[:1] == [ident]]


def test_build_series_builds_verified_and_reports_declared_as_skipped(fake_build, capsys, kr):
    cells = M.in_series("2.6")
    assert any(c.verified for c in cells) and any(not c.verified for c in cells)
    assert kr(["build", "--series", "2.6"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert fake_build == [c.id for c in cells if c.verified]  # declared ones never reach build_cell
    for c in cells:
        lines = _lines_of(out, c.id)
        assert len(lines) == 2, (c.id, out)  # the per-cell line and the summary row
        for line in lines:
            if c.verified:
                assert line.split()[1] == "built", line
            else:
                assert line.split()[1] == "skipped", line
                assert c.why_not_buildable_here() in line, line
    n_declared = sum(not c.verified for c in cells)
    assert f"{n_declared} skipped" in out and "--allow-declared" in out


def test_build_series_allow_declared_tries_declared_and_their_failure_counts(fake_build, capsys, kr):
    cells = M.in_series("2.6")
    assert kr(["build", "--series", "2.6", "--allow-declared"]) == ExitCode.FAILED
    assert fake_build == [c.id for c in cells]
    out = capsys.readouterr().out
    for c in cells:
        assert all(line.split()[1] == ("built" if c.verified else "failed") for line in _lines_of(out, c.id))


def test_build_exact_declared_id_in_a_series_still_fails_fast(fake_build, capsys, kr):
    declared = next(c for c in M.in_series("2.6") if not c.verified)
    assert kr(["build", "--series", "2.6", "--only", declared.id]) == ExitCode.FAILED
    out = capsys.readouterr().out
    assert f"cell {declared.id} is declared, not verified" in out and "cloudsmith" in out
    assert "skipped" not in out


def test_build_glob_in_a_series_skips_declared_but_exact_ids_are_requests(fake_build, capsys, kr):
    verified = [c.id for c in M.in_series("2.6") if c.verified]
    declared = [c for c in M.in_series("2.6") if not c.verified]
    assert kr(["build", "--series", "2.6", "--only", "kea2.6*"]) == ExitCode.OK
    assert fake_build == verified
    out = capsys.readouterr().out
    assert all(_lines_of(out, c.id)[0].split()[1] == "skipped" for c in declared)


def _one_line(err):
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert "Traceback" not in err
    return err.rstrip("\n")


@pytest.mark.parametrize("command", ["build", "smoke"])
def test_series_with_nothing_buildable_exits_1_with_one_line(fake_build, capsys, command, kr):
    cells = M.in_series("1.8")
    assert cells and not any(c.verified for c in cells)
    assert kr([command, "--series", "1.8"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and fake_build == []
    line = _one_line(err)
    assert line.startswith("kea-runscript: nothing to ") and "Kea 1.8" in line, line
    for c in cells:
        assert c.id in line
    assert "ISC's package repository (cloudsmith, isc/kea-1-8)" in line
    assert "--allow-declared" in line and "network" in line


def test_smoke_exact_declared_id_gets_the_one_line(capsys, kr):
    assert kr(["smoke", "--only", "kea1.8.2-debian10-amd64"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "kea1.8.2-debian10-amd64 needs ISC's package repository" in _one_line(err)


def test_build_series_1_8_as_a_process_one_line_on_stderr(matrix_file):
    r = subprocess.run([sys.executable, "-m", "kea_runscript.cli", "--matrix", str(matrix_file), "build", "--series", "1.8"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r
    assert r.stdout == ""
    _one_line(r.stderr)


def test_smoke_series_skips_declared_and_tests_verified(monkeypatch, capsys, kr):
    seen = {}

    def fake_build_cells(cells, **kw):
        seen["built"] = [c.id for c in cells]
        return [hook.Result(c, "cached") for c in cells]

    def fake_smoke_cells(cells, **kw):
        seen["smoked"] = [c.id for c in cells]
        return []

    monkeypatch.setattr(hook, "build_cells", fake_build_cells)
    monkeypatch.setattr(smoke, "smoke_cells", fake_smoke_cells)
    kr(["smoke", "--series", "2.6"])
    verified = [c.id for c in M.in_series("2.6") if c.verified]
    assert seen == {"built": verified, "smoked": verified}
    out = capsys.readouterr().out
    for c in M.in_series("2.6"):
        assert (f"skipping {c.id}" in out) == (not c.verified)


# --------------------------------------------------------------------------------------------
# list


def _rows(out):
    return [line.split() for line in out.splitlines()]


def test_list_shows_every_cell_with_its_status(capsys, kr):
    assert kr(["list"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [r[:2] for r in rows] == [[c.id, c.status] for c in M.cells]
    assert {"verified", "declared"} == {r[1] for r in rows}


def test_list_all_is_accepted_and_verified_narrows(capsys, kr):
    assert kr(["list", "--all"]) == 0
    assert [r[0] for r in _rows(capsys.readouterr().out)] == [c.id for c in M.cells]
    assert kr(["list", "--verified"]) == 0
    assert [r[:2] for r in _rows(capsys.readouterr().out)] == [[c.id, "verified"] for c in M.verified]


def test_list_verbose_adds_source_arch_note(capsys, kr):
    assert kr(["list", "-v"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(M.cells)
    for c, line in zip(M.cells, lines):
        assert line.split()[:4] == [c.id, c.status, c.source, c.arch], line
        assert line.rstrip().endswith(c.note), line
    # stable columns: the status starts at the same offset on every line
    assert len({line.index(" verified") if " verified" in line else line.index(" declared")
                for line in lines}) == 1


def test_list_globs_match_every_cell(capsys, kr):
    assert kr(["list", "--only", "kea2.6*"]) == 0
    assert [r[0] for r in _rows(capsys.readouterr().out)] == [c.id for c in M.in_series("2.6")]


def test_readme_and_docs_list_commands_are_true(capsys):
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for p in texts:
        found += [m.group(1) for m in re.finditer(r"`kea-runscript (list[^`]*)`", p.read_text())]
    assert found, "the README mentions `kea-runscript list`"
    for command in found:
        argv = command.split()
        assert cli.main(argv) == 0, command
        ids = [r[0] for r in _rows(capsys.readouterr().out)]
        if not any(a in argv for a in ("--verified", "--series", "--only")):
            assert ids == [c.id for c in matrix.load().cells], command  # "prints them all"


# --------------------------------------------------------------------------------------------
# session docs


def test_session_docs_say_what_build_and_smoke_of_a_series_do():
    plan = {s.name: s for s in cli.session_plan(M)}
    for kind in ("build", "smoke"):
        mixed = plan[f"{kind}-2.6"].doc
        assert "skipped" in mixed and all(c.id in mixed for c in M.in_series("2.6")), mixed
        assert ("--allow-declared" in mixed) == (kind == "build"), mixed  # smoke has no such flag
        only_declared = plan[f"{kind}-1.8"].doc
        assert "exits 1" in only_declared and "--allow-declared" in only_declared, only_declared


@pytest.mark.parametrize("error, status", [
    (errors.ToolkitError("the release failed\nsee its log"), ExitCode.FAILED),
    (errors.UsageError("--version 1..2 cannot be"), ExitCode.USAGE),
    (containers.DockerUnavailable("no engine at unix:///var/run/docker.sock"), ExitCode.DOCKER),
])
def test_an_error_a_command_raises_is_its_exit_status_and_prefixed_lines(monkeypatch, capsys, kr, error, status):
    from kea_runscript.generate import pipelines

    def command(args, m):
        raise error
    monkeypatch.setattr(pipelines, "cli_main", command)
    assert kr(["pipelines"]) == status
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["kea-runscript: " + line for line in str(error).splitlines()]


def test_an_unknown_series_is_a_usage_error_naming_it(capsys, kr):
    assert kr(["build", "--series", "9.9"]) == ExitCode.USAGE
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("kea-runscript: no cells for Kea series '9.9'"), line
