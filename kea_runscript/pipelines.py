"""CI pipelines generated from ``matrix.yaml``: one job per cell, plus a release job on tags.

:func:`render` turns the matrix and ``templates/ci/*.j2`` into the files CI systems read
(:data:`OUTPUTS`): a GitHub Actions workflow and a GitLab CI file. Verified cells are normal
jobs (build + smoke); declared cells are jobs too (the hosted runners have the network they
need) but may fail (``continue-on-error`` / ``allow_failure``). Jobs call the helper scripts
in ``ci/``, so the pipelines hold no logic of their own.

``kea-runscript pipelines`` writes them; ``--check`` fails when the committed files differ from
what the generator produces (a unit test runs the same check).
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

import jinja2

from . import ROOT
from .matrix import Cell, Matrix

TEMPLATES = ROOT / "templates" / "ci"
#: generated file (relative to the checkout) -> its template in templates/ci/
OUTPUTS = {
    ".github/workflows/build.yml": "github-actions.yml.j2",
    ".gitlab-ci.yml": "gitlab-ci.yml.j2",
}
PYTHON = "3.12"
#: GitHub-hosted runner per Debian architecture.
GITHUB_RUNNERS = {"amd64": "ubuntu-24.04", "arm64": "ubuntu-24.04-arm"}


def job_key(ident: str) -> str:
    """A job id GitHub accepts (letters, digits, ``-``, ``_``): ``kea2_6_3-debian13-amd64``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", ident)


def _env() -> jinja2.Environment:
    # [[ ]] / [% %] so that GitHub's ${{ }} expressions pass through untouched.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]")


def _job(c: Cell) -> dict:
    return {"id": c.id, "key": job_key(c.id), "status": c.status, "verified": c.verified,
            "series": c.series, "kea": c.kea, "arch": c.arch,
            "runs_on": GITHUB_RUNNERS.get(c.arch, "ubuntu-24.04"),
            "why": c.why_not_buildable_here()}


def render(m: Matrix) -> dict:
    """{relative path: text} of every generated pipeline file."""
    jobs = [_job(c) for c in m.cells]
    out = {}
    for path, template in OUTPUTS.items():
        out[path] = _env().get_template(template).render(
            jobs=jobs, verified=[j for j in jobs if j["verified"]],
            declared=[j for j in jobs if not j["verified"]], python=PYTHON, template=template,
            output=path)
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


def cli_main(args, m: Matrix) -> int:
    """``kea-runscript pipelines [--check]``: exit 0 in sync / written, 1 drift (with --check)."""
    if args.check:
        diffs = drift(m)
        if not diffs:
            print(f"pipelines in sync with {m.path.name}: {', '.join(OUTPUTS)}")
            return 0
        for path, diff in diffs.items():
            sys.stdout.write(diff if diff.endswith("\n") else diff + "\n")
        print(f"error: {', '.join(diffs)} differ from what matrix.yaml + templates/ci/ generate; "
              f"run `kea-runscript pipelines` and commit the result", file=sys.stderr)
        return 1
    changed = write(m)
    for path in OUTPUTS:
        print(f"{path:<28} {'written' if path in changed else 'unchanged'}")
    return 0
