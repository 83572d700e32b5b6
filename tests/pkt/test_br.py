# SPDX-License-Identifier: MIT
"""The BR (bpf/mape_br.bpf.c): mape_br6 (XDP, IPv6 side: s8.1 check and
decapsulation), mape_br4 (XDP, IPv4 side: encapsulation to the CE owning
address + port), mape_brt (TC egress of mapebr0: the same for kernel-routed
IPv4). Instance: `mapectl br up` with the RFC 7597 example rule in a
namespace of its own (conftest.BR). CE addresses are computed here from RFC
7597 (checks.rfc_ce_addr), counters named from MAPE_BR_COUNTERS.
"""
import errno
import ipaddress
import subprocess

import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6PacketTooBig, IPv6, IPv6ExtHdrDestOpt,
                                IPv6ExtHdrFragment, PadN)
from scapy.layers.l2 import ARP, Ether

import bpfsys
import checks
from checks import verify_checksums

XDP_DROP, XDP_PASS, XDP_REDIRECT = bpfsys.XDP_DROP, bpfsys.XDP_PASS, bpfsys.XDP_REDIRECT
TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT = (bpfsys.TC_ACT_OK, bpfsys.TC_ACT_SHOT,
                                           bpfsys.TC_ACT_REDIRECT)
CE4 = checks.IPV4                  # 192.0.2.18, PSID 0x34
NET = "198.51.100.7"               # an internet host
BRA = "2001:db8:ffff::1"


def ce6(ipv4, port):
    return checks.rfc_ce_addr(ipv4, port, **checks.BMR)


def ip6eq(a, b):
    return ipaddress.IPv6Address(a) == ipaddress.IPv6Address(b)


CE_A = checks.CE_ADDR
assert ce6(CE4, 1232) == CE_A
assert ce6(CE4, 1236) == "2001:db8:12:3500:0:c000:212:35"       # neighbour PSID 0x35
assert ce6("192.0.2.200", 65535) == "2001:db8:c8:ff00:0:c000:2c8:ff"


def l4(kind, sport, dport, **kw):
    if kind == "udp":
        return UDP(sport=sport, dport=dport) / b"br-udp"
    if kind == "tcp":
        return TCP(sport=sport, dport=dport, flags=kw.get("flags", "A"), seq=9) / b"br-tcp"
    return ICMP(type=kw.get("type", 8), id=sport if kw.get("id") is None else kw["id"]) / \
        b"br-icmp"


def assert_v4_out(br, out, ttl):
    """A decapsulated packet forwarded in XDP to the IPv4 side's next hop."""
    assert out.type == 0x0800 and IPv6 not in out
    assert out.dst == br.v4_gw_mac and out.src == br.mac["brv4"]
    assert out[IP].ttl == ttl
    return out[IP]


def assert_v6_out(br, out, dst6, hlen=None):
    """An encapsulated packet to the CE dst6 (XDP: next hop's MAC from the FIB);
    its traffic class is the inner ECN field (RFC 6040 s4.1)."""
    assert out.type == 0x86DD
    o6 = out[IPv6]
    assert (o6.version, o6.fl, o6.nh, o6.hlim) == (6, 0, 4, 64)
    assert ip6eq(o6.src, BRA) and ip6eq(o6.dst, dst6), (o6.src, o6.dst, dst6)
    inner = o6.payload
    assert isinstance(inner, IP) and o6.plen == inner.len
    assert o6.tc == inner.tos & 3, (o6.tc, inner.tos)
    return inner


# ---------------------------------------------------------------- setup


def test_br_layout_and_config(br):
    """What br up stored in mape_br_cfg (the mirror's layout is mape_br.bpf.o's
    BTF; test_layout.py checks it against the host compiler)."""
    c = bpfsys.MapeBrConfig.unpack(br.map("mape_br_cfg").lookup(0))
    assert ip6eq(c.br_addr, BRA) and c.flags & 1
    assert (c.v6_ifindex, c.v4_ifindex) == (br.ifindex["brv6"], br.ifindex["brv4"])
    assert (c.tun_ifindex, c.tun_peer_ifindex) == (br.ifindex["mapebr0"],
                                                   br.ifindex["mapebr0-p"])
    assert (c.tun_mac, c.tun_peer_mac) == (br.mac["mapebr0"], br.mac["mapebr0-p"])
    assert (c.iid, c.xdp_skb, c.mtu) == (0, 1, 1460)
    rules = [(bpfsys.MapeFmrKey.unpack(k), bpfsys.MapeRule.unpack(v))
             for k, v in br.map("mape_br_rules").items()]
    assert [(k.prefixlen, k.addr, r.ipv4, r.ip4_len, r.ea_len, r.psid_offset)
            for k, r in rules] == [(24, "192.0.2.0", "192.0.2.0", 24, 16, 6)]


