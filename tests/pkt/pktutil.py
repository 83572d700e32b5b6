# SPDX-License-Identifier: MIT
"""Shared helpers of the packet-matrix tests (test_ce_*.py, test_icmp_errors.py,
test_fmr.py, test_ports.py, test_timeouts.py, test_truncation.py, test_br.py):
packet builders for the CE instance, assertions on the outer IPv6 header,
counter/map snapshots. Nothing here computes MAP-E arithmetic (see checks.py).
"""
import ipaddress

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6

import bpfsys
import checks

XDP_DROP, XDP_PASS, XDP_REDIRECT = bpfsys.XDP_DROP, bpfsys.XDP_PASS, bpfsys.XDP_REDIRECT
TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT = (bpfsys.TC_ACT_OK, bpfsys.TC_ACT_SHOT,
                                           bpfsys.TC_ACT_REDIRECT)

HOST, HOST2 = checks.HOST, "192.168.1.11"
REMOTE, REMOTE2 = checks.REMOTE, "198.51.100.8"
OTHER = "203.0.113.9"          # a remote outside every rule
IPV4, BR, CE_ADDR = checks.IPV4, checks.BR, checks.CE_ADDR
P_ICMP, P_TCP, P_UDP = checks.IPPROTO_ICMP, checks.IPPROTO_TCP, checks.IPPROTO_UDP
PROTO = {"udp": P_UDP, "tcp": P_TCP, "icmp": P_ICMP}
PROTOS = ("udp", "tcp", "icmp")

# default timeouts of `mapectl up` (docs/design.md)
TO_TCP_EST, TO_TCP_TRANS, TO_UDP, TO_ICMP = 7440, 240, 300, 60


def ip6(a):
    return ipaddress.IPv6Address(a)


def rport_of(kind, rport):
    """The remote port of a session key (0 for ICMP)."""
    return 0 if kind == "icmp" else rport


def l4_out(kind, sport, dport=None, flags="A", payload=b"out-data"):
    """A LAN host's L4 header: sport is the port or the echo identifier."""
    if kind == "udp":
        return UDP(sport=sport, dport=53 if dport is None else dport) / payload
    if kind == "tcp":
        return TCP(sport=sport, dport=80 if dport is None else dport, flags=flags, seq=1000,
                   ack=2000 if "A" in flags else 0, window=8192) / payload
    return ICMP(type=8, id=sport, seq=7) / payload


def l4_in(kind, ext, sport=None, flags="A", payload=b"in-data"):
    """The remote's reply to our external port / identifier ext."""
    if kind == "udp":
        return UDP(sport=53 if sport is None else sport, dport=ext) / payload
    if kind == "tcp":
        return TCP(sport=80 if sport is None else sport, dport=ext, flags=flags, seq=2000,
                   ack=1001, window=8192) / payload
    return ICMP(type=0, id=ext, seq=7) / payload


def default_rport(kind):
    return {"udp": 53, "tcp": 80, "icmp": 0}[kind]


def tun_pkt(ce, kind, sport, dport=None, src=HOST, dst=REMOTE, ttl=63, flags="A",
            payload=b"out-data", ip_id=0x1111):
    """What the kernel hands to mape0's egress (TC mape_tun)."""
    return ce.tun_frame(IP(src=src, dst=dst, ttl=ttl, id=ip_id) /
                        l4_out(kind, sport, dport, flags, payload))


def lan_pkt(ce, kind, sport, dport=None, src=HOST, dst=REMOTE, ttl=64, flags="A",
            payload=b"lan-data", ip_id=0x2222, **ipkw):
    """A frame from a LAN host arriving on lan0 (XDP mape_lan)."""
    return ce.lan_frame(IP(src=src, dst=dst, ttl=ttl, id=ip_id, **ipkw) /
                        l4_out(kind, sport, dport, flags, payload))


def wan_pkt(ce, kind, ext, sport=None, src=REMOTE, dst=IPV4, ttl=64, flags="A",
            payload=b"in-data", src6=BR, ip_id=0x4321):
    """The reply as the BR delivers it to wan0 (XDP mape_wan)."""
    return ce.wan_frame(IP(src=src, dst=dst, ttl=ttl, id=ip_id) /
                        l4_in(kind, ext, sport, flags, payload), src6=src6)


def new_flags(kind):
    """TCP flags of a packet that may make a session (a SYN: RFC 7857 s2.1)."""
    return "S" if kind == "tcp" else "A"


def open_session(ce, kind, sport=40000, dport=None, src=HOST, dst=REMOTE, flags="A", src6=BR,
                 fast=True):
    """Create a session through mape_tun; returns the external port / identifier.
    Only a SYN makes a TCP session: for other flags, the session is opened by
    a SYN and the remote's SYN-ACK (mape_wan), so it is established when the
    packet with `flags` goes out (src6: the SYN-ACK's outer source).
    fast: the kernel's conntrack has the flow established both ways (as it
    would after its firewall let the first packets through), so the packet
    marks the session for XDP (ICMP echo needs no conntrack)."""
    if kind == "tcp" and "S" not in flags:
        ext = open_session(ce, kind, sport, dport, src, dst, "S", fast=False)
        v, _ = ce.run_wan(wan_pkt(ce, kind, ext, sport=dport, src=dst, flags="SA", src6=src6))
        assert v == XDP_REDIRECT, "mape_wan verdict %d for the SYN-ACK" % v
    if fast and kind != "icmp" and "S" not in flags:
        ce.ct_insert(PROTO[kind], src, sport, dst, dport or default_rport(kind))
    v, out = ce.run_tun(tun_pkt(ce, kind, sport, dport, src=src, dst=dst, flags=flags))
    assert v == TC_ACT_REDIRECT, "mape_tun verdict %d" % v
    inner = out[IPv6].payload
    return inner[ICMP].id if kind == "icmp" else inner.sport


def ext_of(kind, inner):
    return inner[ICMP].id if kind == "icmp" else inner.sport


def assert_encap(out, dst6=BR, src6=CE_ADDR):
    """The outer IPv6 header of a MAP-E packet we emit; returns the inner IP.
    Its traffic class is the inner ECN field (RFC 6040 s4.1), no DSCP."""
    assert out.type == 0x86DD and IPv6 in out, out.summary()
    o6 = out[IPv6]
    assert (o6.version, o6.fl, o6.nh, o6.hlim) == (6, 0, 4, 64), o6.summary()
    assert ip6(o6.src) == ip6(src6), o6.src
    assert ip6(o6.dst) == ip6(dst6), o6.dst
    inner = o6.payload
    assert isinstance(inner, IP), "no IPv4 right after the IPv6 header: %r" % o6
    assert o6.tc == inner.tos & 3, (o6.tc, inner.tos)
    assert o6.plen == inner.len, (o6.plen, inner.len)
    return inner


def unused_port(*used):
    """A port of our set that none of the given (random) external ports is."""
    return next(p for p in checks.PORT_SET[1:] if p not in used)


def snapshot(ce):
    """Everything NAT-related, for "nothing changed" assertions (timers and
    timestamps are compared as they are: an untouched session keeps them)."""
    return {name: sorted(ce.map(name).items()) for name in
            ("mape_out", "mape_in", "mape_bind", "mape_adf")}


def ports_used(ce, proto):
    """{port: MapePort} of the slots of our port set in use."""
    out = {}
    for p in checks.PORT_SET:
        e = ce.port(proto, p)
        if e.sessions:
            out[p] = e
    return out


def drop_sum(delta):
    return sum(v for k, v in delta.items() if k.startswith("drop_"))
