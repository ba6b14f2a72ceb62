"""The example configurations shown in the examples' READMEs: each example script gets every
hook point its `case` handles (a sample that leaves out lease4_release would keep routes of
released leases for ever), and the replay when it handles one."""

import json
import re

import pytest

from kea_runscript import ROOT

EXAMPLES = ROOT / "examples"
CASE_LABEL = re.compile(r"^\s+((?:lease|leases|pkt|subnet)\w+(?:\|\w+)*)\)", re.M)


def handled_points(script):
    return {p for label in CASE_LABEL.findall(script.read_text()) for p in label.split("|")}


def json_blocks(page):
    return [json.loads("{" + b + "}") if not b.lstrip().startswith("{") else json.loads(b)
            for b in re.findall(r"```json\n(.*?)```", page.read_text(), re.S)]


def entries(config):
    """The script entries of a block: a `parameters` map's `scripts`, or the map itself."""
    params = config.get("parameters", config)
    return params.get("scripts", [params]) if isinstance(params, dict) else []


PAGES = sorted(EXAMPLES.glob("**/README.md"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_sample_configurations_give_each_example_all_its_hook_points(page):
    scripts = {p.name: p for p in EXAMPLES.glob("**/*.sh")}
    checked = 0
    for block in json_blocks(page):
        for entry in entries(block):
            name = str(entry.get("script", "")).rsplit("/", 1)[-1]
            if name not in scripts or "hook-points" not in entry:
                continue
            handled = handled_points(scripts[name])
            live = {p for p in handled if not p.endswith("_replay")}
            assert live <= set(entry["hook-points"]), f"{page}: {name} handles {sorted(live)}"
            if handled - live:
                assert entry.get("replay") is True, f"{page}: {name} restores state at the replay"
            checked += 1
    if page.parent == EXAMPLES:
        assert checked, "the examples README's sample configuration was not found"
