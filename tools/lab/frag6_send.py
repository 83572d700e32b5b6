#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Play a BR that fragments the outer IPv6 packet (RFC 2473 s7): send one
MAP-E packet, a UDP datagram built by scapy, cut into IPv6 fragments.

  frag6_send.py --dev IF --dst-mac MAC --src6 BR --dst6 CE \\
                --src4 A --dst4 B --sport P --dport Q [--size 1472] [--frag 1280]
                [--reverse]

The lab's BR (`mapectl br`) fragments the inner IPv4 packet instead, as
RFC 7597 prefers; this is for testing the CE's reassembly of what other BRs
send. The payload is the pattern udp_big.py checks (seed 0).
"""
import argparse
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Ether
from scapy.sendrecv import sendp


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt in ("--dev", "--dst-mac", "--src6", "--dst6", "--src4", "--dst4"):
        ap.add_argument(opt, required=True)
    ap.add_argument("--sport", type=int, required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--size", type=int, default=1472)
    ap.add_argument("--frag", type=int, default=1280)
    ap.add_argument("--reverse", action="store_true")
    a = ap.parse_args()
    body = bytes((i * 13) & 0xff for i in range(a.size))
    inner = IP(src=a.src4, dst=a.dst4, ttl=60) / UDP(sport=a.sport, dport=a.dport) / body
    pkt = IPv6(src=a.src6, dst=a.dst6, hlim=60) / IPv6ExtHdrFragment(nh=4, id=0xbeef) / inner
    frags = fragment6(pkt, a.frag)
    if a.reverse:
        frags.reverse()
    sendp([Ether(dst=a.dst_mac) / f for f in frags], iface=a.dev, verbose=False)
    print("sent %d fragments" % len(frags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
