"""Unit tests of kea_runscript.verify.checks (no Docker): type checkers, per-call and per-run checks."""

from __future__ import annotations

import pytest

from kea_runscript.model import catalogue, value_types
from kea_runscript.verify import checks, smoke, testnet
from kea_runscript.model.catalogue import load
from kea_runscript.model.versions import Version

CAT = load()
KEA = Version(2, 6, 3)

MAC = "02:00:00:00:04:01"
RELAY_MAC = "02:00:00:00:04:02"
DUID = "00:03:00:01:02:00:00:00:06:01"


def traffic4() -> checks.Traffic:
    return smoke.traffic_for(4, {"clients": {
        "direct": {"mac": MAC, "option60": "vendor/1.0"},
        "relayed": {"mac": RELAY_MAC, "relay": {"giaddr": "198.18.0.1", "hops": 1,
                                                "rai": "0102abcd0201ff", "circuit_id": "abcd",
                                                "remote_id": "ff"}},
    }})


def traffic6() -> checks.Traffic:
    return smoke.traffic_for(6, {"clients": {
        "renewer": {"duid_mac": "02:00:00:00:06:01", "duid": DUID, "na": {"iaid": 601},
                    "pd": {"iaid": 602}},
    }})


def query4(mac=MAC, type_="DHCPREQUEST", **extra):
    env = {
        "KEA_QUERY4_TYPE": type_, "KEA_QUERY4_INTERFACE": "srv0", "KEA_QUERY4_IFINDEX": "2",
        "KEA_QUERY4_HWADDR": mac, "KEA_QUERY4_HWADDR_TYPE": "1", "KEA_QUERY4_HWADDR_SOURCE": "0",
        "KEA_QUERY4_RELAYED": "0", "KEA_QUERY4_RELAY_HOPS": "0", "KEA_QUERY4_CIADDR": "0.0.0.0",
        "KEA_QUERY4_SIADDR": "0.0.0.0", "KEA_QUERY4_YIADDR": "0.0.0.0", "KEA_QUERY4_GIADDR": "0.0.0.0",
    }
    if mac == MAC:
        env["KEA_QUERY4_OPTION60"] = "vendor/1.0"
    env.update(extra)
    return env


def subnet4(prefix="192.0.2.0", plen=24):
    return {"KEA_SUBNET4_PREFIX": prefix, "KEA_SUBNET4_PREFIXLEN": str(plen),
            "KEA_SUBNET4": f"{prefix}/{plen}"}


def lease4(addr="192.0.2.150", mac=MAC):
    return {"KEA_LEASE4_ADDRESS": addr, "KEA_LEASE4_TYPE": "V4", "KEA_LEASE4_STATE": "default",
            "KEA_LEASE4_IS_EXPIRED": "0", "KEA_LEASE4_HWADDR": mac, "KEA_LEASE4_HOSTNAME": "",
            "KEA_LEASE4_CLIENT_LAST_TRANSMISSION": "1700000000", "KEA_LEASE4_VALID_LIFETIME": "8",
            "KEA_LEASE4_DEBUG": "Address: 192.0.2.150\nState: default\n"}


def query6(type_="RENEW", duid=DUID):
    env = {"KEA_QUERY6_TYPE": type_, "KEA_QUERY6_INTERFACE": "srv0", "KEA_QUERY6_IFINDEX": "2",
           "KEA_QUERY6_DUID": duid, "KEA_QUERY6_HWADDR": "02:00:00:00:06:01",
           "KEA_QUERY6_HWADDR_TYPE": "1", "KEA_QUERY6_HWADDR_SOURCE": "2",
           "KEA_QUERY6_LOCAL_ADDRESS": "ff02::1:2", "KEA_QUERY6_LOCAL_PORT": "0",
           "KEA_QUERY6_REMOTE_ADDRESS": "fe80::1", "KEA_QUERY6_REMOTE_PORT": "546",
           "KEA_QUERY6_LABEL": "duid=[...]", "KEA_QUERY6_TRANSACTION_ID": "42",
           "KEA_QUERY6_DEBUG": "msgtype=5(RENEW)\n"}
    return env


