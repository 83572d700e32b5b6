# SPDX-License-Identifier: MIT
"""Packet fuzzing: structured packets of every kind the CE translates (the
seeds of test_truncation.py, built by scapy, with live sessions behind
them), mutated at random (bytes flipped or set to edge values in the
headers, cut, grown, fields of the IPv4/IPv6/L4 headers rewritten), through
mape_lan, mape_wan and mape_tun with BPF_PROG_TEST_RUN.

Invariants, checked on every output by this file's own parser (written
from the RFCs, not the data path's code; every 500th output is also
checked by scapy, which must agree):
  - the verdict is one of the program's, and the kernel ran it;
  - a packet passed to the kernel is unchanged;
  - a packet towards the WAN: IPv6 from our CE address to the BR, next
    header IPv4, payload length = the inner total length; the inner source
    our IPv4; the TCP/UDP source port or ICMP echo identifier in our port
    set (RFC 7597 §5.1); every checksum valid;
  - a packet towards the LAN (IPv4 out of mape_wan): it came from the BR,
    to our IPv4 (RFC 7597 §8.1), to a port of our set; every checksum valid;
  - per batch of packets: the verdict counters grew by exactly the number
    of packets, the drop counters by the number of drops (and of packets
    answered by an ICMP error of ours).

PKT_FUZZ_N packets in all (default 30000; `make fuzz-pkt` runs 1000000),
from PKT_FUZZ_SEED (default: random, printed). A failure prints the seed,
the packet's index and its bytes: PKT_FUZZ_SEED=S PKT_FUZZ_N=I+1 replays up
to it.
"""
import ipaddress
import os
import random
import struct
import sys
import time

import pytest
from scapy.layers.l2 import Ether

import bpfsys
import checks
from pktutil import BR, IPV4, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_DROP, XDP_PASS, \
    XDP_REDIRECT
from test_truncation import KINDS, build_kinds, is_verdict