# ---------------------------------------------------------------- IPv6 side: decap


@pytest.mark.parametrize("kind,sport", [("udp", 1232), ("tcp", 2259), ("icmp", 64723),
                                        ("udp", 1235)])
def test_br6_decap(br, kind, sport):
    """A CE's packet: outer source = the CE the rule derives from the inner
    source and port: decapsulated, TTL - 1, forwarded to the IPv4 next hop."""
    inner = IP(src=CE4, dst=NET, ttl=64, id=0x1001) / l4(kind, sport, 53)
    frame = br.v6_frame(inner, src6=ce6(CE4, sport))
    before = br.counters()
    v, out = br.run_br6(frame)
    assert v == XDP_REDIRECT
    ip = assert_v4_out(br, out, 63)
    sent = raw(inner)
    got = raw(ip)
    assert len(br.last.raw) == len(br.last.data_in) - 40
    # only the TTL and the header checksum change
    assert got[:8] == sent[:8] and got[9:10] == sent[9:10] and got[12:] == sent[12:]
    verify_checksums(out)
    assert br.ctr_delta(before) == {"decap_fast": 1}


def test_br6_decap_ttl1_slow(br):
    inner = IP(src=CE4, dst=NET, ttl=1) / UDP(sport=1232, dport=53) / b"x"
    before = br.counters()
    v, out = br.run_br6(br.v6_frame(inner, src6=CE_A))
    assert v == XDP_REDIRECT
    assert out.dst == br.mac["mapebr0"] and out.src == br.mac["mapebr0-p"]
    assert raw(out[IP]) == raw(inner)
    assert br.ctr_delta(before) == {"decap_slow": 1}


def test_br6_decap_dest_opts(br):
    inner = IP(src=CE4, dst=NET, ttl=64) / UDP(sport=1232, dport=53) / b"x"
    frame = (Ether(src=br.v6_nh_mac, dst=br.mac["brv6"]) / IPv6(src=CE_A, dst=BRA) /
             IPv6ExtHdrDestOpt(nh=4, options=[PadN(otype=4, optdata=b"\x04"),
                                              PadN(optdata=b"")]) / inner)
    before = br.counters()
    v, out = br.run_br6(frame)
    assert v == XDP_REDIRECT
    assert assert_v4_out(br, out, 63).src == CE4
    verify_checksums(out)
    assert br.ctr_delta(before) == {"decap_fast": 1}


def br6_drops(br):
    eth = Ether(src=br.v6_nh_mac, dst=br.mac["brv6"])
    good = IP(src=CE4, dst=NET) / UDP(sport=1232, dport=53) / b"data"
    g = raw(good)
    return {
        "spoofed-other-psid": (br.v6_frame(good, src6=ce6(CE4, 1236)), "drop_spoofed"),
        "spoofed-other-ipv4": (br.v6_frame(good, src6=ce6("192.0.2.19", 1232)),
                               "drop_spoofed"),
        "spoofed-random": (br.v6_frame(good, src6="2001:db8:12:3400::1"), "drop_spoofed"),
        "spoofed-port-vs-addr": (br.v6_frame(IP(src=CE4, dst=NET) / UDP(sport=1236, dport=53),
                                             src6=CE_A), "drop_spoofed"),
        "no-rule": (br.v6_frame(IP(src="10.1.2.3", dst=NET) / UDP(sport=1232, dport=53),
                                src6=CE_A), "drop_no_rule"),
        "port-a0": (br.v6_frame(IP(src=CE4, dst=NET) / UDP(sport=209, dport=53), src6=CE_A),
                    "drop_port_outside"),
        "port-a0-tcp": (br.v6_frame(IP(src=CE4, dst=NET) / TCP(sport=80, dport=53),
                                    src6=CE_A), "drop_port_outside"),
        "echo-id-a0": (br.v6_frame(IP(src=CE4, dst=NET) / ICMP(type=8, id=208), src6=CE_A),
                       "drop_port_outside"),
        "truncated": (eth / IPv6(src=CE_A, dst=BRA, nh=4) / g[:-1], "drop_truncated"),
        "truncated-dstopt": (eth / IPv6(src=CE_A, dst=BRA, nh=60) / b"\x04\x00",
                             "drop_truncated"),
        "bad-version": (eth / IPv6(src=CE_A, dst=BRA, nh=4) / (b"\x65" + g[1:]),
                        "drop_bad_header"),
        "proto-gre": (br.v6_frame(IP(src=CE4, dst=NET, proto=47) / (b"\0" * 8), src6=CE_A),
                      "drop_proto"),
    }


