# SPDX-License-Identifier: MIT
"""The TCP state machine of the NAPT (RFC 7857 s2.1, RFC 5382 REQ-5) and who
may make sessions: only a SYN makes a TCP session, in either direction; an
inbound TCP segment without one (ACK, FIN, RST, no flags) never does; a
single FIN is a half-close that keeps the established timeout; an RST moves
the session to the transitory timeout, and further traffic takes it back.
"""
import pytest
from scapy.layers.inet import IP, TCP

import bpfsys
from pktutil import (HOST, IPV4, OTHER, P_TCP, REMOTE, TC_ACT_REDIRECT, TO_TCP_EST,
                     TO_TCP_TRANS, XDP_DROP, XDP_REDIRECT, open_session, tun_pkt, wan_pkt)

EST, SYN_SENT, CLOSING = bpfsys.MAPE_TCP_EST, bpfsys.MAPE_TCP_SYN_SENT, bpfsys.MAPE_TCP_CLOSING


def state(ce, sport=40000, rem=REMOTE, rport=80):
    s = ce.session(P_TCP, HOST, sport, rem, rport)
    return None if s is None else (s.state, s.timeout)


def out(ce, flags, sport=40000):
    v, _ = ce.run_tun(tun_pkt(ce, "tcp", sport, flags=flags))
    return v


def inn(ce, ext, flags, sport=80, src=REMOTE):
    v, _ = ce.run_wan(wan_pkt(ce, "tcp", ext, sport=sport, src=src, flags=flags))
    return v


@pytest.mark.parametrize("flags", ["A", "FA", "R", "RA", "PA", ""])
def test_lan_segment_without_syn_makes_no_session(ce, flags):
    before = ce.counters()
    v = out(ce, flags, sport=40100)
    assert v == bpfsys.TC_ACT_SHOT
    assert ce.ctr_delta(before) == {"drop_tcp_not_syn": 1}
    assert ce.sessions() == []


@pytest.mark.parametrize("flags", ["A", "FA", "R", "RA", "PA", "", "SA"])
@pytest.mark.parametrize("filtering", ["address", "endpoint"])
def test_inbound_segment_without_syn_makes_no_session(ce, flags, filtering):
    """A server the LAN host visited (address-dependent filtering), or anyone
    (endpoint-independent), sends to the host's port from a new remote port:
    only a SYN may open a session; anything else is dropped, nothing kept."""
    ext = open_session(ce, "tcp")            # HOST:40000 <-> REMOTE:80, established
    src = REMOTE if filtering == "address" else OTHER
    if filtering == "endpoint":
        ce.reup(["--filtering", "endpoint"])
    try:
        before = ce.counters()
        v = inn(ce, ext, flags, sport=4444, src=src)
        assert v == XDP_DROP
        assert ce.ctr_delta(before) == {"drop_no_session": 1}
        assert len(ce.sessions()) == 1
        assert ce.port(P_TCP, ext).sessions == 1
        # a SYN from there goes to the kernel, whose firewall decides, and
        # still makes no session; the host's SYN-ACK does (established)
        before = ce.counters()
        assert inn(ce, ext, "S", sport=4444, src=src) == XDP_REDIRECT
        assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_new": 1}
        assert state(ce, rem=src, rport=4444) is None
        v, _ = ce.run_tun(ce.tun_frame(IP(src=HOST, dst=src, ttl=63) /
                                       TCP(sport=40000, dport=4444, flags="SA")))
        assert v == TC_ACT_REDIRECT
        assert state(ce, rem=src, rport=4444) == (EST, TO_TCP_EST)
    finally:
        if filtering == "endpoint":
            ce.reup()


def test_half_close_keeps_established(ce):
    """One FIN (either side) is a half-close: the other side may send for hours."""
    ext = open_session(ce, "tcp")
    assert state(ce) == (EST, TO_TCP_EST)
    assert out(ce, "FA") == TC_ACT_REDIRECT
    assert state(ce) == (EST, TO_TCP_EST)
    assert inn(ce, ext, "PA") == XDP_REDIRECT          # the other side goes on
    assert state(ce) == (EST, TO_TCP_EST)
    assert inn(ce, ext, "FA") == XDP_REDIRECT          # and closes too
    assert state(ce) == (CLOSING, TO_TCP_TRANS)