N = int(os.environ.get("PKT_FUZZ_N", "30000"))
SEED = int(os.environ.get("PKT_FUZZ_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
BATCH = 500
XDP_TX = 3

CE6 = ipaddress.IPv6Address(checks.CE_ADDR).packed
BR6 = ipaddress.IPv6Address(BR).packed
OUR4 = ipaddress.IPv4Address(IPV4).packed
EDGE = (0x00, 0xff, 0x7f, 0x80, 0x01, 0x40, 0x45, 0x06, 0x11, 0x3a, 0x04, 0x2c, 0x3c, 0x00)


# ---- an independent parser and checksum (RFC 791, 793, 768, 792, 8200) ----

def csum(b):
    if len(b) & 1:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def ok_sum(b, pseudo=b""):
    return csum(pseudo + b) == 0xffff


def ipv4_facts(p):
    """An IPv4 packet p (bytes from its header on), as far as it goes:
    (src, dst, proto, l4 bytes or None for a later fragment, header checksum
    valid, L4 checksum valid or None when it cannot be told); None when p is
    not a whole IPv4 header and total length."""
    if len(p) < 20 or p[0] >> 4 != 4:
        return None
    ihl = (p[0] & 0xf) * 4
    tot = struct.unpack("!H", p[2:4])[0]
    if ihl < 20 or not len(p) >= tot >= ihl:
        return None
    hdr_ok = ok_sum(p[:ihl])
    frag = struct.unpack("!H", p[6:8])[0]
    more, off = frag & 0x2000, frag & 0x1fff
    src, dst, proto = p[12:16], p[16:20], p[9]
    l4 = p[ihl:tot]
    if off:
        return src, dst, proto, None, hdr_ok, None
    l4_ok = None
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    if more:
        pass            # a first fragment: its checksum covers what is not here
    elif proto == 6 and len(l4) >= 20:
        l4_ok = ok_sum(l4, pseudo)
    elif proto == 17 and len(l4) >= 8:
        l4_ok = l4[6:8] == b"\0\0" or ok_sum(l4, pseudo)
    elif proto == 1 and len(l4) >= 8:
        l4_ok = ok_sum(l4)
    return src, dst, proto, l4, hdr_ok, l4_ok


def input_ipv4(prog, data):
    """The IPv4 packet the program translates, as it came in."""
    if prog == "wan":
        if data[12:14] != b"\x86\xdd":
            return None
        inner = inner_of_v6(data[14:])[2]
        return ipv4_facts(inner) if inner is not None else None
    return ipv4_facts(data[14:]) if data[12:14] == b"\x08\x00" else None


def check_ipv4(p, why, given, trusted=False):
    """The IPv4 packet p sent on: a sound header with a valid checksum; its
    L4 checksum valid exactly when the input's was (a translation updates
    it, never repairs nor breaks it). trusted: the input came from the
    kernel (mape_tun), which made its header checksum: one it did not make
    is carried as it is."""
    f = ipv4_facts(p)
    assert f is not None, why("not a whole IPv4 packet")
    src, dst, proto, l4, hdr_ok, l4_ok = f
    if not (trusted and given is not None and not given[4]):
        assert hdr_ok, why("IPv4 header checksum")
    translated = given is not None and given[2] == proto and \
        (proto != 1 or (given[3] and l4 and given[3][0] == l4[0]))  # not an ICMP error of ours
    if translated and given[5] is not None and l4_ok is not None:
        assert l4_ok == given[5], why("L4 checksum %s, the input's %s" %
                                      ("valid" if l4_ok else "invalid",
                                       "valid" if given[5] else "invalid"))
    elif l4_ok is not None and (not translated or given[5] is not False):
        assert l4_ok, why("L4 checksum of a packet made here")
    return src, dst, proto, l4


def l4_port(proto, l4, which):
    """The source (which 0) or destination (1) port, or the echo identifier."""
    if l4 is None:
        return None
    if proto in (6, 17) and len(l4) >= 4:
        return struct.unpack("!H", l4[2 * which:2 * which + 2])[0]
    if proto == 1 and len(l4) >= 8 and l4[0] in (0, 8):
        return struct.unpack("!H", l4[4:6])[0]
    return None


def inner_of_v6(p):
    """IPv6 packet p: (src, dst, the IPv4 packet inside or None), skipping
    hop-by-hop and destination options."""
    if len(p) < 40 or p[0] >> 4 != 6:
        return None, None, None
    nh, off = p[6], 40
    while nh in (0, 60) and len(p) >= off + 8:
        nh, off = p[off], off + (p[off + 1] + 1) * 8
    return p[8:24], p[24:40], (p[off:] if nh == 4 else None)


def check_passed(data, out, why):
    """A packet passed to the kernel is unchanged; XDP may have cut what
    followed the IPv4 packet already (xdp_trim: the kernel would not read
    it either)."""
    cut = data
    if data[12:14] == b"\x08\x00" and len(data) >= 18:
        cut = data[:14 + struct.unpack("!H", data[16:18])[0]]
    assert out in (data, cut), why("passed to the kernel, but changed")


def check_output(prog, v, data, out, why):
    tc = prog == "tun"
    if v == (TC_ACT_OK if tc else XDP_PASS):
        check_passed(data, out, why)
        return
    if v == (TC_ACT_SHOT if tc else XDP_DROP):
        return
    assert len(out) >= 14, why("runt output")
    etype = out[12:14]
    if etype == b"\x86\xdd":
        p = out[14:]
        assert len(p) >= 40 and p[0] >> 4 == 6, why("not IPv6")
        plen = struct.unpack("!H", p[4:6])[0]
        assert plen == len(p) - 40, why("IPv6 payload length %d, have %d" % (plen, len(p) - 40))
        src, dst, inner = p[8:24], p[24:40], p[40:]
        assert p[6] == 4, why("IPv6 next header %d towards the WAN" % p[6])
        assert src == CE6, why("outer source not our CE address")
        assert dst == BR6, why("outer destination not the BR")
        assert p[7] >= 1, why("hop limit 0")
        tot = struct.unpack("!H", inner[2:4])[0] if len(inner) >= 4 else -1
        assert tot == len(inner), why("inner total length %d, have %d" % (tot, len(inner)))
        s4, d4, proto, l4 = check_ipv4(inner, why, input_ipv4(prog, data), prog == "tun")
        assert s4 == OUR4, why("inner source %s is not our IPv4" % ipaddress.IPv4Address(s4))
        port = l4_port(proto, l4, 0)
        if port is not None and not (proto == 1 and l4[0] not in (0, 8)):
            assert port in checks.PORT_SET_S, why("source port/identifier %d not in the set"
                                                  % port)
    elif etype == b"\x08\x00":
        s4, d4, proto, l4 = check_ipv4(out[14:], why, input_ipv4(prog, data), prog == "tun")
        if prog == "wan":
            osrc, odst, inner = inner_of_v6(data[14:]) if data[12:14] == b"\x86\xdd" else \
                (None, None, None)
            assert osrc == BR6 and odst == CE6, why("decapsulated, but not from the BR to us")
            assert inner is not None and inner[16:20] == OUR4, \
                why("decapsulated, but not to our IPv4")
            f = ipv4_facts(inner)
            dport = l4_port(f[2], f[3], 1) if f and f[2] in (6, 17) else None
            if dport is not None:
                assert dport in checks.PORT_SET_S, why("to port %d, not of our set" % dport)
    else:
        raise AssertionError(why("output of ethertype %s" % etype.hex()))


def scapy_valid(data):
    try:
        checks.verify_checksums(Ether(data), allow_udp_zero=True)
        return True
    except Exception:
        return False


# ---- mutations ----

def mutate(rng, seed, l3):
    d = bytearray(seed)
    for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3, 4))):
        r = rng.random()
        n = len(d)
        if r < 0.35:                        # a byte of the headers
            i = rng.randrange(12, min(n, l3 + 60)) if n > 12 else 0
            d[i] = rng.choice(EDGE) if rng.random() < 0.5 else rng.randrange(256)
        elif r < 0.55:                      # a bit anywhere
            i = rng.randrange(n)
            d[i] ^= 1 << rng.randrange(8)
        elif r < 0.65:                      # a 16-bit field of the headers
            i = rng.randrange(12, max(13, min(n - 1, l3 + 60)))
            d[i:i + 2] = struct.pack("!H", rng.choice((0, 1, 0xffff, 0x8000, len(d),
                                                       max(0, len(d) - l3),
                                                       rng.randrange(65536))))
        elif r < 0.80:                      # cut
            d = d[:rng.randrange(14, n + 1)]
        elif r < 0.92:                      # grow
            d += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        else:                               # the inner IPv4 header length / options
            if n > l3:
                d[l3] = 0x40 | rng.randrange(16)
    return bytes(d)


