# SPDX-License-Identifier: MIT
"""Path MTU across the tunnel, CE side (issue 14; design.md "Path MTU").

An ICMPv6 Packet Too Big from a router on the IPv6 path, about a tunnel
packet we sent, is relayed to the LAN host as ICMPv4 "fragmentation needed"
(type 3 code 4, MTU - 40) from 192.0.0.8 (RFC 7600) quoting its packet
translated back (RFC 1191, RFC 5508), and the path MTU towards that peer is
learned (mape_pmtu, at least 1280): later packets with DF that do not fit
get the ICMP from the CE itself, SYNs are clamped to it, the fast path
leaves such packets to mape_tun.

Expected packets are built by scapy from the packet the host sent.
"""
import struct

import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6
from scapy.layers.l2 import Ether

import checks
from checks import verify_checksums
from pktutil import (BR, HOST, IPV4, REMOTE, TC_ACT_REDIRECT, XDP_PASS, XDP_REDIRECT,
                     assert_encap, open_session)

ROUTER6 = "2001:db8:1::1"    # a router on the IPv6 path with a narrower link
DUMMY4 = "192.0.0.8"         # RFC 7600


def ptb(ce, tunnel_pkt, mtu, dst6=checks.CE_ADDR):
    """ICMPv6 Packet Too Big from ROUTER6 quoting as much of tunnel_pkt (an
    IPv6 packet we sent) as fits in 1280 bytes (RFC 4443 s3.2)."""
    quote = raw(tunnel_pkt)[:1280 - 48]
    return Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) / \
        IPv6(src=ROUTER6, dst=dst6) / ICMPv6PacketTooBig(mtu=mtu) / quote


def sent_udp(ce, size, sport=40000, df=True):
    """A UDP datagram of `size` bytes (IPv4 total) from HOST to REMOTE:53 sent
    through mape_tun; returns (what the host sent, what we sent to the BR)."""
    ip = IP(src=HOST, dst=REMOTE, ttl=63, id=0x5151, flags="DF" if df else 0) / \
        UDP(sport=sport, dport=53) / (b"p" * (size - 28))
    v, out = ce.run_tun(ce.tun_frame(ip))
    assert v == TC_ACT_REDIRECT
    return ip, out[IPv6]


def pmtu_entries(ce):
    """{peer IPv6 (text): learned MTU} from mape_pmtu."""
    import ipaddress
    return {str(ipaddress.IPv6Address(k[:16])): struct.unpack_from("=I", v)[0]
            for k, v in ce.map("mape_pmtu").items()}


def test_ptb_relayed_to_the_host_and_learned(ce):
    """The Packet Too Big becomes fragmentation needed with MTU - 40 to the host
    that sent the packet, quoting that packet as the host sent it; the MTU
    towards the BR is learned."""
    host_pkt, tun = sent_udp(ce, 1460)
    before = ce.counters()
    v, out = ce.run_wan(ptb(ce, tun, 1400))
    assert v == XDP_REDIRECT
    ip = out[IP]
    assert IPv6 not in out and (ip.src, ip.dst) == (DUMMY4, HOST)
    icmp = ip[ICMP]
    assert (icmp.type, icmp.code, icmp.nexthopmtu) == (3, 4, 1360)
    # the quote: the host's own packet (header + 8 bytes), checksums and all
    assert raw(icmp.payload)[:28] == raw(host_pkt)[:28]
    verify_checksums(out)
    # a flow conntrack has not seen established: through the kernel, whose
    # conntrack takes the error as related to it
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_ct": 1, "pmtu_learned": 1}
    assert pmtu_entries(ce) == {BR: 1400}


def test_learned_mtu_gets_df_packets_refused_by_the_ce(ce):
    """After learning 1400: a DF packet of 1361+ bytes gets fragmentation
    needed (1360) from the CE, quoting it; 1360 bytes still go; a packet
    without DF is sent whole (nothing can fragment it here)."""
    _, tun = sent_udp(ce, 1460)
    ce.run_wan(ptb(ce, tun, 1400))
    before = ce.counters()
    host_pkt = IP(src=HOST, dst=REMOTE, ttl=63, id=0x5252, flags="DF") / \
        UDP(sport=40000, dport=53) / (b"q" * (1400 - 28))
    v, out = ce.run_tun(ce.tun_frame(host_pkt))
    assert v == TC_ACT_REDIRECT
    ip = out[IP]
    assert IPv6 not in out and (ip.src, ip.dst) == (IPV4, HOST)
    assert (ip[ICMP].type, ip[ICMP].code, ip[ICMP].nexthopmtu) == (3, 4, 1360)
    assert raw(ip[ICMP].payload)[:28] == raw(host_pkt)[:28]
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"drop_mtu": 1, "icmp_sent": 1}
    _, tun = sent_udp(ce, 1360)
    assert tun.plen == 1360
    _, tun = sent_udp(ce, 1400, df=False)
    assert tun.plen == 1400


