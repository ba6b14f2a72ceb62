"""Checks of what the hook passed to the script, against the catalogue and the traffic sent.

Pure functions, no Docker: :mod:`kea_runscript.verify.smoke` feeds them the recorder's JSON lines
(one per script call: ``argv``, ``env``) and what the clients sent (:class:`Traffic`).

Per call (:func:`check_call`):

* every catalogue variable of the hook point is present (``since`` <= Kea version); a
  conditional one (``Variable.conditional``, e.g. KEA_QUERY4_OPTION60) exactly when its
  condition holds (:data:`CONDITIONS`);
* no KEA_* variable the catalogue does not list for that hook point;
* every value has its catalogue type (:mod:`kea_runscript.model.value_types`);
* values agree with the traffic: MAC / DUID of a known client, option 60 text, giaddr,
  option 82 circuit-id / remote-id, hops, lease address in the pool of the subnet, delegated
  prefix in the PD pool, lease and query agree, the message type fits the hook point.

Per run (:func:`check_run`): every expected hook point fired, and each call is checked.

Handler mode (:func:`compare_handler`): in the same Kea run, the persistent handler's records
are exactly the exec script's calls (hook point, then its environment in order, without the
entry's own ``environment``), as a multiset: no event missing, none extra, no byte changed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from collections import Counter
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from ..model.catalogue import Catalogue, Variable
from ..model.value_types import as_text, check_type
from ..model.versions import Version

# --------------------------------------------------------------------------------------------
# what the clients sent


@dataclass
class Client:
    """One client of the scenario, as the traffic generator reports it."""

    mac: str = ""          # v4 chaddr / v6 DUID-LL link-layer address (lowercase, colons)
    duid: str = ""         # v6 DUID (lowercase hex, colons)
    option60: Optional[str] = None
    giaddr: str = ""
    hops: int = 0
    rai: str = ""          # option 82 data, hex without 0x
    circuit_id: str = ""
    remote_id: str = ""
    iaids: tuple = ()
    name: str = ""
    #: what the query carried of the options the checks look at, keyed like `options4` /
    #: `options6` entries ("60", "82.1", "18"): the data bytes as hex (no 0x), NULs included
    options: Dict[str, str] = field(default_factory=dict)
    #: v6: the client talks through a relay (its query reaches Kea from the relay's port 547)
    relayed: bool = False


@dataclass
class Traffic:
    """Everything the checks need to know about the traffic of one family."""

    family: int
    clients: List[Client] = field(default_factory=list)
    #: regular expressions matching the MACs / DUIDs of perfdhcp's simulated clients (it
    #: derives them from its base MAC: counting up, DUID-LLT or DUID-LL of the MAC).
    patterns: List[str] = field(default_factory=list)
    #: subnet prefix text -> list of (first, last) address pool ranges
    pools: Dict[str, list] = field(default_factory=dict)
    #: PD pools: (prefix network, delegated length)
    pd_pools: List[tuple] = field(default_factory=list)
    #: perfdhcp's v4 traffic comes through a relay without option 82
    perfdhcp_giaddr: str = ""
    #: the hook's `options4` / `options6` entries, as configured: 60, "82.1", 18
    options: List[str] = field(default_factory=list)

    def by_mac(self, mac: str) -> Optional[Client]:
        for c in self.clients:
            if c.mac and c.mac == mac:
                return c
        return None

    def by_duid(self, duid: str) -> Optional[Client]:
        for c in self.clients:
            if c.duid and c.duid == duid:
                return c
        return None

    def known_prefix(self, value: str) -> bool:
        return any(re.fullmatch(p, value) for p in self.patterns)


# --------------------------------------------------------------------------------------------
# conditions of conditional variables


def _query_client(env: dict, traffic: Traffic) -> Optional[Client]:
    if traffic.family == 4:
        return traffic.by_mac(env.get("KEA_QUERY4_HWADDR", ""))
    return traffic.by_duid(env.get("KEA_QUERY6_DUID", ""))


def _sent_option60(env, traffic):
    c = _query_client(env, traffic)
    return c is not None and c.option60 is not None


def _sent_rai(env, traffic):
    c = _query_client(env, traffic)
    return c is not None and bool(c.rai)


def _sent_circuit(env, traffic):
    c = _query_client(env, traffic)
    return c is not None and bool(c.circuit_id)


def _sent_remote(env, traffic):
    c = _query_client(env, traffic)
    return c is not None and bool(c.remote_id)


def _pd_lease(env, traffic):
    return env.get("KEA_LEASE6_TYPE") == "IA_PD"


#: variable name -> predicate(env, traffic): should the conditional variable be present?
CONDITIONS: Dict[str, Callable[[dict, Traffic], bool]] = {
    "KEA_QUERY4_OPTION60": _sent_option60,
    "KEA_QUERY4_RAI": _sent_rai,
    "KEA_QUERY4_RAI_CIRCUIT_ID": _sent_circuit,
    "KEA_QUERY4_RAI_REMOTE_ID": _sent_remote,
    "KEA_LEASE6_DELEGATED_PREFIX": _pd_lease,
    "KEA_LEASE6_DELEGATED_PREFIXLEN": _pd_lease,
}

#: DHCP message types a query may have at each hook point (Kea's names).
QUERY_TYPES = {
    "lease4_release": {"DHCPRELEASE"},
    "lease4_decline": {"DHCPDECLINE"},
    "lease4_select": {"DHCPDISCOVER", "DHCPREQUEST"},
    "lease4_renew": {"DHCPDISCOVER", "DHCPREQUEST"},
    "lease6_renew": {"RENEW"},
    "lease6_rebind": {"REBIND"},
    "lease6_release": {"RELEASE"},
    "lease6_decline": {"DECLINE"},
    "lease6_select": {"SOLICIT", "REQUEST", "RENEW", "REBIND"},
}


#: Kea's HWAddr::HWADDR_SOURCE_DUID (dhcp/hwaddr.h): the MAC address was taken from the DUID.
HWADDR_SOURCE_DUID = "2"


# --------------------------------------------------------------------------------------------
# operator-chosen options (the catalogue's `patterns`)


def option_variables(catalogue: Catalogue, hook_point: str, options: Iterable) -> Dict[str, tuple]:
    """The variables the configured ``options`` (`options4` / `options6` entries: 12, "82.1")
    give at ``hook_point``, named by the catalogue's patterns: {name: (Pattern, "82.1")}.
    Empty where the hook point emits no group with patterns."""
    out: Dict[str, tuple] = {}
    patterns = catalogue.patterns_at(hook_point)
    for entry in options:
        code, _, sub = str(entry).partition(".")
        for p in patterns:
            if ("<sub>" in p.name) == bool(sub):
                out[p.name.replace("<code>", code).replace("<sub>", sub)] = (p, str(entry))
    return out


def match_pattern(catalogue: Catalogue, hook_point: str, name: str):
    """The catalogue pattern at ``hook_point`` a variable name is an instance of, or None."""
    for p in catalogue.patterns_at(hook_point):
        if re.match(p.regex, name):
            return p
    return None


def _pattern_variable(p, name: str) -> Variable:
    return Variable(name=name, type=p.type, field="", description=p.description, group=p.group,
                    when=p.when)


def _check_options(env: dict, configured: Dict[str, tuple], traffic: Traffic) -> List[str]:
    """The option variables of one call against what the client (and its relay) sent."""
    out = []
    client = _query_client(env, traffic)
    for name, (pattern, key) in configured.items():
        value = env.get(name)
        if value is not None:
            why = check_type(_pattern_variable(pattern, name), value)
            if why:
                out.append(why)
        if client is None:
            continue  # perfdhcp's clients: what they send is not reported
        sent = client.options.get(key)
        if sent is None and value is not None:
            out.append(f"{name}={value!r} present, but the query (and its relays) did not carry {key}")
        elif sent is not None and value is None:
            out.append(f"missing {name}: the query carried {key} (0x{sent.upper()})")
        elif sent is not None and value != "0x" + sent.upper():
            out.append(f"{name}={value!r}, the query carried {key} as 0x{sent.upper()}")
    return out


def duplicate_names(record: dict) -> List[str]:
    """Names the environment holds more than once (``environ``, in order): a script reads one
    of them, which one depends on the program."""
    names = Counter(f.partition("=")[0] for f in record.get("environ") or [])
    return [f"{n} appears {c} times in the environment" for n, c in sorted(names.items()) if c > 1]


# --------------------------------------------------------------------------------------------
# one call


def expected_variables(catalogue: Catalogue, hook_point: str, kea: Version) -> List[Variable]:
    return [v for v in catalogue.variables_at(hook_point) if v.since <= kea]


def check_call(record: dict, catalogue: Catalogue, kea: Version, traffic: Traffic) -> List[str]:
    """Problems with one recorded call (empty list: all good)."""
    argv, env = record.get("argv", []), record.get("env", {})
    if len(argv) < 2:
        return [f"argv {argv!r}: the hook point name should be argv[1]"]
    point = argv[1]
    try:
        hp = catalogue.hook_point(point)
    except KeyError:
        return [f"argv[1]={point!r} is not a hook point of the catalogue"]
    problems = []
    if hp.family != traffic.family:
        return [f"{point}: called by the DHCPv{traffic.family} server"]
    expected = expected_variables(catalogue, point, kea)
    names = {v.name for v in expected}
    configured = option_variables(catalogue, point, traffic.options)
    problems += duplicate_names(record)
    for name in sorted(k for k in env if k.startswith("KEA_") and k not in names and k not in configured):
        pattern = match_pattern(catalogue, point, name)
        if pattern is not None:
            problems.append(f"{name}={env[name]!r}: a {pattern.name} variable, but the configured "
                            f"options are {traffic.options}")
        else:
            problems.append(f"unknown variable {name}={env[name]!r} (not in the catalogue for {point})")
    for var in expected:
        if var.name in configured:
            continue  # a listed option named like this variable: its hex form replaces it
        if var.conditional:
            cond = CONDITIONS.get(var.name)
            if cond is None:
                problems.append(f"{var.name}: conditional ({var.when}) but the smoke checks "
                                f"have no predicate for it (kea_runscript.verify.checks.CONDITIONS)")
                continue
            want = cond(env, traffic)
            if want and var.name not in env:
                problems.append(f"missing {var.name} ({var.when})")
            elif not want and var.name in env:
                problems.append(f"{var.name}={env[var.name]!r} present but not expected "
                                f"(only when {var.when})")
            if var.name not in env:
                continue
        elif var.name not in env:
            problems.append(f"missing {var.name}")
            continue
        why = check_type(var, env[var.name])
        if why:
            problems.append(why)
    problems += _check_options(env, configured, traffic)
    problems += consistency(point, env, traffic, shadowed=set(configured))
    return problems


def _in_pools(addr: str, pools: Iterable) -> bool:
    a = ipaddress.ip_address(addr)
    return any(ipaddress.ip_address(lo) <= a <= ipaddress.ip_address(hi) for lo, hi in pools)


def _safe(fn):
    def wrapped(*a, **kw):
        try:
            return fn(*a, **kw)
        except (ValueError, TypeError) as e:  # malformed values are reported by the type check
            return [f"consistency check skipped: {e}"]
    return wrapped


@_safe
def consistency(point: str, env: dict, traffic: Traffic, shadowed: Iterable[str] = ()) -> List[str]:
    """``shadowed``: names a configured option's hex form took over (not checked as text)."""
    env = {k: v for k, v in env.items() if k not in set(shadowed)}
    return (_consistency4 if traffic.family == 4 else _consistency6)(point, env, traffic)


