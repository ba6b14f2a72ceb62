"""The committed message sources are exactly what messages.mes generates."""

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