BR6_DROPS = ["spoofed-other-psid", "spoofed-other-ipv4", "spoofed-random",
             "spoofed-port-vs-addr", "no-rule", "port-a0", "port-a0-tcp", "echo-id-a0",
             "truncated", "truncated-dstopt", "bad-version", "proto-gre"]


@pytest.mark.parametrize("case", BR6_DROPS)
def test_br6_drop(br, case):
    cases = br6_drops(br)
    assert sorted(cases) == sorted(BR6_DROPS)
    frame, ctr = cases[case]
    before = br.counters()
    v, _ = br.run_br6(frame)
    assert v == XDP_DROP
    assert br.ctr_delta(before) == {ctr: 1}


@pytest.mark.parametrize("case", ["native-icmpv6", "ipip-other-dst", "ipv4", "short"])
def test_br6_not_ours(br, case):
    eth = Ether(src=br.v6_nh_mac, dst=br.mac["brv6"])
    frame = {
        "native-icmpv6": eth / IPv6(src=CE_A, dst=BRA) / ICMPv6EchoRequest(),
        "ipip-other-dst": br.v6_frame(IP(src=CE4, dst=NET) / UDP(sport=1232, dport=53),
                                      src6=CE_A, dst6=br.v6_addr),
        "ipv4": Ether(src=br.v6_nh_mac, dst=br.mac["brv6"]) / IP(src=CE4, dst=NET) / UDP(),
        "short": raw(eth / IPv6(src=CE_A, dst=BRA, nh=4))[:40],
    }[case]
    data = raw(frame)
    before = br.counters()
    v, _ = br.run_br6(data)
    assert v == XDP_PASS and br.last.raw == data
    assert br.ctr_delta(before) == {"pass_not_ours": 1}


def test_br6_fragments(br):
    """First fragment checked and cached; the later one follows it (same outer
    source required); a later fragment of an unknown datagram is dropped."""
    br.map("mape_br_frag").clear()
    w = raw(IP(src=CE4, dst=NET, id=0x4242, ttl=64) / UDP(sport=1232, dport=53) / (b"P" * 24))
    first = IP(w[:20] + w[20:36])
    first.flags, first.len = "MF", 36
    del first.chksum
    later = IP(w[:20] + w[36:])
    later.frag, later.len = 2, 20 + len(w) - 36
    del later.chksum
    before = br.counters()
    v, out = br.run_br6(br.v6_frame(IP(raw(first)), src6=CE_A))
    assert v == XDP_REDIRECT and assert_v4_out(br, out, 63).flags == "MF"
    verify_checksums(out)
    v, _ = br.run_br6(br.v6_frame(IP(raw(later)), src6=ce6(CE4, 1236)))
    assert v == XDP_PASS
    v, out = br.run_br6(br.v6_frame(IP(raw(later)), src6=CE_A))
    assert v == XDP_REDIRECT
    ip = assert_v4_out(br, out, 63)
    assert ip.frag == 2 and raw(ip)[20:] == w[36:]
    verify_checksums(out)
    # the other CE's fragment finds no first of its own (the cache is keyed by
    # the outer source: a CE sharing the IPv4 address cannot use another's):
    # it is left to the reassembly, where it waits for its own first
    assert br.ctr_delta(before) == {"decap_fast": 2, "to_reasm": 1}


# ---------------------------------------------------------------- IPv4 side: encap


@pytest.mark.parametrize("dst,kind,dport", [
    (CE4, "udp", 1232), (CE4, "tcp", 2256), (CE4, "udp", 1236), (CE4, "tcp", 64723),
    ("192.0.2.200", "udp", 65535), ("192.0.2.1", "tcp", 5000)])
def test_br4_encap(br, dst, kind, dport):
    """IPv4 to dst:dport inside the rule: encapsulated to the CE owning them
    (RFC 7597 example 2/3 for 192.0.2.18:1232), TTL - 1, to the IPv6 next hop."""
    ip = IP(src=NET, dst=dst, ttl=64, id=0x2002) / l4(kind, 53, dport)
    before = br.counters()
    v, out = br.run_br4(br.v4_frame(ip))
    assert v == XDP_REDIRECT
    assert out.dst == br.v6_nh_mac and out.src == br.mac["brv6"]
    want = ce6(dst, dport)
    if (dst, dport) == (CE4, 1232):
        assert want == "2001:db8:12:3400:0:c000:212:34"
    inner = assert_v6_out(br, out, want)
    assert len(br.last.raw) == len(br.last.data_in) + 40
    sent = raw(ip)
    got = raw(inner)
    assert inner.ttl == 63 and got[:8] == sent[:8] and got[12:] == sent[12:]
    verify_checksums(out)
    assert br.ctr_delta(before) == {"encap_fast": 1}


