# SPDX-License-Identifier: MIT
"""CE outbound: mape_tun (TC egress of mape0: new sessions) and mape_lan (XDP
on the LAN: the fast path of established sessions).

Instance: RFC 7597 example 1 (192.0.2.18, PSID 0x34/8, offset 6: 252 ports),
NAT tables empty at the start of each test. Expected ports come from
checks.PORT_SET (RFC 7597 s5.1 computed in Python), checksums from scapy.
"""
import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

import bpfsys
import checks
import time


def assert_frag_id(sent, inner):
    """RFC 7597 s8.3.3: a packet that may be fragmented (DF clear) leaves with an
    IPv4 ID from our port set; with DF set the ID is left alone."""
    if sent.flags.DF:
        assert inner.id == sent.id, (inner.id, sent.id)
    else:
        assert checks.in_port_set(inner.id), (inner.id, sent.id)


def tick():
    """Sessions keep time with the coarse clock (tick resolution): let a tick
    pass so that a refresh is visible as a later last_ns."""
    time.sleep(0.03)
from checks import verify_checksums
from pktutil import (HOST, HOST2, IPV4, P_TCP, PROTO, PROTOS, REMOTE,
                     REMOTE2, TC_ACT_REDIRECT, TO_ICMP, TO_TCP_EST, TO_TCP_TRANS, TO_UDP,
                     XDP_PASS, XDP_REDIRECT, assert_encap, default_rport, ext_of, l4_out, lan_pkt,
                     new_flags, open_session, rport_of, tun_pkt)

TIMEOUT = {"udp": TO_UDP, "icmp": TO_ICMP, "tcp": TO_TCP_EST}


def assert_session_maps(ce, kind, sport, ext, rem=REMOTE, rport=None, host=HOST, binds=1,
                        port_sessions=1, shared=0):
    """mape_out, mape_in, mape_bind, mape_ports and mape_adf for one new session."""
    proto = PROTO[kind]
    rp = rport_of(kind, default_rport(kind) if rport is None else rport)
    s = ce.session(proto, host, sport, rem, rp)
    assert s is not None, "no mape_out entry"
    assert s.ext_port == ext and s.flags & ~bpfsys.MAPE_SESS_FAST == 0
    ins = {(k.rem_addr, k.ext_port, k.rem_port, k.proto): (v.int_addr, v.int_port)
           for k, v in ce.in_entries()}
    assert ins[(rem, ext, rp, proto)] == (host, sport)
    b = ce.binds()[(host, sport, proto)]
    assert (b.ext_port, b.sessions) == (ext, binds)
    pt = ce.port(proto, ext)
    assert (pt.sessions, pt.int_addr, pt.int_port, pt.shared) == (port_sessions, host, sport,
                                                                    shared)
    assert ce.adfs()[(rem, ext, proto)] >= 1
    return s


# ---------------------------------------------------------------- mape_tun: new sessions


@pytest.mark.parametrize("kind", PROTOS)
def test_tun_new_session(ce, kind):
    """A new flow at mape0's egress: session created, source translated into our
    set, encapsulated to the BR, redirected; every map entry of the session."""
    sport = 40000
    frame = tun_pkt(ce, kind, sport, ttl=63, flags=new_flags(kind))
    before = ce.counters()
    v, out = ce.run_tun(frame)
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    sent = ce.last.sent[IP]
    assert len(ce.last.raw) == len(ce.last.data_in) + 40
    assert inner.src == IPV4 and inner.dst == REMOTE
    assert (inner.ttl, inner.len, inner.proto) == (63, sent.len, sent.proto)
    assert_frag_id(sent, inner)
    ext = ext_of(kind, inner)
    assert checks.in_port_set(ext), "external port %d outside the set" % ext
    if kind == "icmp":
        assert inner[ICMP].type == 8 and inner[ICMP].seq == 7
    else:
        assert inner.dport == default_rport(kind)
    assert raw(inner.payload.payload) == b"out-data"
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}
    s = assert_session_maps(ce, kind, sport, ext)
    assert (s.pkts_out, s.pkts_in) == (1, 0)
    # a new TCP session (made by a SYN) is transitory until the answer
    assert s.state == (bpfsys.MAPE_TCP_SYN_SENT if kind == "tcp" else 0)
    assert s.timeout == (TO_TCP_TRANS if kind == "tcp" else TIMEOUT[kind])
    assert 0 < s.created_ns <= s.last_ns
    assert len(ce.sessions()) == 1


