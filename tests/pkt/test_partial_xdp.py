# SPDX-License-Identifier: MIT
"""CHECKSUM_PARTIAL packets in XDP. A sender with TX checksum offload (a veth
LAN: containers, VMs, namespaces, with default settings) leaves only the
pseudo-header sum in the TCP/UDP checksum field. XDP cannot see the skb's
flag: in native mode the fast path must complete the checksum itself (the
frame leaves as an xdp_frame and nobody finishes it), in generic mode the
packet goes the kernel's way, which knows the flag. The frames here are
built by scapy, their checksum field then set to the pseudo-header sum the
way Linux does it; scapy verifies what comes out."""
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from checks import verify_checksums
from pktutil import (HOST, REMOTE, XDP_PASS, XDP_REDIRECT, lan_pkt, open_session,
                     wan_pkt)


def fold(s):
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def pseudo_sum(ip_bytes):
    """The folded, uncomplemented pseudo-header sum (what Linux leaves in
    the field of a CHECKSUM_PARTIAL packet) of an IPv4 packet's bytes."""
    ihl = (ip_bytes[0] & 15) * 4
    tot = struct.unpack(">H", ip_bytes[2:4])[0]
    words = struct.unpack(">4H", ip_bytes[12:20])
    return fold(sum(words) + ip_bytes[9] + tot - ihl)


def csum_off(ip_bytes):
    ihl = (ip_bytes[0] & 15) * 4
    return ihl + (16 if ip_bytes[9] == 6 else 6)


def as_partial(frame, l3):
    """frame bytes with the L4 checksum of the IPv4 packet at l3 replaced by
    its pseudo-header sum."""
    b = bytearray(bytes(frame))
    ip = bytes(b[l3:])
    off = l3 + csum_off(ip)
    b[off:off + 2] = struct.pack(">H", pseudo_sum(ip))
    return bytes(b)


@pytest.fixture
def native(ce):
    """The data path configured as attached in native mode (the pkt tier's
    `up` uses skb mode); restored afterwards."""
    ce.flush_nat()
    cfg = ce.cfg
    cfg.xdp_skb = 0
    ce.set_cfg(cfg)
    yield
    cfg.xdp_skb = 1
    ce.set_cfg(cfg)
    ce.flush_nat()


@pytest.mark.parametrize("kind", ["tcp", "udp"])
@pytest.mark.parametrize("size", [0, 1, 511, 1000, 1400])
def test_lan_fast_path_completes_the_checksum(ce, native, kind, size):
    open_session(ce, kind, 40000)
    frame = lan_pkt(ce, kind, 40000, payload=bytes((i * 7) & 0xff for i in range(size)))
    data = as_partial(frame, 14)
    with pytest.raises(Exception):
        verify_checksums(data)          # the premise: the field is not a checksum yet
    before = ce.counters()
    v, out = ce.run_lan(data)
    assert v == XDP_REDIRECT
    verify_checksums(out)
    assert IPv6 in out and out[IPv6].payload.src != HOST
    assert ce.ctr_delta(before) == {"out_fast": 1, "csum_completed": 1}


def test_complete_checksum_equal_to_pseudo_sum_is_kept(ce, native):
    """A complete UDP checksum that happens to equal the pseudo-header sum
    (1 in 65536) must not be 'completed' again."""
    open_session(ce, "udp", 40000)
    frame = bytearray(bytes(lan_pkt(ce, "udp", 40000, payload=b"\0\0" + b"x" * 30)))
    ip = frame[14:]
    p = pseudo_sum(bytes(ip))
    ihl = (ip[0] & 15) * 4
    # the two payload bytes that make the checksum equal p: ~(base + x) == p
    ip[ihl + 6:ihl + 8] = b"\0\0"
    seg = bytes(ip[ihl:])
    if len(seg) % 2:
        seg += b"\0"
    base = fold(p + sum(struct.unpack(">%dH" % (len(seg) // 2), seg)))
    x = fold((~p & 0xffff) + (~base & 0xffff))
    ip[ihl + 8:ihl + 10] = struct.pack(">H", x)
    ip[ihl + 6:ihl + 8] = struct.pack(">H", p)
    frame[14:] = ip
    verify_checksums(bytes(frame))      # a valid, complete checksum ...
    assert UDP(bytes(ip[ihl:])).chksum == p     # ... equal to the pseudo sum
    before = ce.counters()
    v, out = ce.run_lan(bytes(frame))
    assert v == XDP_REDIRECT
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_fast": 1}


def test_generic_mode_leaves_it_to_the_kernel(ce):
    """Generic XDP: the skb keeps CHECKSUM_PARTIAL, the kernel's way (TC)
    knows it: the packet is passed untouched."""
    ce.flush_nat()
    open_session(ce, "udp", 40000)
    data = as_partial(lan_pkt(ce, "udp", 40000, payload=b"y" * 100), 14)
    before = ce.counters()
    v, out = ce.run_lan(data)
    assert v == XDP_PASS and ce.last.raw == data
    assert ce.ctr_delta(before) == {"out_to_kernel": 1, "csum_partial_kept": 1}
    ce.flush_nat()


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_wan_to_lan_completes_the_checksum(ce, native, kind):
    """An inner packet with a partial checksum (a BR on the same machine that
    forwarded a local sender's skb) is completed before delivery."""
    ext = open_session(ce, kind, 40000)
    frame = wan_pkt(ce, kind, ext, payload=b"z" * 333)
    data = as_partial(frame, 14 + 40)
    v, out = ce.run_wan(data)
    assert v == XDP_REDIRECT
    verify_checksums(out)
    assert out[IP].dst == HOST and out[IP].src == REMOTE
    assert (out[TCP] if kind == "tcp" else out[UDP]).dport == 40000
