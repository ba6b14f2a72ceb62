"""The command line keeps its word: every ``kea-runscript <sub>`` that a text or a message
tells people to run exists, the generators (docs, golden, messages) are commands with a
``--check``, errors go to stderr with one prefix, ``-h`` explains the selection rules and the
exit codes, and a closed pipe (``| head``) ends without a traceback. No Docker."""

import re
import shlex
import subprocess
import sys

import pytest

from kea_runscript import ROOT, cli
from kea_runscript.bench import dhcp
from kea_runscript.builder import hook
from kea_runscript.engine import containers
from kea_runscript.generate import coverage, docs, golden, messages, pipelines
from kea_runscript.verify import smoke

PREFIX = "kea-runscript: "
NAMED = re.compile(r"(?<![\w/-])kea-runscript ([a-z][\w-]*)")


def _texts():
    """Every file that can tell someone to run a command."""
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    paths += sorted((ROOT / "kea_runscript").rglob("*.py"))
    paths += sorted(p for p in (ROOT / "tests").rglob("*.py"))
    paths += sorted((ROOT / "templates").rglob("*.j2")) + sorted((ROOT / "ci").glob("*"))
    return [p for p in paths if p.is_file()]


def _subcommands():
    return cli._parser()._subparsers._group_actions[0].choices


def test_every_named_subcommand_exists():
    subs = _subcommands()
    named = {}
    for path in _texts():
        for m in NAMED.finditer(path.read_text(errors="replace")):
            named.setdefault(m.group(1), set()).add(str(path.relative_to(ROOT)))
    assert {"docs", "golden", "messages"} <= set(named), named  # the texts do name them
    missing = {sub: sorted(where) for sub, where in named.items() if sub not in subs}
    assert not missing, f"named but not a subcommand: {missing}"