def test_tun_tcp_syn_session_state(ce):
    """A SYN creates a transitory session (SYN_SENT, 240 s)."""
    ext = open_session(ce, "tcp", 40001, flags="S")
    s = ce.session(P_TCP, HOST, 40001, REMOTE, 80)
    assert s.state == bpfsys.MAPE_TCP_SYN_SENT and s.timeout == TO_TCP_TRANS
    assert s.ext_port == ext


@pytest.mark.parametrize("kind", PROTOS)
def test_tun_same_flow_reuses_session(ce, kind):
    """The second packet of a flow: same session and port, refreshed, counted."""
    ext = open_session(ce, kind)
    s1 = ce.session(PROTO[kind], HOST, 40000, REMOTE, rport_of(kind, default_rport(kind)))
    tick()
    before = ce.counters()
    v, out = ce.run_tun(tun_pkt(ce, kind, 40000, payload=b"again"))
    assert v == TC_ACT_REDIRECT
    assert ext_of(kind, assert_encap(out)) == ext
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1}
    s2 = ce.session(PROTO[kind], HOST, 40000, REMOTE, rport_of(kind, default_rport(kind)))
    assert s2.pkts_out == s1.pkts_out + 1 and s2.last_ns > s1.last_ns
    assert s2.created_ns == s1.created_ns
    assert len(ce.sessions()) == 1 and ce.port(PROTO[kind], ext).sessions == 1


@pytest.mark.parametrize("kind", PROTOS)
@pytest.mark.parametrize("sport", [1232, 1235, 2257, 64723])
def test_tun_port_kept_in_set(ce, kind, sport):
    """A LAN port that is in our set and free is kept (ICMP: the identifier)."""
    assert checks.in_port_set(sport)
    before = ce.counters()
    v, out = ce.run_tun(tun_pkt(ce, kind, sport, flags=new_flags(kind)))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    assert ext_of(kind, inner) == sport
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}
    assert_session_maps(ce, kind, sport, sport)


@pytest.mark.parametrize("kind", PROTOS)
def test_tun_port_in_set_but_taken(ce, kind):
    """The same in-set port from a second host: that port is taken, another one
    of the set is picked; the first host's session is untouched."""
    assert open_session(ce, kind, 1233) == 1233
    v, out = ce.run_tun(tun_pkt(ce, kind, 1233, src=HOST2, flags=new_flags(kind)))
    assert v == TC_ACT_REDIRECT
    ext = ext_of(kind, assert_encap(out))
    assert ext != 1233 and checks.in_port_set(ext)
    verify_checksums(out)
    assert_session_maps(ce, kind, 1233, ext, host=HOST2)
    assert_session_maps(ce, kind, 1233, 1233, host=HOST)


