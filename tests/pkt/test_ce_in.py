# SPDX-License-Identifier: MIT
"""CE inbound: mape_wan (XDP on the WAN). Reply translation, the RFC 7597
s8.1 checks and every drop reason with its counter, filtering (address-
dependent, then endpoint-independent after `mapectl up --filtering endpoint`),
IPv6 extension headers, what passes untouched, the slow path into mape0.
"""
import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt,
                                IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, PadN)
from scapy.layers.l2 import Ether

import bpfsys
import checks
import time


def tick():
    """Sessions keep time with the coarse clock (tick resolution): let a tick
    pass so that a refresh is visible as a later last_ns."""
    time.sleep(0.03)
from checks import verify_checksums
from pktutil import (BR, HOST, IPV4, OTHER, P_UDP, PROTO, PROTOS, REMOTE, TC_ACT_REDIRECT,
                     TO_TCP_EST, XDP_DROP, XDP_PASS, XDP_REDIRECT, default_rport,
                     open_session, rport_of, snapshot, tun_pkt, unused_port, wan_pkt)


def sess(ce, kind, sport=40000, rem=REMOTE, rport=None):
    return ce.session(PROTO[kind], HOST, sport, rem,
                      rport_of(kind, default_rport(kind) if rport is None else rport))


def assert_to_lan(ce, out, ttl, outer=40):
    """A decapsulated packet redirected to the LAN host (fast path)."""
    assert out.type == 0x0800 and IPv6 not in out
    assert out.dst == checks.HOST_MAC and out.src == ce.mac["lan0"]
    assert len(ce.last.raw) == len(ce.last.data_in) - outer
    ip = out[IP]
    assert ip.dst == HOST and ip.ttl == ttl
    return ip


def assert_to_kernel(ce, out, ttl, outer=40):
    """A decapsulated, translated packet handed to the kernel as if received
    on the tunnel (its firewall decides; it forwards, TTL untouched here)."""
    assert out.type == 0x0800 and IPv6 not in out
    assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"]
    assert len(ce.last.raw) == len(ce.last.data_in) - outer
    ip = out[IP]
    assert ip.dst == HOST and ip.ttl == ttl
    return ip


# ---------------------------------------------------------------- reply translation


@pytest.mark.parametrize("kind", PROTOS)
def test_wan_reply(ce, kind):
    """The reply to a session: destination back to the LAN endpoint, TTL - 1,
    redirected to the LAN in XDP. Inbound refreshes TCP only (design.md)."""
    ext = open_session(ce, kind)
    s0 = sess(ce, kind)
    frame = wan_pkt(ce, kind, ext, ttl=50)
    tick()
    before = ce.counters()
    v, out = ce.run_wan(frame)
    assert v == XDP_REDIRECT
    ip = assert_to_lan(ce, out, 49)
    sent = ce.last.sent[IPv6].payload
    assert ip.src == REMOTE and ip.id == sent.id and ip.len == sent.len
    if kind == "icmp":
        assert ip[ICMP].type == 0 and ip[ICMP].id == 40000 and ip[ICMP].seq == 7
    else:
        assert ip.sport == default_rport(kind) and ip.dport == 40000
    assert raw(ip.payload.payload) == b"in-data"
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_fast": 1}
    s = sess(ce, kind)
    assert (s.pkts_out, s.pkts_in, s.ext_port) == (s0.pkts_out, s0.pkts_in + 1, ext)
    if kind == "tcp":
        assert s.last_ns > s0.last_ns
    else:
        assert s.last_ns == s0.last_ns, "an inbound %s packet refreshed the session" % kind
    assert len(ce.sessions()) == 1


def test_wan_tcp_synack_clamped_established(ce):
    """Inbound SYN-ACK: MSS clamped to 1420 (valid checksum), session established;
    the kernel's conntrack has not seen the flow established yet, so the packet
    enters the kernel as if received on the tunnel (its firewall decides)."""
    ext = open_session(ce, "tcp", flags="S")
    frame = ce.wan_frame(IP(src=REMOTE, dst=IPV4, ttl=64) /
                         TCP(sport=80, dport=ext, flags="SA", seq=5, ack=1001,
                             options=[("MSS", 1460), ("NOP", None), ("WScale", 7)]))
    before = ce.counters()
    v, out = ce.run_wan(frame)
    assert v == XDP_REDIRECT
    ip = assert_to_kernel(ce, out, 64)
    assert ip[TCP].dport == 40000 and ip[TCP].flags == "SA"
    assert ip[TCP].options[0] == ("MSS", 1420)
    assert ip[TCP].options[1:] == ce.last.sent[TCP].options[1:]
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_slow": 1, "mss_clamped": 1, "to_kernel_ct": 1}
    s = sess(ce, "tcp")
    assert s.state == bpfsys.MAPE_TCP_EST and s.timeout == TO_TCP_EST