def lease6(type_="IA_NA", addr="2001:db8:1::150", prefix=None, iaid=601):
    env = {"KEA_LEASE6_TYPE": type_, "KEA_LEASE6_ADDRESS": addr, "KEA_LEASE6_CLIENT_DUID": DUID,
           "KEA_LEASE6_HWADDR": "", "KEA_LEASE6_HOSTNAME": "", "KEA_LEASE6_STATE": "default",
           "KEA_LEASE6_IS_EXPIRED": "0", "KEA_LEASE6_CLIENT_LAST_TRANSMISSION": "1700000000",
           "KEA_LEASE6_VALID_LIFETIME": "8", "KEA_LEASE6_PREFERRED_LIFETIME": "5",
           "KEA_LEASE6_IAID": str(iaid), "KEA_LEASE6_DEBUG": "..."}
    if prefix:
        env["KEA_LEASE6_DELEGATED_PREFIX"] = prefix
        env["KEA_LEASE6_DELEGATED_PREFIXLEN"] = prefix.split("/")[1]
    return env


def call(point, env):
    return {"argv": ["/smoke/tools/recorder.py", point], "env": env}


# --------------------------------------------------------------------------------------------
# types


@pytest.mark.parametrize("type_,good,bad", [
    ("int", ["0", "42", "-1", ""], ["4.2", "x", " 1"]),
    ("bool", ["0", "1"], ["", "2", "true"]),
    ("ipv4", ["192.0.2.1", "0.0.0.0"], ["192.0.2", "2001:db8::1", "192.0.2.01"]),
    ("ipv6", ["2001:db8::1", "fe80::1", "::"], ["2001:DB8::1", "2001:db8:0:0::1", "192.0.2.1"]),
    ("hwaddr", ["00:0c:01:02:03:04", ""], ["00:0C:01:02:03:04", "000c01020304", "0:c:1"]),
    ("hex", ["0x", "0x0104deadbeef", "0x0104DEADBEEF"], ["0104", "0x1", "0xzz"]),
    ("duid", ["00:03:00:01:02:00:00:00:06:01", "00"], ["", "0003"]),
    ("prefix", ["2001:db8:100::/56", "192.0.2.0/24"], ["2001:db8:100::", "192.0.2.0/33", "x/1"]),
    ("list", ["", "192.0.2.1", "192.0.2.1 192.0.2.2"], [" 192.0.2.1", "a  b", "a\nb"]),
])
def test_type_checkers(type_, good, bad):
    check = value_types.TYPE_CHECKS[type_]
    for v in good:
        assert check(v), (type_, v)
    for v in bad:
        assert not check(v), (type_, v)


def test_every_catalogue_type_has_a_checker():
    assert set(CAT.types) <= set(value_types.TYPE_CHECKS)


def test_every_conditional_variable_has_a_predicate():
    missing = [v.name for v in CAT.variables() if v.conditional and v.name not in checks.CONDITIONS]
    assert not missing, f"add predicates to kea_runscript.verify.checks.CONDITIONS for {missing}"


# --------------------------------------------------------------------------------------------
# one call, DHCPv4


def test_good_lease4_select_passes():
    env = {**query4(), **subnet4(), "KEA_FAKE_ALLOCATION": "0", **lease4()}
    assert checks.check_call(call("lease4_select", env), CAT, KEA, traffic4()) == []


def test_missing_and_unknown_variables():
    env = {**query4(), **subnet4()}
    del env["KEA_QUERY4_CIADDR"]
    env["KEA_QUERY4_SOMETHING_NEW"] = "1"
    problems = checks.check_call(call("subnet4_select", env), CAT, KEA, traffic4())
    assert "missing KEA_QUERY4_CIADDR" in problems
    assert any("unknown variable KEA_QUERY4_SOMETHING_NEW" in p for p in problems)


