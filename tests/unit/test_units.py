"""units.parse_unit on the packaged units' own text (Debian bookworm and trixie, as the
runtime images install them) and on the examples' drop-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from kea_runscript import ROOT
from kea_runscript.model import units

DATA = Path(__file__).parent / "data" / "units"


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_debian_units_give_kea_user_and_ambient_capabilities(release):
    u4 = units.parse_unit((DATA / f"{release}-kea-dhcp4-server.service").read_text(), "dhcp4")
    u6 = units.parse_unit((DATA / f"{release}-kea-dhcp6-server.service").read_text(), "dhcp6")
    assert (u4.user, u4.group) == ("_kea", None)
    assert u4.ambient == ("CAP_NET_BIND_SERVICE", "CAP_NET_RAW")
    assert u6.ambient == ("CAP_NET_BIND_SERVICE",)
    assert u4.bounding is None and u4.bounding_drop == ()
    assert u4.env == {"KEA_LOCKFILE_DIR": "/run/lock/kea"}
    assert u4.setpriv("_kea") == (
        "setpriv --reuid=_kea --regid=_kea --init-groups "
        "--inh-caps=+net_bind_service,+net_raw --ambient-caps=+net_bind_service,+net_raw")


@pytest.mark.parametrize("example, family", [("slash32_leases", 4), ("ipv6_prefix_delegation", 6)])
def test_example_dropins_add_net_admin_to_the_unit(example, family):
    unit = units.parse_unit((DATA / f"trixie-kea-dhcp{family}-server.service").read_text(), "unit")
    dropin = ROOT / "examples" / example / f"kea-dhcp{family}-server.service.d" / "runscript.conf"
    u = units.parse_unit(dropin.read_text(), str(dropin), base=unit)
    assert u.ambient == unit.ambient + ("CAP_NET_ADMIN",)
    assert u.user == "_kea" and u.bounding is None
    assert u.dropins == (str(dropin),)
    # systemd's default control-group would SIGTERM scripts and handlers with Kea (issue 20).
    assert "\nKillMode=mixed\n" in dropin.read_text()


def test_systemd_list_rules_reset_bounding_and_continuation():
    text = ("[Unit]\nUser=nobody\n[Service]\nUser=_kea\nGroup=kea\n"
            "AmbientCapabilities=CAP_NET_RAW \\\n  net_bind_service\n"
            "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_BIND_SERVICE\n"
            "; comment\n# AmbientCapabilities=CAP_SYS_ADMIN\n")
    u = units.parse_unit(text, "x")
    assert (u.user, u.group) == ("_kea", "kea")
    assert u.ambient == ("CAP_NET_RAW", "CAP_NET_BIND_SERVICE")
    assert "--bounding-set=-all,+net_raw,+net_bind_service" in u.setpriv("kea")
    # a drop-in: an empty assignment resets, then adds
    d = units.parse_unit("[Service]\nAmbientCapabilities=\nAmbientCapabilities=CAP_NET_RAW\n", "d", base=u)
    assert d.ambient == ("CAP_NET_RAW",)
    # an ambient capability outside the bounding set is refused, as systemd would not grant it
    with pytest.raises(units.UnitError, match="CAP_NET_ADMIN"):
        units.parse_unit("[Service]\nAmbientCapabilities=CAP_NET_ADMIN\n", "d2", base=u)
    with pytest.raises(units.UnitError, match="unknown capability 'CAP_NOPE'"):
        units.parse_unit("[Service]\nAmbientCapabilities=CAP_NOPE\n", "d3")


def test_root_unit_has_no_prefix_and_cap_masks_decode():
    assert units.parse_unit("[Service]\nExecStart=/bin/true\n").setpriv("root") == ""
    assert units.cap_names(0x2400) == ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
    assert units.cap_names(0x3400) == ["CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW"]