def test_wan_tcp_synack_small_mss(ce):
    ext = open_session(ce, "tcp", flags="S")
    frame = ce.wan_frame(IP(src=REMOTE, dst=IPV4) /
                         TCP(sport=80, dport=ext, flags="SA", options=[("MSS", 1380)]))
    before = ce.counters()
    v, out = ce.run_wan(frame)
    assert v == XDP_REDIRECT
    assert out[TCP].options[0] == ("MSS", 1380)
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_ct": 1}


def test_wan_udp_zero_checksum(ce):
    ext = open_session(ce, "udp")
    frame = ce.wan_frame(IP(src=REMOTE, dst=IPV4) / UDP(sport=53, dport=ext, chksum=0) / b"z")
    v, out = ce.run_wan(frame)
    assert v == XDP_REDIRECT
    assert out[UDP].dport == 40000 and out[UDP].chksum == 0
    verify_checksums(out, allow_udp_zero=True)


def test_wan_reply_ttl1_slow_path(ce):
    """TTL 1: translated, but the kernel must answer time-exceeded: into mape0."""
    ext = open_session(ce, "udp")
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, "udp", ext, ttl=1))
    assert v == XDP_REDIRECT
    assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"] and out.type == 0x0800
    ip = out[IP]
    assert ip.dst == HOST and ip.ttl == 1 and ip.dport == 40000
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_ttl": 1}


def test_wan_router_local_session_slow_path(ce):
    """A session of the router itself (internal address = our IPv4): the reply
    goes into mape0, untranslated address, port kept."""
    ext = open_session(ce, "udp", 1234, src=IPV4)
    assert ext == 1234
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, "udp", ext))
    assert v == XDP_REDIRECT
    assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"]
    ip = out[IP]
    assert ip.dst == IPV4 and ip.dport == 1234 and ip.ttl == 64
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_local": 1}


def test_wan_echo_request_to_router(ce):
    """An echo request to our IPv4 without session: the router answers, so it
    enters the kernel as if received on mape0 (redirect into the peer, Ethernet
    destination mape0's MAC), untranslated, no session created."""
    frame = ce.wan_frame(IP(src=REMOTE, dst=IPV4, ttl=64) / ICMP(type=8, id=1232, seq=1) /
                         b"ping")
    before = ce.counters()
    v, out = ce.run_wan(frame)
    assert v == XDP_REDIRECT
    assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"] and out.type == 0x0800
    assert raw(out[IP]) == raw(ce.last.sent[IPv6].payload)
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_local": 1}
    assert ce.sessions() == [] and ce.in_entries() == []


def test_wan_echo_request_id_outside_set(ce):
    frame = ce.wan_frame(IP(src=REMOTE, dst=IPV4) / ICMP(type=8, id=1236, seq=1))
    before = ce.counters()
    v, _ = ce.run_wan(frame)
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {"drop_port_outside": 1}


def test_wan_dest_opts_encap_limit_accepted(ce):
    """ip6tnl's encapsulation-limit destination option (8 bytes) before IPIP."""
    ext = open_session(ce, "udp")
    inner = IP(src=REMOTE, dst=IPV4, ttl=64) / UDP(sport=53, dport=ext) / b"dopt"
    frame = (Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) /
             IPv6(src=BR, dst=checks.CE_ADDR, hlim=64) /
             IPv6ExtHdrDestOpt(nh=4, options=[PadN(otype=4, optdata=b"\x04"),
                                              PadN(optdata=b"")]) / inner)
    data = raw(frame)
    assert data[14 + 6] == 60 and data[14 + 40 + 1] == 0      # 8-byte header
    before = ce.counters()
    v, out = ce.run_wan(data)
    assert v == XDP_REDIRECT
    ip = assert_to_lan(ce, out, 63, outer=48)
    assert ip.src == REMOTE and ip.dport == 40000 and raw(ip[UDP].payload) == b"dopt"
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_fast": 1}


# ---------------------------------------------------------------- drops


