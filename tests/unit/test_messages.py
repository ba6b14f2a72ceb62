"""The committed message sources and docs/messages.md are exactly what messages.mes (and the
hook's LOG_* calls, for the severities) generate."""

from kea_runscript import ROOT
from kea_runscript.generate import messages


def test_generated_message_sources_are_up_to_date():
    for name, content in messages.generate().items():
        assert (ROOT / "hook" / name).read_text() == content, f"run `kea-runscript messages`"


def test_every_message_used_by_the_hook_is_defined():
    import re
    _, defined = messages.parse()
    ids = {m.ident for m in defined}
    used = set()
    for path in (ROOT / "hook").glob("*.cc"):
        # The message id is the last argument of LOG_ERROR(logger, ID) / LOG_DEBUG(logger, level, ID).
        used |= set(re.findall(r"LOG_[A-Z]+\([^;]*?\b(RUNSCRIPT_[A-Z_]+)\)", path.read_text()))
    assert used, "no LOG_ call found: the pattern is out of date"
    assert used <= ids, used - ids


def test_the_messages_page_is_up_to_date_and_says_each_message_severity_and_meaning():
    assert messages.PAGE.read_text() == messages.page(), "run `kea-runscript messages`"
    _, defined = messages.parse()
    levels = messages.severities()
    for m in defined:
        assert levels.get(m.ident), f"{m.ident} is never logged"
        assert len(m.explanation) > 40, f"{m.ident}: say what it means and what to do"
        assert f"## {m.ident}\n" in messages.PAGE.read_text()


def test_a_severity_comes_from_the_log_call(tmp_path):
    source = tmp_path / "x.cc"
    source.write_text("LOG_WARN(logger, RUNSCRIPT_A).arg(1);\n"
                      "LOG_DEBUG(logger, isc::log::DBGLVL_TRACE_BASIC, RUNSCRIPT_A).arg(2);\n"
                      "LOG_ERROR(logger, RUNSCRIPT_B);\n")
    assert messages.severities([source]) == {"RUNSCRIPT_A": ["WARN", "DEBUG 40"], "RUNSCRIPT_B": ["ERROR"]}


def test_every_message_says_what_to_do():
    # An operator who finds a line in Kea's log must learn from docs/messages.md what it means
    # and what to do about it (or that nothing needs doing).
    _, found = messages.parse(messages.MES_FILE)
    vague = [m.ident for m in found if "What to do:" not in m.explanation and "Nothing to do" not in m.explanation]
    assert vague == []


def test_the_page_explains_kea_own_messages_about_the_library_and_the_logger():
    page = messages.page()
    for kea_message in ("HOOKS_OPEN_ERROR", "DHCP4_PARSER_FAIL", "invalid path specified", "HOOKS_LIBRARY_LOADED"):
        assert kea_message in page
    assert '"name": "kea-dhcp4.hook-runscript"' in page  # a logger snippet to copy