@pytest.mark.parametrize("kind", PROTOS)
@pytest.mark.parametrize("sport", [40000, 1234])
def test_tun_eim_two_remotes(ce, kind, sport):
    """Endpoint-independent mapping (RFC 4787 REQ-1): one internal endpoint to two
    remote addresses (and another remote port) gets one external port."""
    ext = open_session(ce, kind, sport)
    before = ce.counters()
    v, out = ce.run_tun(tun_pkt(ce, kind, sport, dst=REMOTE2, flags=new_flags(kind)))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    assert inner.dst == REMOTE2 and ext_of(kind, inner) == ext
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}
    n = 2
    if kind != "icmp":
        v, out = ce.run_tun(tun_pkt(ce, kind, sport, dport=5353, flags=new_flags(kind)))
        assert v == TC_ACT_REDIRECT and ext_of(kind, assert_encap(out)) == ext
        n = 3
    assert_session_maps(ce, kind, sport, ext, rem=REMOTE2, binds=n, port_sessions=n)
    assert len(ce.sessions()) == n
    assert ce.adfs()[(REMOTE, ext, PROTO[kind])] == n - 1
    assert ce.adfs()[(REMOTE2, ext, PROTO[kind])] == 1


# ---------------------------------------------------------------- MSS clamp (TC)


def syn(ce, options, sport=40010, flags="S"):
    return ce.tun_frame(IP(src=HOST, dst=REMOTE, ttl=63) /
                        TCP(sport=sport, dport=80, flags=flags, seq=1, window=64240,
                            options=options))


def test_tun_syn_mss_clamped(ce):
    """An outbound SYN's MSS 1460 becomes MTU - 40 = 1420, checksum valid, the
    other options untouched."""
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None),
            ("WScale", 7)]
    frame = syn(ce, opts)
    before = ce.counters()
    v, out = ce.run_tun(frame)
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    t = inner[TCP]
    assert t.flags == "S"
    assert t.options[0] == ("MSS", checks.MTU - 40) == ("MSS", 1420)
    assert t.options[1:] == ce.last.sent[TCP].options[1:]
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1, "mss_clamped": 1}


@pytest.mark.parametrize("opts", [
    [("MSS", 1400), ("NOP", None), ("WScale", 7)],
    [("MSS", 1420)],
    [("NOP", None), ("MSS", 1460)],                   # odd offset: left alone (design.md)
    [("WScale", 7), ("NOP", None)],                   # no MSS at all
], ids=["mss-1400", "mss-1420", "odd-offset", "no-mss"])
def test_tun_syn_mss_untouched(ce, opts):
    """An MSS already small enough (or absent, or at an odd offset) is left alone."""
    frame = syn(ce, opts)
    before = ce.counters()
    v, out = ce.run_tun(frame)
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    # only the port (kept or not) and the checksum may differ in the TCP header
    sent_t = raw(ce.last.sent[TCP])
    got_t = raw(inner[TCP])
    assert got_t[2:16] == sent_t[2:16] and got_t[18:] == sent_t[18:]
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}


def test_tun_synack_clamped(ce):
    """A SYN-ACK from a LAN server (outbound) is a SYN too: clamped."""
    frame = syn(ce, [("MSS", 1460)], sport=8080, flags="SA")
    before = ce.counters()
    v, out = ce.run_tun(frame)
    assert v == TC_ACT_REDIRECT
    assert assert_encap(out)[TCP].options[0] == ("MSS", 1420)
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1, "mss_clamped": 1}


# ---------------------------------------------------------------- UDP checksum corner cases


def test_tun_udp_zero_checksum_stays_zero(ce):
    """UDP without checksum (0) stays without one after translation."""
    p = IP(src=HOST, dst=REMOTE, ttl=63) / UDP(sport=40020, dport=53, chksum=0) / b"nocsum"
    v, out = ce.run_tun(ce.tun_frame(p))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    assert inner[UDP].chksum == 0 and checks.in_port_set(inner.sport)
    verify_checksums(out, allow_udp_zero=True)


def _payload_for_ffff(src, sport, dst, dport):
    """Two payload bytes making the UDP checksum of src:sport -> dst:dport come out
    as 0x0000 before the complement rule, i.e. transmitted as 0xffff (RFC 768)."""
    base = IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / b"\0\0"
    c = IP(raw(base))[UDP].chksum          # scapy: sum over pseudo header + data
    # sum(base) = ~c; we want the sum to be 0xffff: add 0xffff - ~c (one's complement)
    s = (~c) & 0xffff
    add = (0xffff - s) % 0xffff
    pay = add.to_bytes(2, "big")
    p = IP(raw(IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / pay))
    assert p[UDP].chksum == 0xffff, hex(p[UDP].chksum)
    return pay