def test_variable_of_another_hook_point_is_unknown():
    env = {**query4(), **lease4()}  # lease4 variables are not emitted at pkt4_receive
    problems = checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4())
    assert any(p.startswith("unknown variable KEA_LEASE4_ADDRESS") for p in problems)


def test_wrong_type():
    env = query4(KEA_QUERY4_RELAYED="yes")
    problems = checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4())
    assert any("KEA_QUERY4_RELAYED='yes' is not a valid bool" in p for p in problems)


def test_option60_only_when_sent_and_with_the_sent_text():
    # sent but missing
    env = query4()
    del env["KEA_QUERY4_OPTION60"]
    assert any("missing KEA_QUERY4_OPTION60" in p
               for p in checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4()))
    # present for a perfdhcp client that never sends it
    env = query4(mac="02:00:00:00:10:01", KEA_QUERY4_OPTION60="x", KEA_QUERY4_RELAYED="1",
                 KEA_QUERY4_RELAY_HOPS="1", KEA_QUERY4_GIADDR="192.0.2.2")
    assert any("KEA_QUERY4_OPTION60='x' present but not expected" in p
               for p in checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4()))
    # wrong text
    env = query4(KEA_QUERY4_OPTION60="other")
    assert any("client sent 'vendor/1.0'" in p
               for p in checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4()))


def test_option60_with_nul_bytes_is_expected_up_to_the_first_one():
    nul = "vendor/1.0\0\0lease4_release\0KEA_LEASE4_ADDRESS=192.0.2.99\0\0y"
    t = smoke.traffic_for(4, {"clients": {"direct": {"mac": MAC, "option60": nul}}})
    assert value_types.as_text(nul) == "vendor/1.0"
    assert not [p for p in checks.check_call(call("pkt4_receive", query4(KEA_QUERY4_OPTION60="vendor/1.0")),
                                             CAT, KEA, t) if "OPTION60" in p]
    for got in (nul, "vendor/1.0\0", "vendor/1.0y"):
        assert any("expected 'vendor/1.0'" in p for p in
                   checks.check_call(call("pkt4_receive", query4(KEA_QUERY4_OPTION60=got)), CAT, KEA, t))


def relayed(**extra):
    fields = dict(KEA_QUERY4_RELAYED="1", KEA_QUERY4_RELAY_HOPS="1", KEA_QUERY4_GIADDR="198.18.0.1",
                  KEA_QUERY4_RAI="0x0102ABCD0201FF", KEA_QUERY4_RAI_CIRCUIT_ID="0xABCD",
                  KEA_QUERY4_RAI_REMOTE_ID="0xff")
    fields.update(extra)
    return query4(mac=RELAY_MAC, **fields)


def test_relay_fields_checked_against_what_the_relay_sent():
    env = {**relayed(), **subnet4("198.18.0.0", 24)}
    assert checks.check_call(call("subnet4_select", env), CAT, KEA, traffic4()) == []
    bad = {**relayed(KEA_QUERY4_RAI_CIRCUIT_ID="0xABCE"), **subnet4("198.18.0.0", 24)}
    bad["KEA_QUERY4_GIADDR"] = "198.18.0.9"
    problems = checks.check_call(call("subnet4_select", bad), CAT, KEA, traffic4())
    assert any("KEA_QUERY4_RAI_CIRCUIT_ID=0xABCE, relay sent 0xabcd" in p for p in problems)
    assert any("KEA_QUERY4_GIADDR=198.18.0.9, relay sent 198.18.0.1" in p for p in problems)


def test_rai_missing_for_relayed_client():
    env = relayed()
    del env["KEA_QUERY4_RAI_REMOTE_ID"]
    problems = checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4())
    assert "missing KEA_QUERY4_RAI_REMOTE_ID (option 82 carries sub-option 2)" in problems


