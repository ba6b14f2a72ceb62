"""emulation.problem: what a machine lacks to run a foreign cell's Kea (a fake binfmt_misc)."""

from kea_runscript.engine import emulation

ENTRY = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: {flags}\noffset 0\n"


def binfmt(tmp_path, flags="PF", state="enabled", mounted=True):
    d = tmp_path / "binfmt_misc"
    d.mkdir(parents=True)
    if mounted:
        (d / "status").write_text("enabled\n")
    if flags is not None:
        (d / "qemu-aarch64").write_text(ENTRY.format(flags=flags).replace("enabled", state, 1))
    return d


def test_a_registered_entry_with_the_f_flag_is_enough(tmp_path):
    assert emulation.problem("arm64", binfmt(tmp_path)) == ""


def test_each_missing_piece_is_named(tmp_path):
    assert "not mounted" in emulation.problem("arm64", binfmt(tmp_path / "a", mounted=False))
    assert "no binfmt_misc entry" in emulation.problem("arm64", binfmt(tmp_path / "b", flags=None))
    assert "is disabled" in emulation.problem("arm64", binfmt(tmp_path / "c", state="disabled"))
    # Without F the kernel looks the interpreter up inside each container, which has none.
    msg = emulation.problem("arm64", binfmt(tmp_path / "d", flags="P"))
    assert "lacks the F flag" in msg and "flags: P" in msg
    assert "./bootstrap.sh" in msg