@pytest.mark.parametrize("ident,psid_port", [(1232, 1232), (1236, 1236), (40000, 40000)])
def test_br4_echo_request_to_ce(br, ident, psid_port):
    """An echo request to a CE: the identifier picks the CE."""
    ip = IP(src=NET, dst=CE4, ttl=64) / ICMP(type=8, id=ident, seq=1) / b"ping"
    v, out = br.run_br4(br.v4_frame(ip))
    assert v == XDP_REDIRECT
    assert assert_v6_out(br, out, ce6(CE4, psid_port))[ICMP].id == ident
    verify_checksums(out)


@pytest.mark.parametrize("qsport", [1232, 1236, 2257])
def test_br4_icmp_error_to_ce(br, qsport):
    """An ICMP error about a CE's packet: the quoted packet's source port picks
    the CE (not the error's own fields)."""
    quoted = raw(IP(src=CE4, dst=NET, ttl=1) / UDP(sport=qsport, dport=53) / b"q")
    ip = IP(src="203.0.113.77", dst=CE4, ttl=64) / ICMP(type=11, code=0) / quoted
    before = br.counters()
    v, out = br.run_br4(br.v4_frame(ip))
    assert v == XDP_REDIRECT
    inner = assert_v6_out(br, out, ce6(CE4, qsport))
    assert raw(inner)[20:] == raw(ip)[20:]
    verify_checksums(out)
    assert br.ctr_delta(before) == {"encap_fast": 1}


def br4_drops(br):
    return {
        "port-a0-udp": (IP(src=NET, dst=CE4) / UDP(sport=53, dport=209), "drop_port_outside"),
        "port-a0-tcp": (IP(src=NET, dst=CE4) / TCP(sport=53, dport=80), "drop_port_outside"),
        "echo-id-a0": (IP(src=NET, dst=CE4) / ICMP(type=8, id=7), "drop_port_outside"),
        "error-quoted-a0": (IP(src="203.0.113.77", dst=CE4) / ICMP(type=3, code=3) /
                            IP(src=CE4, dst=NET) / UDP(sport=210, dport=53),
                            "drop_port_outside"),
        "frag-later-unknown": (IP(src=NET, dst=CE4, id=0x777, frag=4, proto=17) / (b"x" * 8),
                               "drop_frag_unknown"),
    }


@pytest.mark.parametrize("case", ["port-a0-udp", "port-a0-tcp", "echo-id-a0",
                                  "error-quoted-a0", "frag-later-unknown"])
def test_br4_drop(br, case):
    ip, ctr = br4_drops(br)[case]
    before = br.counters()
    v, _ = br.run_br4(br.v4_frame(ip))
    assert v == XDP_DROP
    assert br.ctr_delta(before) == {ctr: 1}


@pytest.mark.parametrize("case,ctr", [("outside-rules", "pass_not_ours"),
                                      ("arp", "pass_not_ours"),
                                      ("malformed", "pass_not_ours"),
                                      ("ttl1", "to_kernel"),
                                      ("too-big", "to_kernel")])
def test_br4_pass(br, case, ctr):
    """Not inside the domain (or malformed: the kernel judges it) passes
    untouched; TTL <= 1 and too-big packets are left to the kernel."""
    if case == "outside-rules":
        frame = br.v4_frame(IP(src=NET, dst="203.0.113.5") / UDP(sport=53, dport=1232))
    elif case == "arp":
        frame = Ether(src=br.v4_gw_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=br.v4_addr)
    elif case == "malformed":
        frame = raw(br.v4_frame(IP(src=NET, dst=CE4) / UDP(sport=53, dport=1232) / b"m"))[:-2]
    elif case == "ttl1":
        frame = br.v4_frame(IP(src=NET, dst=CE4, ttl=1) / UDP(sport=53, dport=1232))
    else:
        frame = br.v4_frame(IP(src=NET, dst=CE4) / UDP(sport=53, dport=1232) / (b"B" * 1433))
        assert len(raw(frame)) - 14 == 1461
    data = raw(frame)
    before = br.counters()
    v, _ = br.run_br4(data)
    assert v == XDP_PASS and br.last.raw == data
    assert br.ctr_delta(before) == {ctr: 1}


