"""The documentation: the variable tables (docs/variables.md) come from the catalogue and the
README's list of verified builds from the matrix, and must not drift; the README stays an operator's page of at most 15 KB that links to the rest, and
every relative link of README.md and docs/*.md reaches a file that exists."""

import json
import re
from urllib.parse import unquote

from kea_runscript import ROOT
from kea_runscript.model import catalogue, matrix
from kea_runscript.generate import coverage, docs

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_variable_tables_match_the_catalogue():
    section = docs.section()
    assert section is not None, f"{docs.VARIABLES} lacks the generated variables block"
    assert section == docs.variables_section(), "docs/variables.md drifted: run `kea-runscript docs`"


def test_the_readme_lists_exactly_the_verified_builds_of_the_matrix():
    # The README must not claim more (or less) than CI tests: its list is generated.
    section = coverage.section()
    assert section is not None, "README.md lacks the coverage markers"
    assert section == coverage.coverage_section(), "README.md's builds drifted: run `kea-runscript docs`"
    m = matrix.load()
    for cell in m.verified:
        assert f"| {cell.kea} |" in section and cell.arch in section and f"`{cell.apt_suite}`" in section
    unrunnable = [c for c in m.cells if not c.verified and c.tier == "arches"]
    assert f"{len(m.cells) - len(m.verified) - len(unrunnable)} more cells" in section
    for cell in unrunnable:
        assert f"{cell.kea} {cell.arch}" in section.split("Declared only")[1]
    for cell in (c for c in m.verified if c.tier == "arches"):
        assert cell.arch in section.split("`nox -s arches`")[0].split("\n\n")[-1]


def test_every_variable_and_hook_point_is_documented():
    text = docs.variables_section()
    cat = catalogue.load()
    for v in cat.variables():
        assert f"| `{v.name}` |" in text
    for p in cat.hook_points:
        assert f"| `{p.name}` |" in text


def test_readme_is_a_short_operators_page():
    text = README.read_text()
    size = len(text.encode())
    assert size <= 15 * 1024, f"README.md is {size} bytes; move builder's material to docs/"
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    # operator first (which builds exist, then how to install one), the maintainers' commands last
    assert headings[:2] == ["Which Kea", "Installing a prebuilt hook"], headings
    assert headings[-1] == "For maintainers", headings
    for needed in ("Building from source", "Using the hook", "Variables", "Troubleshooting"):
        assert needed in headings, headings
    assert "### Parameters" in text  # the parameter table stays with the operator
    assert docs.BEGIN not in text  # the generated tables live in docs/variables.md, linked
    assert "(docs/variables.md)" in text


def _anchors(page):
    """GitHub's anchors of a page's headings."""
    out = set()
    for line in page.read_text().splitlines():
        if line.startswith("#") and not line.startswith("#!"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_relative_links_resolve():
    broken = []
    checked = 0
    for page in PAGES:
        text = page.read_text()
        # links inside code blocks are not links
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = unquote(target).partition("#")
            dest = (page.parent / path).resolve() if path else page
            checked += 1
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert checked > 20
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme():
    text = README.read_text()
    for page in PAGES[1:]:
        assert f"(docs/{page.name}" in text, page.name


def test_code_blocks_close_and_no_heading_repeats():
    """An unclosed ``` turns the rest of a page into code on GitHub (its headings included)."""
    for page in PAGES:
        lines = page.read_text().splitlines()
        fences = [i + 1 for i, line in enumerate(lines) if line.startswith("```")]
        opened = fences[::2]
        closers = fences[1::2]
        assert len(fences) % 2 == 0, f"{page.name}: a ``` is never closed (fences at lines {fences})"
        for start, end in zip(opened, closers):
            assert lines[end - 1] == "```", f"{page.name}:{end}: ``` after line {start} opens instead of closing"
        inside = {n for a, b in zip(opened, closers) for n in range(a, b + 1)}
        headings = [line for n, line in enumerate(lines, 1) if line.startswith("#") and n not in inside]
        # docs/ pages may repeat a sub-heading under different sections; the README may not
        repeated = {h for h in headings if headings.count(h) > 1 and (page == README or h.startswith("## "))}
        assert not repeated, f"{page.name}: {sorted(repeated)}"


def test_the_readme_starts_operators_on_a_configuration_that_never_stalls_kea():
    # Copied as is, the first configuration must not make Kea's thread (on Kea 2.2 the whole
    # server) wait for a script at every default hook point.
    first = re.search(r'```json\n(.*?)```', README.read_text().split("## Using the hook", 1)[1], re.S).group(1)
    params = json.loads("{" + first.strip() + "}")["hooks-libraries"][0]["parameters"]
    assert params.get("wait") is False or params.get("park") is True, params


def test_the_readme_build_from_source_lists_the_packages_the_builder_image_installs():
    # The builder image builds the release's source tarball with make alone
    # (tests/integration/test_release.py): what it installs, Kea's servers aside, is what an
    # operator needs, and the README must name exactly that.
    from kea_runscript.engine import images
    said = re.search(r"`sudo apt install ([^`]+)`", README.read_text().split("## Building from source", 1)[1])
    assert said, "the README's build from source names no packages"
    for cell in matrix.load().verified:
        if cell.arch != "amd64":
            continue
        text = images.render_dockerfile("builder", cell, "base", "amd64")
        line = re.search(r"apt-get install -y --no-install-recommends ([^\\\n]+)", text).group(1)
        installed = set(re.sub(r"-t \S+", "", line).split())  # -t <suite>-backports
        assert set(said.group(1).split()) == installed - set(cell.server_packages), cell.id