def drop_cases(ce, ext, ext_t):
    """name -> (frame, counter). ext, ext_t: the external ports of the sessions
    UDP HOST:40000 -> REMOTE:53 and TCP HOST:40000 -> REMOTE:80."""
    eth = Ether(src=checks.BR_MAC, dst=ce.mac["wan0"])
    ipv6 = IPv6(src=BR, dst=checks.CE_ADDR, nh=4)
    good = IP(src=REMOTE, dst=IPV4) / UDP(sport=53, dport=ext) / b"data"
    g = raw(good)
    free = unused_port(ext, ext_t)      # in the set, no session on it
    return {
        "spoofed-src": (wan_pkt(ce, "udp", ext, src6="2001:db8:ffff::99"), "drop_spoofed"),
        "spoofed-ce-addr": (wan_pkt(ce, "udp", ext, src6=checks.CE_ADDR), "drop_spoofed"),
        "not-our-addr": (wan_pkt(ce, "udp", ext, dst="192.0.2.19"), "drop_not_our_addr"),
        "not-our-addr-tcp": (wan_pkt(ce, "tcp", ext_t, dst="192.0.2.1"), "drop_not_our_addr"),
        "port-other-psid": (wan_pkt(ce, "udp", 1236), "drop_port_outside"),
        # A = 0 with our PSID's bits (port 208..211 = 0 << 10 | 0x34 << 2 | j)
        "port-a0-udp": (wan_pkt(ce, "udp", 209), "drop_port_outside"),
        "port-a0-tcp": (wan_pkt(ce, "tcp", 210), "drop_port_outside"),
        "port-other-psid-tcp": (wan_pkt(ce, "tcp", 2260), "drop_port_outside"),
        "port-a0-echo-reply": (wan_pkt(ce, "icmp", 208), "drop_port_outside"),
        "no-session-udp": (wan_pkt(ce, "udp", free), "drop_no_session"),
        "no-session-tcp": (wan_pkt(ce, "tcp", free), "drop_no_session"),
        "no-session-echo-reply": (wan_pkt(ce, "icmp", free), "drop_no_session"),
        "filtered-udp": (wan_pkt(ce, "udp", ext, src=OTHER), "drop_filtered"),
        "filtered-tcp": (wan_pkt(ce, "tcp", ext_t, src=OTHER), "drop_filtered"),
        "truncated-totlen": (eth / ipv6 / g[:-2], "drop_truncated"),
        # total length 24: 4 bytes of UDP header (header checksum valid)
        "truncated-udp-hdr": (eth / ipv6 / (raw(IP(src=REMOTE, dst=IPV4, proto=17, len=24)) +
                                            g[20:24]), "drop_truncated"),
        "truncated-dstopt": (eth / IPv6(src=BR, dst=checks.CE_ADDR, nh=60) / b"\x04\x00\x04",
                             "drop_truncated"),
        "bad-version": (eth / ipv6 / (bytes([0x55]) + g[1:]), "drop_bad_header"),
        "bad-ihl": (eth / ipv6 / (bytes([0x44]) + g[1:]), "drop_bad_header"),
        "bad-totlen": (eth / ipv6 / (g[:2] + (16).to_bytes(2, "big") + g[4:]),
                       "drop_bad_header"),
        "icmp-error-no-session": (
            ce.wan_frame(IP(src=OTHER, dst=IPV4) / ICMP(type=3, code=1) /
                         IP(src=IPV4, dst=REMOTE) / UDP(sport=free, dport=53)),
            "drop_icmp_error"),
        "dstopt-then-frag": (eth / IPv6(src=BR, dst=checks.CE_ADDR) /
                             IPv6ExtHdrDestOpt(nh=44, options=[PadN(optdata=b"\0\0\0\0")]) /
                             IPv6ExtHdrFragment(nh=4, offset=0, m=1, id=5) / good,
                             "drop_ipv6_ext_hdr"),
        "dstopt-too-long": (eth / IPv6(src=BR, dst=checks.CE_ADDR) /
                            IPv6ExtHdrDestOpt(nh=4, options=[PadN(optdata=b"\0" * 68)]) / good,
                            "drop_ipv6_ext_hdr"),
        "proto-gre": (ce.wan_frame(IP(src=REMOTE, dst=IPV4, proto=47) / (b"\0" * 8)),
                      "drop_proto"),
        "icmp-timestamp": (ce.wan_frame(IP(src=REMOTE, dst=IPV4) / ICMP(type=13, id=ext)),
                           "drop_proto"),
    }


DROP_NAMES = sorted(["spoofed-src", "spoofed-ce-addr", "not-our-addr", "not-our-addr-tcp",
                     "port-other-psid", "port-a0-udp", "port-other-psid-tcp", "port-a0-tcp",
                     "port-a0-echo-reply",
                     "no-session-udp", "no-session-tcp", "no-session-echo-reply",
                     "filtered-udp", "filtered-tcp", "truncated-totlen", "truncated-udp-hdr",
                     "truncated-dstopt", "bad-version", "bad-ihl", "bad-totlen",
                     "icmp-error-no-session",
                     "dstopt-then-frag", "dstopt-too-long", "proto-gre", "icmp-timestamp"])