@pytest.fixture
def sessions(ce):
    from pktutil import open_session
    return {kind: open_session(ce, kind) for kind in ("udp", "tcp", "icmp")}


def test_packet_fuzz(ce, sessions):
    print("pktfuzz: PKT_FUZZ_SEED=%d PKT_FUZZ_N=%d" % (SEED, N), file=sys.stderr)
    kinds = build_kinds(ce, sessions)
    seeds = [(name,) + kinds[name] for name in KINDS]
    runners = {"tun": ("mape_tun", lambda n: bpfsys.skb_ctx(ce.ifindex["mape0"])),
               "lan": ("mape_lan", lambda n: bpfsys.xdp_md(n, ce.ifindex["lan0"])),
               "wan": ("mape_wan", lambda n: bpfsys.xdp_md(n, ce.ifindex["wan0"]))}
    allowed = {"tun": {TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT},
               "lan": {XDP_PASS, XDP_DROP, XDP_REDIRECT, XDP_TX},
               "wan": {XDP_PASS, XDP_DROP, XDP_REDIRECT, XDP_TX}}
    stats = {"run": 0, "refused": 0, "out": 0, "scapy": 0}
    t0 = time.monotonic()
    i = 0
    while i < N:
        before = ce.counters()
        runs = drops = 0
        for i in range(i, min(N, i + BATCH)):
            rng = random.Random(SEED * 1000003 + i)
            name, prog, seed, l3 = seeds[rng.randrange(len(seeds))]
            data = mutate(rng, seed, l3)
            pname, ctx = runners[prog]

            def why(msg, i=i, name=name, data=data):
                return ("pktfuzz seed %d packet %d (%s, %s): %s\n  in: %s" %
                        (SEED, i, name, prog, msg, data.hex()))
            try:
                v, out, _ = ce.progs[pname].run(data, ctx(len(data)))
            except OSError:
                # the kernel refused the frame before the program ran
                stats["refused"] += 1
                continue
            runs += 1
            assert v in allowed[prog], why("verdict %d" % v)
            drops += v == (TC_ACT_SHOT if prog == "tun" else XDP_DROP)
            check_output(prog, v, data, out, lambda m: why(m) + "\n  out: " + out.hex())
            if v in ((TC_ACT_REDIRECT,) if prog == "tun" else (XDP_REDIRECT, XDP_TX)):
                stats["out"] += 1
                if stats["out"] % 100 == 1 and scapy_valid(data):
                    # scapy agrees with the parser above, on packets whose input
                    # checksums scapy found valid (quoted headers of ICMP errors
                    # included; their quoted L4 checksum is not updated yet:
                    # issue 14)
                    stats["scapy"] += 1
                    try:
                        checks.verify_checksums(Ether(out), allow_udp_zero=True)
                    except checks.ChecksumError as e:
                        raise AssertionError(why("scapy: %s" % e) + "\n  out: " + out.hex())
        i += 1
        stats["run"] += runs
        d = ce.ctr_delta(before)
        verdicts = sum(x for c, x in d.items() if is_verdict(c))
        dropped = sum(x for c, x in d.items() if c.startswith("drop_"))
        assert verdicts == runs, "pktfuzz seed %d, batch ending %d: %d verdicts for %d " \
            "packets: %r" % (SEED, i, verdicts, runs, d)
        # a packet answered by an ICMP error of ours (icmp_sent) is counted as
        # the drop it is, and its verdict sends the error
        assert dropped == drops + d.get("icmp_sent", 0), "pktfuzz seed %d, batch ending " \
            "%d: %d drops counted, %d dropped: %r" % (SEED, i, dropped, drops, d)
    took = time.monotonic() - t0
    print("pktfuzz: %d packets run (%d refused by the kernel), %d sent on, %d checked by "
          "scapy too, in %.1f s" % (stats["run"], stats["refused"], stats["out"],
                                   stats["scapy"], took), file=sys.stderr)
    assert stats["run"] > N // 2 and stats["out"] > 0


