# SPDX-License-Identifier: MIT
"""Reassembly at TC (issue 14; design.md "Fragments", bpf/lib/reasm.h).

mape_wan leaves to mape_defrag (TC ingress of the WAN) the outer IPv6
fragments addressed to us, and the inner IPv4 fragments whose datagram has
no decision yet (a later fragment before its first). mape_defrag holds each
fragment and turns the one that completes its datagram into the whole
packet, which the WAN walk translates and hands to the kernel on mape0's
ingress. RFC 5722: overlaps abandon the datagram; exact duplicates are
dropped alone.

Fragments are cut by scapy (fragment6, fragment) from whole packets scapy
built; the output is checked against scapy's own translation of the whole
packet, checksums included.
"""
import itertools
import struct

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Ether

import bpfsys
import checks
from checks import verify_checksums
from pktutil import (BR, HOST, IPV4, REMOTE, TC_ACT_SHOT, XDP_PASS, open_session)

TC_ACT_REDIRECT = bpfsys.TC_ACT_REDIRECT
PEER2 = "2001:db8:ffff::99"     # another sender on the IPv6 side


def eth(ce):
    return Ether(src=checks.BR_MAC, dst=ce.mac["wan0"])


def reply(ext, size, ip_id=0x7a7a):
    """A UDP reply of `size` payload bytes from REMOTE:53 to our IPv4:ext."""
    body = bytes((i * 7) & 0xff for i in range(size))
    return IP(src=REMOTE, dst=IPV4, ttl=64, id=ip_id) / UDP(sport=53, dport=ext) / body


def expected(inner, port=40000):
    """The whole inner packet as the LAN host must get it (before the kernel's
    TTL decrement): destination translated, scapy's checksums."""
    p = IP(raw(inner))
    p.dst = HOST
    p[UDP].dport = port
    p.flags = 0
    del p.chksum
    del p[UDP].chksum
    return raw(IP(raw(p)))


def through_wan(ce, frame):
    """mape_wan must leave the fragment, unchanged, to the TC reassembly."""
    before = ce.counters()
    v, _ = ce.run_wan(frame)
    assert v == XDP_PASS and ce.last.raw == bytes(frame)
    assert ce.ctr_delta(before) == {"in_reasm": 1}


def send_all(ce, frames):
    """Every frame through mape_wan then mape_defrag; returns the results of
    mape_defrag (verdict, output bytes) in order."""
    res = []
    for f in frames:
        through_wan(ce, f)
        v, _ = ce.run_defrag(f)
        res.append((v, ce.last.raw))
    return res


def assert_delivered(ce, out, want):
    """A reassembled, translated packet handed to the kernel as if received on
    mape0: Ethernet as on the slow path, the IPv4 packet whole."""
    e = Ether(out)
    assert e.type == 0x0800 and e.dst == ce.mac["mape0"] and e.src == ce.mac["tun_peer"]
    assert raw(e.payload) == want, (IP(raw(e.payload)).show2(dump=True),
                                    IP(want).show2(dump=True))
    verify_checksums(e)


def outer_frags(ce, inner, size, src6=BR):
    """The tunnel packet carrying `inner`, cut by scapy into IPv6 fragments of
    at most `size` bytes (RFC 8200), each in an Ethernet frame."""
    pkt = IPv6(src=src6, dst=checks.CE_ADDR) / IPv6ExtHdrFragment(nh=4, id=0x1234) / inner
    return [eth(ce) / f for f in fragment6(pkt, size)]


# ---------------------------------------------------------------- outer IPv6


@pytest.mark.parametrize("order", ["in-order", "last-first", "reversed", "middle-first"])
def test_outer_fragments_reassembled(ce, order):
    """A BR that fragments the outer IPv6 packet: in any order, the last
    fragment to come completes the packet, which goes on translated."""
    ext = open_session(ce, "udp", 40000)
    inner = reply(ext, 2600)
    frags = outer_frags(ce, inner, 1280)
    assert len(frags) == 3
    idx = {"in-order": [0, 1, 2], "last-first": [2, 0, 1], "reversed": [2, 1, 0],
           "middle-first": [1, 2, 0]}[order]
    before = ce.counters()
    res = send_all(ce, [frags[i] for i in idx])
    assert [v for v, _ in res[:-1]] == [TC_ACT_SHOT, TC_ACT_SHOT]
    v, out = res[-1]
    assert v == TC_ACT_REDIRECT
    assert_delivered(ce, out, expected(inner))
    assert ce.ctr_delta(before) == {"in_reasm": 3, "in_frag_held": 2, "in_slow": 1,
                                    "reasm_done": 1}
    assert list(ce.map("mape_reasm").items()) == []