def test_lease_outside_pool_and_wrong_subnet():
    env = {**query4(), **subnet4(), "KEA_FAKE_ALLOCATION": "0", **lease4(addr="192.0.2.20")}
    problems = checks.check_call(call("lease4_select", env), CAT, KEA, traffic4())
    assert any("KEA_LEASE4_ADDRESS=192.0.2.20 outside the pools" in p for p in problems)
    env = {**query4(), **subnet4("192.0.3.0", 24)}
    problems = checks.check_call(call("subnet4_select", env), CAT, KEA, traffic4())
    assert any("KEA_SUBNET4=192.0.3.0/24 is not a configured subnet" in p for p in problems)


def test_unknown_mac_and_fake_allocation():
    env = {**query4(mac="aa:bb:cc:dd:ee:ff"), **subnet4(), "KEA_FAKE_ALLOCATION": "1",
           **lease4(mac="aa:bb:cc:dd:ee:ff")}
    problems = checks.check_call(call("lease4_select", env), CAT, KEA, traffic4())
    assert any("KEA_QUERY4_HWADDR=aa:bb:cc:dd:ee:ff is no client's MAC" in p for p in problems)
    assert any("KEA_FAKE_ALLOCATION=1 for a DHCPREQUEST" in p for p in problems)


def test_message_type_fits_hook_point():
    env = {**query4(type_="DHCPREQUEST"), **lease4()}
    problems = checks.check_call(call("lease4_release", env), CAT, KEA, traffic4())
    assert any("KEA_QUERY4_TYPE=DHCPREQUEST at lease4_release" in p for p in problems)


def test_expire_has_no_query_and_remove_lease():
    env = {**lease4(), "KEA_REMOVE_LEASE": "0"}
    assert checks.check_call(call("lease4_expire", env), CAT, KEA, traffic4()) == []
    assert "missing KEA_REMOVE_LEASE" in checks.check_call(call("lease4_expire", lease4()), CAT, KEA,
                                                           traffic4())


def test_leases4_committed_counts():
    env = {**query4(), "KEA_LEASES4_COUNT": "2", "KEA_LEASES4_ADDRESSES": "192.0.2.150",
           "KEA_DELETED_LEASES4_COUNT": "0", "KEA_DELETED_LEASES4_ADDRESSES": ""}
    problems = checks.check_call(call("leases4_committed", env), CAT, KEA, traffic4())
    assert problems == ["KEA_LEASES4_COUNT=2 but KEA_LEASES4_ADDRESSES has 1"]


def test_hook_point_of_the_other_family_and_bad_argv():
    assert checks.check_call(call("pkt6_receive", query6()), CAT, KEA, traffic4()) == [
        "pkt6_receive: called by the DHCPv4 server"]
    assert "argv[1]='nope'" in checks.check_call(call("nope", {}), CAT, KEA, traffic4())[0]
    assert "argv" in checks.check_call({"argv": ["x"], "env": {}}, CAT, KEA, traffic4())[0]


# --------------------------------------------------------------------------------------------
# one call, DHCPv6


def test_good_lease6_renew_na_and_pd():
    assert checks.check_call(call("lease6_renew", {**query6(), **lease6()}), CAT, KEA, traffic6()) == []
    pd = lease6("IA_PD", "2001:db8:100:400::", "2001:db8:100:400::/56", iaid=602)
    assert checks.check_call(call("lease6_renew", {**query6(), **pd}), CAT, KEA, traffic6()) == []


def test_delegated_prefix_only_for_pd_and_inside_the_pd_pool():
    na = {**lease6(), "KEA_LEASE6_DELEGATED_PREFIX": "2001:db8:100::/56",
          "KEA_LEASE6_DELEGATED_PREFIXLEN": "56"}
    problems = checks.check_call(call("lease6_renew", {**query6(), **na}), CAT, KEA, traffic6())
    assert any("KEA_LEASE6_DELEGATED_PREFIX='2001:db8:100::/56' present but not expected" in p
               for p in problems)
    pd = lease6("IA_PD", "2001:db8:200::", "2001:db8:200::/56", iaid=602)
    problems = checks.check_call(call("lease6_renew", {**query6(), **pd}), CAT, KEA, traffic6())
    assert any("not a delegated prefix of the PD pools" in p for p in problems)
    pd = lease6("IA_PD", "2001:db8:100::", None, iaid=602)
    problems = checks.check_call(call("lease6_renew", {**query6(), **pd}), CAT, KEA, traffic6())
    assert "missing KEA_LEASE6_DELEGATED_PREFIX (the lease is a PD lease)" in problems