def test_tun_trailing_bytes_not_encapsulated(ce):
    """Bytes after the IPv4 packet (padding, a sender's leftovers) are not
    part of it: mape_tun cuts them before encapsulating, as mape_lan does
    in XDP (found by the fuzzing above: they travelled inside the tunnel,
    counted in the outer payload length)."""
    from scapy.compat import raw
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    frame = raw(ce.tun_frame(IP(src=checks.HOST, dst=checks.REMOTE, ttl=63) /
                             UDP(sport=41000, dport=53) / b"trailing")) + b"\xaa" * 6
    v, out = ce.run_tun(frame)
    assert v == TC_ACT_REDIRECT
    inner = bytes(out[IPv6].payload)
    assert out[IPv6].plen == len(inner) == struct.unpack("!H", inner[2:4])[0] == 36
    assert b"\xaa" not in bytes(out)[-6:]
    checks.verify_checksums(out)


# ---- the BR's programs ----

def br_seeds(br):
    from scapy.compat import raw
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, PadN
    ce4, net = checks.IPV4, "198.51.100.7"
    tcp_opts = [("MSS", 1460), ("NOP", None), ("WScale", 7)]
    quoted = raw(IP(src=ce4, dst=net, ttl=1) / UDP(sport=1232, dport=53) / b"q")
    dopt = IPv6ExtHdrDestOpt(nh=4, options=[PadN(otype=4, optdata=b"\x04")])
    k = [
        ("br6-udp", "br6", br.v6_frame(IP(src=ce4, dst=net) / UDP(sport=1232, dport=53) / b"u",
                                       src6=checks.CE_ADDR), 54),
        ("br6-tcp", "br6", br.v6_frame(IP(src=ce4, dst=net) /
                                       TCP(sport=1233, dport=80, flags="S", options=tcp_opts),
                                       src6=checks.CE_ADDR), 54),
        ("br6-icmp", "br6", br.v6_frame(IP(src=ce4, dst=net) / ICMP(type=8, id=1234) / b"p",
                                        src6=checks.CE_ADDR), 54),
        ("br6-dstopt", "br6", Ether(src=br.v6_nh_mac, dst=br.mac["brv6"]) /
         IPv6(src=checks.CE_ADDR, dst="2001:db8:ffff::1") / dopt /
         IP(src=ce4, dst=net) / UDP(sport=1235, dport=53) / b"d", 62),
        ("br4-udp", "br4", br.v4_frame(IP(src=net, dst=ce4, ttl=64) /
                                       UDP(sport=53, dport=1232) / b"u"), 14),
        ("br4-tcp", "br4", br.v4_frame(IP(src=net, dst=ce4, ttl=64) /
                                       TCP(sport=80, dport=2256, flags="SA", options=tcp_opts)),
         14),
        ("br4-echo", "br4", br.v4_frame(IP(src=net, dst=ce4, ttl=64) /
                                        ICMP(type=0, id=1236) / b"p"), 14),
        ("br4-error", "br4", br.v4_frame(IP(src="203.0.113.9", dst=ce4, ttl=64) /
                                         ICMP(type=3, code=4, nexthopmtu=1280) / quoted), 14),
        ("brt-udp", "brt", br.tun_frame(IP(src=net, dst=ce4, ttl=63) /
                                        UDP(sport=53, dport=1236) / b"t"), 14),
        ("brt-tcp", "brt", br.tun_frame(IP(src=net, dst="192.0.2.200", ttl=63) /
                                        TCP(sport=80, dport=65535, flags="A") / b"t"), 14),
    ]
    return [(n, prog, raw(f), l3) for n, prog, f, l3 in k]