@pytest.mark.parametrize("case", DROP_NAMES)
def test_wan_drop(ce, case):
    """Every drop reason: XDP_DROP, exactly its counter, the sessions untouched."""
    ext = open_session(ce, "udp")
    ext_t = open_session(ce, "tcp")
    cases = drop_cases(ce, ext, ext_t)
    assert set(cases) == set(DROP_NAMES)
    frame, ctr = cases[case]
    snap = snapshot(ce)
    before = ce.counters()
    v, _ = ce.run_wan(frame)
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {ctr: 1}
    assert snapshot(ce) == snap


# ---------------------------------------------------------------- filtering


def test_wan_adf_same_address_other_port_accepted(ce):
    """Address-dependent filtering: the owner talked to REMOTE, so REMOTE from
    another port is let in: translated to the owner, it enters the kernel as
    if received on the tunnel, and makes no session (the firewall decides).
    The host's answer, which the firewall let out, makes one on the same port."""
    ext = open_session(ce, "udp")
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, "udp", ext, sport=5353))
    assert v == XDP_REDIRECT
    ip = assert_to_kernel(ce, out, 64)
    assert ip.src == REMOTE and ip.sport == 5353 and ip.dport == 40000
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_new": 1}
    assert sess(ce, "udp", rport=5353) is None and len(ce.sessions()) == 1
    assert ce.port(P_UDP, ext).sessions == 1
    # the host answers: the session is made at mape_tun, on the same external port
    v, out = ce.run_tun(tun_pkt(ce, "udp", 40000, dport=5353))
    assert v == TC_ACT_REDIRECT and out[IPv6].payload.sport == ext
    s = sess(ce, "udp", rport=5353)
    assert s is not None and s.ext_port == ext
    assert ce.port(P_UDP, ext).sessions == 2 and ce.port(P_UDP, ext).shared == 0
    assert ce.adfs()[(REMOTE, ext, P_UDP)] == 2


@pytest.mark.parametrize("kind", ["udp", "tcp-syn"])
def test_wan_filtering_endpoint(ce, kind):
    """Unknown remote address to an owned port: drop_filtered under ADF; after
    `mapectl up ... --filtering endpoint` (the session survives the re-run) the
    same packet is admitted: into the kernel as if received on the tunnel, no
    session (the firewall decides); the host's answer makes one; back to ADF
    after. TCP: an inbound SYN (MSS clamped on the way in), the host's
    SYN-ACK makes an established session opened from outside."""
    syn = kind == "tcp-syn"
    kind = "tcp" if syn else kind
    ext = open_session(ce, kind)
    if syn:
        frame = ce.wan_frame(IP(src=OTHER, dst=IPV4, ttl=64) /
                             TCP(sport=4444, dport=ext, flags="S", options=[("MSS", 1460)]))
    else:
        frame = wan_pkt(ce, kind, ext, src=OTHER, sport=4444)
    before = ce.counters()
    v, _ = ce.run_wan(frame)
    assert v == XDP_DROP and ce.ctr_delta(before) == {"drop_filtered": 1}
    try:
        ce.reup(["--filtering", "endpoint"])
        assert ce.cfg.filtering == bpfsys.MAPE_FILTER_ENDPOINT
        assert sess(ce, kind) is not None and sess(ce, kind).ext_port == ext
        before = ce.counters()
        v, out = ce.run_wan(frame)
        assert v == XDP_REDIRECT
        ip = assert_to_kernel(ce, out, 64)
        assert ip.src == OTHER and ip.sport == 4444 and ip.dport == 40000
        verify_checksums(out)
        if syn:
            assert ip[TCP].options[0] == ("MSS", 1420)
            assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_new": 1, "mss_clamped": 1}
        else:
            assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_new": 1}
        assert sess(ce, kind, rem=OTHER, rport=4444) is None
        v, out = ce.run_tun(tun_pkt(ce, kind, 40000, dport=4444, dst=OTHER,
                                    flags="SA" if syn else "A"))
        assert v == TC_ACT_REDIRECT and out[IPv6].payload.sport == ext
        s = sess(ce, kind, rem=OTHER, rport=4444)
        assert s is not None and s.ext_port == ext and (s.pkts_in, s.pkts_out) == (0, 1)
        if syn:
            assert s.flags & bpfsys.MAPE_SESS_INBOUND
            assert s.state == bpfsys.MAPE_TCP_EST
        assert ce.port(PROTO[kind], ext).sessions == 2
        assert ce.adfs()[(OTHER, ext, PROTO[kind])] == 1
        # a third address to a port nobody owns is still refused
        before = ce.counters()
        v, _ = ce.run_wan(wan_pkt(ce, kind, unused_port(ext), src="203.0.113.10"))
        assert v == XDP_DROP and ce.ctr_delta(before) == {"drop_no_session": 1}
    finally:
        ce.reup()
    assert ce.cfg.filtering == bpfsys.MAPE_FILTER_ADDR
    before = ce.counters()
    v, _ = ce.run_wan(wan_pkt(ce, kind, ext, src="203.0.113.10"))
    assert v == XDP_DROP and ce.ctr_delta(before) == {"drop_filtered": 1}