def _consistency4(point: str, env: dict, t: Traffic) -> List[str]:
    out = []
    g = env.get
    qtype = g("KEA_QUERY4_TYPE")
    if qtype is not None and point in QUERY_TYPES and qtype not in QUERY_TYPES[point]:
        out.append(f"KEA_QUERY4_TYPE={qtype} at {point} (expected one of {sorted(QUERY_TYPES[point])})")
    mac = g("KEA_QUERY4_HWADDR")
    client = None
    if mac is not None:
        client = t.by_mac(mac)
        if client is None and not t.known_prefix(mac):
            out.append(f"KEA_QUERY4_HWADDR={mac} is no client's MAC")
    if client is not None:
        if client.option60 is not None and g("KEA_QUERY4_OPTION60") not in (None, as_text(client.option60)):
            out.append(f"KEA_QUERY4_OPTION60={g('KEA_QUERY4_OPTION60')!r}, client sent {client.option60!r} "
                       f"(expected {as_text(client.option60)!r})")
        if client.giaddr:
            if g("KEA_QUERY4_GIADDR") != client.giaddr:
                out.append(f"KEA_QUERY4_GIADDR={g('KEA_QUERY4_GIADDR')}, relay sent {client.giaddr}")
            if g("KEA_QUERY4_RELAYED") != "1":
                out.append(f"KEA_QUERY4_RELAYED={g('KEA_QUERY4_RELAYED')} for a relayed query")
            if g("KEA_QUERY4_RELAY_HOPS") != str(client.hops):
                out.append(f"KEA_QUERY4_RELAY_HOPS={g('KEA_QUERY4_RELAY_HOPS')}, relay sent {client.hops}")
        elif "KEA_QUERY4_RELAYED" in env:
            if g("KEA_QUERY4_RELAYED") != "0" or g("KEA_QUERY4_GIADDR") != "0.0.0.0":
                out.append(f"KEA_QUERY4_RELAYED={g('KEA_QUERY4_RELAYED')} GIADDR={g('KEA_QUERY4_GIADDR')} "
                           f"for a direct client")
        for var, sent in (("KEA_QUERY4_RAI", client.rai), ("KEA_QUERY4_RAI_CIRCUIT_ID", client.circuit_id),
                          ("KEA_QUERY4_RAI_REMOTE_ID", client.remote_id)):
            if sent and var in env and env[var].lower() != "0x" + sent.lower():
                out.append(f"{var}={env[var]}, relay sent 0x{sent}")
    elif mac is not None and t.perfdhcp_giaddr and g("KEA_QUERY4_GIADDR") != t.perfdhcp_giaddr:
        out.append(f"KEA_QUERY4_GIADDR={g('KEA_QUERY4_GIADDR')} for perfdhcp (sends {t.perfdhcp_giaddr})")
    # response
    if "KEA_RESPONSE4_HWADDR" in env and mac is not None and env["KEA_RESPONSE4_HWADDR"] != mac:
        out.append(f"KEA_RESPONSE4_HWADDR={env['KEA_RESPONSE4_HWADDR']} != KEA_QUERY4_HWADDR={mac}")
    # subnet
    subnet = g("KEA_SUBNET4")
    if subnet:
        if subnet not in t.pools:
            out.append(f"KEA_SUBNET4={subnet} is not a configured subnet ({sorted(t.pools)})")
        if f"{g('KEA_SUBNET4_PREFIX')}/{g('KEA_SUBNET4_PREFIXLEN')}" != subnet:
            out.append(f"KEA_SUBNET4={subnet} != KEA_SUBNET4_PREFIX/KEA_SUBNET4_PREFIXLEN")
        if client is not None and client.giaddr and "KEA_QUERY4_GIADDR" in env:
            if ipaddress.ip_address(client.giaddr) not in ipaddress.ip_network(subnet):
                out.append(f"KEA_SUBNET4={subnet} does not contain the relay's giaddr {client.giaddr}")
    # lease
    addr = g("KEA_LEASE4_ADDRESS")
    if addr:
        pools = t.pools.get(subnet) if subnet else [p for ps in t.pools.values() for p in ps]
        if pools is not None and not _in_pools(addr, pools):
            out.append(f"KEA_LEASE4_ADDRESS={addr} outside the pools {pools}")
        if g("KEA_LEASE4_TYPE") != "V4":
            out.append(f"KEA_LEASE4_TYPE={g('KEA_LEASE4_TYPE')!r}, expected 'V4'")
        lmac = g("KEA_LEASE4_HWADDR", "")
        if mac is not None and lmac and lmac != mac:
            out.append(f"KEA_LEASE4_HWADDR={lmac} != KEA_QUERY4_HWADDR={mac}")
        if mac is None and lmac and t.by_mac(lmac) is None and not t.known_prefix(lmac):
            out.append(f"KEA_LEASE4_HWADDR={lmac} is no client's MAC")
    if point == "lease4_select" and g("KEA_FAKE_ALLOCATION") != ("1" if g("KEA_QUERY4_TYPE") == "DHCPDISCOVER" else "0"):
        out.append(f"KEA_FAKE_ALLOCATION={g('KEA_FAKE_ALLOCATION')} for a {g('KEA_QUERY4_TYPE')}")
    if point == "leases4_committed":
        n, addrs = g("KEA_LEASES4_COUNT", ""), g("KEA_LEASES4_ADDRESSES", "").split()
        if n != str(len(addrs)):
            out.append(f"KEA_LEASES4_COUNT={n} but KEA_LEASES4_ADDRESSES has {len(addrs)}")
        n, addrs = g("KEA_DELETED_LEASES4_COUNT", ""), g("KEA_DELETED_LEASES4_ADDRESSES", "").split()
        if n != str(len(addrs)):
            out.append(f"KEA_DELETED_LEASES4_COUNT={n} but KEA_DELETED_LEASES4_ADDRESSES has {len(addrs)}")
    return out


