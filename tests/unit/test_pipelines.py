"""CI pipelines: the committed files are exactly what matrix.yaml + templates/ci/ generate,
every cell has its job (declared ones may fail), and the release job runs on tags only."""

import re

import pytest
import yaml

from kea_runscript import ROOT, cli, matrix, pipelines

M = matrix.load()


def test_committed_pipelines_are_in_sync():
    diffs = pipelines.drift(M)
    assert not diffs, ("CI files drifted from the generator; run `kea-runscript pipelines` and commit:\n"
                       + "\n".join(diffs.values()))


def test_check_command(capsys):
    assert cli.main(["pipelines", "--check"]) == 0
    assert "in sync" in capsys.readouterr().out


def test_drift_is_detected(tmp_path):
    pipelines.write(M, tmp_path)
    assert pipelines.drift(M, tmp_path) == {}
    fewer = matrix.Matrix(cells=M.cells[:-1], path=M.path)
    diffs = pipelines.drift(fewer, tmp_path)
    assert set(diffs) == set(pipelines.OUTPUTS)
    assert M.cells[-1].id in diffs[".gitlab-ci.yml"]
    (tmp_path / ".gitlab-ci.yml").unlink()
    assert ".gitlab-ci.yml" in pipelines.drift(M, tmp_path)


@pytest.fixture(scope="module")
def rendered():
    return {path: yaml.safe_load(text) for path, text in pipelines.render(M).items()}


def test_github_jobs(rendered):
    wf = rendered[".github/workflows/build.yml"]
    jobs = wf["jobs"]
    assert set(jobs) == {pipelines.job_key(c.id) for c in M.cells} | {"release"}
    for c in M.cells:
        job = jobs[pipelines.job_key(c.id)]
        assert re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", pipelines.job_key(c.id))
        assert job.get("continue-on-error", False) is (not c.verified), c.id
        assert any(s.get("run") == f"ci/cell.sh {c.id} {c.status}" for s in job["steps"])
        assert any(s.get("with", {}).get("name") == c.id for s in job["steps"])  # artifact = dist/<id>/
    rel = jobs["release"]
    assert rel["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert set(rel["needs"]) == {pipelines.job_key(c.id) for c in M.cells}
    assert any("ci/release.sh" in s.get("run", "") for s in rel["steps"])
    assert wf[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True


def test_gitlab_jobs(rendered):
    gl = rendered[".gitlab-ci.yml"]
    for c in M.cells:
        job = gl[c.id]
        assert job["extends"] == ".cell" and job["variables"] == {"CELL": c.id, "CELL_STATUS": c.status}
        assert job.get("allow_failure", False) is (not c.verified), c.id
    rel = gl["release"]
    assert rel["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v/"}]
    assert [n["job"] for n in rel["needs"]] == [c.id for c in M.cells]
    assert any("ci/release.sh" in line for line in rel["script"])


def test_helper_scripts_exist_and_are_executable():
    import os
    for name in ("cell.sh", "release.sh", "setup.sh"):
        assert os.access(ROOT / "ci" / name, os.X_OK), name
