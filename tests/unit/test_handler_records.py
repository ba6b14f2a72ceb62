"""The handler mode's record framing and reply lines (kea_runscript.handler_records), and the
operator's documentation of them (docs/handlers.md): its format line and worked example are what
the encoder produces, with real variables of the catalogue."""

import random
import re
import subprocess

import pytest

from kea_runscript import ROOT
from kea_runscript.model import catalogue
from kea_runscript.handler_records import (MALFORMED, OUTPUT, REPLY, ProtocolError, Record,
                                           RecordDecoder, decode_records, encode_record,
                                           encode_reply, line_kind, parse_reply, try_reply)

HANDLERS_DOC = ROOT / "docs" / "handlers.md"
FORMAT_LINE = r"<hook point>\0NAME=value\0NAME=value\0 ... \0\0"

# Every byte a value may hold, and the shapes that break naive readers.
HOSTILE = [b"KEA_NL=line1\nline2\n", b"KEA_ALL=" + bytes(range(1, 256)), b"KEA_EQ=a=b==c=",
           b"KEA_EMPTY=", b"KEA_WS=  \\n \\ \t\r\n  ", b"KEA_REPLY=exit 0\n"]


def test_the_contracts_record():
    assert encode_record("lease4_select", [b"KEA_A=1", b"KEA_B="]) == b"lease4_select\0KEA_A=1\0KEA_B=\0\0"
    assert encode_record(b"load", []) == b"load\0\0"


@pytest.mark.parametrize("point,vars,why", [
    ("", [], "hook point is empty"),
    ("a\0b", [], "NUL"),
    ("p", [b""], "variable 0 is empty"),
    ("p", [b"A=1", b"B=x\0y"], "variable 1 contains a NUL"),
    ("p", [b"NOEQUALS"], "not NAME=value"),
    ("p", [b"=value"], "not NAME=value"),
])
def test_the_encoder_refuses_what_the_framing_cannot_carry(point, vars, why):
    with pytest.raises(ProtocolError, match=why):
        encode_record(point, vars)


def test_hostile_values_round_trip():
    stream = encode_record("lease4_select", HOSTILE) + encode_record("unload", [])
    assert decode_records(stream) == [Record(b"lease4_select", HOSTILE), Record(b"unload", [])]


def test_the_decoder_gives_the_same_records_whatever_the_cuts():
    records = [Record(b"pkt4_receive", HOSTILE), Record(b"load", []), Record(b"p", [b"A="]),
               Record(b"lease6_renew", [b"K=v"])]
    stream = b"".join(encode_record(r.point, r.vars) for r in records)
    for cut in range(len(stream) + 1):  # one cut anywhere, a NUL of the end included
        dec = RecordDecoder()
        assert dec.feed(stream[:cut]) + dec.feed(stream[cut:]) == records, cut
        assert dec.pending == 0
    dec = RecordDecoder()
    got = [r for b in stream for r in dec.feed(bytes([b]))]
    assert got == records


def test_random_records_round_trip_in_random_chunks():
    rnd = random.Random(14)
    nonul = bytes(range(1, 256))
    records = []
    for _ in range(300):
        point = bytes(rnd.choices(nonul, k=rnd.randint(1, 20)))
        vars = [bytes(rnd.choices(nonul.replace(b"=", b""), k=rnd.randint(1, 8))) + b"="
                + bytes(rnd.choices(nonul, k=rnd.randint(0, 40))) for _ in range(rnd.randint(0, 6))]
        records.append(Record(point, vars))
    stream = b"".join(encode_record(r.point, r.vars) for r in records)
    dec, got, pos = RecordDecoder(), [], 0
    while pos < len(stream):
        n = rnd.randint(1, 97)
        got += dec.feed(stream[pos:pos + n])
        pos += n
    assert got == records


def test_the_decoder_counts_a_partial_record_and_refuses_an_empty_one():
    dec = RecordDecoder()
    assert dec.feed(b"lease4_select\0KEA_A=1\0KEA_") == []
    assert dec.pending == len(b"lease4_select\0KEA_A=1\0KEA_")
    with pytest.raises(ProtocolError, match="bytes after the last complete record"):
        decode_records(b"load\0\0unlo")
    with pytest.raises(ProtocolError, match="empty record"):
        RecordDecoder().feed(b"load\0\0\0")


@pytest.mark.parametrize("line,code", [
    ("exit 0", 0), (b"exit 0\n", 0), (b"exit 3\n", 3), ("exit 255\n", 255), (b"exit 10", 10),
])
def test_replies(line, code):
    assert parse_reply(line) == code
    assert try_reply(line) == code


