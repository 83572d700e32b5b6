# SPDX-License-Identifier: MIT
"""The fast paths' next-hop cache (mape_nh, bpf/lib/nh.h): a per-CPU array
used as a direct-mapped cache, each slot holding the address it answers for.
Two LAN hosts whose addresses share a slot must each get their own MAC when
their replies alternate: the slot's address is compared before use, and a
mismatch asks the FIB again. The two hosts are found by the slot function
documented in nh.h (the test's setup; what it checks is the frames)."""
import ipaddress
import struct

import pytest
from scapy.layers.inet import IP, UDP

import bpfsys
from conftest import sh
from pktutil import XDP_REDIRECT, open_session, wan_pkt

SLOT_BITS = 10


def slot_of_ipv4(a):
    """nh_slot_of() of the IPv4-mapped key ::ffff:a (words in memory order)."""
    key = bytes(10) + b"\xff\xff" + ipaddress.IPv4Address(a).packed
    w = struct.unpack("=4I", key)
    return (((w[0] ^ w[1] ^ w[2] ^ w[3]) * 0x9e3779b1) & 0xffffffff) >> (32 - SLOT_BITS)


NET = "10.99.0.0/16"     # on-link on lan0 for this test only


def colliding_hosts():
    """Two hosts of NET in one slot (the multiplicative hash spreads
    consecutive addresses, so a /24 has none: search the /16)."""
    seen = {}
    for a in ipaddress.IPv4Network(NET).hosts():
        s = slot_of_ipv4(str(a))
        if s in seen:
            return seen[s], str(a), s
        seen[s] = str(a)
    raise RuntimeError("no two hosts share a slot")


@pytest.fixture
def two_hosts(ce):
    a, b, slot = colliding_hosts()
    macs = {a: "02:00:00:00:aa:01", b: "02:00:00:00:bb:02"}
    sh("ip", "route", "replace", NET, "dev", "lan0")
    for h, m in macs.items():
        sh("ip", "neigh", "replace", h, "lladdr", m, "dev", "lan0", "nud", "permanent")
    ce.flush_nat()
    yield macs, slot
    ce.flush_nat()
    for h in macs:
        sh("ip", "neigh", "del", h, "dev", "lan0", check=False)
    sh("ip", "route", "del", NET, "dev", "lan0", check=False)


def test_hosts_sharing_a_slot_each_get_their_mac(ce, two_hosts):
    macs, slot = two_hosts
    ext = {h: open_session(ce, "udp", 41000, src=h) for h in macs}
    nh = ce.map("mape_nh")
    for _round in range(3):
        for h, mac in macs.items():
            v, out = ce.run_wan(wan_pkt(ce, "udp", ext[h]))
            assert v == XDP_REDIRECT
            assert out.dst == mac and out[IP].dst == h and out[UDP].dport == 41000, out.summary()
            # the slot now answers for this host (on the CPU that ran the test)
            held = [bpfsys.MapeNhSlot.unpack(x).key.addr for x in nh.lookup_percpu(slot)]
            assert any(ipaddress.IPv6Address(k).ipv4_mapped == ipaddress.IPv4Address(h)
                       for k in held), held
