# SPDX-License-Identifier: MIT
"""Truncation: every packet kind the programs translate, cut at every length
from 14 bytes to its full length.

Two ways of cutting: "cut" drops the tail of the frame (headers then claim
more than is there); "shrunk" also rewrites the inner IPv4 total length (and
header checksum, and the outer IPv6 payload length) to the cut length, so
the packet is self-consistent but its L4 header or quoted packet is short.

Every run: no error from the kernel, exactly one verdict counter, a verdict
of the allowed set, a drop counter for each drop (and none otherwise), the
bytes unchanged when passed. Lengths below 14 (ETH_HLEN) are not run: the
kernel's BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header
(-EINVAL) for XDP and TC alike; for TC (mape_tun) newer kernels also refuse an
IPv4 frame shorter than Ethernet + a 20-byte IPv4 header (6.18 does): those
lengths are skipped when, and only when, the kernel refuses them with EINVAL.
"""
import errno

import struct

import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, PadN
from scapy.layers.l2 import Ether
from scapy.utils import checksum

import bpfsys
import checks
from pktutil import (BR, HOST, IPV4, REMOTE, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT,
                     XDP_DROP, XDP_PASS, XDP_REDIRECT, open_session)

ETH_HLEN = 14
VERDICT_PREFIXES = ("pass_", "out_", "in_", "hairpin", "drop_")


def is_verdict(name):
    return name.startswith(VERDICT_PREFIXES)


assert sum(is_verdict(n) for n in bpfsys.COUNTER_NAMES) == \
    sum(1 for n in bpfsys.COUNTER_NAMES if not n.startswith(("session_", "mss_", "icmp_",
                                                             "to_kernel_", "csum_", "pmtu_",
                                                             "reasm_")))


def build_kinds(ce, ext):
    """name -> (program, frame bytes, inner IPv4 offset). ext: {proto: external
    port} of the sessions HOST:40000 -> REMOTE (53/80/echo) made beforehand."""
    tcp_opts = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b"")]
    quoted_udp = raw(IP(src=IPV4, dst=REMOTE, ttl=1) / UDP(sport=ext["udp"], dport=53) / b"q")
    err_in_lan = raw(IP(src=REMOTE, dst=HOST, ttl=63) / UDP(sport=53, dport=40000) / b"r")
    dopt = IPv6ExtHdrDestOpt(nh=4, options=[PadN(otype=4, optdata=b"\x04"), PadN(optdata=b"")])
    k = {
        "tun-udp": ("tun", ce.tun_frame(IP(src=HOST, dst=REMOTE, ttl=63) /
                                        UDP(sport=41000, dport=53) / b"truncate me"), 14),
        "tun-tcp-syn": ("tun", ce.tun_frame(IP(src=HOST, dst=REMOTE, ttl=63) /
                                            TCP(sport=41001, dport=80, flags="S",
                                                options=tcp_opts)), 14),
        "tun-icmp": ("tun", ce.tun_frame(IP(src=HOST, dst=REMOTE, ttl=63) /
                                         ICMP(type=8, id=41002) / b"ping"), 14),
        "tun-icmp-error": ("tun", ce.tun_frame(IP(src=HOST, dst=REMOTE, ttl=63) /
                                               ICMP(type=3, code=3) / err_in_lan), 14),
        "lan-udp": ("lan", ce.lan_frame(IP(src=HOST, dst=REMOTE) /
                                        UDP(sport=40000, dport=53) / b"fast path"), 14),
        "lan-tcp": ("lan", ce.lan_frame(IP(src=HOST, dst=REMOTE) /
                                        TCP(sport=40000, dport=80, flags="A") / b"ack"), 14),
        "lan-icmp": ("lan", ce.lan_frame(IP(src=HOST, dst=REMOTE) /
                                         ICMP(type=8, id=40000) / b"ping"), 14),
        "wan-udp": ("wan", ce.wan_frame(IP(src=REMOTE, dst=IPV4) /
                                        UDP(sport=53, dport=ext["udp"]) / b"reply"), 54),
        "wan-tcp-synack": ("wan", ce.wan_frame(IP(src=REMOTE, dst=IPV4) /
                                               TCP(sport=80, dport=ext["tcp"], flags="SA",
                                                   options=tcp_opts)), 54),
        "wan-icmp-reply": ("wan", ce.wan_frame(IP(src=REMOTE, dst=IPV4) /
                                               ICMP(type=0, id=ext["icmp"]) / b"pong"), 54),
        "wan-icmp-error": ("wan", ce.wan_frame(IP(src="203.0.113.1", dst=IPV4) /
                                               ICMP(type=3, code=4, nexthopmtu=1280) /
                                               quoted_udp), 54),
        "wan-dstopt-udp": ("wan", Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) /
                           IPv6(src=BR, dst=checks.CE_ADDR) / dopt /
                           IP(src=REMOTE, dst=IPV4) / UDP(sport=53, dport=ext["udp"]) / b"d",
                           62),
    }
    return {n: (prog, raw(f), l3) for n, (prog, f, l3) in k.items()}


