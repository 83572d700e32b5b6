# SPDX-License-Identifier: MIT
"""ICMP errors both ways (RFC 5508): the quoted packet names the session.

Inbound (mape_wan): an error about a packet we sent (quoted source = our IPv4
and external port) goes back to the LAN host: outer destination and quoted
source address/port translated, quoted IPv4 and transport checksums fixed, ICMP checksum
valid. Outbound (mape_tun): a LAN host's error about an inbound packet: outer
source, quoted destination and its port translated. An ICMP error never
creates, refreshes or deletes a session.

Expected packets are built independently: the input bytes with the fields
patched in Python and every checksum recomputed by scapy.
"""

import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP

import checks
from checks import verify_checksums
from pktutil import (HOST, HOST2, IPV4, OTHER, PROTO, REMOTE, TC_ACT_REDIRECT,
                     TC_ACT_SHOT, XDP_DROP, XDP_REDIRECT, assert_encap, default_rport,
                     open_session, snapshot, unused_port)

ROUTER = "203.0.113.1"     # a router on the path that reports the error


def quoted_pkt(kind, src, sport, dst, dport, ttl=1):
    """A packet as it was sent (the one an ICMP error quotes)."""
    ip = IP(src=src, dst=dst, ttl=ttl, id=0x3333)
    if kind == "udp":
        return ip / UDP(sport=sport, dport=dport) / b"quoted-payload"
    if kind == "tcp":
        return ip / TCP(sport=sport, dport=dport, flags="PA", seq=1000, ack=1) / b"quoted"
    return ip / ICMP(type=8, id=sport, seq=3) / b"quoted-ping"


def patch_quoted(q, src=None, dst=None, sport=None, dport=None, full=None):
    """The quote q of a packet as it must read once translated (RFC 5508
    s4.2): the packet that was sent (full, or q itself when it is whole),
    with addresses/ports replaced and every checksum (IPv4 header, TCP/UDP
    or echo) recomputed by scapy over the whole packet, cut to q's length."""
    pkt = IP(full if full is not None else q)
    assert len(raw(pkt)) >= len(q) and raw(pkt)[:len(q)][:20] == q[:20]
    if src:
        pkt.src = src
    if dst:
        pkt.dst = dst
    del pkt.chksum
    l4 = pkt.payload
    if isinstance(l4, ICMP):    # echo: the identifier is the port of both sides
        if sport is not None or dport is not None:
            l4.id = sport if sport is not None else dport
    else:
        if sport is not None:
            l4.sport = sport
        if dport is not None:
            l4.dport = dport
    del l4.chksum
    return raw(IP(raw(pkt)))[:len(q)]


ERRORS = {
    "port-unreach": dict(type=3, code=3),
    "frag-needed": dict(type=3, code=4, nexthopmtu=1280),
    "ttl-exceeded": dict(type=11, code=0),
    "param-problem": dict(type=12, code=0, ptr=8),
}


def error_msg(outer_src, outer_dst, err, quoted, ttl=64, ip_id=0x7777):
    return IP(src=outer_src, dst=outer_dst, ttl=ttl, id=ip_id) / ICMP(**ERRORS[err]) / quoted


# ---------------------------------------------------------------- inbound


@pytest.mark.parametrize("quote", ["full", "ihl+8"])
@pytest.mark.parametrize("err", sorted(ERRORS))
@pytest.mark.parametrize("kind", ["udp", "tcp", "icmp"])
def test_wan_error_translated(ce, kind, err, quote):
    """An error about our outbound packet, from a router on the path, back to the
    LAN host; the session is neither refreshed nor changed."""
    ext = open_session(ce, kind)
    full = raw(quoted_pkt(kind, IPV4, ext, REMOTE, default_rport(kind) or ext))
    q = full[:28] if quote == "ihl+8" else full
    msg = error_msg(ROUTER, IPV4, err, q, ttl=64)
    snap = snapshot(ce)
    before = ce.counters()
    v, out = ce.run_wan(ce.wan_frame(msg))
    assert v == XDP_REDIRECT
    assert out.dst == checks.HOST_MAC and out.src == ce.mac["lan0"] and out.type == 0x0800
    want = error_msg(ROUTER, HOST, err, patch_quoted(q, src=HOST, sport=40000, full=full), ttl=63)
    got = raw(out)[14:]
    assert got == raw(want), "\n%s\n%s" % (IP(got).show2(dump=True), want.show2(dump=True))
    report = verify_checksums(out)
    assert "ipv4[0] icmp" in report and "ipv4[0] quoted-ipv4" in report
    assert ce.ctr_delta(before) == {"in_fast": 1}
    assert snapshot(ce) == snap, "an ICMP error changed the NAT state (refresh/creation)"