def owner_port(proto, l4, which):
    """The port that names the CE (RFC 7597 §5.1): TCP/UDP port, echo
    identifier; None when it cannot be told here (errors, fragments)."""
    return l4_port(proto, l4, which) if proto in (6, 17) or (l4 and l4[0] in (0, 8)) else None


def check_br_output(prog, v, data, out, why):
    tc = prog == "brt"
    if v == (TC_ACT_OK if tc else XDP_PASS):
        check_passed(data, out, why)
        return
    if v == (TC_ACT_SHOT if tc else XDP_DROP):
        return
    etype = out[12:14]
    if etype == b"\x86\xdd":            # to a CE
        p = out[14:]
        assert len(p) >= 60 and p[6] == 4, why("not IPv4 in IPv6")
        assert struct.unpack("!H", p[4:6])[0] == len(p) - 40, why("IPv6 payload length")
        assert p[8:24] == BR6_BR, why("outer source is not the BR")
        inner = p[40:]
        s4, d4, proto, l4 = check_ipv4(inner, why, input_ipv4("lan", data), True)
        port = owner_port(proto, l4, 1)
        if port is not None:
            want = checks.rfc_ce_addr(str(ipaddress.IPv4Address(d4)), port, **checks.BMR)
            assert p[24:40] == ipaddress.IPv6Address(want).packed, \
                why("to %s, not the CE of %s:%d (%s)" % (ipaddress.IPv6Address(p[24:40]),
                                                        ipaddress.IPv4Address(d4), port, want))
    elif etype == b"\x08\x00":          # decapsulated to the internet
        osrc, _, inner = inner_of_v6(data[14:]) if data[12:14] == b"\x86\xdd" else \
            (None, None, None)
        assert inner is not None, why("IPv4 out of something that was not IPv4 in IPv6")
        check_ipv4(out[14:], why, ipv4_facts(inner))
        f = ipv4_facts(inner)
        port = owner_port(f[2], f[3], 0) if f else None
        if port is not None:        # RFC 7597 §8.1: the CE that owns source and port
            want = checks.rfc_ce_addr(str(ipaddress.IPv4Address(f[0])), port, **checks.BMR)
            assert osrc == ipaddress.IPv6Address(want).packed, \
                why("decapsulated from %s, not the CE of %s:%d" %
                    (ipaddress.IPv6Address(osrc), ipaddress.IPv4Address(f[0]), port))
    else:
        raise AssertionError(why("output of ethertype %s" % etype.hex()))


