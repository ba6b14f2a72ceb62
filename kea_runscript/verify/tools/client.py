#!/usr/bin/python3
"""Smoke-test DHCP client (runs inside the smoke container, in the client network namespace).

Does what perfdhcp cannot: DHCPv4 RELEASE, DECLINE, INFORM, unicast renew, option 60, relayed
queries with giaddr and option 82; DHCPv6 RENEW, REBIND, RELEASE, DECLINE and IA_PD.
Uses Debian's python3-scapy to build and parse messages.

* DHCPv4 goes over a raw (AF_PACKET) socket on the client interface: broadcast from 0.0.0.0,
  unicast from a leased address, or as a relay agent (from the giaddr, to port 67).
* DHCPv6 goes over a UDP socket bound to port 546, to ff02::1:2 on the client interface.

Every exchange waits for the server's answer (a missing answer is an error: exit status 1).
What was sent (MAC, DUID, options, relay fields) and what was leased is printed as one JSON
document on stdout, for the host to compare with what the hook passed to the script.

    client.py v4 scenario   [--iface cli0]         the full DHCPv4 scenario (see scenario4)
    client.py v6 scenario   [--iface cli0]         the full DHCPv6 scenario (see scenario6)
    client.py v4 dora       --mac M [--opt121] [--hostname-hex H] [--option60-hex H]
                                                   one client: DISCOVER/OFFER/REQUEST/ACK
    client.py v4 release    --mac M --addr A --server S
    client.py v6 sarr       --duid-mac M [--pd]    one client: SOLICIT/ADVERTISE/REQUEST/REPLY
    client.py v6 release    --state FILE
"""

import argparse
import ipaddress
import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time

from scapy.all import conf  # noqa: E402
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import (
    DHCP6, DHCP6_Advertise, DHCP6_Decline, DHCP6_Rebind, DHCP6_Release, DHCP6_Renew,
    DHCP6_Reply, DHCP6_Request, DHCP6_Solicit, DHCP6OptClientId, DHCP6OptElapsedTime,
    DHCP6OptIA_NA, DHCP6OptIA_PD, DHCP6OptIAAddress, DHCP6OptIAPrefix, DHCP6OptServerId,
    DHCP6OptStatusCode, DUID_LL,
)
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

conf.verb = 0
TIMEOUT = 4.0
#: socket.SO_TIMESTAMPNS (Linux), which Python names only from 3.13 on
SO_TIMESTAMPNS = 35
SERVER_V4 = "192.0.2.1"


class NoAnswer(RuntimeError):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def opt(pkt, name):
    for o in pkt[DHCP].options:
        if isinstance(o, tuple) and o[0] == name:
            return o[1] if len(o) == 2 else o[1:]
    return None


