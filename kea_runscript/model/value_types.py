"""The catalogue's value types (``Variable.type``): one checker each (:data:`TYPE_CHECKS`), and
:func:`check_type`, which the smoke test's checks (:mod:`kea_runscript.verify.checks`) apply to every
value the hook passed."""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Dict, Optional

from .catalogue import Variable


_INT = re.compile(r"-?[0-9]+\Z")
_HEXBYTES = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2})*\Z")
_HEX = re.compile(r"0x([0-9a-fA-F]{2})*\Z")


def as_text(data: str) -> str:
    """The value a script gets for text data (any byte): up to its first NUL, the rule of
    the catalogue's value types (hook/variables.yaml)."""
    return data.split("\0", 1)[0]


def is_int(v: str) -> bool:
    return v == "" or bool(_INT.match(v))


def is_bool(v: str) -> bool:
    return v in ("0", "1")


def is_ipv4(v: str) -> bool:
    try:
        return str(ipaddress.IPv4Address(v)) == v
    except ValueError:
        return False


def is_ipv6(v: str) -> bool:
    try:
        return str(ipaddress.IPv6Address(v)) == v  # RFC 5952 text: compressed, lowercase
    except ValueError:
        return False


def is_ip(v: str) -> bool:
    return is_ipv4(v) or is_ipv6(v)


def is_hwaddr(v: str) -> bool:
    return v == "" or bool(_HEXBYTES.match(v))


def is_hex(v: str) -> bool:
    return bool(_HEX.match(v))


def is_duid(v: str) -> bool:
    return bool(_HEXBYTES.match(v))


def is_prefix(v: str) -> bool:
    try:
        net = ipaddress.ip_network(v, strict=False)
    except ValueError:
        return False
    addr, _, plen = v.partition("/")
    return bool(plen) and is_ip(addr) and str(net.prefixlen) == plen


def is_list(v: str) -> bool:
    return v == "" or (v == v.strip() and "  " not in v and "\n" not in v)


def is_string(v: str) -> bool:
    return isinstance(v, str)


TYPE_CHECKS: Dict[str, Callable[[str], bool]] = {
    "string": is_string, "int": is_int, "bool": is_bool, "ipv4": is_ipv4, "ipv6": is_ipv6,
    "ip": is_ip, "hwaddr": is_hwaddr, "hex": is_hex, "duid": is_duid, "prefix": is_prefix,
    "list": is_list,
}


def check_type(var: Variable, value: str) -> Optional[str]:
    """None if ``value`` has ``var``'s type, else a one-line reason."""
    if var.when and "else empty" in var.when and value == "":
        return None
    checker = TYPE_CHECKS.get(var.type)
    if checker is None:
        return f"{var.name}: no checker for catalogue type {var.type!r}"
    if not checker(value):
        return f"{var.name}={value!r} is not a valid {var.type}"
    if var.values and value not in var.values:
        return f"{var.name}={value!r}: the catalogue documents one of {', '.join(var.values)}"
    return None