def _consistency6(point: str, env: dict, t: Traffic) -> List[str]:
    out = []
    g = env.get
    qtype = g("KEA_QUERY6_TYPE")
    if qtype is not None and point in QUERY_TYPES and qtype not in QUERY_TYPES[point]:
        out.append(f"KEA_QUERY6_TYPE={qtype} at {point} (expected one of {sorted(QUERY_TYPES[point])})")
    duid = g("KEA_QUERY6_DUID")
    client = None
    if duid is not None:
        client = t.by_duid(duid)
        if client is None and not t.known_prefix(duid):
            out.append(f"KEA_QUERY6_DUID={duid} is no client's DUID")
    if client is not None and g("KEA_QUERY6_HWADDR_SOURCE") == HWADDR_SOURCE_DUID \
            and g("KEA_QUERY6_HWADDR") != client.mac:
        out.append(f"KEA_QUERY6_HWADDR={g('KEA_QUERY6_HWADDR')} (from the DUID), the client's DUID-LL "
                   f"carries {client.mac}")
    if "KEA_RESPONSE6_DUID" in env and duid is not None and env["KEA_RESPONSE6_DUID"] != duid:
        out.append(f"KEA_RESPONSE6_DUID={env['KEA_RESPONSE6_DUID']} != KEA_QUERY6_DUID={duid}")
    if "KEA_RESPONSE6_TRANSACTION_ID" in env and env.get("KEA_RESPONSE6_TRANSACTION_ID") != g("KEA_QUERY6_TRANSACTION_ID"):
        out.append("KEA_RESPONSE6_TRANSACTION_ID != KEA_QUERY6_TRANSACTION_ID")
    port = "547" if client is not None and client.relayed else "546"
    if "KEA_QUERY6_REMOTE_PORT" in env and duid is not None and g("KEA_QUERY6_REMOTE_PORT") != port:
        out.append(f"KEA_QUERY6_REMOTE_PORT={g('KEA_QUERY6_REMOTE_PORT')}, "
                   f"{'the relay sends' if port == '547' else 'clients send'} from port {port}")
    subnet = g("KEA_SUBNET6")
    if subnet:
        if subnet not in t.pools:
            out.append(f"KEA_SUBNET6={subnet} is not a configured subnet ({sorted(t.pools)})")
        if f"{g('KEA_SUBNET6_PREFIX')}/{g('KEA_SUBNET6_PREFIXLEN')}" != subnet:
            out.append(f"KEA_SUBNET6={subnet} != KEA_SUBNET6_PREFIX/KEA_SUBNET6_PREFIXLEN")
    ltype = g("KEA_LEASE6_TYPE")
    if ltype is not None:
        addr = g("KEA_LEASE6_ADDRESS", "")
        if ltype == "IA_NA":
            pools = [p for ps in t.pools.values() for p in ps]
            if addr and not _in_pools(addr, pools):
                out.append(f"KEA_LEASE6_ADDRESS={addr} outside the pools {pools}")
        elif ltype == "IA_PD":
            pfx = g("KEA_LEASE6_DELEGATED_PREFIX", "")
            plen = g("KEA_LEASE6_DELEGATED_PREFIXLEN", "")
            if pfx:
                net = ipaddress.ip_network(pfx)
                if not any(net.subnet_of(ipaddress.ip_network(p)) and net.prefixlen == int(dl)
                           for p, dl in t.pd_pools):
                    out.append(f"KEA_LEASE6_DELEGATED_PREFIX={pfx} not a delegated prefix of the PD pools {t.pd_pools}")
                if str(net.prefixlen) != plen:
                    out.append(f"KEA_LEASE6_DELEGATED_PREFIXLEN={plen} != length of {pfx}")
                if addr and addr != str(net.network_address):
                    out.append(f"KEA_LEASE6_ADDRESS={addr} != prefix of KEA_LEASE6_DELEGATED_PREFIX={pfx}")
        elif ltype == "IA_TA":
            out.append(f"KEA_LEASE6_TYPE={ltype!r}: the scenario asks only for IA_NA and IA_PD leases")
        lduid = g("KEA_LEASE6_CLIENT_DUID")
        if g("KEA_LEASE6_STATE") == "declined":
            lduid = None  # Kea forgets the client of a declined lease (its DUID becomes 00)
        if duid is not None and lduid and lduid != duid:
            out.append(f"KEA_LEASE6_CLIENT_DUID={lduid} != KEA_QUERY6_DUID={duid}")
        if duid is None and lduid and t.by_duid(lduid) is None and not t.known_prefix(lduid):
            out.append(f"KEA_LEASE6_CLIENT_DUID={lduid} is no client's DUID")
        owner = client or (t.by_duid(lduid) if lduid else None)
        if g("KEA_LEASE6_STATE") == "declined":
            owner = None
        if owner is not None and owner.iaids and g("KEA_LEASE6_IAID") not in {str(i) for i in owner.iaids}:
            out.append(f"KEA_LEASE6_IAID={g('KEA_LEASE6_IAID')}, client sent IAIDs {list(owner.iaids)}")
    if point == "lease6_select" and "KEA_FAKE_ALLOCATION" in env:
        want = "1" if qtype == "SOLICIT" else "0"
        if env["KEA_FAKE_ALLOCATION"] != want:
            out.append(f"KEA_FAKE_ALLOCATION={env['KEA_FAKE_ALLOCATION']} for a {qtype}")
    if point == "leases6_committed":
        for pre in ("KEA_LEASES6", "KEA_DELETED_LEASES6"):
            n = g(pre + "_COUNT", "")
            items = g(pre + "_ADDRESSES", "").split() + g(pre + "_PREFIXES", "").split()
            if n != str(len(items)):
                out.append(f"{pre}_COUNT={n} but {pre}_ADDRESSES + _PREFIXES list {len(items)}")
    return out


