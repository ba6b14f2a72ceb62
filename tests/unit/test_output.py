"""Long steps stream their lines, folded in CI logs (kea_runscript.output)."""

from __future__ import annotations

import pytest

from kea_runscript import output


def run_section(env, lines=("g++ -c a.cc", "g++ -c b.cc")):
    said = []
    with output.section("kea2.6.3-debian13-amd64: make", said.append,
                          prefix="kea2.6.3-debian13-amd64", env=env, clock=lambda: 1700000000) as line:
        for text in lines:
            line(text)
    return said


def test_github_actions_gets_a_group_around_prefixed_lines():
    said = run_section({"GITHUB_ACTIONS": "true"})
    assert said == ["::group::kea2.6.3-debian13-amd64: make",
                    "kea2.6.3-debian13-amd64: g++ -c a.cc",
                    "kea2.6.3-debian13-amd64: g++ -c b.cc",
                    "::endgroup::"]


def test_gitlab_ci_gets_a_collapsed_section_with_a_valid_name():
    said = run_section({"GITLAB_CI": "true"})
    start, *body, end = said
    # GitLab's section names allow letters, digits, "_", "." and "-" only.
    assert start == ("\x1b[0Ksection_start:1700000000:kea2.6.3-debian13-amd64_make[collapsed=true]"
                     "\r\x1b[0Kkea2.6.3-debian13-amd64: make")
    assert end == "\x1b[0Ksection_end:1700000000:kea2.6.3-debian13-amd64_make\r\x1b[0K"
    assert body == ["kea2.6.3-debian13-amd64: g++ -c a.cc", "kea2.6.3-debian13-amd64: g++ -c b.cc"]


@pytest.mark.parametrize("env", [{}, {"GITHUB_ACTIONS": "false"}, {"CI": "true"}])
def test_elsewhere_plain_prefixed_lines_only(env):
    assert run_section(env) == ["kea2.6.3-debian13-amd64: g++ -c a.cc",
                                "kea2.6.3-debian13-amd64: g++ -c b.cc"]


def test_the_section_is_closed_when_the_step_fails():
    said = []
    with pytest.raises(RuntimeError):
        with output.section("make", said.append, prefix="c", env={"GITHUB_ACTIONS": "true"}) as line:
            line("boom")
            raise RuntimeError("make failed")
    assert said[-1] == "::endgroup::"


def test_a_line_that_looks_like_a_workflow_command_is_not_one():
    """Build output starting with ``::`` (``::error::``, ``::endgroup::``) would be read by
    GitHub as a command; the prefix keeps every streamed line plain text."""
    said = run_section({"GITHUB_ACTIONS": "true"}, lines=("::endgroup::", "::error::x"))
    assert [s for s in said if s.startswith("::")] == ["::group::kea2.6.3-debian13-amd64: make", "::endgroup::"]



def test_each_error_line_carries_the_prefix(capsys):
    output.error("first problem\nsecond problem")
    err = capsys.readouterr().err.splitlines()
    assert err == ["kea-runscript: first problem", "kea-runscript: second problem"]
