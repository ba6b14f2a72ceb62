"""The README's variable tables come from the catalogue and must not drift."""

from kea_runscript import catalogue, docs


def test_readme_tables_match_the_catalogue():
    section = docs.readme_section()
    assert section is not None, "README.md lacks the generated variables block"
    assert section == docs.variables_section(), "README drifted: run `kea-runscript docs`"


def test_every_variable_and_hook_point_is_documented():
    text = docs.variables_section()
    cat = catalogue.load()
    for v in cat.variables():
        assert f"| `{v.name}` |" in text
    for p in cat.hook_points:
        assert f"| `{p.name}` |" in text