def test_br4_fragments(br):
    """The first fragment's CE (from its port) is cached; the later fragment
    (no port) follows it; a later fragment of another datagram is dropped."""
    br.map("mape_br_frag").clear()
    w = raw(IP(src=NET, dst=CE4, id=0x5151, ttl=64) / UDP(sport=53, dport=1236) / (b"F" * 24))
    first = IP(w[:20] + w[20:36])
    first.flags, first.len = "MF", 36
    del first.chksum
    later = IP(w[:20] + w[36:])
    later.frag, later.len = 2, 20 + len(w) - 36
    del later.chksum
    want = ce6(CE4, 1236)
    before = br.counters()
    v, out = br.run_br4(br.v4_frame(IP(raw(first))))
    assert v == XDP_REDIRECT and assert_v6_out(br, out, want).flags == "MF"
    verify_checksums(out)
    entries = [(bpfsys.MapeFragKey.unpack(k), v) for k, v in br.map("mape_br_frag").items()]
    assert [(k.src, k.dst, k.id, k.proto, k.dir) for k, _v in entries] == \
        [(NET, CE4, 0x5151, 17, 0)]
    assert ip6eq(entries[0][1][:16], want)
    v, out = br.run_br4(br.v4_frame(IP(raw(later))))
    assert v == XDP_REDIRECT
    inner = assert_v6_out(br, out, want)
    assert inner.frag == 2 and inner.ttl == 63 and raw(inner)[20:] == w[36:]
    verify_checksums(out)
    # the same later fragment through mape_brt (kernel-routed) follows it too
    v, out = br.run_brt(br.tun_frame(IP(raw(later))))
    assert v == TC_ACT_REDIRECT
    assert assert_v6_out(br, out, want).ttl == 64
    verify_checksums(out)
    other = IP(raw(later))
    other.id = 0x5152
    del other.chksum
    v, _ = br.run_br4(br.v4_frame(IP(raw(other))))
    assert v == XDP_DROP
    v, _ = br.run_brt(br.tun_frame(IP(raw(other))))
    assert v == TC_ACT_SHOT
    assert br.ctr_delta(before) == {"encap_fast": 2, "encap_slow": 1, "drop_frag_unknown": 2}


# ---------------------------------------------------------------- mapebr0 TC


@pytest.mark.parametrize("kind,dport", [("udp", 1232), ("tcp", 1236), ("icmp", 2258)])
def test_brt_encap(br, kind, dport):
    """Kernel-routed IPv4 to the domain (the kernel did the TTL): encapsulated
    to the CE, bpf_redirect_neigh to the IPv6 side."""
    ip = IP(src=NET, dst=CE4, ttl=63, id=0x3003) / l4(kind, 53, dport, id=dport)
    before = br.counters()
    v, out = br.run_brt(br.tun_frame(ip))
    assert v == TC_ACT_REDIRECT
    inner = assert_v6_out(br, out, ce6(CE4, dport))
    assert raw(inner) == raw(ip)
    verify_checksums(out)
    assert br.ctr_delta(before) == {"encap_slow": 1}


def test_brt_local_icmp_error(br):
    """The BR's own ICMP error (e.g. time exceeded) to a CE's address: the
    quoted source port picks the CE."""
    quoted = raw(IP(src=CE4, dst=NET, ttl=1) / UDP(sport=2258, dport=53) / b"q")
    ip = IP(src=br.v4_addr, dst=CE4, ttl=64) / ICMP(type=11) / quoted
    v, out = br.run_brt(br.tun_frame(ip))
    assert v == TC_ACT_REDIRECT
    assert_v6_out(br, out, ce6(CE4, 2258))
    verify_checksums(out)


@pytest.mark.parametrize("case,ctr", [("port-a0", "drop_port_outside"),
                                      ("no-rule", "drop_no_rule"),
                                      ("truncated", "drop_truncated"),
                                      ("gre", "drop_proto")])
def test_brt_drop(br, case, ctr):
    frame = raw(br.tun_frame({
        "port-a0": IP(src=NET, dst=CE4) / UDP(sport=53, dport=209),
        "no-rule": IP(src=NET, dst="203.0.113.5") / UDP(sport=53, dport=1232),
        "truncated": IP(src=NET, dst=CE4) / UDP(sport=53, dport=1232) / b"abc",
        "gre": IP(src=NET, dst=CE4, proto=47) / (b"\0" * 8),
    }[case]))
    if case == "truncated":
        frame = frame[:-1]
    before = br.counters()
    v, _ = br.run_brt(frame)
    assert v == TC_ACT_SHOT
    assert br.ctr_delta(before) == {ctr: 1}


def test_brt_ipv6_untouched(br):
    frame = Ether(src=br.mac["mapebr0"], dst=br.mac["mapebr0-p"]) / IPv6(src="::1", dst="::2")
    data = raw(frame)
    before = br.counters()
    v, _ = br.run_brt(data)
    assert v == TC_ACT_OK and br.last.raw == data
    assert br.ctr_delta(before) == {"pass_not_ours": 1}


# ---------------------------------------------------------------- truncation