def test_tun_udp_checksum_becomes_ffff(ce):
    """A translation whose UDP sum comes out 0 must emit 0xffff, never 0 ("no
    checksum"). Port 1232 is kept, so only the address changes: the payload is
    chosen so that the translated packet's checksum is 0xffff."""
    pay = _payload_for_ffff(IPV4, 1232, REMOTE, 53)
    p = IP(src=HOST, dst=REMOTE, ttl=63) / UDP(sport=1232, dport=53) / pay
    assert IP(raw(p))[UDP].chksum not in (0, 0xffff)
    v, out = ce.run_tun(ce.tun_frame(p))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    assert inner.sport == 1232 and inner[UDP].chksum == 0xffff
    verify_checksums(out)


def test_lan_udp_checksum_becomes_ffff(ce):
    """The same in the XDP fast path (incremental update, RFC 1624)."""
    assert open_session(ce, "udp", 1232) == 1232
    pay = _payload_for_ffff(IPV4, 1232, REMOTE, 53)
    v, out = ce.run_lan(ce.lan_frame(IP(src=HOST, dst=REMOTE, ttl=64) /
                                     UDP(sport=1232, dport=53) / pay))
    assert v == XDP_REDIRECT
    inner = assert_encap(out)
    assert inner[UDP].chksum == 0xffff
    verify_checksums(out)


def test_lan_udp_zero_checksum_stays_zero(ce):
    ext = open_session(ce, "udp", 40021)
    v, out = ce.run_lan(ce.lan_frame(IP(src=HOST, dst=REMOTE, ttl=64) /
                                     UDP(sport=40021, dport=53, chksum=0) / b"nocsum"))
    assert v == XDP_REDIRECT
    inner = assert_encap(out)
    assert inner.sport == ext and inner[UDP].chksum == 0
    verify_checksums(out, allow_udp_zero=True)


# ---------------------------------------------------------------- mape_lan: fast path


@pytest.mark.parametrize("kind", PROTOS)
def test_lan_fast_path(ce, kind):
    """After mape_tun created the session, mape_lan translates the next packet
    itself: TTL - 1, Ethernet from the FIB (BR's MAC), redirect."""
    ext = open_session(ce, kind)
    rp = rport_of(kind, default_rport(kind))
    s0 = ce.session(PROTO[kind], HOST, 40000, REMOTE, rp)
    frame = lan_pkt(ce, kind, 40000, ttl=64)
    tick()
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == XDP_REDIRECT
    assert out.dst == checks.BR_MAC and out.src == ce.mac["wan0"]
    inner = assert_encap(out)
    sent = ce.last.sent[IP]
    assert len(ce.last.raw) == len(ce.last.data_in) + 40
    assert inner.src == IPV4 and inner.dst == REMOTE
    assert inner.ttl == 63 and inner.len == sent.len
    assert_frag_id(sent, inner)
    assert ext_of(kind, inner) == ext
    if kind != "icmp":
        assert inner.dport == default_rport(kind)
    assert raw(inner.payload.payload) == b"lan-data"
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_fast": 1}
    s = ce.session(PROTO[kind], HOST, 40000, REMOTE, rp)
    assert s.pkts_out == s0.pkts_out + 1 and s.last_ns > s0.last_ns
    if kind == "tcp":   # opened by SYN and SYN-ACK: established
        assert s.state == bpfsys.MAPE_TCP_EST and s.timeout == TO_TCP_EST
    assert len(ce.sessions()) == 1