def _commands_in_docs():
    """Complete commands: `kea-runscript ...` in backticks, and code lines starting with it."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        found += [(path.name, c) for c in re.findall(r"`(kea-runscript [^`]+)`", text)]
        found += [(path.name, line.split("#")[0].strip()) for line in text.splitlines()
                  if line.startswith("kea-runscript ")]
    return found


def test_every_documented_command_parses():
    commands = _commands_in_docs()
    assert commands
    parser = cli._parser()
    for where, command in commands:
        argv = shlex.split(command.replace("...", "x"))[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            if e.code != 0:  # -h exits 0
                pytest.fail(f"{where}: `{command}` does not parse (exit {e.code})")


def test_messages_name_existing_commands():
    """The test failure messages that say what to run."""
    sources = {"tests/unit/test_docs.py": "kea-runscript docs",
               "tests/unit/test_render.py": "kea-runscript golden --update",
               "tests/unit/test_messages.py": "kea-runscript messages"}
    parser = cli._parser()
    for path, command in sources.items():
        assert command in (ROOT / path).read_text(), path
        parser.parse_args(shlex.split(command)[1:])


# --------------------------------------------------------------------------------------------
# the generators as commands


def test_docs_check_and_write(tmp_path, monkeypatch, capsys):
    page = tmp_path / "variables.md"
    page.write_text(f"# Variables\n\n{docs.BEGIN}\nstale\n{docs.END}\n")
    monkeypatch.setattr(docs, "VARIABLES", page)
    readme = tmp_path / "README.md"  # the README's block of builds, current
    readme.write_text(f"# x\n\n{coverage.coverage_section()}\n")
    monkeypatch.setattr(coverage, "README", readme)
    assert cli.main(["docs", "--check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(PREFIX) and "`kea-runscript docs`" in err, err
    assert "stale" in page.read_text()  # --check writes nothing
    assert cli.main(["docs"]) == 0
    assert docs.section(page) == docs.variables_section()
    assert cli.main(["docs", "--check"]) == 0
    readme.write_text(f"# x\n\n{coverage.BEGIN}\nstale\n{coverage.END}\n")
    assert cli.main(["docs", "--check"]) == 1
    assert "matrix.yaml" in capsys.readouterr().err
    assert cli.main(["docs"]) == 0
    assert coverage.section(readme) == coverage.coverage_section()


def test_the_committed_variables_page_is_current(capsys):
    assert cli.main(["docs", "--check"]) == 0, capsys.readouterr().err


def test_golden_check_and_update(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(golden, "GOLDEN_DIR", tmp_path)
    assert cli.main(["golden"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(PREFIX) and "kea-runscript golden --update" in err, err
    assert cli.main(["golden", "--update"]) == 0
    assert any(tmp_path.rglob("*.h")) or any(tmp_path.rglob("*.cc"))
    assert golden.differences(tmp_path) == []
    assert cli.main(["golden"]) == 0


def test_messages_check_and_write(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(messages, "HOOK_DIR", tmp_path)
    monkeypatch.setattr(messages, "PAGE", tmp_path / "messages.md")
    assert cli.main(["messages", "--check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(PREFIX) and "`kea-runscript messages`" in err, err
    assert cli.main(["messages"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messages.cc", "messages.h", "messages.md"]
    assert (tmp_path / "messages.md").read_text() == (ROOT / "docs" / "messages.md").read_text()
    assert cli.main(["messages", "--check"]) == 0


# --------------------------------------------------------------------------------------------
# smoke --mode


def test_smoke_mode_takes_choices(capsys):
    with pytest.raises(SystemExit) as e:
        cli._parser().parse_args(["smoke", "--mode", "wiat+mt"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and all(m.name in err for m in smoke.MODES), err
    assert err.splitlines()[-1].startswith(PREFIX + "argument --mode") and "error:" not in err, err
    args = cli._parser().parse_args(["smoke", "--mode", "wait+mt", "--mode", "1.4-config"])
    assert args.mode == ["wait+mt", "1.4-config"]


# --------------------------------------------------------------------------------------------
# errors: stderr, one prefix


def _error(capsys):
    out, err = capsys.readouterr()
    assert err.startswith(PREFIX), err
    assert not err.startswith(PREFIX + "error:"), err
    return out, err


def test_bad_matrix_error(tmp_path, capsys):
    bad = tmp_path / "matrix.yaml"
    bad.write_text("cells: [\n")
    assert cli.main(["--matrix", str(bad), "list"]) == 2
    _error(capsys)


def test_unreadable_matrix_error(tmp_path, capsys):
    assert cli.main(["--matrix", str(tmp_path / "absent.yaml"), "list"]) == 2
    _error(capsys)


def test_bench_unknown_cell(capsys):
    assert cli.main(["bench", "--cell", "kea9.9.9-nowhere-amd64"]) == 2
    out, err = _error(capsys)
    assert out == "" and "kea9.9.9-nowhere-amd64" in err


def test_bench_docker_unavailable_early(monkeypatch, capsys):
    def unavailable():
        raise containers.DockerUnavailable("no engine here")
    monkeypatch.setattr(containers, "engine_arch", unavailable)
    assert cli.main(["bench"]) == 3
    out, err = _error(capsys)
    assert "no engine here" in err


@pytest.mark.parametrize("exc, code", [(containers.DockerUnavailable("no engine"), 3),
                                       (RuntimeError("perfdhcp vanished"), 1)])
def test_bench_errors_during_the_run(monkeypatch, capsys, exc, code):
    monkeypatch.setattr(containers, "engine_arch", lambda: "amd64")
    monkeypatch.setattr(dhcp, "launcher_costs", lambda **kw: {})
    monkeypatch.setattr(dhcp, "launcher_table", lambda *a: "launcher table")

    def fail(*a, **kw):
        raise exc
    monkeypatch.setattr(dhcp, "dhcp_tables", fail)
    assert cli.main(["bench", "--no-build", "--cell", "kea2.2.0-debian12-amd64"]) == code
    out, err = _error(capsys)
    assert str(exc) in err and str(exc) not in out


def test_build_docker_unavailable(monkeypatch, capsys):
    def unavailable(*a, **kw):
        raise containers.DockerUnavailable("no engine here")
    monkeypatch.setattr(hook, "build_cells", unavailable)
    assert cli.main(["build"]) == 3
    _error(capsys)


def test_release_bad_version(capsys):
    assert cli.main(["release", "--version", "two"]) == 2
    _error(capsys)


def test_pipelines_drift(monkeypatch, capsys):
    monkeypatch.setattr(pipelines, "drift", lambda m: {".gitlab-ci.yml": "--- a\n+++ b\n"})
    assert cli.main(["pipelines", "--check"]) == 1
    out, err = _error(capsys)
    assert "+++ b" in out  # the diff itself is output, the verdict an error


def test_smoke_build_failure(monkeypatch, capsys):
    def failed(cells, **kw):
        return [hook.Result(c, "failed", 0.1, "compiler exploded") for c in cells]
    monkeypatch.setattr(hook, "build_cells", failed)
    assert cli.main(["smoke", "--only", "kea2.6.3-debian13-amd64"]) == 1
    out, err = _error(capsys)
    assert "kea2.6.3-debian13-amd64" in err and "build failed" in err


def test_no_error_print_without_prefix():
    """The error prints of the command's entry points all use the one prefix."""
    for path in sorted((ROOT / "kea_runscript").rglob("*.py")):
        bad = re.findall(r'print\(f?"(?:error|bench): .*', path.read_text())
        assert not bad, f"{path.relative_to(ROOT)}: {bad}"


# --------------------------------------------------------------------------------------------
# -h


def _help(argv):
    return subprocess.run([sys.executable, "-m", "kea_runscript.cli", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_help_shows_selection_rules_and_exit_codes():
    r = _help(["-h"])
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "``" not in text, text
    assert "--only" in text and "--series" in text and "declared" in text and "skipped" in text, text
    for code, meaning in (("0", "ok"), ("1", "failed"), ("2", "usage"), ("3", "Docker")):
        assert re.search(rf"^\s*{code}\s.*{meaning}", text, re.M), (code, text)
    top = text.split("\n\n")[1].splitlines()[0]  # the description's first line, after usage
    assert top.startswith("kea-runscript") and "`" not in top, top


def test_subcommand_help_shows_selection_rules():
    r = _help(["build", "-h"])
    assert r.returncode == 0, r.stderr
    assert "declared" in r.stdout and "Exit status" in r.stdout, r.stdout


# --------------------------------------------------------------------------------------------
# | head


def test_closed_pipe_ends_quietly():
    """`kea-runscript list | head -1`: the reader is gone before the output is written."""
    proc = subprocess.Popen([sys.executable, "-m", "kea_runscript.cli", "list", "-v"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 1, (code, err)