@pytest.mark.parametrize("prog", ["br6", "br4", "brt"])
def test_br_truncated(br, prog):
    """Every cut length: a verdict of the allowed set, one counter per run, a
    drop counter for each drop; passed frames unchanged. (BPF_PROG_TEST_RUN
    refuses frames under 14 bytes, and TC IPv4 frames under 34 on newer
    kernels: those lengths are skipped when the kernel says EINVAL.)"""
    if prog == "br6":
        full = raw(br.v6_frame(IP(src=CE4, dst=NET) / TCP(sport=1232, dport=80, flags="S",
                                                         options=[("MSS", 1460)]),
                               src6=CE_A))
        run, allowed, drop_v, pass_v = br.run_br6, {XDP_PASS, XDP_DROP}, XDP_DROP, XDP_PASS
    elif prog == "br4":
        full = raw(br.v4_frame(IP(src="203.0.113.77", dst=CE4) / ICMP(type=3, code=3) /
                               IP(src=CE4, dst=NET) / UDP(sport=1232, dport=53) / b"q"))
        run, allowed, drop_v, pass_v = br.run_br4, {XDP_PASS, XDP_DROP}, XDP_DROP, XDP_PASS
    else:
        full = raw(br.tun_frame(IP(src=NET, dst=CE4) / UDP(sport=53, dport=1232) / b"t"))
        run, allowed = br.run_brt, {TC_ACT_OK, TC_ACT_SHOT}
        drop_v, pass_v = TC_ACT_SHOT, TC_ACT_OK
    before_all = br.counters()
    runs = drops = 0
    for n in range(14, len(full)):
        before = br.counters()
        try:
            v, _ = run(full[:n])
        except OSError as e:
            if prog == "brt" and e.errno == errno.EINVAL and n < 34:
                continue
            raise
        runs += 1
        d = br.ctr_delta(before)
        where = "%s len %d: %d %r" % (prog, n, v, d)
        assert v in allowed and sum(d.values()) == 1, where
        assert sum(x for c, x in d.items() if c.startswith("drop_")) == (v == drop_v), where
        if v == pass_v:
            assert br.last.raw == full[:n], where
        drops += v == drop_v
    total = br.ctr_delta(before_all)
    assert sum(total.values()) == runs
    assert sum(x for c, x in total.items() if c.startswith("drop_")) == drops
    v, _ = run(full)
    assert v == (TC_ACT_REDIRECT if prog == "brt" else XDP_REDIRECT)


# ---------------------------------------------------------------- hub and spoke, neighbours


def test_br_ce_to_ce_via_kernel(br):
    """CE to CE through the BR (hub and spoke): mape_br6 decapsulates and, the
    destination being routed into mapebr0, hands the packet to the kernel
    (decap_slow); the kernel's forwarded copy (TTL - 1) reaches mape_brt, which
    encapsulates it to the destination CE."""
    dst, dport = "192.0.2.200", 65535
    inner = IP(src=CE4, dst=dst, ttl=64, id=0x6006) / UDP(sport=1233, dport=dport) / b"c2c"
    before = br.counters()
    v, out = br.run_br6(br.v6_frame(inner, src6=ce6(CE4, 1233)))
    assert v == XDP_REDIRECT
    assert out.dst == br.mac["mapebr0"] and out.src == br.mac["mapebr0-p"]
    assert raw(out[IP]) == raw(inner)
    fwd = IP(raw(inner))
    fwd.ttl -= 1
    del fwd.chksum
    v, out = br.run_brt(br.tun_frame(IP(raw(fwd))))
    assert v == TC_ACT_REDIRECT
    got = assert_v6_out(br, out, ce6(dst, dport))
    assert raw(got) == raw(fwd)
    verify_checksums(out)
    assert br.ctr_delta(before) == {"decap_slow": 1, "encap_slow": 1}


def test_br4_unresolved_ce_neighbour_to_kernel(br):
    """No resolved IPv6 next hop towards the CE: left to the kernel (to_kernel)."""
    pfx = "2001:db8:c9:100::/56"            # CE 192.0.2.201, PSID 1 (ports 1028..1031)
    want = ce6("192.0.2.201", 1028)
    assert want.startswith("2001:db8:c9:100:")
    subprocess.run(["ip", "-6", "route", "replace", pfx, "via", "2001:db8:ffff::3", "dev",
                    "brv6"], check=True)
    try:
        frame = raw(br.v4_frame(IP(src=NET, dst="192.0.2.201") / UDP(sport=53, dport=1028)))
        before = br.counters()
        v, _ = br.run_br4(frame)
        assert v == XDP_PASS and br.last.raw == frame
        assert br.ctr_delta(before) == {"to_kernel": 1}
    finally:
        subprocess.run(["ip", "-6", "route", "del", pfx], check=False)


