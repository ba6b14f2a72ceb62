"""CI pipelines generated from ``matrix.yaml``: the test tiers, one job per cell, then release
jobs on tags.

:func:`render` turns the matrix and ``templates/ci/*.j2`` into the files CI systems read
(:data:`OUTPUTS`): a GitHub Actions workflow and a GitLab CI file. One job definition runs
every cell through the CI's own matrix (``strategy.matrix.include``, ``parallel:matrix``).
Verified cells build and smoke-test; declared cells only build (the hosted runners have the
network they need) and may fail. The ``tests`` job runs the unit and sanitizer tiers and the
run-time tests on one native cell (ci/tests.sh), so that a green pipeline says something about
the launcher and the handlers too. Jobs call the helper scripts in ``ci/``, so the pipelines
hold no logic of their own. GitHub actions are pinned by commit (:data:`ACTIONS`).

``kea-runscript pipelines`` writes them; ``--check`` fails when the committed files differ from
what the generator produces (a unit test runs the same check).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import jinja2

from .. import ROOT
from . import templating
from ..errors import ExitCode, ToolkitError
from ..model.matrix import Cell, Matrix

TEMPLATES = ROOT / "templates" / "ci"
#: generated file (relative to the checkout) -> its template in templates/ci/
OUTPUTS = {
    ".github/workflows/build.yml": "github-actions.yml.j2",
    ".gitlab-ci.yml": "gitlab-ci.yml.j2",
}
PYTHON = "3.12"
#: GitHub-hosted runner per Debian architecture.
GITHUB_RUNNERS = {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}
#: GitLab.com hosted runner tag per Debian architecture (arm64 cells build natively there).
GITLAB_RUNNERS = {"amd64": "saas-linux-small-amd64", "arm64": "saas-linux-small-arm64"}
#: Every action the workflow uses, pinned by commit (a tag can be moved; a commit cannot).
#: To update: the commit of the new tag, e.g. `git ls-remote https://github.com/actions/checkout v7.0.1`.
ACTIONS = {
    "checkout": ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup_python": ("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "upload_artifact": ("actions/upload-artifact", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "download_artifact": ("actions/download-artifact", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "upload_pages_artifact": ("actions/upload-pages-artifact", "fc324d3547104276b827a68afc52ff2a11cc49c9", "v5.0.0"),
    "deploy_pages": ("actions/deploy-pages", "cd2ce8fcbc39b97be8ca5fce6e763baed58fa128", "v5.0.0"),
    "attest_build_provenance": ("actions/attest-build-provenance", "a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32",
                                "v4.1.0"),
}
#: The environment that alone holds the signing key (GitHub: required reviewers, tags v* only;
#: GitLab: a protected environment the variable is scoped to), and the one holding the token.
SIGN_ENVIRONMENT = "release"
PUBLISH_ENVIRONMENT = "publish"
#: GitLab CI/CD variables that are secrets -> (the environment they are scoped to, what they are).
SECRETS = {
    "KEA_RUNSCRIPT_SIGNING_KEY": (SIGN_ENVIRONMENT, "type File: the signing subkey's secret (docs/release.md)"),
    "GITHUB_TOKEN": (PUBLISH_ENVIRONMENT, "masked: a token that may write the GitHub project's releases"),
}
#: The image of the GitLab jobs that see a secret, pinned by digest (a tag can be moved; a
#: digest cannot). It has python3 and gpg. To update: `docker buildx imagetools inspect
#: python:3.12-bookworm` (the index digest), then check the jobs on a test tag.
PINNED_IMAGE = "python:3.12-bookworm@sha256:dbbe4ceb97851e2e5fa83798b239811f871cb743b259ba3563737349f6bcfaa0"
#: When the scheduled pipeline re-signs the published apt repository (weekly; Valid-Until is
#: 14 days: kea_runscript.release.signing.VALID_DAYS).
RESIGN_CRON = "17 4 * * 1"


def _env() -> jinja2.Environment:
    # [[ ]] / [% %] so that GitHub's ${{ }} expressions pass through untouched.
    return templating.environment(
        TEMPLATES, trim_blocks=True, lstrip_blocks=True,
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]")


def github_runner(arch: str) -> str:
    """The runner a cell builds on: its architecture's, else amd64's (cross-compiled there, its
    Kea under qemu-user)."""
    return GITHUB_RUNNERS.get(arch, GITHUB_RUNNERS["amd64"])


def gitlab_runner(arch: str) -> str:
    return GITLAB_RUNNERS.get(arch, GITLAB_RUNNERS["amd64"])


def _job(c: Cell) -> dict:
    return {"id": c.id, "status": c.status, "runs_on": github_runner(c.arch), "gitlab_tag": gitlab_runner(c.arch)}


def render(m: Matrix) -> dict:
    """{relative path: text} of every generated pipeline file."""
    jobs = [_job(c) for c in m.cells]
    by_status = [((status, tag), [j["id"] for j in jobs if j["status"] == status and j["gitlab_tag"] == tag])
                 for status in ("verified", "declared") for tag in dict.fromkeys(GITLAB_RUNNERS.values())]
    actions = {k: f"{repo}@{sha} # {tag}" for k, (repo, sha, tag) in ACTIONS.items()}
    # The tests job's run-time cell: the first verified amd64 cell, as on this project's machine
    # (tests/integration/cells.py ONE_PER_ARCH).
    runtime = next(c for c in m.cells if c.status == "verified" and c.arch == "amd64")
    out = {}
    for path, template in OUTPUTS.items():
        out[path] = _env().get_template(template).render(
            jobs=jobs, by_status=[(s, ids) for s, ids in by_status if ids], python=PYTHON, template=template,
            output=path, actions=actions, runtime_cell=runtime.id, runtime_runner=GITLAB_RUNNERS["amd64"],
            sign_environment=SIGN_ENVIRONMENT, publish_environment=PUBLISH_ENVIRONMENT, secrets=SECRETS,
            pinned_image=PINNED_IMAGE, resign_cron=RESIGN_CRON)
    return out


def drift(m: Matrix, root: Path = ROOT) -> dict:
    """{path: unified diff} of generated files whose committed text differs (or is missing)."""
    diffs = {}
    for path, text in render(m).items():
        f = root / path
        have = f.read_text(encoding="utf-8") if f.is_file() else ""
        if have != text:
            diffs[path] = "".join(difflib.unified_diff(
                have.splitlines(True), text.splitlines(True), f"{path} (committed)", f"{path} (generated)"))
    return diffs


def write(m: Matrix, root: Path = ROOT) -> list:
    """Write every generated file that changed; return their paths."""
    changed = []
    for path, text in render(m).items():
        f = root / path
        if not f.is_file() or f.read_text(encoding="utf-8") != text:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def cli_main(args, m: Matrix) -> ExitCode:
    """``kea-runscript pipelines [--check]``: OK in sync / written; a drift (with --check) fails."""
    if args.check:
        diffs = drift(m)
        if not diffs:
            print(f"pipelines in sync with {m.path.name}: {', '.join(OUTPUTS)}")
            return ExitCode.OK
        for path, diff in diffs.items():
            sys.stdout.write(diff if diff.endswith("\n") else diff + "\n")
        raise ToolkitError(f"{', '.join(diffs)} differ from what matrix.yaml + templates/ci/ generate; "
                           f"run `kea-runscript pipelines` and commit the result")
    changed = write(m)
    for path in OUTPUTS:
        print(f"{path:<28} {'written' if path in changed else 'unchanged'}")
    return ExitCode.OK
