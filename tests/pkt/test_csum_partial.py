# SPDX-License-Identifier: MIT
"""mape_tun on CHECKSUM_PARTIAL packets: the one case BPF_PROG_TEST_RUN
cannot produce (its skbs are CHECKSUM_NONE).

Locally generated TCP and UDP (and packets from LAN hosts behind veth, as in
the lab) reach mape0's egress with ip_summed = CHECKSUM_PARTIAL: the L4
checksum field holds only the pseudo-header sum and the device (or
skb_checksum_help) adds the payload later. Here the router itself sends
through mape0 for real; wan0 has TX checksum offload off, so the kernel
completes the checksum in software before wan0p receives the frame, and the
test captures it there and verifies it with scapy.
"""
import select
import socket
import subprocess
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

import checks
from checks import verify_checksums

DST_TCP = "198.51.100.8"       # a route with advmss 1460: the SYN's MSS gets clamped


def run(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True)


@pytest.fixture
def wire(ce):
    """AF_PACKET socket on wan0p; wan0 finishes checksums in software."""
    if ce.loader != "mapectl":
        pytest.skip("real traffic needs the programs attached by mapectl up")
    run("ethtool", "-K", "wan0", "tx", "off")
    run("ip", "route", "replace", DST_TCP + "/32", "dev", "mape0", "advmss", "1460")
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind(("wan0p", 0))
    try:
        yield s
    finally:
        s.close()
        subprocess.run(["ip", "route", "del", DST_TCP + "/32"], capture_output=True)
        subprocess.run(["ethtool", "-K", "wan0", "tx", "on"], capture_output=True)


def capture(s, dst, timeout=2.0):
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            pytest.fail("nothing to %s arrived on wan0p" % dst)
        p = Ether(s.recv(65535))
        if IPv6 in p and IP in p and p[IP].dst == dst:
            return p


@pytest.mark.parametrize("sport", [1233, 40000], ids=["port-kept", "port-rewritten"])
def test_local_udp(ce, wire, sport):
    """UDP from the router's own socket through mape0: valid checksum on the wire,
    whether the NAPT keeps the source port (in the set) or rewrites it."""
    before = ce.counters()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("0.0.0.0", sport))
        u.sendto(b"partial checksum", (checks.REMOTE, 53))
        p = capture(wire, checks.REMOTE)
    finally:
        u.close()
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}
    assert checks.in_port_set(p[UDP].sport)
    assert (p[UDP].sport == sport) == checks.in_port_set(sport)
    verify_checksums(p)


def test_local_tcp_syn_mss_clamped(ce, wire):
    """A SYN with MSS 1460 from the router (port 1232 kept, so only the MSS
    changes): clamped to 1420 with a valid TCP checksum."""
    before = ce.counters()
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.setblocking(False)
        t.bind(("0.0.0.0", 1232))
        try:
            t.connect((DST_TCP, 80))
        except BlockingIOError:
            pass
        p = capture(wire, DST_TCP)
    finally:
        t.close()
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1, "mss_clamped": 1}
    assert p[TCP].sport == 1232 and p[TCP].flags.S
    assert dict(p[TCP].options)["MSS"] == checks.MTU - 40
    verify_checksums(p)