def test_outer_fragment_duplicate_dropped_alone(ce):
    ext = open_session(ce, "udp", 40000)
    inner = reply(ext, 2000)
    f = outer_frags(ce, inner, 1280)
    before = ce.counters()
    res = send_all(ce, [f[0], f[0], f[1]])
    assert [v for v, _ in res] == [TC_ACT_SHOT, TC_ACT_SHOT, TC_ACT_REDIRECT]
    assert_delivered(ce, res[2][1], expected(inner))
    d = ce.ctr_delta(before)
    assert d["drop_frag_dup"] == 1 and d["in_frag_held"] == 1 and d["reasm_done"] == 1


def test_outer_fragments_overlapping_abandoned(ce):
    """RFC 5722: a fragment overlapping another abandons the datagram: neither
    it nor the rest gets through."""
    ext = open_session(ce, "udp", 40000)
    inner = raw(reply(ext, 2000))
    f = outer_frags(ce, IP(inner), 1280)
    first_len = len(raw(f[0][IPv6ExtHdrFragment].payload))
    # a fragment starting 8 bytes before the end of the first one
    over = eth(ce) / IPv6(src=BR, dst=checks.CE_ADDR) / \
        IPv6ExtHdrFragment(nh=4, id=0x1234, offset=(first_len - 8) // 8, m=1) / \
        inner[first_len - 8:first_len + 8]
    before = ce.counters()
    res = send_all(ce, [f[0], over, f[1]])
    assert [v for v, _ in res] == [TC_ACT_SHOT] * 3
    d = ce.ctr_delta(before)
    assert d["drop_frag_overlap"] == 2 and d.get("reasm_done", 0) == 0
    assert "in_slow" not in d


def test_outer_fragment_beyond_limits(ce):
    """Non-final fragments must be multiples of 8 bytes; datagrams stop at
    8192 bytes."""
    ext = open_session(ce, "udp", 40000)
    body = raw(reply(ext, 100))
    odd = eth(ce) / IPv6(src=BR, dst=checks.CE_ADDR) / \
        IPv6ExtHdrFragment(nh=4, id=0x4444, offset=0, m=1) / body[:61]
    far = eth(ce) / IPv6(src=BR, dst=checks.CE_ADDR) / \
        IPv6ExtHdrFragment(nh=4, id=0x4445, offset=8190 // 8 * 1, m=0) / body[:64]
    before = ce.counters()
    res = send_all(ce, [odd, far])
    assert [v for v, _ in res] == [TC_ACT_SHOT, TC_ACT_SHOT]
    assert ce.ctr_delta(before) == {"in_reasm": 2, "drop_frag_limit": 2}


def test_reassembly_times_out(ce):
    """A datagram not complete within 10 s is abandoned when a fragment finds
    it stale (its start is moved back in time here instead of waiting)."""
    ext = open_session(ce, "udp", 40000)
    inner = reply(ext, 2000)
    f = outer_frags(ce, inner, 1280)
    send_all(ce, [f[1]])
    m = ce.map("mape_reasm")
    [(k, val)] = list(m.items())
    ns = struct.unpack_from("=Q", val)[0]
    m.update(k, struct.pack("=Q", ns - 11 * 10**9) + val[8:])
    before = ce.counters()
    res = send_all(ce, [f[0]])
    assert res[0][0] == TC_ACT_SHOT     # a new datagram starts with it
    assert ce.ctr_delta(before) == {"in_reasm": 1, "reasm_timeout": 1, "in_frag_held": 1}


def test_outer_fragments_of_two_senders_kept_apart(ce):
    """The same identification from another IPv6 source is another datagram."""
    ext = open_session(ce, "udp", 40000)
    inner = reply(ext, 2000)
    mine = outer_frags(ce, inner, 1280)
    theirs = outer_frags(ce, reply(ext, 2000, ip_id=0x1111), 1280, src6=PEER2)
    res = send_all(ce, [mine[0], theirs[1], mine[1]])
    assert [v for v, _ in res] == [TC_ACT_SHOT, TC_ACT_SHOT, TC_ACT_REDIRECT]
    assert_delivered(ce, res[2][1], expected(inner))
    assert len(list(ce.map("mape_reasm").items())) == 1      # theirs, waiting


# ---------------------------------------------------------------- inner IPv4 out of order


def inner_frags(ce, inner, size, src6=BR):
    """The IPv4 datagram cut into fragments by scapy, each in its own tunnel packet."""
    return [ce.wan_frame(f, src6=src6) for f in fragment(inner, size)]


@pytest.mark.parametrize("order", ["last-first", "middle-first", "reversed"])
def test_ipv4_fragments_before_their_first(ce, order):
    """RFC 4787 REQ-14: later fragments that come before the first are held;
    the datagram is put back together and delivered whole (the kernel
    fragments it again for the LAN)."""
    ext = open_session(ce, "udp", 40000)
    inner = reply(ext, 3972)            # a 4000-byte datagram
    frags = inner_frags(ce, inner, 1400)
    assert len(frags) == 3
    idx = {"last-first": [2, 0, 1], "middle-first": [1, 0, 2], "reversed": [2, 1, 0]}[order]
    before = ce.counters()
    res = send_all(ce, [frags[i] for i in idx])
    assert [v for v, _ in res[:-1]] == [TC_ACT_SHOT, TC_ACT_SHOT]
    v, out = res[-1]
    assert v == TC_ACT_REDIRECT
    assert_delivered(ce, out, expected(inner))
    assert ce.ctr_delta(before) == {"in_reasm": 3, "in_frag_held": 2, "in_slow": 1,
                                    "reasm_done": 1}


def test_ipv4_fragments_in_order_stay_in_xdp(ce):
    """In order, fragments are translated one by one in XDP (the first's
    decision cached), and nothing is held."""
    ext = open_session(ce, "udp", 40000)
    frags = inner_frags(ce, reply(ext, 2000), 1000)
    before = ce.counters()
    for f in frags:
        v, _ = ce.run_wan(f)
        assert v == bpfsys.XDP_REDIRECT
    assert ce.ctr_delta(before) == {"in_fast": len(frags)}
    assert list(ce.map("mape_reasm").items()) == []


def test_ipv4_fragments_from_another_sender_steer_nothing(ce):
    """Fragments with the same addresses and identification from another outer
    source belong to a datagram of their own (held apart, never mixed in);
    the real datagram is put together from its own fragments only, and the
    other one, once whole, fails RFC 7597 s8.1 (its sender is not the BR)."""
    ext = open_session(ce, "udp", 40000)
    inner = reply(ext, 2000)
    real = inner_frags(ce, inner, 1000)
    fake = inner_frags(ce, IP(raw(inner)[:28] + b"X" * 2000), 1000, src6=PEER2)
    res = send_all(ce, [real[2], fake[1], real[1], fake[2], real[0]])
    assert [v for v, _ in res] == [TC_ACT_SHOT] * 4 + [TC_ACT_REDIRECT]
    assert_delivered(ce, res[4][1], expected(inner))
    before = ce.counters()
    [(v, _)] = send_all(ce, [fake[0]])
    assert v == TC_ACT_SHOT
    assert ce.ctr_delta(before) == {"in_reasm": 1, "reasm_done": 1, "drop_spoofed": 1}


def test_reassembly_quota_per_sender(ce):
    """One internet host cannot fill the table: it may have 16 datagrams in
    reassembly at a time (drop_frag_limit beyond); another host still can."""
    ext = open_session(ce, "udp", 40000)

    def later(src, ip_id):
        inner = IP(src=src, dst=IPV4, ttl=64, id=ip_id) / UDP(sport=53, dport=ext) / (b"q" * 2000)
        return inner_frags(ce, inner, 1000)[1]
    before = ce.counters()
    res = send_all(ce, [later(REMOTE, 0x100 + i) for i in range(17)])
    assert [v for v, _ in res] == [TC_ACT_SHOT] * 17
    assert ce.ctr_delta(before) == {"in_reasm": 17, "in_frag_held": 16, "drop_frag_limit": 1}
    before = ce.counters()
    send_all(ce, [later("198.51.100.77", 0x300)])
    assert ce.ctr_delta(before) == {"in_reasm": 1, "in_frag_held": 1}


def test_first_fragment_decision_ages_out(ce):
    """A first fragment's decision is followed for 30 s (RFC 791's timer):
    a later fragment after that waits for a first again (the reassembly)."""
    ext = open_session(ce, "udp", 40000)
    frags = inner_frags(ce, reply(ext, 2000), 1000)
    v, _ = ce.run_wan(frags[0])
    assert v == bpfsys.XDP_REDIRECT
    m = ce.map("mape_frag")
    [(k, val)] = list(m.items())
    ns = struct.unpack_from("=Q", val, 16)[0]
    m.update(k, val[:16] + struct.pack("=Q", ns - 31 * 10**9) + val[24:])
    through_wan(ce, frags[1])
