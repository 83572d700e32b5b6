# SPDX-License-Identifier: MIT
"""Pings from outside to the router's own IPv4 (RFC 792): the request goes to
the kernel, and the kernel's reply leaves with the pinger's identifier,
stateless. It never makes a session (an outsider pinging with many
identifiers must not fill the table) and never takes the identifier of a LAN
host's ping, nor is a request ever delivered to that LAN host.
"""
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import IPv6

from checks import in_port_set, verify_checksums
from pktutil import (IPV4, P_ICMP, REMOTE, TC_ACT_REDIRECT, XDP_REDIRECT, assert_encap,
                     open_session)


def router_reply(ce, ident, dst=REMOTE, seq=1):
    """The kernel's echo reply, as it reaches mape0's egress."""
    return ce.tun_frame(IP(src=IPV4, dst=dst, ttl=64) / ICMP(type=0, id=ident, seq=seq) /
                        b"pong")


def request(ce, ident, src=REMOTE, seq=1):
    return ce.wan_frame(IP(src=src, dst=IPV4, ttl=64) / ICMP(type=8, id=ident, seq=seq) /
                        b"ping")


def test_router_reply_is_stateless(ce):
    idents = [1232, 1233, 1234, 2256, 2257]
    assert all(in_port_set(i) for i in idents)
    for i in idents:
        before = ce.counters()
        v, out = ce.run_wan(request(ce, i))
        assert v == XDP_REDIRECT and out.dst == ce.mac["mape0"]   # to the kernel
        v, out = ce.run_tun(router_reply(ce, i))
        assert v == TC_ACT_REDIRECT
        inner = assert_encap(out)
        assert inner.src == IPV4 and inner.dst == REMOTE
        assert inner[ICMP].type == 0 and inner[ICMP].id == i and inner[ICMP].seq == 1
        verify_checksums(out)
        assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_local": 1, "out_slow": 1}
    assert ce.sessions() == [] and ce.in_entries() == []


def test_router_reply_keeps_identifier_held_by_lan_ping(ce):
    """A LAN host pings REMOTE and holds identifier 1232 towards it; REMOTE
    pings the router with identifier 1232 too."""
    assert open_session(ce, "icmp", 1232) == 1232      # the LAN ping keeps its id
    lan = ce.sessions()
    before = ce.counters()
    v, out = ce.run_wan(request(ce, 1232, seq=9))
    assert v == XDP_REDIRECT
    assert out.dst == ce.mac["mape0"], "a request to the router went to the LAN host"
    assert out[IP].dst == IPV4 and out[ICMP].id == 1232
    v, out = ce.run_tun(router_reply(ce, 1232, seq=9))
    assert v == TC_ACT_REDIRECT
    inner = out[IPv6].payload
    assert inner[ICMP].id == 1232 and inner[ICMP].seq == 9
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_local": 1, "out_slow": 1}
    assert ce.sessions() == lan
    assert ce.port(P_ICMP, 1232).sessions == 1