def test_lease6_type_as_documented():
    problems = checks.check_call(call("lease6_renew", {**query6(), **lease6(type_="NA")}), CAT, KEA,
                                 traffic6())
    assert "KEA_LEASE6_TYPE='NA': the catalogue documents one of IA_NA, IA_TA, IA_PD" in problems


def test_duid_iaid_and_type_consistency():
    env = {**query6(type_="REBIND"), **lease6(iaid=9)}
    env["KEA_LEASE6_CLIENT_DUID"] = "00:01"
    problems = checks.check_call(call("lease6_renew", env), CAT, KEA, traffic6())
    assert any("KEA_QUERY6_TYPE=REBIND at lease6_renew" in p for p in problems)
    assert any("KEA_LEASE6_CLIENT_DUID=00:01 != KEA_QUERY6_DUID" in p for p in problems)
    assert any("KEA_LEASE6_IAID=9" in p for p in problems)


def test_hwaddr_from_the_duid_is_the_duid_ll_address():
    env = {**query6(), **lease6()}
    assert checks.check_call(call("lease6_renew", env), CAT, KEA, traffic6()) == []
    env["KEA_QUERY6_HWADDR"] = "02:00:00:00:06:99"
    problems = checks.check_call(call("lease6_renew", env), CAT, KEA, traffic6())
    assert any("KEA_QUERY6_HWADDR=02:00:00:00:06:99 (from the DUID)" in p for p in problems)


def test_perfdhcp_duids_are_known():
    t = traffic6()
    assert t.known_prefix("00:01:00:01:32:9c:ea:26:02:00:00:00:16:03")
    assert t.known_prefix("00:03:00:01:02:00:00:00:16:00")
    assert not t.known_prefix("00:01:00:01:32:9c:ea:26:02:00:00:00:17:03")


def test_declined_lease_has_no_client():
    env = {**lease6(), "KEA_LEASE6_STATE": "declined", "KEA_LEASE6_CLIENT_DUID": "00"}
    assert checks.check_call(call("lease6_recover", env), CAT, KEA, traffic6()) == []


# --------------------------------------------------------------------------------------------
# one run


def test_run_fails_when_a_hook_point_did_not_fire():
    env = query4()
    run = checks.check_run([call("pkt4_receive", env)], CAT, KEA, traffic4(),
                           ["pkt4_receive", "lease4_expire"], mode="m")
    assert not run.ok
    assert run.problems == ["lease4_expire did not fire"]
    assert run.points["pkt4_receive"].ok


def test_run_fails_on_a_bad_call_and_on_a_forbidden_point():
    good, bad = query4(), query4(KEA_QUERY4_IFINDEX="x")
    run = checks.check_run([call("pkt4_receive", good), call("pkt4_receive", bad),
                            call("leases4_committed", {})], CAT, KEA, traffic4(), ["pkt4_receive"],
                           forbidden_points=["leases4_committed"])
    pr = run.points["pkt4_receive"]
    assert (pr.calls, pr.bad_calls) == (2, 1)
    assert pr.problems[0].startswith("call #1: KEA_QUERY4_IFINDEX='x'")
    assert run.problems == ["leases4_committed fired 1 times but is not configured in this mode"]
    assert not run.ok


def test_table_marks_fired_failed_and_silent():
    from kea_runscript.model.matrix import load as load_matrix
    cell = load_matrix().by_id("kea2.6.3-debian13-amd64")
    run = checks.check_run([call("pkt4_receive", query4())], CAT, KEA, traffic4(),
                           ["pkt4_receive", "pkt4_send"], mode="wait+mt")
    text = smoke.table(smoke.CellResult(cell, runs=[run], seconds=3))
    assert "FAILED" in text
    line = {ln.split()[0]: ln for ln in text.splitlines()[2:]}
    assert line["pkt4_receive"].split()[1:] == ["ok", "1"]
    assert line["pkt4_send"].split()[1:] == ["--"]


