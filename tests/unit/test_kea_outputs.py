"""The parsers of what Kea's container shows: ``ls -l /proc/self/fd`` (as the hook's scripts
see their fds), Runtime.fds' readlink listing of Kea's own fds, and Kea's memfile lease file.
The fixtures in data/kea/ are real outputs, copied from smoke runs' commands.log."""

from pathlib import Path

from tests.support.scenarios.load import lease_file_stats
from tests.support.scenarios.processes import parse_ls_fd
from tests.support.scenarios.runtime import parse_fd_links

DATA = Path(__file__).parent / "data" / "kea"


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_ls_fd_of_a_synchronous_script():
    assert parse_ls_fd(read("ls-fd-sync-kea2.6.3.txt")) == {
        0: "/dev/null", 1: "/smoke/rt-out/fd-sync.txt", 2: "/smoke/out/rt-fd-kea-dhcp4.out", 3: "/proc/413/fd"}


def test_ls_fd_of_a_capturing_script_shows_the_pipe():
    assert parse_ls_fd(read("ls-fd-capture-kea2.6.3.txt")) == {
        0: "/dev/null", 1: "/smoke/rt-out/fd-capture.txt", 2: "pipe:[3398987]", 3: "/proc/416/fd"}


def test_ls_fd_on_another_series_and_date():
    fds = parse_ls_fd(read("ls-fd-async-kea3.0.4.txt"))
    assert fds == {0: "/dev/null", 1: "/smoke/rt-out/fd-async.txt", 2: "/smoke/out/rt-fd-kea-dhcp4.out",
                   3: "/proc/259/fd"}


def test_ls_fd_takes_only_link_lines():
    # "total 0" and a listing without links give nothing; a target with " -> " in it stays whole
    assert parse_ls_fd("total 0\n") == {}
    line = "l-wx------ 1 _kea _kea 64 Nov 30 06:18 7 -> /tmp/a -> b\n"
    assert parse_ls_fd(line) == {7: "/tmp/a -> b"}


def test_keas_own_fds():
    fds = parse_fd_links(read("kea-fds-kea2.6.3.txt"))
    assert sorted(fds) == list(range(20))
    assert fds[0] == "/dev/null" and fds[12] == "/var/lib/kea/rt-fd-leases4.csv"
    assert fds[13] == "socket:[3398751]" and fds[18] == fds[19] == "pipe:[3398753]"
    assert [t for t in fds.values() if t.startswith("socket:")] == ["socket:[3398751]", "socket:[3398752]"]


def test_keas_own_fds_skip_what_is_not_a_fd_line():
    # the loop's output when /proc/<pid>/fd is gone: the glob stays unexpanded
    assert parse_fd_links("* \n") == {}


def test_lease_file_after_lfc():
    assert lease_file_stats(read("leases4-lfc-kea2.6.3.csv")) == {"lines": 749, "addresses": 749, "hwaddrs": 749}


def test_lease_file_of_kea_2_2_has_no_pool_id_column():
    text = read("leases4-load-kea2.2.0.csv")
    assert text.splitlines()[0].endswith(",state,user_context")
    assert lease_file_stats(text) == {"lines": 300, "addresses": 300, "hwaddrs": 300}


def test_lease_file_counts_every_write_and_each_lease_once():
    # memfile appends a line per write: a renewal repeats the address and hwaddr
    text = read("leases4-lfc-kea2.6.3.csv")
    lines = text.splitlines()
    renewed = text + "\n".join(lines[1:11]) + "\n"
    assert lease_file_stats(renewed) == {"lines": 759, "addresses": 749, "hwaddrs": 749}
    # a client that moved to another address: one more address than clients
    moved = lines[1].replace("198.18.1.0,", "198.18.9.9,", 1)
    assert lease_file_stats(text + moved + "\n") == {"lines": 750, "addresses": 750, "hwaddrs": 749}
    # the address given to another client: one more client than addresses
    other = lines[1].replace(",02:00:00:00:10:01,", ",02:00:00:00:ff:01,", 1)
    assert other != lines[1]
    assert lease_file_stats(text + other + "\n") == {"lines": 750, "addresses": 749, "hwaddrs": 750}


def test_an_empty_lease_file_has_only_its_header():
    header = read("leases4-lfc-kea2.6.3.csv").splitlines()[0] + "\n"
    assert lease_file_stats(header) == {"lines": 0, "addresses": 0, "hwaddrs": 0}
    assert lease_file_stats("") == {"lines": 0, "addresses": 0, "hwaddrs": 0}