def test_lan_fast_path_padded_frame(ce):
    """A minimum-size Ethernet frame (padding after the IPv4 packet): the IPv6
    payload length is the IPv4 total length, not the frame's."""
    ext = open_session(ce, "udp", 40030)
    frame = ce.lan_frame(IP(src=HOST, dst=REMOTE, ttl=64) / UDP(sport=40030, dport=53) / b"x")
    data = raw(frame)
    assert len(data) == 43
    data += b"\0" * (60 - len(data))
    v, out = ce.run_lan(data)
    assert v == XDP_REDIRECT
    inner = assert_encap(out)
    assert out[IPv6].plen == 29 and inner.len == 29 and inner.sport == ext
    # the padding does not travel on: the frame ends where the IPv6 payload does
    assert len(ce.last.raw) == 14 + 40 + 29
    verify_checksums(out)


def lan_to_kernel_cases():
    # name, ip kwargs, l4 kwargs, extra event counter
    return {
        "tcp-syn": ("tcp", {}, {"flags": "S"}, None),
        "tcp-fin": ("tcp", {}, {"flags": "FA"}, None),
        "tcp-rst": ("tcp", {}, {"flags": "R"}, None),
        "frag-first": ("udp", {"ipflags": "MF"}, {}, None),
        "frag-later": ("udp", {"frag": 100}, {}, None),
        "ttl-1": ("udp", {"ttl": 1}, {}, "to_kernel_ttl"),
        "ttl-0": ("udp", {"ttl": 0}, {}, "to_kernel_ttl"),
        "no-session": ("udp", {}, {"sport": 40099}, None),
    }


@pytest.mark.parametrize("case", sorted(lan_to_kernel_cases()))
def test_lan_to_kernel(ce, case):
    """What the fast path leaves to the kernel (then mape_tun): XDP_PASS, the
    bytes unchanged, out_to_kernel (+ the reason's event). The flow's session
    exists (except no-session), so only the packet's own property decides."""
    kind, ipkw, l4kw, event = lan_to_kernel_cases()[case]
    open_session(ce, "tcp" if kind == "tcp" else "udp", 40000)
    sport = l4kw.pop("sport", 40000)
    ttl = ipkw.pop("ttl", 64)
    if "ipflags" in ipkw:
        ipkw["flags"] = ipkw.pop("ipflags")
    frame = ce.lan_frame(IP(src=HOST, dst=REMOTE, ttl=ttl, id=0x2222, **ipkw) /
                         l4_out(kind, sport, **l4kw))
    data = raw(frame)
    snap = sorted(ce.map("mape_out").items())
    before = ce.counters()
    v, _ = ce.run_lan(data)
    assert v == XDP_PASS
    assert ce.last.raw == data
    want = {"out_to_kernel": 1}
    if event:
        want[event] = 1
    assert ce.ctr_delta(before) == want
    assert sorted(ce.map("mape_out").items()) == snap


def test_lan_mtu_sized_fast(ce):
    """A packet of exactly the tunnel MTU (1460) still takes the fast path."""
    ext = open_session(ce, "udp", 40000)
    frame = lan_pkt(ce, "udp", 40000, payload=b"m" * (checks.MTU - 28))
    assert IP(raw(frame)[14:]).len == checks.MTU
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == XDP_REDIRECT
    inner = assert_encap(out)
    assert inner.len == checks.MTU and inner.sport == ext
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_fast": 1}


def test_lan_too_big_to_kernel(ce):
    """Bigger than the tunnel MTU: XDP_PASS unchanged (the kernel fragments or
    sends 'fragmentation needed'), counted out_to_kernel + to_kernel_mtu
    (docs/design.md, LAN -> WAN step 1)."""
    open_session(ce, "udp", 40000)
    frame = lan_pkt(ce, "udp", 40000, payload=b"b" * (checks.MTU - 28 + 1))
    data = raw(frame)
    assert IP(data[14:]).len == checks.MTU + 1
    before = ce.counters()
    v, _ = ce.run_lan(data)
    assert v == XDP_PASS and ce.last.raw == data
    assert ce.ctr_delta(before) == {"out_to_kernel": 1, "to_kernel_mtu": 1}