# ---------------------------------------------------------------- veth peers (native mode)

def br_no_xmit(br, bits):
    m = br.map("mape_br_cfg")
    c = bpfsys.MapeBrConfig.unpack(m.lookup(0))
    c.no_xdp_xmit = bits
    m.update(0, c.pack())


@pytest.mark.parametrize("bits", [1, 2])
def test_br_veth_peer_without_napi_goes_through_the_kernel(br, bits):
    """`br up` in native mode marks a side whose veth peer would drop XDP
    frames (MAPE_BR_NOXMIT_V6 1, _V4 2): that side is reached through the
    kernel, the other keeps the fast path."""
    try:
        br_no_xmit(br, bits)
        ip = IP(src=NET, dst=CE4, ttl=64) / l4("udp", 53, 1232)
        before = br.counters()
        v, _ = br.run_br4(br.v4_frame(ip))
        if bits == 1:
            assert v == XDP_PASS and br.ctr_delta(before) == {"to_kernel": 1}
        else:
            assert v == XDP_REDIRECT and br.ctr_delta(before) == {"encap_fast": 1}
        inner = IP(src=CE4, dst=NET, ttl=64) / l4("udp", 1232, 53)
        before = br.counters()
        v, out = br.run_br6(br.v6_frame(inner, src6=ce6(CE4, 1232)))
        assert v == XDP_REDIRECT
        assert br.ctr_delta(before) == ({"decap_slow": 1} if bits == 2 else {"decap_fast": 1})
    finally:
        br_no_xmit(br, 0)


# ---------------------------------------------------------------- ECN (RFC 6040)


@pytest.mark.parametrize("ecn", range(4))
@pytest.mark.parametrize("prog", ["mape_br4", "mape_brt"])
def test_br_encap_copies_ecn(br, prog, ecn):
    """Towards a CE, XDP and TC: the outer traffic class is the inner ECN
    field; the inner DSCP stays inside."""
    ip = IP(src=NET, dst=CE4, ttl=64, tos=0xb8 | ecn) / l4("udp", 53, 1232)
    run = br.run_br4 if prog == "mape_br4" else br.run_brt
    v, out = run(br.v4_frame(ip) if prog == "mape_br4" else br.tun_frame(ip))
    assert v == (XDP_REDIRECT if prog == "mape_br4" else TC_ACT_REDIRECT)
    inner = assert_v6_out(br, out, ce6(CE4, 1232))
    assert out[IPv6].tc == ecn and inner.tos == 0xb8 | ecn
    verify_checksums(out)


@pytest.mark.parametrize("inner_ecn,outer_ecn", sorted(checks.RFC6040))
def test_br6_decap_combines_ecn(br, inner_ecn, outer_ecn):
    """From a CE: the inner ECN field after decapsulation is RFC 6040 s4.2's;
    CE over Not-ECT is dropped (drop_ecn)."""
    inner = IP(src=CE4, dst=NET, ttl=64, tos=0xb8 | inner_ecn) / l4("udp", 1232, 53)
    frame = br.v6_frame(inner, src6=CE_A)
    frame[IPv6].tc = outer_ecn
    before = br.counters()
    v, out = br.run_br6(frame)
    want = checks.RFC6040[(inner_ecn, outer_ecn)]
    if want is None:
        assert v == XDP_DROP
        assert br.ctr_delta(before) == {"drop_ecn": 1}
        return
    assert v == XDP_REDIRECT
    ip = assert_v4_out(br, out, 63)
    assert ip.tos == 0xb8 | want
    verify_checksums(out)
    assert br.ctr_delta(before) == {"decap_fast": 1}


# ---------------------------------------------------------------- path MTU (issue 14)


def br_ptb_frame(br, tunnel_pkt, mtu, src6="2001:db8:1::1"):
    """ICMPv6 Packet Too Big from a router on the way to a CE, quoting the
    tunnel packet the BR sent as far as 1280 bytes allow."""
    return Ether(src=br.v6_nh_mac, dst=br.mac["brv6"]) / IPv6(src=src6, dst=BRA) / \
        ICMPv6PacketTooBig(mtu=mtu) / raw(tunnel_pkt)[:1232]


def br_sent(br, size=1460):
    ip = IP(src=NET, dst=CE4, ttl=64, id=0x6006, flags="DF") / UDP(sport=53, dport=1232) / \
        (b"d" * (size - 28))
    v, out = br.run_br4(br.v4_frame(ip))
    assert v == XDP_REDIRECT
    return out[IPv6]


