"""The committed message sources are exactly what messages.mes generates."""

from kea_runscript import ROOT, messages


def test_generated_message_sources_are_up_to_date():
    for name, content in messages.generate().items():
        assert (ROOT / "hook" / name).read_text() == content, f"run `kea-runscript messages`"


def test_every_message_used_by_the_hook_is_defined():
    import re
    _, defined = messages.parse()
    ids = {m.ident for m in defined}
    used = set()
    for path in (ROOT / "hook").glob("*.cc"):
        if path.name != "messages.cc":
            used |= set(re.findall(r"\b(RUNSCRIPT_[A-Z_]+)\b", path.read_text()))
    used = {u for u in used if not u.startswith(("RUNSCRIPT_HAS_", "RUNSCRIPT_KEA_", "RUNSCRIPT_HOOK_", "RUNSCRIPT_SPAWN_CLOSEFROM"))}
    assert used <= ids, used - ids