KINDS = ["tun-udp", "tun-tcp-syn", "tun-icmp", "tun-icmp-error", "lan-udp", "lan-tcp",
         "lan-icmp", "wan-udp", "wan-tcp-synack", "wan-icmp-reply", "wan-icmp-error",
         "wan-dstopt-udp"]


def shrink(data, l3, n):
    """data cut to n bytes with the inner IPv4 total length (and checksum) and
    the outer IPv6 payload length saying so (when those headers are whole)."""
    d = bytearray(data[:n])
    if n >= l3 + 20:
        d[l3 + 2:l3 + 4] = struct.pack("!H", n - l3)
        d[l3 + 10:l3 + 12] = b"\0\0"
        ihl = (d[l3] & 0xf) * 4
        if n >= l3 + ihl:
            d[l3 + 10:l3 + 12] = struct.pack("!H", checksum(bytes(d[l3:l3 + ihl])))
    if l3 > ETH_HLEN and n >= ETH_HLEN + 40:
        d[ETH_HLEN + 4:ETH_HLEN + 6] = struct.pack("!H", n - ETH_HLEN - 40)
    return bytes(d)


@pytest.fixture
def sessions(ce):
    ext = {kind: open_session(ce, kind) for kind in ("udp", "tcp", "icmp")}
    return ext


@pytest.mark.parametrize("mode", ["cut", "shrunk"])
@pytest.mark.parametrize("kind", KINDS)
def test_truncated(ce, sessions, kind, mode):
    prog, full, l3 = build_kinds(ce, sessions)[kind]
    run = {"tun": ce.run_tun, "lan": ce.run_lan, "wan": ce.run_wan}[prog]
    tc = prog == "tun"
    drop_v = TC_ACT_SHOT if tc else XDP_DROP
    pass_v = TC_ACT_OK if tc else XDP_PASS
    allowed = {pass_v, drop_v}
    if mode == "shrunk":        # a consistent shorter packet may be translated
        allowed.add(TC_ACT_REDIRECT if tc else XDP_REDIRECT)
    seen, drops, runs = {}, 0, 0
    before_all = ce.counters()
    for n in range(ETH_HLEN, len(full)):
        data = full[:n] if mode == "cut" else shrink(full, l3, n)
        before = ce.counters()
        try:
            v, _ = run(data)
        except OSError as e:
            # the kernel refuses the frame before the program runs (see above)
            if tc and e.errno == errno.EINVAL and n < ETH_HLEN + 20:
                assert ce.ctr_delta(before) == {}
                continue
            raise
        runs += 1
        d = ce.ctr_delta(before)
        verdicts = {c: x for c, x in d.items() if is_verdict(c)}
        where = "%s %s len %d: verdict %d, counters %r" % (kind, mode, n, v, d)
        assert v in allowed, where
        assert sum(verdicts.values()) == 1, where
        dropped = sum(x for c, x in d.items() if c.startswith("drop_"))
        assert dropped == (1 if v == drop_v else 0), where
        if v == pass_v:
            assert ce.last.raw == data, where
        if v in (TC_ACT_REDIRECT, XDP_REDIRECT):
            # a consistent short packet was translated: its IPv4 header is sound
            o = ce.last.raw
            o4 = o[ETH_HLEN + 40:] if o[12:14] == b"\x86\xdd" else o[ETH_HLEN:]
            ihl = (o4[0] & 0xf) * 4
            assert o4[0] >> 4 == 4 and checksum(o4[:ihl]) == 0, where
            if o[12:14] == b"\x86\xdd":
                assert struct.unpack("!H", o[ETH_HLEN + 4:ETH_HLEN + 6])[0] == \
                    struct.unpack("!H", o4[2:4])[0], where
        drops += v == drop_v
        seen[v] = seen.get(v, 0) + 1
    total = ce.ctr_delta(before_all)
    assert sum(x for c, x in total.items() if c.startswith("drop_")) == drops
    assert sum(x for c, x in total.items() if is_verdict(c)) == runs
    assert runs >= len(full) - ETH_HLEN - 20
    if mode == "cut":
        if prog == "lan":       # malformed: the kernel judges it
            assert seen == {XDP_PASS: runs}
        elif prog == "wan":     # short of a whole IPv6 header: not ours; else dropped
            assert seen == {XDP_PASS: 40, XDP_DROP: runs - 40}
        else:
            assert seen == {TC_ACT_SHOT: runs}
    # the whole packet still does what it should
    v, out = run(full)
    if prog == "tun":
        assert v == TC_ACT_REDIRECT
        checks.verify_checksums(out)
    elif prog == "lan":
        assert v == XDP_REDIRECT
        checks.verify_checksums(out)
    else:
        assert v == XDP_REDIRECT and out.type == 0x0800
        checks.verify_checksums(out)
