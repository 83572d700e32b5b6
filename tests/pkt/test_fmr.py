# SPDX-License-Identifier: MIT
"""FMR / mesh (RFC 7597 s5, s7, s8.1): a CE instance of its own (fixture
ce_fmr: namespace and pin dir of its own) with two --rule, the RFC rule as
BMR and an FMR for 198.51.100.0/24 (2001:db8:100::/40, EA 16, offset 6).

Traffic to an FMR destination goes straight to the peer CE, whose address is
computed here from RFC 7597 (checks.rfc_ce_addr, not the project's code);
traffic from a peer is accepted only from the address the FMR derives from
the inner source address and port.
"""
import ipaddress

import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6

import bpfsys
import checks
from checks import verify_checksums
from pktutil import (BR, HOST, IPV4, OTHER, TC_ACT_REDIRECT, XDP_DROP, XDP_REDIRECT,
                     assert_encap, ext_of, lan_pkt, new_flags, open_session, tun_pkt, wan_pkt)

PEER = "198.51.100.7"


def ip6eq(a, b):
    return ipaddress.IPv6Address(a) == ipaddress.IPv6Address(b)


def peer_addr(ipv4, port):
    return checks.rfc_ce_addr(ipv4, port, **checks.FMR)


@pytest.fixture
def ce(ce_fmr):
    """The FMR instance, NAT tables empty."""
    ce_fmr.flush_nat()
    return ce_fmr


def test_fmr_vectors():
    """The Python derivation itself: RFC 7597 example 1 and hand-checked FMR values
    (EA bits = IPv4 suffix 0x07 | PSID = port >> 2 & 0xff)."""
    assert checks.rfc_ce_addr(IPV4, 1232, **checks.BMR) == checks.CE_ADDR
    assert peer_addr(PEER, 5000) == "2001:db8:107:e200:0:c633:6407:e2"   # PSID 226
    assert peer_addr(PEER, 1232) == "2001:db8:107:3400:0:c633:6407:34"   # PSID 0x34
    assert peer_addr("198.51.100.200", 65535) == "2001:db8:1c8:ff00:0:c633:64c8:ff"


def test_fmr_map(ce):
    """up stored exactly the FMR (not the BMR) in mape_fmr."""
    items = [(bpfsys.MapeFmrKey.unpack(k), bpfsys.MapeRule.unpack(v))
             for k, v in ce.map("mape_fmr").items()]
    assert len(items) == 1
    k, r = items[0]
    assert (k.prefixlen, k.addr) == (24, "198.51.100.0")
    assert (r.ipv4, r.ip4_len, r.ip6_len, r.ea_len, r.psid_offset) == \
        ("198.51.100.0", 24, 40, 16, 6)
    assert ipaddress.IPv6Address(r.ip6) == ipaddress.IPv6Address("2001:db8:100::")




@pytest.mark.parametrize("kind,dport", [
    ("udp", 5000), ("udp", 1232), ("udp", 65535), ("tcp", 5001),
    ("icmp", None)])
def test_fmr_outbound_to_peer(ce, kind, dport):
    """mape_tun: the outer destination is the peer CE serving dst:dport (ICMP
    echo: the identifier on the wire, i.e. our external one)."""
    dst = "198.51.100.200" if dport == 65535 else PEER
    before = ce.counters()
    v, out = ce.run_tun(tun_pkt(ce, kind, 40000, dport=dport, dst=dst, flags=new_flags(kind)))
    assert v == TC_ACT_REDIRECT
    inner = out[IPv6].payload
    ext = ext_of(kind, inner)
    want = peer_addr(dst, dport if kind != "icmp" else ext)
    inner = assert_encap(out, dst6=want)
    assert inner.src == IPV4 and inner.dst == dst and checks.in_port_set(ext)
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}


def test_fmr_outbound_outside_fmr_to_br(ce):
    v, out = ce.run_tun(tun_pkt(ce, "udp", 40000, dst=OTHER))
    assert v == TC_ACT_REDIRECT
    assert assert_encap(out, dst6=BR).dst == OTHER
    verify_checksums(out)


def test_fmr_fast_path_to_peer(ce):
    """mape_lan: an established flow to a peer goes to the peer's address (the
    next hop is still the default router, the BR's MAC)."""
    open_session(ce, "udp", 40000, dport=5000, dst=PEER)
    before = ce.counters()
    v, out = ce.run_lan(lan_pkt(ce, "udp", 40000, dport=5000, dst=PEER))
    assert v == XDP_REDIRECT
    assert out.dst == checks.BR_MAC
    inner = assert_encap(out, dst6=peer_addr(PEER, 5000))
    assert inner.ttl == 63 and inner.dport == 5000
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_fast": 1}