def test_lan_icmp_error_to_kernel(ce):
    """An ICMP error from a LAN host goes to the kernel (mape_tun translates it)."""
    ext = open_session(ce, "udp", 40000)
    frame = ce.lan_frame(IP(src=HOST, dst=REMOTE, ttl=64) / ICMP(type=3, code=3) /
                         IP(src=REMOTE, dst=HOST, ttl=60) / UDP(sport=53, dport=40000) / b"q")
    data = raw(frame)
    before = ce.counters()
    v, _ = ce.run_lan(data)
    assert v == XDP_PASS and ce.last.raw == data
    assert ce.ctr_delta(before) == {"out_to_kernel": 1}
    assert ext


@pytest.mark.parametrize("case", ["arp", "ipv6", "lan-subnet", "own-router"])
def test_lan_not_ours(ce, case):
    """What is not routed into mape0 is not ours: XDP_PASS untouched, pass_not_ours."""
    if case == "arp":
        frame = Ether(src=checks.HOST_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(
            psrc=HOST, pdst=checks.LAN_ADDR, hwsrc=checks.HOST_MAC)
    elif case == "ipv6":
        frame = Ether(src=checks.HOST_MAC, dst=ce.mac["lan0"]) / IPv6(
            src="fe80::10", dst="2001:db8:ffff::1") / UDP(sport=1, dport=2)
    elif case == "lan-subnet":
        frame = lan_pkt(ce, "udp", 40000, dst="192.168.1.20")
    else:
        frame = lan_pkt(ce, "udp", 40000, dst=checks.LAN_ADDR)
    data = raw(frame)
    before = ce.counters()
    v, _ = ce.run_lan(data)
    assert v == XDP_PASS and ce.last.raw == data
    assert ce.ctr_delta(before) == {"pass_not_ours": 1}


# ---------------------------------------------------------------- mape_tun: fragments, odd packets


def test_tun_fragments_follow_first(ce):
    """The first fragment is translated like any packet and its outer
    destination cached; the later fragment only gets the source address (IPv4
    header checksum fixed) and the same outer destination."""
    payload = b"G" * 32
    w = raw(IP(src=HOST, dst=REMOTE, id=0x6161, ttl=63) / UDP(sport=40040, dport=53) / payload)
    first = IP(w[:20] + w[20:44])
    first.flags, first.len = "MF", 44
    del first.chksum
    later = IP(w[:20] + w[44:])
    later.frag, later.len = 3, 20 + len(w) - 44
    del later.chksum
    before = ce.counters()
    v, out = ce.run_tun(ce.tun_frame(IP(raw(first))))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    ext = inner[UDP].sport
    assert inner.flags == "MF" and inner.src == IPV4 and checks.in_port_set(ext)
    first_id = inner.id
    assert checks.in_port_set(first_id), first_id      # s8.3.3
    verify_checksums(out)
    entries = [(bpfsys.MapeFragKey.unpack(k), bpfsys.MapeFragVal.unpack(v))
               for k, v in ce.map("mape_frag").items()]
    assert [(k.src, k.dst, k.id, k.proto, k.dir, v.addr) for k, v in entries] == \
        [(HOST, REMOTE, 0x6161, 17, 0, IPV4)]
    assert checks.ip6_eq(entries[0][1].peer, checks.BR)
    v, out = ce.run_tun(ce.tun_frame(IP(raw(later))))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    # the later fragment gets the same new ID as the first: one datagram
    assert inner.src == IPV4 and inner.frag == 3 and inner.id == first_id and inner.ttl == 63
    assert raw(inner)[20:] == w[44:]
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 2, "session_new": 1}
    # a later fragment of an unknown datagram
    other = IP(raw(later))
    other.id = 0x6162
    del other.chksum
    before = ce.counters()
    v, _ = ce.run_tun(ce.tun_frame(IP(raw(other))))
    assert v == bpfsys.TC_ACT_SHOT
    assert ce.ctr_delta(before) == {"drop_frag_unknown": 1}