BR6_BR = ipaddress.IPv6Address("2001:db8:ffff::1").packed


def test_packet_fuzz_br(br):
    n = max(1, N // 2)
    print("pktfuzz br: PKT_FUZZ_SEED=%d PKT_FUZZ_N=%d" % (SEED, n), file=sys.stderr)
    seeds = br_seeds(br)
    runners = {"br6": ("mape_br6", lambda k: bpfsys.xdp_md(k, br.ifindex["brv6"])),
               "br4": ("mape_br4", lambda k: bpfsys.xdp_md(k, br.ifindex["brv4"])),
               "brt": ("mape_brt", lambda k: bpfsys.skb_ctx(br.ifindex["mapebr0"]))}
    allowed = {"br6": {XDP_PASS, XDP_DROP, XDP_REDIRECT, XDP_TX},
               "br4": {XDP_PASS, XDP_DROP, XDP_REDIRECT, XDP_TX},
               "brt": {TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT}}
    ran = out_n = 0
    i = 0
    while i < n:
        before = br.counters()
        runs = drops = 0
        for i in range(i, min(n, i + BATCH)):
            rng = random.Random(SEED * 1000033 + i)
            name, prog, seed, l3 = seeds[rng.randrange(len(seeds))]
            data = mutate(rng, seed, l3)
            pname, ctx = runners[prog]

            def why(msg, i=i, name=name, data=data):
                return ("pktfuzz br seed %d packet %d (%s): %s\n  in: %s" %
                        (SEED, i, name, msg, data.hex()))
            try:
                v, out, _ = br.progs[pname].run(data, ctx(len(data)))
            except OSError:
                continue
            runs += 1
            assert v in allowed[prog], why("verdict %d" % v)
            drops += v == (TC_ACT_SHOT if prog == "brt" else XDP_DROP)
            check_br_output(prog, v, data, out, lambda m: why(m) + "\n  out: " + out.hex())
            out_n += v in ((TC_ACT_REDIRECT,) if prog == "brt" else (XDP_REDIRECT, XDP_TX))
        i += 1
        ran += runs
        d = br.ctr_delta(before)
        assert sum(d.values()) == runs, "pktfuzz br seed %d, batch ending %d: %r for %d " \
            "packets" % (SEED, i, d, runs)
        dropped = sum(x for c, x in d.items() if c.startswith("drop_"))
        assert dropped == drops, "pktfuzz br seed %d, batch ending %d: %d drops counted, " \
            "%d dropped: %r" % (SEED, i, dropped, drops, d)
    print("pktfuzz br: %d packets run, %d sent on" % (ran, out_n), file=sys.stderr)
    assert ran > n // 2 and out_n > 0


def test_br4_padding_not_encapsulated(br):
    """Ethernet padding after a short IPv4 packet is cut before mape_br4
    encapsulates it (found by the fuzzing above: it travelled in the tunnel,
    after the IPv6 payload length)."""
    from scapy.compat import raw
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    frame = raw(br.v4_frame(IP(src="198.51.100.7", dst=checks.IPV4, ttl=64) /
                            UDP(sport=53, dport=1232) / b"x")) + b"\0" * 17    # to 60 bytes
    v, out = br.run_br4(frame)
    assert v == XDP_REDIRECT
    o6 = out[IPv6]
    assert o6.plen == len(bytes(o6.payload)) == 29
    checks.verify_checksums(out)


def test_defrag_fuzz(ce, sessions):
    """mape_defrag (the reassembly at TC) with mutated fragments of the two
    kinds it takes (outer IPv6 fragments, inner IPv4 fragments) mixed from
    several datagrams: the verdict is one of a TC program's, a pass is
    unchanged, a packet sent on is an IPv4 packet with a valid header and
    total length to a LAN host or our IPv4, one verdict counter per packet,
    and the table never holds more than its 64 datagrams."""
    from scapy.compat import raw
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
    n = max(2000, N // 6)
    ext = sessions["udp"]
    seeds = []
    for k, size in enumerate((1600, 2900, 4000)):
        inner = IP(src=checks.REMOTE, dst=IPV4, id=0x6000 + k) / UDP(sport=53, dport=ext) / \
            (bytes(range(256)) * (size // 256 + 1))
        for f in fragment(IP(raw(inner)[:20 + 8 + size]), 1200):
            seeds.append(raw(ce.wan_frame(f)))
        pkt = IPv6(src=BR, dst=checks.CE_ADDR) / IPv6ExtHdrFragment(nh=4, id=0x7000 + k) / \
            IP(raw(inner)[:20 + 8 + size])
        for f in fragment6(pkt, 1280):
            seeds.append(raw(Ether(src=checks.BR_MAC, dst=ce.mac["wan0"]) / f))
    ctx = lambda k: bpfsys.skb_ctx(ce.ifindex["wan0"])
    lan = ipaddress.IPv4Network("192.168.0.0/16")
    before = ce.counters()
    runs = 0
    for i in range(n):
        rng = random.Random(SEED * 1000211 + i)
        seed = seeds[rng.randrange(len(seeds))]
        data = mutate(rng, seed, 14 + 40) if rng.random() < 0.5 else seed

        def why(msg, i=i, data=data):
            return "pktfuzz defrag seed %d packet %d: %s\n  in: %s" % (SEED, i, msg, data.hex())
        try:
            v, out, _ = ce.progs["mape_defrag"].run(data, ctx(len(data)))
        except OSError:
            continue
        assert v in (TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT), why("verdict %d" % v)
        if v == TC_ACT_OK:      # not ours: mape_wan counted it already
            assert out == data, why("passed, but changed")
            continue
        runs += 1
        if v == TC_ACT_REDIRECT:
            assert out[12:14] == b"\x08\x00", why("not IPv4 out: " + out[:40].hex())
            ip = out[14:]
            hl = (ip[0] & 15) * 4
            assert ip[0] >> 4 == 4 and csum(ip[:hl]) == 0xffff, why("bad IPv4 header")
            assert struct.unpack("!H", ip[2:4])[0] == len(ip), why("total length")
            dst = ipaddress.IPv4Address(ip[16:20])
            assert dst in lan or ip[16:20] == OUR4, why("to %s" % dst)
    d = ce.ctr_delta(before)
    assert sum(x for c, x in d.items() if is_verdict(c)) == runs, d
    assert len(list(ce.map("mape_reasm").items())) <= 64
    assert d.get("reasm_done", 0) > 0, d