def test_learned_mtu_clamps_syn(ce):
    _, tun = sent_udp(ce, 1460)
    ce.run_wan(ptb(ce, tun, 1400))
    syn = IP(src=HOST, dst=REMOTE, ttl=63) / TCP(sport=40100, dport=80, flags="S",
                                                 options=[("MSS", 1460)])
    v, out = ce.run_tun(ce.tun_frame(syn))
    assert v == TC_ACT_REDIRECT
    assert assert_encap(out)[TCP].options[0] == ("MSS", 1400 - 40 - 40)
    verify_checksums(out)


def test_fast_path_leaves_too_big_to_the_kernel(ce):
    """An established flow in XDP: a packet bigger than the learned MTU goes to
    the kernel (and so to mape_tun, which tells the host); smaller ones stay."""
    ext = open_session(ce, "udp", 40000)
    _, tun = sent_udp(ce, 1460)
    ce.run_wan(ptb(ce, tun, 1400))

    def lan(size):
        return ce.lan_frame(IP(src=HOST, dst=REMOTE, ttl=64, flags="DF") /
                            UDP(sport=40000, dport=53) / (b"f" * (size - 28)))
    before = ce.counters()
    v, _ = ce.run_lan(lan(1400))
    assert v == XDP_PASS
    assert ce.ctr_delta(before) == {"out_to_kernel": 1, "to_kernel_mtu": 1}
    v, out = ce.run_lan(lan(1360))
    assert v == XDP_REDIRECT and assert_encap(out).sport == ext


def test_ptb_below_1280_counts_as_1280(ce):
    _, tun = sent_udp(ce, 1460)
    v, out = ce.run_wan(ptb(ce, tun, 1000))
    assert v == XDP_REDIRECT and out[ICMP].nexthopmtu == 1240
    assert pmtu_entries(ce) == {BR: 1280}


def test_ptb_about_an_echo(ce):
    """An echo request of ours: the identifier names the session."""
    ident = open_session(ce, "icmp", 40000)
    ip = IP(src=HOST, dst=REMOTE, ttl=63, flags="DF") / ICMP(type=8, id=40000, seq=1) / \
        (b"e" * 1400)
    v, out = ce.run_tun(ce.tun_frame(ip))
    assert v == TC_ACT_REDIRECT and out[IPv6].payload[ICMP].id == ident
    v, out = ce.run_wan(ptb(ce, out[IPv6], 1300))
    assert v == XDP_REDIRECT
    assert out[IP].dst == HOST and out[ICMP].nexthopmtu == 1260
    assert raw(out[ICMP].payload)[:28] == raw(ip)[:28]
    verify_checksums(out)


def forged(tun, **kw):
    """tun (an IPv6 tunnel packet) with fields of its headers replaced."""
    p = IPv6(raw(tun))
    inner = p.payload
    for k, val in kw.items():
        if k == "src6":
            p.src = val
        elif k == "dst6":
            p.dst = val
        elif k == "isrc":
            inner.src = val
        elif k == "sport":
            inner[UDP].sport = val
    del inner.chksum
    del inner[UDP].chksum
    return IPv6(raw(p))


@pytest.mark.parametrize("case", ["not-from-us", "not-our-ipv4", "wrong-peer", "no-session",
                                  "mtu-not-smaller", "not-to-us"])
def test_ptb_not_ours_passes_untouched(ce, case):
    """A Packet Too Big that is not about a live tunnel packet of ours, or
    tells nothing new, goes to the kernel untouched and teaches nothing."""
    _, tun = sent_udp(ce, 1460)
    sport = tun.payload[UDP].sport
    mtu, dst6 = 1400, checks.CE_ADDR
    if case == "not-from-us":
        tun = forged(tun, src6="2001:db8:12:3400::99")
    elif case == "not-our-ipv4":
        tun = forged(tun, isrc="192.0.2.99")
    elif case == "wrong-peer":
        tun = forged(tun, dst6="2001:db8:ffff::2")
    elif case == "no-session":
        tun = forged(tun, sport=sport ^ 0x10)
    elif case == "mtu-not-smaller":
        mtu = checks.MTU + 40
    else:
        dst6 = "2001:db8:12:3400::1"
    frame = ptb(ce, tun, mtu, dst6=dst6)
    before = ce.counters()
    v, _ = ce.run_wan(frame)
    assert v == XDP_PASS and ce.last.raw == bytes(frame)
    assert ce.ctr_delta(before) == {"pass_not_ours": 1}
    assert pmtu_entries(ce) == {}