# --------------------------------------------------------------------------------------------
# smoke configuration (no Docker)


def test_kea_configs_render_as_json_for_every_mode():
    import json
    from kea_runscript.model.matrix import load as load_matrix
    for cell in load_matrix().verified:
        for mode in smoke.MODES:
            for fam in (4, 6):
                params = smoke.hook_parameters(cell, mode, fam)
                text = smoke.kea_config(cell, fam, params, multi_threading=mode.multi_threading,
                                        log_file="/var/log/kea/x.log")
                cfg = json.loads(text)[f"Dhcp{fam}"]
                lib = cfg["hooks-libraries"][0]
                assert lib["library"].startswith(cell.hooks_dir)
                if mode.compat14:
                    assert set(lib["parameters"]) == {"script", "wait"}
                    assert "multi-threading" not in cfg
                else:
                    exec_entry, handler, *parking = lib["parameters"]["scripts"]
                    committed = f"leases{fam}_committed"
                    # the park mode: the same recorders once more, parking at leases*_committed
                    assert len(parking) == (2 if mode.park else 0)
                    for entry, twin in zip((exec_entry, handler), parking or (None, None)):
                        points = set(entry["hook-points"]) | set(twin["hook-points"] if twin else ())
                        assert points == set(catalogue.hook_points(cell.kea, fam))
                        assert entry["wait"] is mode.wait
                        if twin:
                            assert twin["hook-points"] == [committed] and twin["park"] is True
                            assert committed not in entry["hook-points"] and "wait" not in twin
                            assert twin["script"] == entry["script"]
                            assert twin["environment"] == entry["environment"]
                    assert exec_entry["script"] == testnet.RECORDER and "persistent" not in exec_entry
                    assert handler["script"] == smoke.HANDLER_RECORDER and handler["persistent"] is True
                    assert handler.get("workers", 1) == (smoke.HANDLER_WORKERS_MT if mode.multi_threading else 1)
                    assert handler["environment"]["SMOKE_RECORD"] != exec_entry["environment"]["SMOKE_RECORD"]
                    assert cfg["multi-threading"]["enable-multi-threading"] is mode.multi_threading


def test_modes_cover_wait_and_multi_threading_both_ways():
    combos = {(m.wait, m.multi_threading) for m in smoke.MODES if not m.compat14}
    assert combos == {(True, True), (True, False), (False, True), (False, False)}
    assert any(m.compat14 for m in smoke.MODES)


def test_smoke_addresses_stay_in_documentation_prefixes():
    import ipaddress
    allowed = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.18.0.0/15", "2001:db8::/32")]

    def inside(text):
        net = ipaddress.ip_network(text, strict=False)
        return any(net.version == a.version and net.subnet_of(a) for a in allowed)

    n = testnet.NET
    for a in (n.server_v4, n.client_v4, n.relay_v4, n.server_v6):
        assert inside(a)
    for s in n.subnets4 + n.subnets6:
        assert inside(s.subnet)
        for lo, hi in s.pools:
            assert inside(lo) and inside(hi)
        for p, _len in s.pd_pools:
            assert inside(p)


def test_details_show_each_problem_once_with_counts_and_modes():
    from kea_runscript.model.matrix import load as load_matrix
    cell = load_matrix().by_id("kea2.6.3-debian13-amd64")
    bad = {**query6(), **lease6(type_="NA")}
    runs = [checks.check_run([call("lease6_renew", bad)] * 3, CAT, KEA, traffic6(), ["lease6_renew"], mode=m)
            for m in ("wait+mt", "async+st")]
    text = smoke.details(smoke.CellResult(cell, runs=runs))
    assert text.count("KEA_LEASE6_TYPE='NA'") == 1
    assert "[6 calls; wait+mt, async+st]" in text


