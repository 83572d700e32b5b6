# SPDX-License-Identifier: MIT
"""IPv4 headers with options (IHL > 5) through every CE program: the L4
offsets follow the IHL, options are carried unchanged, checksums valid. Plus
inbound delivery to a LAN host whose neighbour is not resolved (slow path).
"""
import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, IPOption_NOP, IPOption_RR, TCP, UDP

import checks
from checks import verify_checksums
from pktutil import (HOST, IPV4, REMOTE, TC_ACT_REDIRECT, XDP_REDIRECT, assert_encap,
                     open_session)

OPTS = {"nop4": [IPOption_NOP()] * 4, "rr": [IPOption_RR(routers=["10.0.0.1", "10.0.0.2"])]}


def l4(kind, sport, dport):
    if kind == "udp":
        return UDP(sport=sport, dport=dport) / b"opt-udp"
    if kind == "tcp":
        return TCP(sport=sport, dport=dport, flags="S", options=[("MSS", 1460)])
    return ICMP(type=8, id=sport) / b"opt-ping"


def ext_of(kind, ip):
    return ip[ICMP].id if kind == "icmp" else ip.sport


@pytest.mark.parametrize("opts", sorted(OPTS))
@pytest.mark.parametrize("kind", ["udp", "tcp", "icmp"])
def test_tun_with_options(ce, kind, opts):
    ip = IP(src=HOST, dst=REMOTE, ttl=63, options=OPTS[opts]) / l4(kind, 40000, 53)
    assert IP(raw(ip)).ihl > 5
    before = ce.counters()
    v, out = ce.run_tun(ce.tun_frame(ip))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    assert inner.ihl == IP(raw(ip)).ihl and raw(inner)[20:inner.ihl * 4] == \
        raw(ip)[20:inner.ihl * 4]
    ext = ext_of(kind, inner)
    assert checks.in_port_set(ext) and inner.src == IPV4
    if kind == "tcp":
        assert inner[TCP].options[0] == ("MSS", 1420)
    verify_checksums(out)
    want = {"out_slow": 1, "session_new": 1}
    if kind == "tcp":
        want["mss_clamped"] = 1
    assert ce.ctr_delta(before) == want


@pytest.mark.parametrize("kind", ["udp", "icmp"])
def test_lan_fast_with_options(ce, kind):
    ext = open_session(ce, kind)
    ip = IP(src=HOST, dst=REMOTE, ttl=64, options=OPTS["nop4"]) / l4(kind, 40000, 53)
    v, out = ce.run_lan(ce.lan_frame(ip))
    assert v == XDP_REDIRECT
    inner = assert_encap(out)
    assert inner.ihl == 6 and inner.ttl == 63 and ext_of(kind, inner) == ext
    verify_checksums(out)


@pytest.mark.parametrize("kind", ["udp", "tcp", "icmp"])
def test_wan_with_options(ce, kind):
    ext = open_session(ce, kind)
    if kind == "udp":
        reply = UDP(sport=53, dport=ext) / b"r"
    elif kind == "tcp":     # the TCP session is to port 80 (open_session's default)
        reply = TCP(sport=80, dport=ext, flags="SA", options=[("MSS", 1460)])
    else:
        reply = ICMP(type=0, id=ext) / b"pong"
    ip = IP(src=REMOTE, dst=IPV4, ttl=64, options=OPTS["rr"]) / reply
    before = ce.counters()
    v, out = ce.run_wan(ce.wan_frame(ip))
    assert v == XDP_REDIRECT
    got = out[IP]
    assert got.ihl == IP(raw(ip)).ihl and got.dst == HOST and got.ttl == 63
    assert (got[ICMP].id if kind == "icmp" else got.dport) == 40000
    if kind == "tcp":
        assert got[TCP].options[0] == ("MSS", 1420)
    verify_checksums(out)
    want = {"in_fast": 1}
    if kind == "tcp":
        want["mss_clamped"] = 1
    assert ce.ctr_delta(before) == want


def test_wan_icmp_error_quoted_options(ce):
    """The quoted header has options: the quoted port is found after them."""
    ext = open_session(ce, "udp")
    quoted = raw(IP(src=IPV4, dst=REMOTE, ttl=1, options=OPTS["nop4"]) /
                 UDP(sport=ext, dport=53) / b"q")
    msg = IP(src="203.0.113.1", dst=IPV4, options=OPTS["nop4"]) / ICMP(type=11) / quoted
    v, out = ce.run_wan(ce.wan_frame(msg))
    assert v == XDP_REDIRECT
    q = raw(out[IP])[24 + 8:]
    assert IP(q).src == HOST and IP(q).ihl == 6 and q[24:26] == (40000).to_bytes(2, "big")
    verify_checksums(out)


def test_wan_unresolved_neighbour_slow_path(ce):
    """A LAN host without neighbour entry: the kernel resolves it (into mape0)."""
    host = "192.168.1.77"
    ext = open_session(ce, "udp", src=host)
    before = ce.counters()
    v, out = ce.run_wan(ce.wan_frame(IP(src=REMOTE, dst=IPV4, ttl=64) /
                                     UDP(sport=53, dport=ext) / b"n"))
    assert v == XDP_REDIRECT
    assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"]
    assert out[IP].dst == host and out[IP].ttl == 64 and out[UDP].dport == 40000
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_neigh": 1}
