#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""br_standin.py - a slow userspace stand-in for the BR, for the lab only.

  br_standin.py --rule RULE --br-addr ADDR --v4 IF [--iid draft03|rfc7597]

NOT the project's BR (that is `mapectl br up`): a few dozen lines of Python
that let the CE side of the lab be exercised where `mapectl br` is missing
or suspected (`tools/lab/lab.sh up --br-standin`). It does the MAP-E
arithmetic of one rule and nothing else: no TTL handling (the BR is no
traceroute hop), no fragments, no s8.1 source check, no statistics.

  IPv6 -> IPv4: an AF_INET6 raw socket of protocol 4 receives the packets
                addressed to ADDR (which must be a local address, e.g. on lo);
                the inner IPv4 packet is sent as it is on a raw IPv4 socket.
  IPv4 -> IPv6: an AF_PACKET socket on IF sees the packets for the rule's
                IPv4 prefix (the kernel itself drops them: a blackhole route);
                the CE's address comes from the destination address and port
                (ICMP: echo identifier, or the quoted packet's source port),
                and an AF_INET6 raw socket of protocol 4 sends the packet there.
"""
import argparse
import ipaddress
import select
import socket
import struct
import sys

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4


def parse_rule(s):
    kv = dict(x.split("=", 1) for x in s.split(",") if "=" in x)
    p6, _, l6 = kv["ipv6prefix"].partition("/")
    p4, _, l4 = kv["ipv4prefix"].partition("/")
    return {"p6": int(ipaddress.IPv6Address(p6)), "n": int(kv.get("prefix6len", l6 or 0)),
            "p4": int(ipaddress.IPv4Address(p4)), "r": int(kv.get("prefix4len", l4 or 0)),
            "o": int(kv["ealen"]), "a": int(kv.get("offset", 6))}


def ce_addr(rule, v4, port, iid):
    """RFC 7597 s5 and s6: the CE address of IPv4 address v4 and port."""
    p = 32 - rule["r"]
    q = rule["o"] - p
    m = 16 - rule["a"] - q
    psid = (port >> m) & ((1 << q) - 1) if q > 0 else 0
    ea = ((v4 & ((1 << p) - 1)) << q) | psid
    prefix = rule["p6"] | (ea << (128 - rule["n"] - rule["o"]))
    if iid == "draft03":
        low = (v4 << 24) | (psid << 8)
    else:
        low = (v4 << 16) | psid
    return str(ipaddress.IPv6Address(prefix | low))


def dst_port(pkt):
    """The port (or ICMP identifier) that selects the CE of an inbound packet."""
    ihl = (pkt[0] & 0xF) * 4
    proto = pkt[9]
    if proto in (6, 17) and len(pkt) >= ihl + 4:
        return struct.unpack_from("!H", pkt, ihl + 2)[0]
    if proto == 1 and len(pkt) >= ihl + 8:
        icmp_type = pkt[ihl]
        if icmp_type in (0, 8):
            return struct.unpack_from("!H", pkt, ihl + 4)[0]
        if icmp_type in (3, 4, 5, 11, 12) and len(pkt) >= ihl + 8 + 20:
            q = pkt[ihl + 8:]
            qihl = (q[0] & 0xF) * 4
            if q[9] in (6, 17) and len(q) >= qihl + 2:
                return struct.unpack_from("!H", q, qihl)[0]
            if q[9] == 1 and len(q) >= qihl + 6:
                return struct.unpack_from("!H", q, qihl + 4)[0]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rule", required=True)
    ap.add_argument("--br-addr", required=True)
    ap.add_argument("--v4", required=True)
    ap.add_argument("--iid", default="draft03", choices=["draft03", "rfc7597"])
    a = ap.parse_args()
    rule = parse_rule(a.rule)
    net4 = ipaddress.IPv4Network((rule["p4"], rule["r"]))

    tun6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 4)  # IPv4-in-IPv6, both ways
    tun6.bind((a.br_addr, 0))
    raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    cap4 = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    cap4.bind((a.v4, ETH_P_IP))
    print(f"BR stand-in: {a.br_addr}, rule {net4} from {a.rule}", flush=True)
    while True:
        for s in select.select([tun6, cap4], [], [])[0]:
            if s is tun6:
                pkt, _ = tun6.recvfrom(65535)
                if len(pkt) < 20 or pkt[0] >> 4 != 4:
                    continue
                try:
                    raw4.sendto(pkt, (socket.inet_ntoa(pkt[16:20]), 0))
                except OSError:
                    pass
            else:
                pkt, addr = cap4.recvfrom(65535)
                if addr[2] == PACKET_OUTGOING or len(pkt) < 20:
                    continue
                dst = ipaddress.IPv4Address(pkt[16:20])
                if dst not in net4:
                    continue
                port = dst_port(pkt)
                if port is None:
                    continue
                try:
                    tun6.sendto(pkt, (ce_addr(rule, int(dst), port, a.iid), 0))
                except OSError:
                    pass


if __name__ == "__main__":
    sys.exit(main())