@pytest.mark.parametrize("case,ctr", [("gre", "drop_proto"), ("icmp-timestamp", "drop_proto"),
                                      ("bad-version", "drop_bad_header"),
                                      ("truncated", "drop_truncated")])
def test_tun_drops(ce, case, ctr):
    if case == "gre":
        frame = raw(ce.tun_frame(IP(src=HOST, dst=REMOTE, proto=47) / (b"\0" * 8)))
    elif case == "icmp-timestamp":
        frame = raw(ce.tun_frame(IP(src=HOST, dst=REMOTE) / ICMP(type=13, id=40000)))
    elif case == "bad-version":
        frame = bytearray(raw(tun_pkt(ce, "udp", 40000)))
        frame[14] = 0x65
        frame = bytes(frame)
    else:
        frame = raw(tun_pkt(ce, "udp", 40000))[:-1]
    before = ce.counters()
    v, _ = ce.run_tun(frame)
    assert v == bpfsys.TC_ACT_SHOT
    assert ce.ctr_delta(before) == {ctr: 1}
    assert ce.sessions() == []


def test_tun_non_ipv4_untouched(ce):
    frame = raw(Ether(src=ce.mac["mape0"], dst=ce.mac["tun_peer"]) /
                IPv6(src="fe80::1", dst="ff02::16") / UDP(sport=1, dport=2))
    before = ce.counters()
    v, _ = ce.run_tun(frame)
    assert v == bpfsys.TC_ACT_OK and ce.last.raw == frame
    assert ce.ctr_delta(before) == {"pass_not_ours": 1}


def test_no_config(ce):
    """mape_cfg without MAPE_CFG_ENABLED: XDP passes everything (not ours), TC
    drops what it would have to translate (drop_no_config). Restored after."""
    cfg = ce.cfg
    off = bpfsys.MapeConfig.unpack(cfg.pack())
    off.flags = 0
    frames = {"tun": raw(tun_pkt(ce, "udp", 40000)), "lan": raw(lan_pkt(ce, "udp", 40000)),
              "wan": raw(ce.wan_frame(IP(src=REMOTE, dst=IPV4) / UDP(sport=53, dport=1232)))}
    try:
        ce.set_cfg(off)
        before = ce.counters()
        v, _ = ce.run_tun(frames["tun"])
        assert v == bpfsys.TC_ACT_SHOT
        assert ce.ctr_delta(before) == {"drop_no_config": 1}
        for prog, run in (("lan", ce.run_lan), ("wan", ce.run_wan)):
            before = ce.counters()
            v, _ = run(frames[prog])
            assert v == XDP_PASS and ce.last.raw == frames[prog], prog
            assert ce.ctr_delta(before) == {"pass_not_ours": 1}, prog
        assert ce.sessions() == []
    finally:
        ce.set_cfg(cfg)
    assert ce.cfg == cfg
    v, _ = ce.run_tun(frames["tun"])
    assert v == TC_ACT_REDIRECT


def test_frag_id_from_port_set(ce):
    """s8.3.3: DF clear -> the ID is taken from our port set, the same for the
    same original ID (so fragments of a datagram stay together); DF set -> the
    ID is untouched."""
    open_session(ce, "udp", sport=40050)
    ids = []
    for flags in ("", "", "DF"):
        v, out = ce.run_tun(ce.tun_frame(IP(src=HOST, dst=REMOTE, ttl=63, id=0x1357,
                                            flags=flags) / UDP(sport=40050, dport=53) / b"i"))
        assert v == TC_ACT_REDIRECT
        inner = assert_encap(out)
        verify_checksums(out)
        ids.append(inner.id)
    assert checks.in_port_set(ids[0]) and ids[0] == ids[1] and ids[2] == 0x1357