# --------------------------------------------------------------------------------------------
# one run


@dataclass
class PointResult:
    hook_point: str
    calls: int = 0
    bad_calls: int = 0
    problems: List[str] = field(default_factory=list)  # first few, with the call's index
    #: every distinct problem -> number of calls that had it
    counts: Dict[str, int] = field(default_factory=dict)

    @property
    def fired(self) -> bool:
        return self.calls > 0

    @property
    def ok(self) -> bool:
        return self.fired and self.bad_calls == 0


@dataclass
class RunResult:
    family: int
    mode: str
    points: Dict[str, PointResult]
    expected: List[str]
    problems: List[str] = field(default_factory=list)  # run-level (unexpected hook points...)
    #: the records of the persistent handler beside the exec script (same mode, same Kea run)
    handler: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and all(self.points[p].ok for p in self.expected)


def check_run(records: Sequence[dict], catalogue: Catalogue, kea: Version, traffic: Traffic,
              expected_points: Sequence[str], mode: str = "", max_problems: int = 5,
              forbidden_points: Sequence[str] = ()) -> RunResult:
    """Check every call of one server run; ``expected_points`` must each fire at least once."""
    points = {p: PointResult(p) for p in expected_points}
    run = RunResult(traffic.family, mode, points, list(expected_points))
    for i, rec in enumerate(records):
        argv = rec.get("argv", [])
        point = argv[1] if len(argv) > 1 else "?"
        pr = points.setdefault(point, PointResult(point))
        pr.calls += 1
        problems = check_call(rec, catalogue, kea, traffic)
        if problems:
            pr.bad_calls += 1
            for p in problems:
                pr.counts[p] = pr.counts.get(p, 0) + 1
            if len(pr.problems) < max_problems:
                pr.problems.append(f"call #{i}: " + "; ".join(problems))
    for p, pr in points.items():
        if p in forbidden_points and pr.calls:
            run.problems.append(f"{p} fired {pr.calls} times but is not configured in this mode")
        elif p not in expected_points and pr.calls and p not in forbidden_points:
            run.problems.append(f"{p} fired but was not expected")
    for p in expected_points:
        if not points[p].fired:
            run.problems.append(f"{p} did not fire")
    return run