@pytest.mark.parametrize("line", [
    b"exit 256", b"exit 007", b"exit -1", b"exit +1", b"exit  0", b"Exit 0", b"exit 0 \n",
    b"exit x", b"exit", b"", b"\n", b"exit 0\nexit 0\n", b"exit 0\r\n", b"hello",
])
def test_lines_outside_the_protocol(line):
    with pytest.raises(ProtocolError):
        parse_reply(line)
    assert try_reply(line) is None


@pytest.mark.parametrize("line,kind", [
    (b"exit 0\n", REPLY), ("exit 255", REPLY),
    # what the hook takes as the record's reply, and a failure
    (b"exit 256\n", MALFORMED), (b"exit", MALFORMED), (b"exit 0\r", MALFORMED),
    (b"exited normally", MALFORMED), (b"exit 01", MALFORMED),
    # logged, answering nothing
    (b"hello\n", OUTPUT), (b"Exit 0", OUTPUT), (b" exit 0", OUTPUT), (b"", OUTPUT),
])
def test_how_the_hook_takes_a_stdout_line(line, kind):
    assert line_kind(line) == kind


def test_encode_reply():
    assert [parse_reply(encode_reply(c)) for c in (0, 1, 255)] == [0, 1, 255]
    assert encode_reply(3) == b"exit 3\n"
    with pytest.raises(ProtocolError):
        encode_reply(256)


# --- the documentation agrees with the encoder -------------------------------------------------

def _worked_example(text: str):
    """The page's `printf '...' | examples/handlers/handler.sh` line: the printf format and the
    whole command."""
    m = re.search(r"^printf '([^']*)' \| (examples/handlers/\S+)$", text, flags=re.M)
    assert m, "no worked example `printf '<record>' | examples/handlers/<handler>` line"
    return m.group(1), m.group(2)


def test_the_documented_format_line_is_the_contracts():
    assert FORMAT_LINE in HANDLERS_DOC.read_text()
    # Read with its ellipsis as "no more fields", it is what the encoder makes of two variables.
    two = FORMAT_LINE.replace(r"\0 ... ", "").replace(r"\0", "\0").encode()
    assert two == encode_record("<hook point>", [b"NAME=value", b"NAME=value"])


def test_the_worked_example_is_an_encoded_record_of_real_variables():
    fmt, _ = _worked_example(HANDLERS_DOC.read_text())
    # The bytes an operator's printf makes of it (bash's builtin, as the page shows it).
    data = subprocess.run(["/bin/bash", "-c", 'printf "$1"', "-", fmt], capture_output=True,
                          check=True).stdout
    [record] = decode_records(data)
    assert encode_record(record.point, record.vars) == data
    cat = catalogue.load()
    order = [v.name for v in cat.variables_at(record.point.decode())]
    names = [v.split(b"=", 1)[0].decode() for v in record.vars]
    assert set(names) <= set(order), set(names) - set(order)
    assert names == sorted(names, key=order.index), "not in the order the hook sends them"
    assert any(v.endswith(b"=") for v in record.vars), "show a variable with an empty value"


def test_the_worked_example_runs_as_shown(tmp_path):
    """The command the page gives replies "exit 0" and writes the entry the text shows."""
    text = HANDLERS_DOC.read_text()
    fmt, handler = _worked_example(text)
    p = subprocess.run(["/bin/bash", "-c", f"printf '{fmt}' | {handler}"], cwd=ROOT, capture_output=True,
                       timeout=30, env={})
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"exit 0\n"
    assert p.stderr.decode() in text, f"the page does not show what the handler logs:\n{p.stderr.decode()}"


def test_the_public_names_exist_and_the_docs_example_runs(tmp_path):
    """docs/handlers.md's example, run as written against the example Python handler."""
    from kea_runscript import handler_records
    assert all(hasattr(handler_records, name) for name in handler_records.__all__)
    text = HANDLERS_DOC.read_text().split("## Testing a handler", 1)[1]
    (example,) = re.findall(r"```python\n(.*?)```", text, re.S)[:1]
    handler = ROOT / "examples" / "handlers" / "handler.py"
    assert '"./my-handler"' in example
    code = example.replace('"./my-handler"', repr(str(handler)))
    r = subprocess.run(["python3", "-c", code], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "HANDLER_LOG": str(tmp_path / "log")})
    assert r.returncode == 0, r.stderr