def ip(cmd):
    subprocess.run(["ip"] + cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# DHCPv4


class V4:
    def __init__(self, iface):
        self.iface = iface
        self.sock = conf.L2socket(iface=iface)
        self.local_mac = open(f"/sys/class/net/{iface}/address").read().strip()
        self.server_mac = None

    def exchange(self, frame, xid, want_types, what):
        """Send ``frame``; return the first DHCP reply with this xid (BOOTREPLY)."""
        self.sock.send(frame)
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoAnswer(f"DHCPv4 {what}: no answer from the server within {TIMEOUT}s")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            p = self.sock.recv()
            if p is None or BOOTP not in p or DHCP not in p:
                continue
            if p[BOOTP].op != 2 or p[BOOTP].xid != xid:
                continue
            mtype = opt(p, "message-type")
            if want_types and mtype not in want_types:
                raise NoAnswer(f"DHCPv4 {what}: got message type {mtype}, wanted {want_types}")
            if Ether in p:
                self.server_mac = p[Ether].src
            return p

    def frame(self, mac, src_ip, dst_ip, sport, bootp_kw, options, dst_mac="ff:ff:ff:ff:ff:ff"):
        src_mac = mac if sport == 68 and src_ip == "0.0.0.0" else self.local_mac
        return (Ether(src=src_mac, dst=dst_mac)
                / IP(src=src_ip, dst=dst_ip)
                / UDP(sport=sport, dport=67)
                / BOOTP(chaddr=mac_bytes(mac) + b"\0" * 10, xid=bootp_kw.pop("xid"), **bootp_kw)
                / DHCP(options=options + ["end"]))

    def client_opts(self, c):
        out = []
        if c.get("option60") is not None:
            out.append(("vendor_class_id", c["option60"].encode()))
        if c.get("relay"):
            out.append(("relay_agent_information", bytes.fromhex(c["relay"]["rai"])))
        return out

    def send(self, c, mtype, want, ciaddr="0.0.0.0", extra=(), unicast=False):
        """One exchange for client ``c`` (dict: mac, option60, relay, ...)."""
        xid = random.getrandbits(32)
        relay = c.get("relay")
        options = [("message-type", mtype)] + list(extra) + self.client_opts(c)
        bootp = {"xid": xid, "ciaddr": ciaddr, "flags": 0 if (unicast or relay) else 0x8000}
        if relay:
            bootp.update(giaddr=relay["giaddr"], hops=relay["hops"])
            frame = self.frame(c["mac"], relay["giaddr"], SERVER_V4, 67, bootp, options,
                               dst_mac=self.server_mac or "ff:ff:ff:ff:ff:ff")
        elif unicast:
            frame = self.frame(c["mac"], ciaddr, SERVER_V4, 68, bootp, options,
                               dst_mac=self.server_mac or "ff:ff:ff:ff:ff:ff")
            frame[Ether].src = self.local_mac
        else:
            frame = self.frame(c["mac"], "0.0.0.0", "255.255.255.255", 68, bootp, options)
        if not want:
            self.sock.send(frame)
            return None
        return self.exchange(frame, xid, want, f"{mtype} from {c['mac']}")

    def dora(self, c, request_options=()):
        offer = self.send(c, "discover", ["offer", 2], extra=list(request_options))
        addr = offer[BOOTP].yiaddr
        server = opt(offer, "server_id")
        c["request_sent_at"] = time.time()
        ack = self.send(c, "request", ["ack", 5],
                        extra=[("requested_addr", addr), ("server_id", server)] + list(request_options))
        # the capture's own timestamp of the ACK (the packet socket's), on the wall clock
        # scripts read with `date +%s.%N`: what a parked query's answer is compared with
        c.update(address=ack[BOOTP].yiaddr, server=server, ack_captured_at=float(ack.time))
        c.setdefault("offers", []).append(offer[BOOTP].yiaddr)
        c["ack_options"] = {str(o[0]): (o[1].hex() if isinstance(o[1], bytes) else str(o[1]))
                            for o in ack[DHCP].options if isinstance(o, tuple) and len(o) == 2}
        return ack

    def with_address(self, addr):
        """Context: the leased address is on the client interface (for unicast exchanges)."""
        v4 = self

        class _Ctx:
            def __enter__(self):
                ip(["addr", "add", f"{addr}/32", "dev", v4.iface])

            def __exit__(self, *exc):
                ip(["addr", "del", f"{addr}/32", "dev", v4.iface])
        return _Ctx()

    def renew_unicast(self, c):
        with self.with_address(c["address"]):
            ack = self.send(c, "request", ["ack", 5], ciaddr=c["address"], unicast=True)
        c["renewed"] = ack[BOOTP].yiaddr
        return ack

    def inform(self, c):
        with self.with_address(c["address"]):
            ack = self.send(c, "inform", ["ack", 5], ciaddr=c["address"], unicast=True)
        c["informed"] = True
        return ack

    def release(self, c):
        if c.get("relay"):
            self.send(c, "release", None, ciaddr=c["address"], extra=[("server_id", c["server"])])
        else:
            with self.with_address(c["address"]):
                self.send(c, "release", None, ciaddr=c["address"], unicast=True,
                          extra=[("server_id", c["server"])])
        c["released"] = True

    def decline(self, c):
        self.send(c, "decline", None,
                  extra=[("requested_addr", c["address"]), ("server_id", c["server"])])
        c["declined"] = True


def rai(circuit_id, remote_id):
    data = b"\x01" + bytes([len(circuit_id)]) + circuit_id + b"\x02" + bytes([len(remote_id)]) + remote_id
    return data.hex()


def scenario4(args):
    """DHCPv4: every v4 hook point.

    * ``direct`` (option 60): DORA, unicast renew (lease4_renew), INFORM, RELEASE.
    * ``relayed`` (giaddr 198.18.0.1, option 82 circuit-id + remote-id): DORA, renew; kept
      until it expires (lease4_expire).
    * ``declined``: DORA then DECLINE (lease4_decline; lease4_recover after probation).
    """
    v4 = V4(args.iface)
    circuit, remote = b"eth0/1/7:vlan42", b"smoke-relay-\x01\xfe"
    clients = {
        # Option 60 with NULs that would end a handler record early and forge one of the
        # client's choosing (issue 20): every value ends at its first NUL instead.
        "direct": {"mac": "02:00:00:00:04:01",
                   "option60": "smoke-vendor/1.0\0\0lease4_release\0KEA_LEASE4_ADDRESS=192.0.2.99\0\0y"},
        "relayed": {"mac": "02:00:00:00:04:02",
                    "relay": {"giaddr": "198.18.0.1", "hops": 1, "circuit_id": circuit.hex(),
                              "remote_id": remote.hex(), "rai": rai(circuit, remote)}},
        "declined": {"mac": "02:00:00:00:04:03"},
    }
    # What each query carries of the options the smoke's `options4` may list (hex, every byte)
    for c in clients.values():
        c["options"] = {}
        if c.get("option60") is not None:
            c["options"]["60"] = c["option60"].encode().hex()
        if c.get("relay"):
            relay = c["relay"]
            c["options"].update({"82": relay["rai"], "82.1": relay["circuit_id"], "82.2": relay["remote_id"]})
    steps = []
    d = clients["direct"]
    v4.dora(d); steps.append("direct DORA")
    v4.dora(d); steps.append("direct DORA again (renews its lease)")
    v4.renew_unicast(d); steps.append("direct unicast renew")
    v4.inform(d); steps.append("direct INFORM")
    v4.release(d); steps.append("direct RELEASE")
    r = clients["relayed"]
    v4.dora(r); steps.append("relayed DORA")
    v4.dora(r); steps.append("relayed DORA again (renews)")
    x = clients["declined"]
    v4.dora(x); steps.append("declined DORA")
    v4.decline(x); steps.append("declined DECLINE")
    time.sleep(0.5)
    return {"family": 4, "clients": clients, "steps": steps}


def cmd_v4(args):
    if args.action == "scenario":
        return scenario4(args)
    v4 = V4(args.iface)
    c = {"mac": args.mac}
    if args.action == "dora":
        extra = [("param_req_list", [1, 3, 121])] if args.opt121 else []
        if args.hostname_hex is not None:
            # option 12 with arbitrary bytes (shell metacharacters, newline, non-UTF-8)
            extra.append(("hostname", bytes.fromhex(args.hostname_hex)))
            c["hostname_hex"] = args.hostname_hex
        if args.option60_hex is not None:
            # option 60 (vendor class) with arbitrary bytes: Kea passes it on as text
            extra.append(("vendor_class_id", bytes.fromhex(args.option60_hex)))
            c["option60_hex"] = args.option60_hex
        v4.dora(c, request_options=extra)
        return c
    if args.action == "release":
        c.update(address=args.addr, server=args.server)
        v4.release(c)
        time.sleep(0.3)
        return c
    raise SystemExit(f"unknown v4 action {args.action}")


# ---------------------------------------------------------------------------------------------
# DHCPv6


def v6_option(code, data):
    return code.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data


def v6_options(data):
    """{code: data} of a DHCPv6 option list (the first of each code)."""
    out, i = {}, 0
    while i + 4 <= len(data):
        code, n = int.from_bytes(data[i:i + 2], "big"), int.from_bytes(data[i + 2:i + 4], "big")
        out.setdefault(code, data[i + 4:i + 4 + n])
        i += 4 + n
    return out


class V6:
    """A DHCPv6 client on ``iface``; with ``relay`` (dict: link_addr, peer_addr, interface_id,
    remote_id as hex, enterprise) its messages go through a relay agent: RELAY-FORW from port
    547 carrying options 18 (interface-id) and 37 (remote-id), answered by RELAY-REPL."""

    def __init__(self, iface, relay=None):
        self.iface = iface
        self.relay = relay
        self.ifindex = socket.if_nametoindex(iface)
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # the kernel's receive time of each reply (SO_TIMESTAMPNS), on the wall clock
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.received_at = None
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        self.sock.bind(("::", 547 if relay else 546))
        self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        self.t0 = time.monotonic()

    def relay_forward(self, inner):
        r = self.relay
        return (bytes([12, 0]) + socket.inet_pton(socket.AF_INET6, r["link_addr"])
                + socket.inet_pton(socket.AF_INET6, r["peer_addr"])
                + v6_option(18, bytes.fromhex(r["interface_id"]))
                + v6_option(37, r["enterprise"].to_bytes(4, "big") + bytes.fromhex(r["remote_id"]))
                + v6_option(9, inner))

    def relay_reply(self, data):
        """The client's message inside a RELAY-REPL (13), or b"" for anything else."""
        if len(data) < 34 or data[0] != 13:
            return b""
        return v6_options(data[34:]).get(9, b"")

    def exchange(self, msg, want, what):
        payload = bytes(msg)
        if self.relay:
            payload = self.relay_forward(payload)
        self.sock.sendto(payload, ("ff02::1:2", 547, 0, self.ifindex))
        if want is None:
            return None
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoAnswer(f"DHCPv6 {what}: no answer from the server within {TIMEOUT}s")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            data, ancillary, _flags, _peer = self.sock.recvmsg(4096, 64)
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    self.received_at = sec + nsec / 1e9
            if self.relay:
                data = self.relay_reply(data)
            if len(data) < 4 or int.from_bytes(data[1:4], "big") != msg.trid:
                continue
            if data[0] != want.msgtype.default:
                raise NoAnswer(f"DHCPv6 {what}: got message type {data[0]}: {DHCP6(data).summary()}")
            return want(data)

    def base(self, cls, c, with_server=True, leases=True, solicit=False):
        m = cls(trid=random.getrandbits(24))
        m /= DHCP6OptClientId(duid=DUID_LL(lladdr=c["duid_mac"]))
        if with_server and c.get("server_duid"):
            m /= DHCP6OptServerId(duid=bytes.fromhex(c["server_duid"]))
        m /= DHCP6OptElapsedTime(elapsedtime=0)
        if solicit or not leases:
            if "na" in c:
                m /= DHCP6OptIA_NA(iaid=c["na"]["iaid"], T1=0, T2=0)
            if "pd" in c:
                m /= DHCP6OptIA_PD(iaid=c["pd"]["iaid"], T1=0, T2=0)
            return m
        if c.get("na", {}).get("address"):
            m /= DHCP6OptIA_NA(iaid=c["na"]["iaid"], T1=0, T2=0, ianaopts=[
                DHCP6OptIAAddress(addr=c["na"]["address"], preflft=0, validlft=0)])
        if c.get("pd", {}).get("prefix"):
            net = ipaddress.ip_network(c["pd"]["prefix"])
            m /= DHCP6OptIA_PD(iaid=c["pd"]["iaid"], T1=0, T2=0, iapdopt=[
                DHCP6OptIAPrefix(prefix=str(net.network_address), plen=net.prefixlen,
                                 preflft=0, validlft=0)])
        return m

    @staticmethod
    def leases_of(reply, c):
        if DHCP6OptStatusCode in reply and reply[DHCP6OptStatusCode].statuscode not in (0,):
            # A top-level status other than Success.
            top = reply.getlayer(DHCP6OptStatusCode)
            if top.underlayer is reply or isinstance(top.underlayer, DHCP6OptServerId):
                raise NoAnswer(f"server said {top.statuscode} {top.statusmsg!r}")
        if DHCP6OptIAAddress in reply and "na" in c:
            c["na"]["address"] = reply[DHCP6OptIAAddress].addr
        if DHCP6OptIAPrefix in reply and "pd" in c:
            p = reply[DHCP6OptIAPrefix]
            c["pd"]["prefix"] = f"{p.prefix}/{p.plen}"

    def sarr(self, c):
        adv = self.exchange(self.base(DHCP6_Solicit, c, with_server=False, solicit=True),
                            DHCP6_Advertise, f"SOLICIT from {c['duid_mac']}")
        c["server_duid"] = bytes(adv[DHCP6OptServerId].duid).hex()
        self.leases_of(adv, c)
        rep = self.exchange(self.base(DHCP6_Request, c), DHCP6_Reply, "REQUEST")
        c["reply_captured_at"] = self.received_at
        self.leases_of(rep, c)
        if "na" in c and not c["na"].get("address"):
            raise NoAnswer("REPLY to REQUEST carried no address")
        if "pd" in c and not c["pd"].get("prefix"):
            raise NoAnswer("REPLY to REQUEST carried no prefix")

    def renew(self, c):
        self.leases_of(self.exchange(self.base(DHCP6_Renew, c), DHCP6_Reply, "RENEW"), c)

    def rebind(self, c):
        self.leases_of(self.exchange(self.base(DHCP6_Rebind, c, with_server=False), DHCP6_Reply,
                                     "REBIND"), c)

    def release(self, c):
        self.exchange(self.base(DHCP6_Release, c), DHCP6_Reply, "RELEASE")
        c["released"] = True

    def decline(self, c):
        self.exchange(self.base(DHCP6_Decline, c), DHCP6_Reply, "DECLINE")
        c["declined"] = True


def client6(mac, iaid, na=True, pd=False):
    c = {"duid_mac": mac, "duid": "00:03:00:01:" + mac}
    # what its queries carry of the options the smoke's `options6` may list (hex): 1, its DUID
    c["options"] = {"1": c["duid"].replace(":", "")}
    if na:
        c["na"] = {"iaid": iaid}
    if pd:
        c["pd"] = {"iaid": iaid + 1}
    return c


def scenario6(args):
    """DHCPv6: every v6 hook point.

    * ``renewer`` (IA_NA + IA_PD): SARR, RENEW, REBIND, RELEASE.
    * ``declined`` (IA_NA): SARR, DECLINE (lease6_decline; lease6_recover after probation).
    * ``expiring`` (IA_NA + IA_PD): SARR, kept until it expires (lease6_expire).
    * ``relayed`` (IA_NA, through a relay agent: options 18 interface-id and 37 remote-id in
      the RELAY-FORW only): SARR, RELEASE.
    """
    v6 = V6(args.iface)
    relay = {"link_addr": "2001:db8:1::2", "peer_addr": "fe80::4:1", "enterprise": 4491,
             "interface_id": b"smoke-relay-if\x00\x07".hex(), "remote_id": b"\x01\x02smoke-remote".hex()}
    clients = {
        "renewer": client6("02:00:00:00:06:01", 601, pd=True),
        "declined": client6("02:00:00:00:06:02", 602),
        "expiring": client6("02:00:00:00:06:03", 603, pd=True),
        "relayed": client6("02:00:00:00:06:04", 604),
    }
    rc = clients["relayed"]
    rc["relay"] = relay
    rc["options"].update({"18": relay["interface_id"],
                          "37": relay["enterprise"].to_bytes(4, "big").hex() + relay["remote_id"]})
    steps = []
    c = clients["renewer"]
    v6.sarr(c); steps.append("renewer SARR (IA_NA + IA_PD)")
    v6.renew(c); steps.append("renewer RENEW")
    v6.rebind(c); steps.append("renewer REBIND")
    v6.release(c); steps.append("renewer RELEASE")
    d = clients["declined"]
    v6.sarr(d); steps.append("declined SARR")
    v6.decline(d); steps.append("declined DECLINE")
    e = clients["expiring"]
    v6.sarr(e); steps.append("expiring SARR (IA_NA + IA_PD)")
    # Asynchronous modes start a recorder per event: let the burst above end before more come
    # (a busy machine kept 64 of them running, max-async's default, and one event was skipped).
    time.sleep(1)
    via = V6(args.iface, relay=relay)
    via.sarr(rc); steps.append("relayed SARR (through a relay: options 18, 37)")
    via.release(rc); steps.append("relayed RELEASE")
    return {"family": 6, "clients": clients, "steps": steps}


#: RFC 9686 message types: ADDR-REG-INFORM, ADDR-REG-REPLY.
ADDR_REG_INFORM, ADDR_REG_REPLY = 36, 37


def register(iface, address, duid_mac):
    """RFC 9686: the client registers an address it configured itself (ADDR-REG-INFORM from
    that address, to ff02::1:2, one IA Address option, no IA) and waits for ADDR-REG-REPLY,
    retransmitting the same message after 1, 2, 4, ... s without one (RFC 8415's backoff, as a
    client does: a busy server may not answer the first); Kea calls addr6_register. Returns
    what was sent, for the checks."""
    ip(["-6", "addr", "replace", f"{address}/64", "dev", iface, "nodad"])
    ifindex = socket.if_nametoindex(iface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.bind((address, 546))
        trid = random.getrandbits(24)
        duid = bytes.fromhex("00030001" + duid_mac.replace(":", ""))
        iaaddr = socket.inet_pton(socket.AF_INET6, address) + (3600).to_bytes(4, "big") * 2
        msg = (bytes([ADDR_REG_INFORM]) + trid.to_bytes(3, "big") + v6_option(1, duid)
               + v6_option(8, b"\0\0") + v6_option(5, iaaddr))
        deadline = time.monotonic() + 3 * TIMEOUT
        retransmit, interval = time.monotonic(), 1.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise NoAnswer(f"ADDR-REG-INFORM {address}: no ADDR-REG-REPLY within {3 * TIMEOUT}s")
            if now >= retransmit:
                sock.sendto(msg, ("ff02::1:2", 547, 0, ifindex))
                retransmit, interval = now + interval, interval * 2
            r, _, _ = select.select([sock], [], [], max(0.0, min(deadline, retransmit) - now))
            if not r:
                continue
            data = sock.recv(4096)
            if len(data) >= 4 and data[0] == ADDR_REG_REPLY and int.from_bytes(data[1:4], "big") == trid:
                return {"address": address, "duid": ":".join(f"{b:02x}" for b in duid)}
    finally:
        sock.close()


def cmd_v6(args):
    if args.action == "scenario":
        return scenario6(args)
    if args.action == "register":
        # twice: the first registration has no old lease (OLD_LEASE6_* absent), the second has.
        # Both within one second of the clock, from the start of one: Kea (3.0.4, 3.3.0's source
        # alike) builds the re-registered lease anew, with its own time as the "current" cltt,
        # and its memfile without persistence refuses to update a stored lease of an earlier
        # second (DHCP6_REGISTERED_LEASE_UPDATE_FAIL "... or it was modified", no reply).
        time.sleep(1.0 - time.time() % 1.0)
        return {"registered": [register(args.iface, args.addr, args.duid_mac) for _ in range(2)]}
    v6 = V6(args.iface)
    if args.action == "sarr":
        c = client6(args.duid_mac, args.iaid, na=not args.pd_only, pd=args.pd or args.pd_only)
        v6.sarr(c)
        return c
    if args.action == "release":
        with open(args.state) as f:
            c = json.load(f)
        v6.release(c)
        return c
    raise SystemExit(f"unknown v6 action {args.action}")


def set_timeout(seconds):
    global TIMEOUT
    TIMEOUT = seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("family", choices=["v4", "v6"])
    p.add_argument("action")
    p.add_argument("--iface", default="cli0")
    p.add_argument("--mac")
    p.add_argument("--addr")
    p.add_argument("--server", default=SERVER_V4)
    p.add_argument("--opt121", action="store_true", help="ask for option 121 (v4 dora)")
    p.add_argument("--hostname-hex", help="v4 dora: send option 12 (hostname) with these bytes (hex)")
    p.add_argument("--timeout", type=float, help=f"seconds to wait for each answer (default {TIMEOUT})")
    p.add_argument("--option60-hex", help="v4 dora: send option 60 (vendor class) with these bytes (hex)")
    p.add_argument("--duid-mac", help="v6: MAC of the client's DUID-LL")
    p.add_argument("--iaid", type=int, default=1)
    p.add_argument("--pd", action="store_true", help="v6 sarr: also ask for a prefix")
    p.add_argument("--pd-only", action="store_true", help="v6 sarr: only ask for a prefix")
    p.add_argument("--state", help="v6: JSON of an earlier sarr (its stdout)")
    args = p.parse_args(argv)
    if args.timeout:
        # an answer that must not come (a dropped query) is waited for this long only
        set_timeout(args.timeout)
    random.seed(os.getpid() ^ int(time.time() * 1000))
    try:
        out = cmd_v4(args) if args.family == "v4" else cmd_v6(args)
    except NoAnswer as e:
        log(f"client.py: {e}")
        return 1
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
