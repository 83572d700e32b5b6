#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A router that delivers the fragments of each datagram in reverse order,
for the lab's ISP (where netem is missing, as on the CI kernel).

  reorder.py --in IF --out IF --dst-mac MAC [--lifetime 30] [--hold 0.1]

It takes the MAP-E packets arriving on IF (IPv6, next header 4) whose inner
IPv4 packet is a fragment, and forwards them on --out to --dst-mac (the
next hop), hop limit - 1, each datagram's fragments in reverse order: the
last one first, the first one last. Fragments are held until a datagram's
last fragment came (and at most --hold seconds). The kernel's own copy of
these packets must be dropped by the caller (an nftables rule on the
forward hook: tests/lab/test_mtu.py). Prints one JSON line at the end:
{"datagrams": n, "fragments": n}.
"""
import argparse
import json
import select
import socket
import struct
import sys
import time

ETH_P_IPV6 = 0x86DD
PACKET_OUTGOING = 4


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--in", dest="iface", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--lifetime", type=float, default=30)
    ap.add_argument("--hold", type=float, default=0.1)
    a = ap.parse_args()
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    rx.bind((a.iface, 0))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((a.out, 0))
    src_mac = tx.getsockname()[4][:6]
    head = mac_bytes(a.dst_mac) + src_mac + struct.pack("!H", ETH_P_IPV6)
    groups = {}     # key -> [first seen, [ipv6 packets], complete]
    n_dgrams = n_frags = 0
    end = time.monotonic() + a.lifetime
    print("listening", file=sys.stderr, flush=True)

    def flush(key):
        nonlocal n_dgrams, n_frags
        _, pkts, _ = groups.pop(key)
        for p in reversed(pkts):
            p = bytearray(p)
            p[7] -= 1               # hop limit
            tx.send(head + bytes(p))
        n_dgrams += 1
        n_frags += len(pkts)

    while time.monotonic() < end:
        r, _, _ = select.select([rx], [], [], 0.02)
        if r:
            data, addr = rx.recvfrom(65535)
            p = data[14:]
            if addr[2] != PACKET_OUTGOING and len(p) >= 60 and p[6] == 4 and p[7] > 1:
                frag = struct.unpack_from("!H", p, 46)[0]
                if frag & 0x3fff:
                    key = (p[8:24], p[52:60], p[44:46])     # outer src, inner addrs, id
                    g = groups.setdefault(key, [time.monotonic(), [], False])
                    g[1].append(p)
                    g[2] = g[2] or not frag & 0x2000    # the last fragment (MF clear)
                    if g[2] and len(g[1]) >= 2:
                        flush(key)
        now = time.monotonic()
        for key in [k for k, g in groups.items() if now - g[0] > a.hold]:
            flush(key)
    for key in list(groups):
        flush(key)
    print(json.dumps({"datagrams": n_dgrams, "fragments": n_frags}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