def test_br6_relays_packet_too_big(br):
    """To the internet host whose packet did not fit: fragmentation needed
    with MTU - 40 from 192.0.0.8 (RFC 7600), quoting the packet as the BR
    forwarded it (TTL - 1), forwarded to the IPv4 next hop."""
    tun = br_sent(br)
    before = br.counters()
    v, out = br.run_br6(br_ptb_frame(br, tun, 1400))
    assert v == XDP_REDIRECT
    ip = assert_v4_out(br, out, 63)
    assert (ip.src, ip.dst) == ("192.0.0.8", NET)
    assert (ip[ICMP].type, ip[ICMP].code, ip[ICMP].nexthopmtu) == (3, 4, 1360)
    assert raw(ip[ICMP].payload)[:28] == raw(tun.payload)[:28]
    verify_checksums(out)
    assert br.ctr_delta(before) == {"ptb_relayed": 1}


@pytest.mark.parametrize("case", ["not-from-us", "wrong-ce", "mtu-not-smaller"])
def test_br6_packet_too_big_not_ours(br, case):
    """Not about a packet the BR sent to the CE its rules give, or nothing new:
    passed to the kernel untouched."""
    tun = IPv6(raw(br_sent(br)))
    mtu = 1400
    if case == "not-from-us":
        tun.src = "2001:db8:ffff::9"
    elif case == "wrong-ce":
        tun.dst = ce6(CE4, 1236)
    else:
        mtu = 1500
    frame = br_ptb_frame(br, IPv6(raw(tun)), mtu)
    before = br.counters()
    v, _ = br.run_br6(frame)
    assert v == XDP_PASS and br.last.raw == bytes(frame)
    assert br.ctr_delta(before) == {"pass_not_ours": 1}


# ---------------------------------------------------------------- reassembly (issue 14)


def br_through(br, frames):
    """Each frame through mape_br6 (left to the reassembly, unchanged) then
    mape_brd; the verdicts and outputs of mape_brd."""
    res = []
    for f in frames:
        before = br.counters()
        v, _ = br.run_br6(f)
        assert v == XDP_PASS and br.last.raw == bytes(f)
        assert br.ctr_delta(before) == {"to_reasm": 1}
        v, _ = br.run_brd(f)
        res.append((v, br.last.raw))
    return res


def br_whole(br, out, inner):
    """Decapsulated and whole, into the kernel as if received on mapebr0
    (which forwards it, TTL and all)."""
    e = Ether(out)
    assert e.type == 0x0800 and e.dst == br.mac["mapebr0"] and e.src == br.mac["mapebr0-p"]
    assert raw(e.payload) == raw(inner)
    verify_checksums(e)


@pytest.mark.parametrize("order", [[2, 0, 1], [1, 2, 0], [0, 1, 2]])
def test_brd_outer_fragments(br, order):
    """A CE (or the path) that fragments the outer IPv6: put back together."""
    from scapy.layers.inet6 import fragment6
    br.map("mape_br_reasm").clear()
    inner = IP(src=CE4, dst=NET, ttl=64, id=0x2929) / UDP(sport=1232, dport=53) / \
        (bytes(range(256)) * 10)
    pkt = IPv6(src=CE_A, dst=BRA) / IPv6ExtHdrFragment(nh=4, id=0x55) / inner
    frags = [Ether(src=br.v6_nh_mac, dst=br.mac["brv6"]) / f for f in fragment6(pkt, 1280)]
    assert len(frags) == 3
    before = br.counters()
    res = br_through(br, [frags[i] for i in order])
    assert [v for v, _ in res] == [TC_ACT_SHOT, TC_ACT_SHOT, TC_ACT_REDIRECT]
    br_whole(br, res[2][1], inner)
    assert br.ctr_delta(before) == {"to_reasm": 3, "frag_held": 2, "decap_slow": 1,
                                    "reasm_done": 1}


def test_brd_ipv4_fragments_before_first(br):
    """The ISP reorders a CE's fragments: the later ones come first; the
    datagram is put together (keyed by the CE) and checked whole (s8.1)."""
    from scapy.layers.inet import fragment
    br.map("mape_br_reasm").clear()
    br.map("mape_br_frag").clear()
    inner = IP(src=CE4, dst=NET, ttl=64, id=0x3939) / UDP(sport=1232, dport=53) / (b"r" * 3972)
    frags = [br.v6_frame(f, src6=CE_A) for f in fragment(inner, 1400)]
    # another CE sharing the IPv4 address, same identification: kept apart
    other = br.v6_frame(fragment(inner, 1400)[1], src6=ce6(CE4, 1236))
    res = br_through(br, [frags[2], other, frags[1], frags[0]])
    assert [v for v, _ in res] == [TC_ACT_SHOT] * 3 + [TC_ACT_REDIRECT]
    br_whole(br, res[3][1], inner)
    assert len(list(br.map("mape_br_reasm").items())) == 1     # the other CE's, waiting