def test_compat_comparison_ignores_traffic_dependent_variables(tmp_path):
    """The 1.4-style and default runs are compared on unconditional variables only: which
    PD leases expired inside each run's window is traffic, not the configuration."""
    import json as _json

    def write(tag, envs):
        with open(tmp_path / f"{tag}-records-v6.jsonl", "w") as f:
            for env in envs:
                f.write(_json.dumps({"argv": ["/r", "lease6_expire"], "env": env}) + "\n")

    na = {"KEA_LEASE6_TYPE": "IA_NA", "KEA_LEASE6_ADDRESS": "2001:db8:1::5", "KEA_REMOVE_LEASE": "1"}
    pd = dict(na, KEA_LEASE6_TYPE="IA_PD", KEA_LEASE6_DELEGATED_PREFIX="2001:db8:100::/56",
              KEA_LEASE6_DELEGATED_PREFIXLEN="56")
    write("wait-mt", [na, pd])
    write("14-config", [na])
    assert smoke.compare_compat([], tmp_path) == []
    write("14-config", [{k: v for k, v in na.items() if k != "KEA_REMOVE_LEASE"}])
    problems = smoke.compare_compat([], tmp_path)
    assert len(problems) == 1 and "KEA_REMOVE_LEASE" in problems[0]


# --------------------------------------------------------------------------------------------
# operator-chosen options (`options4` / `options6`): the catalogue's patterns


NUL60 = "vendor/1.0\0\0x"


def traffic4_options(options=smoke.OPTIONS[4]) -> checks.Traffic:
    return smoke.traffic_for(4, {"clients": {
        "direct": {"mac": MAC, "option60": NUL60, "options": {"60": NUL60.encode().hex()}},
        "relayed": {"mac": RELAY_MAC, "relay": {"giaddr": "198.18.0.1", "hops": 1,
                                                "rai": "0102abcd0201ff", "circuit_id": "abcd",
                                                "remote_id": "ff"},
                    "options": {"82": "0102abcd0201ff", "82.1": "abcd", "82.2": "ff"}},
    }}, options)


def test_option_variables_are_named_by_the_catalogue_patterns():
    names = checks.option_variables(CAT, "pkt4_receive", [60, "82.1"])
    assert sorted(names) == ["KEA_QUERY4_OPTION60", "KEA_QUERY4_OPTION82_SUB1"]
    assert names["KEA_QUERY4_OPTION82_SUB1"][1] == "82.1"
    assert checks.option_variables(CAT, "lease4_expire", [60]) == {}  # no query there
    assert sorted(checks.option_variables(CAT, "pkt6_receive", [18])) == ["KEA_QUERY6_OPTION18"]


def test_listed_option60_is_its_hex_form_with_every_byte():
    hex60 = "0x" + NUL60.encode().hex().upper()
    env = query4(KEA_QUERY4_OPTION60=hex60)
    assert checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4_options()) == []
    # the text (cut at the NUL) where the hex form is due, and a hex form missing its NULs
    for got in ("vendor/1.0", "0x" + b"vendor/1.0x".hex().upper()):
        problems = checks.check_call(call("pkt4_receive", query4(KEA_QUERY4_OPTION60=got)), CAT, KEA,
                                     traffic4_options())
        assert any("KEA_QUERY4_OPTION60=" in p and "the query carried 60" in p for p in problems), problems