def test_wan_error_from_remote_itself(ce):
    """Port unreachable from the remote host (outer source = the quoted destination)."""
    ext = open_session(ce, "udp")
    q = raw(quoted_pkt("udp", IPV4, ext, REMOTE, 53, ttl=60))
    v, out = ce.run_wan(ce.wan_frame(error_msg(REMOTE, IPV4, "port-unreach", q)))
    assert v == XDP_REDIRECT
    assert raw(out)[14:] == raw(error_msg(REMOTE, HOST, "port-unreach",
                                          patch_quoted(q, src=HOST, sport=40000), ttl=63))
    verify_checksums(out)


def test_wan_error_does_not_refresh(ce):
    """last_ns and pkts_in stay as they were (explicitly, besides the snapshot)."""
    ext = open_session(ce, "tcp")
    s0 = ce.session(PROTO["tcp"], HOST, 40000, REMOTE, 80)
    q = raw(quoted_pkt("tcp", IPV4, ext, REMOTE, 80))
    for _ in range(3):
        v, _o = ce.run_wan(ce.wan_frame(error_msg(ROUTER, IPV4, "port-unreach", q)))
        assert v == XDP_REDIRECT
    s = ce.session(PROTO["tcp"], HOST, 40000, REMOTE, 80)
    assert (s.last_ns, s.pkts_in, s.pkts_out, s.state, s.timeout) == \
        (s0.last_ns, s0.pkts_in, s0.pkts_out, s0.state, s0.timeout)


def test_wan_error_slow_path_ttl1(ce):
    ext = open_session(ce, "udp")
    q = raw(quoted_pkt("udp", IPV4, ext, REMOTE, 53))
    before = ce.counters()
    v, out = ce.run_wan(ce.wan_frame(error_msg(ROUTER, IPV4, "ttl-exceeded", q, ttl=1)))
    assert v == XDP_REDIRECT
    assert out.dst == ce.mac["mape0"]
    assert raw(out)[14:] == raw(error_msg(ROUTER, HOST, "ttl-exceeded",
                                          patch_quoted(q, src=HOST, sport=40000), ttl=1))
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_ttl": 1}


def inbound_error_drops(ext):
    def q(**kw):
        a = dict(kind="udp", src=IPV4, sport=ext, dst=REMOTE, dport=53)
        a.update(kw)
        return raw(quoted_pkt(**a))
    return {
        # no session for the quoted tuple: never creates one
        "no-session": (error_msg(ROUTER, IPV4, "port-unreach", q(sport=unused_port(ext))),
                       "drop_icmp_error"),
        "unknown-remote": (error_msg(ROUTER, IPV4, "port-unreach", q(dst=OTHER)),
                           "drop_icmp_error"),
        "unknown-remote-port": (error_msg(ROUTER, IPV4, "port-unreach", q(dport=54)),
                                "drop_icmp_error"),
        "quoted-src-not-ours": (error_msg(ROUTER, IPV4, "port-unreach", q(src="192.0.2.19")),
                                "drop_not_our_addr"),
        "outer-dst-not-ours": (error_msg(ROUTER, "192.0.2.19", "port-unreach", q()),
                               "drop_not_our_addr"),
        "quoted-port-outside": (error_msg(ROUTER, IPV4, "port-unreach", q(sport=1236)),
                                "drop_port_outside"),
        "quoted-port-a0": (error_msg(ROUTER, IPV4, "port-unreach", q(sport=209)),
                           "drop_port_outside"),
        "quoted-gre": (error_msg(ROUTER, IPV4, "port-unreach",
                                 raw(IP(src=IPV4, dst=REMOTE, proto=47) / (b"\0" * 8))),
                       "drop_proto"),
        "quoted-short": (error_msg(ROUTER, IPV4, "port-unreach", q()[:20 + 6]),
                         "drop_truncated"),
        "quoted-bad-version": (error_msg(ROUTER, IPV4, "port-unreach", b"\x65" + q()[1:]),
                               "drop_bad_header"),
    }


@pytest.mark.parametrize("case", sorted(inbound_error_drops(1)))
def test_wan_error_drops(ce, case):
    ext = open_session(ce, "udp")
    msg, ctr = inbound_error_drops(ext)[case]
    snap = snapshot(ce)
    before = ce.counters()
    v, _ = ce.run_wan(ce.wan_frame(msg))
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {ctr: 1}
    assert snapshot(ce) == snap