@pytest.mark.parametrize("kind,sport", [("udp", 5000), ("tcp", 5001), ("udp", 1232)])
def test_fmr_inbound_from_peer(ce, kind, sport):
    """The peer's packet with the outer source the FMR derives from its inner
    source address and port: accepted, translated; any other source: spoofed."""
    good = peer_addr(PEER, sport)
    ext = open_session(ce, kind, 40000, dport=sport, dst=PEER, src6=good)
    pkts_in = ce.session({"udp": 17, "tcp": 6}[kind], HOST, 40000, PEER, sport).pkts_in
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, kind, ext, sport=sport, src=PEER, src6=good))
    assert v == XDP_REDIRECT
    assert out.dst == checks.HOST_MAC
    ip = out[IP]
    assert ip.src == PEER and ip.dst == HOST and ip.sport == sport and ip.dport == 40000
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_fast": 1}
    # wrong: the peer of another PSID, another IPv4, the BMR's CE (us), a random host
    other_psid = peer_addr(PEER, sport ^ 0x4)
    assert other_psid != good
    for bad in (other_psid, peer_addr("198.51.100.8", sport), checks.CE_ADDR,
                "2001:db8:107:e200::1"):
        before = ce.counters()
        v, _ = ce.run_wan(wan_pkt(ce, kind, ext, sport=sport, src=PEER, src6=bad))
        assert v == XDP_DROP, bad
        assert ce.ctr_delta(before) == {"drop_spoofed": 1}, bad
    s = ce.session({"udp": 17, "tcp": 6}[kind], HOST, 40000, PEER, sport)
    assert s.pkts_in == pkts_in + 1


def test_fmr_inbound_br_source_accepted(ce):
    """From the BR (hub and spoke) the same packet is accepted too."""
    ext = open_session(ce, "udp", 40000, dport=5000, dst=PEER)
    v, out = ce.run_wan(wan_pkt(ce, "udp", ext, sport=5000, src=PEER, src6=BR))
    assert v == XDP_REDIRECT and out[IP].dport == 40000
    verify_checksums(out)


def test_fmr_inbound_not_covered_source_spoofed(ce):
    """An inner source no FMR covers, sent by a CE-looking address: spoofed."""
    ext = open_session(ce, "udp", 40000, dst=OTHER)
    before = ce.counters()
    v, _ = ce.run_wan(wan_pkt(ce, "udp", ext, src=OTHER,
                              src6=checks.rfc_ce_addr(OTHER, 53, **checks.FMR)))
    assert v == XDP_DROP and ce.ctr_delta(before) == {"drop_spoofed": 1}


def test_fmr_icmp_error_from_peer_path(ce):
    """An ICMP error about our packet to the peer, relayed by the peer CE: the
    outer source is checked against the quoted destination (the peer) and port."""
    ext = open_session(ce, "udp", 40000, dport=5000, dst=PEER)
    quoted = raw(IP(src=IPV4, dst=PEER, ttl=1) / UDP(sport=ext, dport=5000) / b"q")
    msg = IP(src=PEER, dst=IPV4) / ICMP(type=3, code=3) / quoted
    v, out = ce.run_wan(ce.wan_frame(msg, src6=peer_addr(PEER, 5000)))
    assert v == XDP_REDIRECT
    assert out[IP].dst == HOST
    verify_checksums(out)
    before = ce.counters()
    v, _ = ce.run_wan(ce.wan_frame(msg, src6=peer_addr(PEER, 1232)))
    assert v == XDP_DROP and ce.ctr_delta(before) == {"drop_spoofed": 1}


def test_fmr_icmp_echo_to_peer(ce):
    """ICMP echo reply from the peer: the identifier picks the peer's PSID."""
    ext = open_session(ce, "icmp", 40000, dst=PEER)
    v, out = ce.run_wan(ce.wan_frame(IP(src=PEER, dst=IPV4) / ICMP(type=0, id=ext, seq=1),
                                     src6=peer_addr(PEER, ext)))
    assert v == XDP_REDIRECT and out[ICMP].id == 40000
    verify_checksums(out)


def test_fmr_icmp_echo_kept_id_consistent(ce):
    """With an identifier in our set (kept), request and reply agree on the peer."""
    ext = open_session(ce, "icmp", 1233, dst=PEER)
    assert ext == 1233
    assert ip6eq(ce.last.pkt[IPv6].dst, peer_addr(PEER, 1233))
    v, out = ce.run_wan(ce.wan_frame(IP(src=PEER, dst=IPV4) / ICMP(type=0, id=1233, seq=7),
                                     src6=peer_addr(PEER, 1233)))
    assert v == XDP_REDIRECT and out[ICMP].id == 1233
    verify_checksums(out)


@pytest.mark.parametrize("path", ["tun", "lan"])
def test_fmr_icmp_echo_round_trip(ce, path):
    """Self-consistency: the echo reply from the CE our request went to (same
    IPv4, the identifier we sent) is accepted. Slow path (mape_tun) and fast
    path (mape_lan) of the request."""
    ext = open_session(ce, "icmp", 40000, dst=PEER)
    if path == "lan":
        v, out = ce.run_lan(lan_pkt(ce, "icmp", 40000, dst=PEER))
        assert v == XDP_REDIRECT
    else:
        out = ce.last.pkt
    sent_to = out[IPv6].dst
    assert out[IPv6].payload[ICMP].id == ext
    before = ce.counters()
    v, out = ce.run_wan(ce.wan_frame(IP(src=PEER, dst=IPV4) / ICMP(type=0, id=ext, seq=7),
                                     src6=sent_to))
    assert ce.ctr_delta(before) == {"in_fast": 1}
    assert v == XDP_REDIRECT and out[ICMP].id == 40000