def test_half_close_from_outside(ce):
    ext = open_session(ce, "tcp")
    assert inn(ce, ext, "FA") == XDP_REDIRECT
    assert state(ce) == (EST, TO_TCP_EST)
    assert out(ce, "PA") == TC_ACT_REDIRECT
    assert state(ce) == (EST, TO_TCP_EST)
    assert out(ce, "FA") == TC_ACT_REDIRECT
    assert state(ce) == (CLOSING, TO_TCP_TRANS)


@pytest.mark.parametrize("rst_from", ["remote", "lan"])
def test_rst_then_traffic_returns_to_established(ce, rst_from):
    """An RST (perhaps spurious or forged: its sequence is not checked) makes
    the session transitory; traffic after it takes it back to established."""
    ext = open_session(ce, "tcp")
    if rst_from == "remote":
        assert inn(ce, ext, "R") == XDP_REDIRECT
    else:
        assert out(ce, "R") == TC_ACT_REDIRECT
    assert state(ce) == (CLOSING, TO_TCP_TRANS)
    assert out(ce, "PA") == TC_ACT_REDIRECT
    assert state(ce) == (EST, TO_TCP_EST)


def test_outbound_session_not_established_without_syn_ack(ce):
    """Only the remote's SYN-ACK establishes a session the LAN opened: a bare
    ACK or data from outside (forged or stray) leaves it transitory."""
    ext = open_session(ce, "tcp", flags="S")
    for flags in ("A", "PA", "FA"):
        assert inn(ce, ext, flags) == XDP_REDIRECT
        assert state(ce)[0] == SYN_SENT, flags
    assert inn(ce, ext, "SA") == XDP_REDIRECT
    assert state(ce) == (EST, TO_TCP_EST)


def test_rst_and_no_more_traffic_stays_transitory(ce):
    ext = open_session(ce, "tcp")
    assert inn(ce, ext, "R") == XDP_REDIRECT
    assert inn(ce, ext, "R") == XDP_REDIRECT
    assert state(ce) == (CLOSING, TO_TCP_TRANS)


def test_syn_after_close_opens_anew(ce):
    """The same 5-tuple opened again after both FINs: transitory, then
    established by the handshake, with the same external port."""
    ext = open_session(ce, "tcp")
    assert out(ce, "FA") == TC_ACT_REDIRECT and inn(ce, ext, "FA") == XDP_REDIRECT
    assert state(ce) == (CLOSING, TO_TCP_TRANS)
    assert out(ce, "S") == TC_ACT_REDIRECT
    assert state(ce) == (SYN_SENT, TO_TCP_TRANS)
    assert inn(ce, ext, "SA") == XDP_REDIRECT
    assert state(ce) == (EST, TO_TCP_EST)
    assert ce.session(P_TCP, HOST, 40000, REMOTE, 80).ext_port == ext


def test_inbound_syn_session_established_by_handshake(ce):
    """A connection to a LAN server (endpoint filtering): the SYN from outside
    makes no session; the server's SYN-ACK (which the firewall let out) makes
    it, established (both SYNs seen, RFC 6146 s3.5.2) and marked as opened
    from outside; the remote's ACK keeps it so."""
    ext = open_session(ce, "tcp")
    ce.reup(["--filtering", "endpoint"])
    try:
        assert inn(ce, ext, "S", sport=5555, src=OTHER) == XDP_REDIRECT
        assert state(ce, rem=OTHER, rport=5555) is None
        v, _ = ce.run_tun(ce.tun_frame(IP(src=HOST, dst=OTHER, ttl=63) /
                                       TCP(sport=40000, dport=5555, flags="SA")))
        assert v == TC_ACT_REDIRECT
        assert state(ce, rem=OTHER, rport=5555) == (EST, TO_TCP_EST)
        s = ce.session(P_TCP, HOST, 40000, OTHER, 5555)
        assert s.flags & bpfsys.MAPE_SESS_INBOUND and s.ext_port == ext
        assert inn(ce, ext, "A", sport=5555, src=OTHER) == XDP_REDIRECT
        assert state(ce, rem=OTHER, rport=5555) == (EST, TO_TCP_EST)
    finally:
        ce.reup()
