"""Declared recipes that can work (Kea 1.1/1.2 from ISC's tarball) and a rendered tree that
refuses the headers of a Kea release its facts do not hold for. No Docker: Dockerfiles are
rendered as text, the Makefile is run with `make -n`, the guard is compiled with g++."""

import re
import subprocess

import pytest

from kea_runscript.engine import images
from kea_runscript.model import matrix
from kea_runscript.model.facts import facts_for
from kea_runscript.generate.render import render_tree

SOURCE_TREE_INCLUDE = "/usr/src/kea/src/lib"


def builder_dockerfile(cell_id: str) -> str:
    cell = matrix.load().by_id(cell_id)
    return images.render_dockerfile("builder", cell, images.base_ref(cell), "amd64")


@pytest.mark.parametrize("cell_id", ["kea1.1.0-debian9-amd64", "kea1.2.0-debian9-amd64"])
def test_source_tree_series_keep_kea_source_tree_and_name_its_includes(cell_id):
    text = builder_dockerfile(cell_id)
    assert "make install" in text
    assert "rm -rf /usr/src/kea" not in text
    assert f"ENV KEA_SOURCE_INCLUDE={SOURCE_TREE_INCLUDE}" in text


def test_series_with_a_complete_install_tree_drop_the_source_tree():
    text = builder_dockerfile("kea1.3.0-debian9-amd64")
    assert "rm -rf /usr/src/kea" in text
    assert "KEA_SOURCE_INCLUDE" not in text


def test_kea_1_1_builds_with_openssl_1_0_and_1_2_with_debian_default():
    old = builder_dockerfile("kea1.1.0-debian9-amd64")
    assert re.search(r"\blibssl1\.0-dev\b", old)
    assert not re.search(r"\blibssl-dev\b", old)
    new = builder_dockerfile("kea1.2.0-debian9-amd64")
    assert re.search(r"\blibssl-dev\b", new)
    assert "libssl1.0-dev" not in new


def make_dry_run(tree, env_extra=None, *args):
    env = {"PATH": "/usr/bin:/bin", **(env_extra or {})}
    return subprocess.run(["make", "-n", "-C", str(tree), "KEA_INCLUDE=/inst/include/kea",
                           "KEA_LIB=/inst/lib", *args],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("version", ["1.1.0", "1.2.0"])
def test_source_tree_makefile_searches_kea_source_after_the_install_tree(version, tmp_path):
    tree = render_tree(version, tmp_path / version)
    r = make_dry_run(tree, {"KEA_SOURCE_INCLUDE": SOURCE_TREE_INCLUDE})
    assert r.returncode == 0, r.stderr
    compiles = [line for line in r.stdout.splitlines() if " -c -o " in line]
    assert compiles
    for line in compiles:
        assert f"-isystem /inst/include/kea -isystem {SOURCE_TREE_INCLUDE}" in line


def test_source_tree_makefile_without_the_source_tree_says_what_to_set(tmp_path):
    tree = render_tree("1.1.0", tmp_path / "t")
    r = make_dry_run(tree)
    assert r.returncode != 0
    assert "KEA_SOURCE_INCLUDE" in r.stderr and "1.1.0" in r.stderr


def test_complete_install_tree_needs_no_source_tree(tmp_path):
    tree = render_tree("1.3.0", tmp_path / "t")
    r = make_dry_run(tree, {"KEA_SOURCE_INCLUDE": SOURCE_TREE_INCLUDE})
    assert r.returncode == 0, r.stderr
    assert SOURCE_TREE_INCLUDE not in r.stdout


# --------------------------------------------------------------------------------------------
# the version guard of kea_features.h


def compile_features(tree, headers_version, tmp_path, cxx_std):
    """g++ -fsyntax-only of a TU including the tree's kea_features.h, against a fake Kea
    include dir whose config.h (installed by every Kea release) names `headers_version`."""
    include = tmp_path / "include-kea"
    include.mkdir(exist_ok=True)
    (include / "config.h").write_text(f'#define PACKAGE_VERSION "{headers_version}"\n'
                                      f'#define VERSION "{headers_version}"\n')
    tu = tmp_path / "tu.cc"
    tu.write_text('#include "kea_features.h"\nint main() { return 0; }\n')
    return subprocess.run(["g++", f"-std={cxx_std}", "-fsyntax-only", "-iquote", str(tree),
                           "-isystem", str(include), str(tu)], capture_output=True, text=True)




def test_tree_refuses_headers_of_a_release_with_other_facts(tmp_path):
    tree = render_tree("2.7.5", tmp_path / "2.7.5")
    r = compile_features(tree, "2.7.3", tmp_path, facts_for("2.7.5").cxx_std)
    assert r.returncode != 0
    assert "rendered for Kea 2.7.5" in r.stderr
    assert "these headers are Kea 2.7.3" in r.stderr
    assert "kea-runscript render --kea 2.7.3" in r.stderr


@pytest.mark.parametrize("rendered,headers", [("2.7.5", "2.7.6"), ("2.7.9", "2.7.7"),
                                              ("2.2.1", "2.2.0"), ("3.0.4", "3.0.3"),
                                              ("1.1.0", "1.1.0")])
def test_tree_accepts_headers_of_a_release_with_the_same_rendered_facts(rendered, headers, tmp_path):
    tree = render_tree(rendered, tmp_path / rendered)
    r = compile_features(tree, headers, tmp_path, facts_for(rendered).cxx_std)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("rendered,headers", [("1.1.0", "1.2.0"), ("2.6.3", "2.3.8"),
                                              ("2.7.9", "3.0.0"), ("3.3.0", "3.4.0"),
                                              ("2.7.6", "2.7.7")])  # a hook point of ISC's dialect
def test_tree_refuses_across_every_kind_of_boundary(rendered, headers, tmp_path):
    tree = render_tree(rendered, tmp_path / rendered)
    r = compile_features(tree, headers, tmp_path, facts_for(rendered).cxx_std)
    assert r.returncode != 0
    assert f"kea-runscript render --kea {headers}" in r.stderr


def test_the_render_sees_only_the_facts_that_bound_its_tree():
    # A template reading a toolkit fact would make the tree depend on a fact the guard's range
    # ignores; the render's facts do not have them.
    rendered = facts_for("2.7.5", rendered_only=True)
    assert rendered.type_subnet4 == "ConstSubnet4Ptr"
    with pytest.raises(AttributeError):
        rendered.hooks_dir_restricted
    assert facts_for("2.7.5").hooks_dir_restricted is False
