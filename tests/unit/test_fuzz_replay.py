"""What fuzzing found stays fixed: every seed and regression input of tests/fuzz/ is run
through its target (a plain g++ build, kea_runscript.verify.fuzz.build_replay), whose invariants
abort on a wrong framing or reply reading. `nox -s fuzz` looks for new inputs with libFuzzer."""

import subprocess

import pytest

from kea_runscript import ROOT
from kea_runscript.verify import fuzz


@pytest.mark.parametrize("target", sorted(fuzz.TARGETS))
def test_every_committed_input_passes_its_target(target, tmp_path):
    inputs = fuzz.seeds(target)
    assert inputs, f"no seeds for {target}"
    binary = fuzz.build_replay(target, tmp_path)
    r = subprocess.run([str(binary), *map(str, inputs)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("\n") == len(inputs)  # each one ran


def _broken_protocol(tmp_path, old, new):
    text = (ROOT / "hook" / "protocol.cc").read_text()
    assert old in text
    path = tmp_path / "protocol.cc"
    path.write_text(text.replace(old, new))
    return path


def _fails(target, tmp_path, broken, seed):
    binary = fuzz.build_replay(target, tmp_path, [broken])
    r = subprocess.run([str(binary), str(fuzz.FUZZ_DIR / "seeds" / target / seed)], capture_output=True,
                       timeout=60)
    return r.returncode != 0


def test_the_forged_record_seed_fails_a_framing_that_keeps_nul_bytes(tmp_path):
    """Issue 20 item 1 as the record target sees it: fields written with their NUL bytes let a
    client's option 60 end the record and start a forged lease4_release."""
    broken = _broken_protocol(tmp_path, "return std::strlen(s.c_str());", "return s.size();")
    assert _fails("fuzz_record", tmp_path, broken, "forged-release")


def test_the_reply_seeds_fail_a_reader_that_takes_leading_zeros(tmp_path):
    broken = _broken_protocol(tmp_path, "if ((n > 6 && s[5] == '0') || value > 255)", "if (value > 255)")
    assert _fails("fuzz_reply", tmp_path, broken, "exit-007")


def test_the_log_seeds_fail_a_log_text_that_keeps_control_characters(tmp_path):
    """A newline kept raw would let a client's hostname, echoed by a script, forge a log line."""
    text = (ROOT / "hook" / "log_text.cc").read_text()
    old = "if (c >= 0x20 && c < 0x7F && c != '\\\\') {"
    assert old in text
    broken = tmp_path / "log_text.cc"
    broken.write_text(text.replace(old, "if ((c >= 0x20 || c == '\\n') && c < 0x7F && c != '\\\\') {"))
    assert _fails("fuzz_log_text", tmp_path, broken, "forged-line")


def test_the_parameter_seeds_fail_a_parser_that_lets_a_nul_into_the_environment(tmp_path):
    """An accepted configuration is checked too: a NUL in an `environment` value would cut the
    variable where the kernel reads it."""
    text = (ROOT / "hook" / "parameter_values.cc").read_text()
    old = 'refuse_nul(var + kv.second->stringValue(), item_name);'
    assert old in text
    broken = tmp_path / "parameter_values.cc"
    broken.write_text(text.replace(old, ""))
    others = [p for p in fuzz.TARGETS["fuzz_parameters"] if p.name != broken.name]
    binary = fuzz.build_replay("fuzz_parameters", tmp_path, [broken, *others])
    r = subprocess.run([str(binary), str(fuzz.FUZZ_DIR / "seeds" / "fuzz_parameters" / "environment-nul")],
                       capture_output=True, timeout=60)
    assert r.returncode != 0
