"""CI pipelines: the committed files are exactly what matrix.yaml + templates/ci/ generate; one
job definition runs every cell through the CI's matrix; the release jobs run on tags only,
secrets reach only the steps that need them, the tag reaches scripts through env; and the
files pass the CI systems' JSON schemas and zizmor (offline), as vendored on PyPI."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kea_runscript import ROOT, cli
from kea_runscript.model import matrix
from kea_runscript.generate import pipelines
from tests.unit.fakes import small_matrix

#: The real matrix: these tests are about the committed CI files, which it generates (the drift
#: detection itself is behaviour, tested on the small fixture matrix).
M = matrix.load()
GITHUB = ".github/workflows/build.yml"
GITLAB = ".gitlab-ci.yml"


def test_committed_pipelines_are_in_sync():
    diffs = pipelines.drift(M)
    assert not diffs, ("CI files drifted from the generator; run `kea-runscript pipelines` and commit:\n"
                       + "\n".join(diffs.values()))


def test_check_command(capsys):
    assert cli.main(["pipelines", "--check"]) == 0
    assert "in sync" in capsys.readouterr().out


def test_drift_is_detected(tmp_path):
    small = small_matrix()
    pipelines.write(small, tmp_path)
    assert pipelines.drift(small, tmp_path) == {}
    fewer = matrix.Matrix(cells=small.cells[:-1], path=small.path)
    diffs = pipelines.drift(fewer, tmp_path)
    assert set(diffs) == set(pipelines.OUTPUTS)
    assert small.cells[-1].id in diffs[GITLAB]
    (tmp_path / GITLAB).unlink()
    assert GITLAB in pipelines.drift(small, tmp_path)


@pytest.fixture(scope="module")
def texts():
    return pipelines.render(M)


@pytest.fixture(scope="module")
def rendered(texts):
    return {path: yaml.safe_load(text) for path, text in texts.items()}


def steps(job):
    return job["steps"]


def test_github_cells_are_one_matrix_job(rendered):
    wf = rendered[GITHUB]
    assert set(wf["jobs"]) == {"tests", "cell", "release", "attest", "sign", "publish", "pages", "apt-fetch", "apt-sign",
                               "apt-pages"}
    cell = wf["jobs"]["cell"]
    assert cell["strategy"]["matrix"]["include"] == [
        {"id": c.id, "status": c.status, "runs_on": pipelines.github_runner(c.arch)} for c in M.cells]
    assert cell["continue-on-error"] == "${{ matrix.status == 'declared' }}"
    assert cell["strategy"]["fail-fast"] is False
    run = next(s for s in steps(cell) if "run" in s)
    assert run["run"] == 'ci/cell.sh "$CELL" "$CELL_STATUS"'
    assert run["env"] == {"CELL": "${{ matrix.id }}", "CELL_STATUS": "${{ matrix.status }}"}
    assert wf[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True


def test_github_release_jobs(rendered):
    jobs = rendered[GITHUB]["jobs"]
    assert jobs["release"]["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert jobs["release"]["needs"] == ["tests", "cell"] and jobs["sign"]["needs"] == ["release", "attest"]
    assert jobs["attest"]["needs"] == "release"
    assert jobs["publish"]["needs"] == "sign" and jobs["pages"]["needs"] == "publish"
    assert jobs["apt-sign"]["needs"] == "apt-fetch" and jobs["apt-pages"]["needs"] == "apt-sign"
    # the weekly re-sign runs alone; the tests and cells never on the schedule
    assert jobs["apt-fetch"]["if"] == "github.event_name == 'schedule'"
    assert jobs["tests"]["if"] == jobs["cell"]["if"] == "github.event_name != 'schedule'"
    assert rendered[GITHUB][True]["schedule"] == [{"cron": pipelines.RESIGN_CRON}]
    assert rendered[GITHUB]["permissions"] == {}
    pages = {"pages": "write", "id-token": "write"}
    assert {k: j["permissions"] for k, j in jobs.items()} == {
        "tests": {"contents": "read"}, "cell": {"contents": "read"},
        "release": {"contents": "read"}, "attest": {"id-token": "write", "attestations": "write"},
        "sign": {"contents": "read"}, "publish": {"contents": "write"}, "pages": pages,
        "apt-fetch": {"contents": "read"}, "apt-sign": {"contents": "read"}, "apt-pages": pages}
    # provenance: every file of SHA256SUMS, in a job of its own (its OIDC token never meets pip)
    assert [s.get("uses", "").split("@")[0] for s in steps(jobs["attest"])] == \
        ["actions/download-artifact", "actions/attest-build-provenance"]
    assert steps(jobs["attest"])[-1]["with"] == {"subject-checksums": "dist/release/SHA256SUMS"}


def test_github_secrets_reach_only_the_step_that_needs_them(rendered):
    where = {}
    for name, job in rendered[GITHUB]["jobs"].items():
        for i, step in enumerate(steps(job)):
            for key, value in (step.get("env") or {}).items():
                if "secrets." in str(value):
                    where.setdefault(key, []).append((name, step.get("run")))
            assert "secrets." not in str(step.get("with", {})), (name, i)
    assert where == {"KEA_RUNSCRIPT_SIGNING_KEY": [("sign", 'ci/sign.sh "dist/release/${TAG#v}"'),
                                                   ("apt-sign", "ci/sign.sh --apt-only dist/apt")],
                     "GITHUB_TOKEN": [("publish", 'ci/publish.sh "$TAG"')]}
    jobs = rendered[GITHUB]["jobs"]
    # The signing key lives in one environment (required reviewers, tags v*), named by the
    # signing jobs alone; they run checkout, artifacts and ci/sign.sh: no Python set-up, no pip.
    assert {n for n, j in jobs.items() if j.get("environment") == pipelines.SIGN_ENVIRONMENT} == {"sign", "apt-sign"}
    allowed = ("actions/checkout@", "actions/download-artifact@", "actions/upload-artifact@")
    for name in ("sign", "apt-sign", "publish"):
        for step in steps(jobs[name]):
            assert step.get("uses", "").startswith(allowed) or step.get("run", "").startswith(("ci/sign.sh", "ci/publish.sh")), \
                (name, step)


def test_github_no_expression_inside_run_and_actions_pinned(texts, rendered):
    for name, job in rendered[GITHUB]["jobs"].items():
        for step in steps(job):
            assert "${{" not in step.get("run", ""), (name, step)  # the tag goes through env
            if "uses" in step:
                assert re.match(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$", step["uses"]), step["uses"]
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
    for _key, (repo, sha, tag) in pipelines.ACTIONS.items():
        assert f"uses: {repo}@{sha} # {tag}" in texts[GITHUB]


def test_github_tag_reaches_scripts_through_env(rendered):
    for name in ("release", "sign", "publish", "pages"):
        for step in steps(rendered[GITHUB]["jobs"][name]):
            if "$TAG" in step.get("run", "") or "${TAG" in step.get("run", ""):
                assert step["env"]["TAG"] == "${{ github.ref_name }}", (name, step)


def test_gitlab_cells_are_one_parallel_matrix_job(rendered, texts):
    gl = rendered[GITLAB]
    cell = gl["cell"]
    pairs = [(cid, entry["CELL_STATUS"], entry["RUNNER_TAG"]) for entry in cell["parallel"]["matrix"]
             for cid in entry["CELL"]]
    # each cell on a runner of its own architecture: arm64 cells build natively there
    assert sorted(pairs) == sorted((c.id, c.status, pipelines.gitlab_runner(c.arch)) for c in M.cells)
    assert cell["tags"] == ["$RUNNER_TAG"]
    assert cell["allow_failure"] == {"exit_codes": [77]}
    assert cell["script"] == ['ci/cell.sh "$CELL" "$CELL_STATUS"']
    assert not any(c.id in gl for c in M.cells)  # no job per cell
    # Docker-in-Docker over TLS.
    v = gl["variables"]
    assert v["DOCKER_HOST"] == "tcp://docker:2376" and v["DOCKER_TLS_VERIFY"] == "1"
    assert v["DOCKER_TLS_CERTDIR"] == "/certs" and v["DOCKER_CERT_PATH"] == "/certs/client"
    assert "2375" not in texts[GITLAB]


def test_gitlab_release_jobs(rendered, texts):
    gl = rendered[GITLAB]
    for name in ("release", "sign", "publish"):
        assert gl[name]["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v/"}], name
    for name in ("apt-fetch", "apt-sign"):
        assert gl[name]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}], name
    for name in ("tests", "cell"):
        assert gl[name]["rules"] == [{"if": '$CI_PIPELINE_SOURCE != "schedule"'}], name
    assert gl["release"]["needs"] == [{"job": "tests", "artifacts": False}, {"job": "cell", "artifacts": True}]
    assert gl["release"]["script"] == ["ci/setup.sh --release", 'ci/apt-base.sh "$GITHUB_REPOSITORY" dist/apt-base',
                                       'ci/release.sh "$CI_COMMIT_TAG" dist/apt-base']
    assert gl["sign"]["needs"] == [{"job": "release", "artifacts": True}]
    assert gl["publish"]["needs"] == [{"job": "sign", "artifacts": True}]
    assert gl["publish"]["script"] == ['ci/publish.sh "$CI_COMMIT_TAG"']
    assert gl["pages"]["artifacts"] == {"paths": ["public"]}
    # The generated file says how the secrets must be set up: protected, scoped to an environment.
    assert "protect the tags v*" in texts[GITLAB] and "Protected environments" in texts[GITLAB]
    for name, (scope, _what) in pipelines.SECRETS.items():
        assert f'#   {name:<26} environment scope "{scope}": ' in texts[GITLAB]


def gitlab_secret_reach(doc: dict, scopes: dict) -> dict:
    """{variable: jobs that receive it} by GitLab's rules: a protected variable reaches every job
    of a protected ref (main, tags) unless scoped to an environment; scoped, only the jobs
    deploying to that environment."""
    jobs = {name: job for name, job in doc.items() if isinstance(job, dict) and "script" in job}

    def env_of(job):
        env = job.get("environment")
        return env.get("name") if isinstance(env, dict) else env

    return {var: {n for n, j in jobs.items() if scope == "*" or env_of(j) == scope} for var, scope in scopes.items()}


def test_gitlab_secrets_reach_only_the_jobs_that_need_them(rendered, texts):
    gl = rendered[GITLAB]
    scopes = {var: scope for var, (scope, _what) in pipelines.SECRETS.items()}
    assert gitlab_secret_reach(gl, scopes) == {"KEA_RUNSCRIPT_SIGNING_KEY": {"sign", "apt-sign"},
                                               "GITHUB_TOKEN": {"publish"}}
    # The jobs that see a secret: a pinned image, nothing installed, only our scripts.
    for name in ("sign", "apt-sign", "publish"):
        assert re.match(r"^[\w./:-]+@sha256:[0-9a-f]{64}$", gl[name]["image"]), gl[name]["image"]
        assert all(line.startswith(("ci/sign.sh", "ci/publish.sh")) for line in gl[name]["script"]), gl[name]["script"]
        assert "services" not in gl[name] and "before_script" not in gl[name]
    assert "before_script" not in gl and "image" not in gl  # no default a job could inherit
    # Deployment jobs of the protected environment: GitLab holds those for its approvals, not
    # `action: prepare` ones.
    for name in ("sign", "apt-sign"):
        assert gl[name]["environment"] == {"name": pipelines.SIGN_ENVIRONMENT}, gl[name]["environment"]
    for script in ("sign.sh", "publish.sh"):
        text = (ROOT / "ci" / script).read_text()
        assert "pip" not in text and "python3 -S -m kea_runscript.release." in text, script
    # The check is not blind: the variable as it was (protected, no environment scope) reached
    # every job of a protected ref, the privileged cell jobs included.
    assert gitlab_secret_reach(gl, {"KEA_RUNSCRIPT_SIGNING_KEY": "*"})["KEA_RUNSCRIPT_SIGNING_KEY"] >= {"cell", "tests", "release"}


def test_both_pipelines_run_the_unit_tier_and_the_runtime_tests_of_a_native_cell(rendered):
    """A green pipeline must say something about the launcher and the handlers: before, the
    hosted pipelines ran no pytest at all (only build + smoke per cell)."""
    native = next(c for c in M.cells if c.status == "verified" and c.arch == "amd64")
    gh = rendered[GITHUB]["jobs"]["tests"]
    assert gh["runs-on"] == "ubuntu-24.04"
    assert [s["run"] for s in steps(gh) if "run" in s] == [f'ci/tests.sh "{native.id}"']
    assert rendered[GITLAB]["tests"]["script"] == [f'ci/tests.sh "{native.id}"']
    script = (ROOT / "ci" / "tests.sh").read_text()
    assert "nox -s tests sanitize" in script
    assert 'tier runtime -- -m integration tests/integration/test_runtime.py -k "$cell"' in script


def test_helper_scripts_exist_and_are_executable():
    for name in ("cell.sh", "release.sh", "publish.sh", "setup.sh", "tests.sh", "sign.sh", "apt-base.sh", "pages.sh"):
        assert os.access(ROOT / "ci" / name, os.X_OK), name
        subprocess.run(["bash", "-n", str(ROOT / "ci" / name)], check=True)
        if (ROOT / "ci" / name).read_text().startswith("#!/bin/sh"):
            subprocess.run(["dash", "-n", str(ROOT / "ci" / name)], check=True)


def test_workflow_is_short(texts):
    """One job definition for all cells: the file grows by a line per cell, no more."""
    cells = len(M.cells)
    assert len(texts[GITHUB].splitlines()) - cells < 296 and len(texts[GITLAB].splitlines()) - cells < 186


# --------------------------------------------------------------------------------------------
# offline checks with the CI systems' vendored schemas and zizmor (both from PyPI: the test extra)


def tool(name):
    path = shutil.which(name) or (Path(sys.executable).parent / name)
    assert Path(path).exists(), f"{name} is missing: pip install -e '.[test]'"
    return str(path)


@pytest.fixture(scope="module")
def written(tmp_path_factory, texts):
    d = tmp_path_factory.mktemp("pipelines")
    for path, text in texts.items():
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_text(text)
    return d


@pytest.mark.parametrize("path,schema", [(GITHUB, "vendor.github-workflows"), (GITLAB, "vendor.gitlab-ci")])
def test_schema(written, path, schema):
    r = subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, str(written / path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_zizmor(written):
    """The auditor persona: every audit, secrets-outside-env included (the workflow as it was,
    with the key a plain repository secret, failed it)."""
    r = subprocess.run([tool("zizmor"), "--offline", "--persona", "auditor", "--no-progress",
                        str(written / GITHUB)], capture_output=True, text=True)
    assert r.returncode == 0 and "No findings" in r.stdout + r.stderr, r.stdout + r.stderr


def test_checks_catch_a_bad_workflow(tmp_path):
    """The checks are not blind: the workflow as it was (${{ github.ref_name }} inside run:,
    actions by tag) fails zizmor; a misspelt key fails the schema."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\npermissions: {}\njobs:\n  r:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - uses: actions/checkout@v4\n      - run: ci/release.sh \"${{ github.ref_name }}\"\n")
    r = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "template-injection" in r.stdout + r.stderr and "unpinned-uses" in r.stdout + r.stderr
    # A secret without an environment (as the signing key was): the auditor persona says so.
    bad.write_text("on: push\npermissions: {}\njobs:\n  r:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - run: ci/sign.sh\n        env:\n          K: ${{ secrets.K }}\n")
    r = subprocess.run([tool("zizmor"), "--offline", "--persona", "auditor", "--no-progress", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "secrets-outside-env" in r.stdout + r.stderr
    bad.write_text("on: push\njobs:\n  r:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    r = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode != 0
