# SPDX-License-Identifier: MIT
"""What a router discards or trims (RFC 1812), at the XDP edges: IPv4
headers with a wrong checksum, bytes beyond the IPv4 total length (Ethernet
padding, or after a tunnel's payload), L4 headers that lie in such bytes,
outer IPv6 headers that are not IPv6 or whose payload is not there, and
sources no host may use (RFC 1812 s5.3.7)."""
import struct

import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, PadN
from scapy.layers.l2 import Ether

import checks
from checks import verify_checksums
from pktutil import (BR, HOST, IPV4, REMOTE, XDP_DROP, XDP_PASS, XDP_REDIRECT, lan_pkt,
                     open_session, wan_pkt)


def test_l4_header_in_the_padding_makes_no_session(ce):
    """An IPv4 packet to our own IPv4 whose total length ends inside its UDP
    header, in a padded frame whose padding looks like the rest: refused
    (the kernel judges it), no session made from the padding's "ports"."""
    ip = IP(src=HOST, dst=IPV4, proto=17, len=24, ttl=64) / b"\xa4\x10\x13\x88"
    data = raw(ce.lan_frame(ip)) + b"\x00\x0c\x00\x00" + b"\0" * 18
    v, _ = ce.run_lan(data)
    assert v == XDP_PASS
    assert ce.sessions() == []


def bad_checksum(ip):
    b = bytearray(raw(ip))
    b[10] ^= 0x55
    return bytes(b)


def test_lan_bad_ipv4_checksum_not_forwarded(ce):
    """A session XDP carries; a LAN packet of it with a wrong header checksum
    is not forwarded by XDP: the kernel, which discards it, gets it."""
    open_session(ce, "udp")
    v, _ = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_REDIRECT
    frame = lan_pkt(ce, "udp", 40000)
    data = raw(frame[Ether])[:14] + bad_checksum(frame[IP])
    v, _ = ce.run_lan(data)
    assert v == XDP_PASS


def test_wan_bad_inner_checksum_dropped(ce):
    ext = open_session(ce, "udp")
    inner = IP(src=REMOTE, dst=IPV4, ttl=64) / UDP(sport=53, dport=ext) / b"bad"
    outer = Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) / \
        IPv6(src=BR, dst=checks.CE_ADDR, nh=4, plen=len(inner))
    before = ce.counters()
    v, _ = ce.run_wan(raw(outer) + bad_checksum(inner))
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {"drop_bad_header": 1}


def test_wan_bytes_after_the_inner_packet_not_delivered(ce):
    """The outer payload length covers 10 bytes after the inner packet: they
    are not delivered to the LAN host."""
    ext = open_session(ce, "udp")
    inner = raw(IP(src=REMOTE, dst=IPV4, ttl=64) / UDP(sport=53, dport=ext) / b"data")
    frame = raw(Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) /
                IPv6(src=BR, dst=checks.CE_ADDR, nh=4, plen=len(inner) + 10)) + inner + b"T" * 10
    v, out = ce.run_wan(frame)
    assert v == XDP_REDIRECT
    assert len(ce.last.raw) == 14 + len(inner)
    verify_checksums(out)


def outer(ce, inner, **kw):
    return Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) / \
        IPv6(src=BR, dst=checks.CE_ADDR, nh=4, **kw) / inner


@pytest.mark.parametrize("case,counter", [
    ("version-5", "drop_bad_header"),
    ("plen-0", "drop_bad_header"),
    ("plen-beyond-frame", "drop_truncated"),
    ("plen-shorter-than-inner", "drop_truncated"),
])
def test_wan_outer_header_checked(ce, case, counter):
    ext = open_session(ce, "udp")
    inner = IP(src=REMOTE, dst=IPV4, ttl=64) / UDP(sport=53, dport=ext) / (b"x" * 30)
    n = len(raw(inner))
    if case == "version-5":
        frame = outer(ce, inner, version=5)
    elif case == "plen-0":
        frame = outer(ce, inner, plen=0)
    elif case == "plen-beyond-frame":
        frame = outer(ce, inner, plen=n + 8)
    else:
        frame = outer(ce, inner, plen=n - 8)
    before = ce.counters()
    v, _ = ce.run_wan(raw(frame))
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {counter: 1}


@pytest.mark.parametrize("src", ["127.0.0.1", "224.0.0.1", "255.255.255.255", "0.1.2.3",
                                 "240.0.0.9"])
def test_wan_martian_sources_dropped(ce, src):
    """ICMP errors and plain packets from addresses no host may use are not
    forwarded to the LAN (Linux refuses to forward such martians too)."""
    ext = open_session(ce, "udp")
    quoted = raw(IP(src=IPV4, dst=REMOTE, ttl=1) / UDP(sport=ext, dport=53) / b"q")
    for inner in (IP(src=src, dst=IPV4) / ICMP(type=3, code=3) / quoted,
                  IP(src=src, dst=IPV4) / UDP(sport=53, dport=ext) / b"m"):
        before = ce.counters()
        v, _ = ce.run_wan(ce.wan_frame(inner))
        assert v == XDP_DROP
        assert ce.ctr_delta(before) == {"drop_martian": 1}


@pytest.mark.parametrize("optlen,ok", [(16, True), (64, True), (72, False)])
def test_wan_destination_options_length(ce, optlen, ok):
    """A destination-options header before IPIP of up to 64 bytes is passed
    over (ip6tnl sends 8); a longer one is refused (drop_ipv6_ext_hdr)."""
    ext = open_session(ce, "udp")
    inner = IP(src=REMOTE, dst=IPV4, ttl=64) / UDP(sport=53, dport=ext) / b"dopt"
    pad = optlen - 2 - 2       # PadN: 2 bytes of type and length, then the data
    frame = Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) / \
        IPv6(src=BR, dst=checks.CE_ADDR, hlim=64) / \
        IPv6ExtHdrDestOpt(nh=4, options=[PadN(optdata=b"\0" * pad)]) / inner
    assert len(raw(frame[IPv6ExtHdrDestOpt])) - len(raw(inner)) == optlen
    before = ce.counters()
    v, out = ce.run_wan(frame)
    if ok:
        assert v == XDP_REDIRECT and out[IP].dport == 40000
    else:
        assert v == XDP_DROP and ce.ctr_delta(before) == {"drop_ipv6_ext_hdr": 1}