def test_sub_options_checked_against_what_the_relay_sent():
    good = relayed(KEA_QUERY4_OPTION82="0x0102ABCD0201FF", KEA_QUERY4_OPTION82_SUB1="0xABCD",
                   KEA_QUERY4_OPTION82_SUB2="0xFF")
    assert checks.check_call(call("pkt4_receive", good), CAT, KEA, traffic4_options()) == []
    bad = dict(good, KEA_QUERY4_OPTION82_SUB1="0xABCE")
    del bad["KEA_QUERY4_OPTION82_SUB2"]
    problems = checks.check_call(call("pkt4_receive", bad), CAT, KEA, traffic4_options())
    assert any("KEA_QUERY4_OPTION82_SUB1='0xABCE', the query carried 82.1 as 0xABCD" in p for p in problems)
    assert any("missing KEA_QUERY4_OPTION82_SUB2" in p for p in problems)
    # an option variable the client's query did not carry, and one not configured at all
    problems = checks.check_call(call("pkt4_receive", query4(KEA_QUERY4_OPTION60="0x" + NUL60.encode().hex().upper(),
                                                             KEA_QUERY4_OPTION82_SUB1="0xABCD",
                                                             KEA_QUERY4_OPTION12="0x41")),
                                 CAT, KEA, traffic4_options())
    assert any("KEA_QUERY4_OPTION82_SUB1='0xABCD' present, but" in p for p in problems)
    assert any(p.startswith("KEA_QUERY4_OPTION12='0x41': a KEA_QUERY4_OPTION<code> variable") for p in problems)


def test_option_values_must_be_uppercase_hex():
    env = relayed(KEA_QUERY4_OPTION82="0x0102abcd0201ff", KEA_QUERY4_OPTION82_SUB1="0xABCD",
                  KEA_QUERY4_OPTION82_SUB2="0xFF")
    problems = checks.check_call(call("pkt4_receive", env), CAT, KEA, traffic4_options())
    assert any("KEA_QUERY4_OPTION82='0x0102abcd0201ff', the query carried 82 as 0x0102ABCD0201FF" in p
               for p in problems)


def test_a_name_twice_in_the_environment_is_a_problem():
    env = query4()
    rec = call("pkt4_receive", env)
    rec["environ"] = [f"{k}={v}" for k, v in env.items()] + ["KEA_QUERY4_OPTION60=0x00"]
    assert "KEA_QUERY4_OPTION60 appears 2 times in the environment" in \
        checks.check_call(rec, CAT, KEA, traffic4())


def test_v6_relay_options_and_port():
    relay = {"18": "6966", "37": "0000118b01"}
    t = smoke.traffic_for(6, {"clients": {
        "relayed": {"duid_mac": "02:00:00:00:06:01", "duid": DUID, "na": {"iaid": 601},
                    "relay": {"link_addr": "2001:db8:1::2"},
                    "options": {"1": DUID.replace(":", ""), **relay}},
    }}, smoke.OPTIONS[6])
    env = dict(query6(type_="SOLICIT"), KEA_QUERY6_REMOTE_PORT="547",
               KEA_QUERY6_OPTION1="0x" + DUID.replace(":", "").upper(),
               KEA_QUERY6_OPTION18="0x6966", KEA_QUERY6_OPTION37="0x0000118B01")
    assert checks.check_call(call("pkt6_receive", env), CAT, KEA, t) == []
    problems = checks.check_call(call("pkt6_receive", dict(env, KEA_QUERY6_REMOTE_PORT="546",
                                                           KEA_QUERY6_OPTION37="0x00")), CAT, KEA, t)
    assert any("KEA_QUERY6_REMOTE_PORT=546, the relay sends from port 547" in p for p in problems)
    assert any("KEA_QUERY6_OPTION37='0x00', the query carried 37" in p for p in problems)
    env.pop("KEA_QUERY6_OPTION18")
    assert any("missing KEA_QUERY6_OPTION18" in p for p in checks.check_call(call("pkt6_receive", env), CAT, KEA, t))


def test_smoke_modes_with_options_list_them_and_the_others_do_not():
    cell = next(c for c in __import__("kea_runscript.model.matrix", fromlist=["load"]).load().verified)
    for mode in smoke.MODES:
        for fam in (4, 6):
            params = smoke.hook_parameters(cell, mode, fam)
            assert (f"options{fam}" in params) == mode.options
    assert any(m.options for m in smoke.MODES) and not all(m.options for m in smoke.MODES)
    assert not next(m for m in smoke.MODES if m.name == "wait+mt").options  # the 1.4 comparison's reference