# --------------------------------------------------------------------------------------------
# handler mode against exec mode


def event_key(record: dict, own_names: Iterable[str] = (), ordered: bool = True) -> tuple:
    """(hook point, the NAME=value strings in order): what one event gave a script or handler.
    ``own_names``: the entry's `environment`, which an exec script has in its environment and a
    handler in its own (not in its records). ``ordered`` False: the strings sorted."""
    argv = record.get("argv") or []
    point = argv[1] if len(argv) > 1 else "?"
    own = set(own_names)
    fields = record.get("environ")
    if fields is None:  # a line without the ordered list: order unknown, sorted
        fields = [f"{k}={v}" for k, v in sorted((record.get("env") or {}).items())]
    kept = [f for f in fields if f.partition("=")[0] not in own]
    return (point, tuple(kept if ordered else sorted(kept)))


def _difference(want: tuple, got: tuple) -> str:
    """What differs between two events' fields, briefly."""
    a, b = dict(f.partition("=")[::2] for f in want[1]), dict(f.partition("=")[::2] for f in got[1])
    parts = [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if not parts and want[1] != got[1]:
        parts = ["same variables in another order"]
    return "; ".join(parts[:4]) + (f" (+{len(parts) - 4} more)" if len(parts) > 4 else "")


def compare_handler(exec_records: Sequence[dict], handler_records: Sequence[dict],
                    own_names: Iterable[str] = (), max_examples: int = 3, ordered: bool = True) -> List[str]:
    """Problems when the handler's records are not exactly the exec script's events (as a
    multiset: the two run concurrently, so their order across events may differ). ``ordered``
    False: the variables of an event may come in another order (an exec script behind a shell,
    which passes on its environment in an order of its own)."""
    problems = []
    for i, rec in enumerate(handler_records):
        for e in rec.get("errors") or []:
            problems.append(f"handler record #{i} ({event_key(rec)[0]}): {e}")
    own = list(own_names)
    want = Counter(event_key(r, own, ordered) for r in exec_records)
    got = Counter(event_key(r, (), ordered) for r in handler_records)
    missing, extra = want - got, got - want
    for label, side, other in (("exec script got, the handler did not", missing, extra),
                               ("handler got, the exec script did not", extra, missing)):
        if not side:
            continue
        n = sum(side.values())
        points = Counter(k[0] for k in side.elements())
        problems.append(f"{n} event{'s' if n > 1 else ''} the {label}: "
                        + ", ".join(f"{p} x{c}" for p, c in sorted(points.items())))
        mine, theirs = (want, got) if side is missing else (got, want)
        for key in list(side)[:max_examples]:
            near = [k for k in other if k[0] == key[0]]
            if theirs[key]:
                # The same event on both sides, more often on this one: a duplicate, not a loss.
                problems.append(f"  {key[0]}: the same event x{mine[key]} on this side, x{theirs[key]} on the other")
            elif near:
                best = max(near, key=lambda k: len(set(k[1]) & set(key[1])))
                problems.append(f"  {key[0]}: closest other event differs in {_difference(key, best)}")
            else:
                problems.append(f"  {key[0]}: no event at this hook point on the other side")
    return problems
