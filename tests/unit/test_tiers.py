"""A tier re-runs each failed test once on its own: a test that then passes is listed as a
re-run and the tier passes; one that fails twice fails the tier (kea_runscript.verify.tiers)."""

import json
import textwrap

from kea_runscript.verify import tiers

SUITE = {
    "test_ok.py": "def test_ok():\n    assert True\n",
    # fails the first time only: what a test that lost a race under load looks like
    "test_flaky.py": textwrap.dedent("""\
        import pathlib
        MARK = pathlib.Path(__file__).with_name("ran-once")
        def test_flaky():
            first = not MARK.exists()
            MARK.write_text("x")
            assert not first, "measured 1.54 s, bound 1.5 s"
        """),
    # a cell's smoke that fails once and writes its output where its re-run writes again
    "test_cell.py": textwrap.dedent("""\
        import pathlib, pytest
        ROOT = pathlib.Path(__file__).resolve().parents[1]
        @pytest.mark.parametrize("cell", ["kea9.9.9-debian99-amd64"])
        def test_smoke(cell):
            out = ROOT / "build" / cell / "smoke"
            first = not out.exists()
            out.mkdir(parents=True, exist_ok=True)
            (out / "kea.log").write_text("first attempt: no reply" if first else "second attempt: ok")
            assert not first
        """),
    "test_broken.py": "import pytest\n@pytest.mark.parametrize('n', [1])\ndef test_broken(n):\n    assert n == 2\n",
}


def suite(tmp_path, names):
    root = tmp_path / "root"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "__init__.py").write_text("")
    for n in names:
        (root / "tests" / n).write_text(SUITE[n])
    return root


def test_a_test_that_passes_alone_is_a_listed_rerun_and_the_tier_passes(tmp_path, capsys):
    root = suite(tmp_path, ["test_ok.py", "test_flaky.py"])
    assert tiers.run_tier("t", ["-q", "tests"], tmp_path / "out", root) == 0
    result = json.loads((tmp_path / "out" / "t.json").read_text())
    assert result["ok"] and result["tests"] == 2 and result["failed"] == 1
    [rerun] = result["reruns"]
    assert rerun["nodeid"] == "tests/test_flaky.py::test_flaky"
    assert rerun["first"]["outcome"] == "failed" and "1.54 s" in rerun["first"]["message"]
    assert rerun["again"]["outcome"] == "passed"
    out = capsys.readouterr().out
    assert "re-run (t) tests/test_flaky.py::test_flaky: failed in" in out and "then passed" in out


def test_a_test_that_fails_twice_fails_the_tier(tmp_path):
    root = suite(tmp_path, ["test_ok.py", "test_broken.py"])
    assert tiers.run_tier("t", ["-q", "tests"], tmp_path / "out", root) != 0
    result = json.loads((tmp_path / "out" / "t.json").read_text())
    assert not result["ok"]
    assert [r["again"]["outcome"] for r in result["reruns"]] == ["failed"]
    assert result["reruns"][0]["nodeid"] == "tests/test_broken.py::test_broken[1]"


def test_a_rerun_keeps_the_selection_but_not_the_paths_or_workers(tmp_path):
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    args = ["-m", "not integration", "-n", "2", "--dist", "loadgroup", "tests/unit", "-k", "tests", "-x"]
    assert tiers.selection_args(args, tmp_path) == ["-m", "not integration", "-k", "tests", "-x"]


def test_the_report_has_each_tier_and_the_slowest_tests():
    r = {"tier": "tests", "ok": True, "exit": 0, "seconds": 75.0, "tests": 3, "failed": 0, "skipped": 1,
         "reruns": [], "slowest": [{"nodeid": "tests/unit/test_a.py::test_slow", "seconds": 9.5,
                                    "outcome": "passed", "message": ""}]}
    text = tiers.report([r, dict(r, tier="sanitize", seconds=30.0)])
    assert "tests        pass         3       0        1  1 min 15.0 s" in text
    assert "total" in text and "1 min 45.0 s" in text
    assert "slowest 2 tests:" in text and "tests/unit/test_a.py::test_slow" in text


def test_the_node_id_of_a_loadgroup_test_selects_it():
    """pytest-xdist's --dist loadgroup names tests `...[cell]@cell`; that suffix selects nothing."""
    name = "test_x[kea2.2.0-debian12-arm64]@kea2.2.0-debian12-arm64"
    assert tiers.nodeid("tests.unit.test_tiers", name) == "tests/unit/test_tiers.py::test_x[kea2.2.0-debian12-arm64]"
    assert tiers.nodeid("tests.unit.test_tiers", "test_y@sanitized-hook") == "tests/unit/test_tiers.py::test_y"


def test_a_break_of_many_tests_is_not_re_run(tmp_path):
    root = suite(tmp_path, ["test_broken.py"])
    (root / "tests" / "test_broken.py").write_text(
        "import pytest\n@pytest.mark.parametrize('n', range(tiers.MAX_RERUNS + 1))\ndef test_broken(n):\n    assert False\n"
        .replace("tiers.MAX_RERUNS + 1", str(tiers.MAX_RERUNS + 1)))
    assert tiers.run_tier("t", ["-q", "tests"], tmp_path / "out", root) != 0
    result = json.loads((tmp_path / "out" / "t.json").read_text())
    assert result["failed"] == tiers.MAX_RERUNS + 1 and result["reruns"] == []


def test_the_first_attempt_of_a_re_run_cell_is_kept(tmp_path):
    """A flake's evidence (Kea's logs of the failed smoke) would be overwritten by its re-run."""
    root = suite(tmp_path, ["test_ok.py", "test_cell.py"])
    assert tiers.run_tier("t", ["-q", "tests"], tmp_path / "out", root) == 0
    cell = "kea9.9.9-debian99-amd64"
    assert (root / "build" / cell / "smoke" / "kea.log").read_text() == "second attempt: ok"
    kept = tmp_path / "out" / "first-attempt" / cell / "smoke" / "kea.log"
    assert kept.read_text() == "first attempt: no reply"
    result = json.loads((tmp_path / "out" / "t.json").read_text())
    assert result["first_attempt"] == [str(kept.parent)]
    assert f"first attempt's outputs (t): {kept.parent}" in tiers.report([result])