# ---------------------------------------------------------------- not ours


@pytest.mark.parametrize("case", ["native-udp-to-ce", "ipip-other-dst", "native-to-wan-addr",
                                  "hop-by-hop-ipip", "ipv4-frame", "short-ipv6"])
def test_wan_not_ours_untouched(ce, case):
    ext = open_session(ce, "udp")
    eth = Ether(src=checks.BR_MAC, dst=ce.mac["wan0"])
    inner = IP(src=REMOTE, dst=IPV4) / UDP(sport=53, dport=ext) / b"x"
    frame = {
        "native-udp-to-ce": eth / IPv6(src=BR, dst=checks.CE_ADDR) / UDP(sport=1, dport=2),
        "ipip-other-dst": ce.wan_frame(inner, dst6="2001:db8:12:3400:0:c000:212:35"),
        "native-to-wan-addr": eth / IPv6(src=BR, dst=checks.WAN_ADDR) /
        ICMPv6EchoRequest(id=1, seq=1),
        "hop-by-hop-ipip": eth / IPv6(src=BR, dst=checks.CE_ADDR) /
        IPv6ExtHdrHopByHop(nh=4) / inner,
        "ipv4-frame": Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) / inner,
        "short-ipv6": raw(eth / IPv6(src=BR, dst=checks.CE_ADDR, nh=4))[:14 + 30],
    }[case]
    data = raw(frame)
    snap = snapshot(ce)
    before = ce.counters()
    v, _ = ce.run_wan(data)
    assert v == XDP_PASS and ce.last.raw == data
    assert ce.ctr_delta(before) == {"pass_not_ours": 1}
    assert snapshot(ce) == snap


# ---------------------------------------------------------------- fragments


def test_wan_fragments_follow_first(ce):
    """First fragment translated (port in set, session), its decision cached;
    the later fragment only gets the destination address (and the TTL) changed."""
    ext = open_session(ce, "udp")
    payload = b"F" * 32
    whole = IP(src=REMOTE, dst=IPV4, id=0x5151, ttl=64, proto=17) / UDP(sport=53, dport=ext,
                                                                        len=8 + 32) / payload
    w = raw(whole)
    first = IP(w[:20] + w[20:20 + 24])
    first.flags, first.len = "MF", 20 + 24
    del first.chksum
    later = IP(w[:20] + w[20 + 24:])
    later.frag, later.flags, later.len = 3, 0, 20 + 16
    del later.chksum
    before = ce.counters()
    v, out = ce.run_wan(ce.wan_frame(IP(raw(first))))
    assert v == XDP_REDIRECT
    ip = assert_to_lan(ce, out, 63)
    assert ip.flags == "MF" and ip[UDP].dport == 40000
    verify_checksums(out)
    entries = [(bpfsys.MapeFragKey.unpack(k), bpfsys.MapeFragVal.unpack(v))
               for k, v in ce.map("mape_frag").items()]
    assert [(k.src, k.dst, k.id, k.proto, k.dir, v.addr) for k, v in entries] == \
        [(REMOTE, IPV4, 0x5151, 17, 1, HOST)]
    assert checks.ip6_eq(entries[0][1].peer, BR)
    v, out = ce.run_wan(ce.wan_frame(IP(raw(later))))
    assert v == XDP_REDIRECT
    ip = assert_to_lan(ce, out, 63)
    assert ip.frag == 3 and ip.src == REMOTE and ip.id == 0x5151
    assert raw(ip)[20:] == w[44:]
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_fast": 2}
    # a later fragment of that datagram from another outer source is not
    # of that datagram: the cache is keyed by the outer source too
    before = ce.counters()
    frame = ce.wan_frame(IP(raw(later)), src6="2001:db8:ffff::99")
    v, _ = ce.run_wan(frame)
    assert v == XDP_PASS and ce.last.raw == bytes(frame)
    assert ce.ctr_delta(before) == {"in_reasm": 1}