def test_wan_error_spoofed_outer(ce):
    """The s8.1 source check applies to errors too."""
    ext = open_session(ce, "udp")
    q = raw(quoted_pkt("udp", IPV4, ext, REMOTE, 53))
    before = ce.counters()
    v, _ = ce.run_wan(ce.wan_frame(error_msg(ROUTER, IPV4, "port-unreach", q),
                                   src6="2001:db8:ffff::99"))
    assert v == XDP_DROP and ce.ctr_delta(before) == {"drop_spoofed": 1}


# ---------------------------------------------------------------- outbound


def delivered(kind, ttl):
    """What the LAN host received of the session's reply (already translated
    back by mape_wan), as an error about it quotes it."""
    if kind == "icmp":
        return raw(IP(src=REMOTE, dst=HOST, ttl=ttl, id=0x4444) /
                   ICMP(type=0, id=40000, seq=3) / b"echo-reply")
    return raw(quoted_pkt(kind, REMOTE, default_rport(kind), HOST, 40000, ttl=ttl))


@pytest.mark.parametrize("err", ["port-unreach", "ttl-exceeded", "frag-needed"])
@pytest.mark.parametrize("kind", ["udp", "tcp", "icmp"])
def test_tun_error_translated(ce, kind, err):
    """A LAN host's error about an inbound packet (REMOTE -> HOST after our
    translation): outer source our IPv4, quoted destination our IPv4 and the
    external port; encapsulated to the BR. The session is not touched."""
    ext = open_session(ce, kind)
    q = delivered(kind, ttl=63)
    msg = error_msg(HOST, REMOTE, err, q, ttl=63)
    snap = snapshot(ce)
    before = ce.counters()
    v, out = ce.run_tun(ce.tun_frame(msg))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    # DF clear (as Linux sends ICMP errors): the ID comes from our port set (s8.3.3)
    assert checks.in_port_set(inner.id), inner.id
    want = error_msg(IPV4, REMOTE, err, patch_quoted(q, dst=IPV4, dport=ext), ttl=63,
                     ip_id=inner.id)
    assert raw(inner) == raw(want), "\n%s\n%s" % (inner.show2(dump=True),
                                                  want.show2(dump=True))
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1}
    assert snapshot(ce) == snap


ROUTER_ERRORS = {
    "ttl-exceeded": dict(type=11, code=0),
    "host-unreach": dict(type=3, code=1),
    "frag-needed": dict(type=3, code=4, nexthopmtu=1400),
}


@pytest.mark.parametrize("err", sorted(ROUTER_ERRORS))
@pytest.mark.parametrize("kind", ["udp", "tcp", "icmp"])
def test_tun_error_from_the_router_itself(ce, kind, err):
    """The CE's own kernel reports an inbound packet it could not forward to
    the LAN host (TTL <= 1, no neighbour, LAN MTU): outer source our IPv4,
    the quoted destination translated back like a LAN host's error."""
    ext = open_session(ce, kind)
    q = delivered(kind, ttl=1)
    msg = IP(src=IPV4, dst=REMOTE, ttl=64, id=0x7777) / ICMP(**ROUTER_ERRORS[err]) / q
    snap = snapshot(ce)
    before = ce.counters()
    v, out = ce.run_tun(ce.tun_frame(msg))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    want = IP(src=IPV4, dst=REMOTE, ttl=64, id=inner.id) / ICMP(**ROUTER_ERRORS[err]) / \
        patch_quoted(q, dst=IPV4, dport=ext)
    assert raw(inner) == raw(want), "\n%s\n%s" % (inner.show2(dump=True),
                                                  want.show2(dump=True))
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1}
    assert snapshot(ce) == snap


@pytest.mark.parametrize("case", ["no-session", "src-not-quoted-dst", "unknown-remote"])
def test_tun_error_drops(ce, case):
    ext = open_session(ce, "udp")
    q_src, q_sport, outer_src = REMOTE, 53, HOST
    q_dport = 40000
    if case == "no-session":
        q_dport = 40001
    elif case == "src-not-quoted-dst":
        outer_src = HOST2
    else:
        q_src = OTHER
    q = raw(quoted_pkt("udp", q_src, q_sport, HOST, q_dport, ttl=63))
    snap = snapshot(ce)
    before = ce.counters()
    v, _ = ce.run_tun(ce.tun_frame(error_msg(outer_src, q_src, "port-unreach", q)))
    assert v == TC_ACT_SHOT
    assert ce.ctr_delta(before) == {"drop_icmp_error": 1}
    assert snapshot(ce) == snap
    assert ext
