"""The ISC oracle's comparison and catalogue checks, on records shaped like the recorder's."""

from __future__ import annotations

from kea_runscript.model.catalogue import load
from kea_runscript.model.versions import Version
from kea_runscript.verify import isc_oracle
from kea_runscript.verify.isc_oracle import catalogue_problems, compare, script

KEA = Version(3, 0, 4)


def event(side: str, point: str, environ: list) -> dict:
    return {"argv": [script(side), point], "environ": list(environ),
            "env": dict(e.partition("=")[::2] for e in environ)}


def expire4(address: str = "192.0.2.10", state: str = "expired-reclaimed") -> list:
    names = [n for n, _ in load().isc.names_at("lease4_expire", KEA)]
    values = {"LEASE4_ADDRESS": address, "LEASE4_STATE": state, "REMOVE_LEASE": "true"}
    return [f"{n}={values.get(n, '')}" for n in names]


def test_equal_multisets_in_any_order_pass():
    a = [event("isc", "lease4_expire", expire4("192.0.2.10")), event("isc", "lease4_expire", expire4("192.0.2.11"))]
    b = [event("ours", "lease4_expire", expire4("192.0.2.11")), event("ours", "lease4_expire", expire4("192.0.2.10"))]
    assert compare(a, b) == []


def test_a_differing_value_names_the_hook_point_the_variable_and_both_values():
    a = [event("isc", "lease4_expire", expire4(state="expired-reclaimed"))]
    b = [event("ours", "lease4_expire", expire4(state="default"))]
    assert compare(a, b) == ["lease4_expire: LEASE4_STATE: ISC 'expired-reclaimed', ours 'default'"]


def test_another_order_of_the_same_variables_is_a_difference():
    env = expire4()
    problems = compare([event("isc", "lease4_expire", env)], [event("ours", "lease4_expire", env[::-1])])
    assert len(problems) == 1 and "same variables in another order" in problems[0]


def test_a_missing_or_extra_event_is_counted():
    a = [event("isc", "lease4_expire", expire4()), event("isc", "lease4_expire", expire4())]
    b = [event("ours", "lease4_expire", expire4())]
    assert compare(a, b) == ["lease4_expire: an event of ISC's hook has no counterpart in ours (10 variables)"]
    assert compare(b and [event("isc", "lease4_expire", expire4())], a and [
        event("ours", "lease4_expire", expire4()), event("ours", "lease4_recover", expire4()[:9])]) == [
        "lease4_recover: an event of ours has no counterpart in ISC's hook (9 variables)"]


def test_argv0_must_be_each_copys_configured_path():
    rec = event("ours", "lease4_expire", expire4())
    rec["argv"][0] = "our-recorder.py"
    problems = compare([event("isc", "lease4_expire", expire4())], [rec])
    assert problems == [f"ours: argv[0] is not the configured path {script('ours')}: "
                        f"['our-recorder.py', 'lease4_expire']"]


def test_catalogue_check_accepts_iscs_names_and_refuses_others():
    assert catalogue_problems(event("isc", "lease4_expire", expire4()), load(), KEA) == []
    assert catalogue_problems(event("isc", "lease4_expire", expire4()[1:]), load(), KEA) == [
        "lease4_expire: LEASE4_ADDRESS missing"]
    assert catalogue_problems(event("isc", "lease4_expire", expire4() + ["KEA_LEASE4_ADDRESS=x"]), load(), KEA) == [
        "lease4_expire: KEA_LEASE4_ADDRESS is not in the catalogue's ISC section"]


def test_catalogue_check_follows_collections_and_only_if_set_blocks():
    cat = load()
    names = [n for n, _ in cat.isc.names_at("leases4_committed", KEA, {"LEASES4": 2, "DELETED_LEASES4": 0})]
    env = [f"{n}={'2' if n == 'LEASES4_SIZE' else '0' if n == 'DELETED_LEASES4_SIZE' else ''}" for n in names
           if not n.startswith("QUERY4_OPTION_82")]
    assert catalogue_problems(event("isc", "leases4_committed", env), cat, KEA) == []
    short = [e for e in env if not e.startswith("LEASES4_AT1_")]
    assert "leases4_committed: LEASES4_AT1_ADDRESS missing" in catalogue_problems(
        event("isc", "leases4_committed", short), cat, KEA)
    register = [n for n, _ in cat.isc.names_at("addr6_register", KEA)]
    without_old = [f"{n}=" for n in register if not n.startswith(("OLD_LEASE6_", "QUERY6_OPTION_"))]
    assert catalogue_problems(event("isc", "addr6_register", without_old), cat, KEA) == []
    part = without_old + ["OLD_LEASE6_ADDRESS=2001:db8:1::a:1"]
    assert catalogue_problems(event("isc", "addr6_register", part), cat, KEA) == [
        "addr6_register: OLD_LEASE6_* sent in part"]


def test_the_oracle_configures_iscs_documented_parameters_for_both_hooks():
    from kea_runscript.model.matrix import load as load_matrix
    cell = next(c for c in load_matrix().verified if c.id == "kea3.0.4-debiansid-amd64")
    isc, ours = isc_oracle.libraries(cell)
    assert isc["library"].endswith("/libdhcp_run_script.so")
    assert isc["parameters"] == {"name": script("isc"), "sync": False}
    assert {k: ours["parameters"][k] for k in ("name", "sync")} == {"name": script("ours"), "sync": False}
    assert script("isc").startswith(isc_oracle.SCRIPTS_DIR + "/")  # Kea 3.0's directory for ISC's hook
