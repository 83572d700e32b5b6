# SPDX-License-Identifier: MIT
"""Smoke tests of the data path: one packet through each program.

Instance: RFC 7597 example 1 (checks.py), set up by `mapectl up` in the
fixture's network namespace (conftest.py). Expected values come from the
RFC and from scapy, not from the project's code.
"""
import ipaddress
import json
import subprocess

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest

import checks
from checks import verify_checksums


def sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True)

XDP_PASS, XDP_DROP, XDP_REDIRECT = 2, 1, 4
TC_ACT_SHOT, TC_ACT_REDIRECT = 2, 7

HOST, REMOTE = checks.HOST, checks.REMOTE


def out_udp(ce, sport=40000, dport=53, payload=b"query", ttl=64):
    """The LAN host's UDP packet as the kernel hands it to mape0 (routed: TTL already
    decremented by the kernel, which is not mape_tun's business)."""
    return ce.tun_frame(IP(src=HOST, dst=REMOTE, ttl=ttl, id=0x1234) /
                        UDP(sport=sport, dport=dport) / payload)


def reply_udp(ce, ext_port, sport=53, payload=b"answer", src6=checks.BR, ttl=64):
    return ce.wan_frame(IP(src=REMOTE, dst=checks.IPV4, ttl=ttl, id=0x4321) /
                        UDP(sport=sport, dport=ext_port) / payload, src6=src6)


# ---------------------------------------------------------------- setup


def test_cfg_from_up(ce):
    """mape_cfg holds what RFC 7597 example 1 gives, and the network `up` made."""
    c = ce.cfg
    assert c.flags & 0x1, "MAPE_CFG_ENABLED not set"
    assert ipaddress.IPv6Address(c.ce_addr) == ipaddress.IPv6Address(checks.CE_ADDR)
    assert ipaddress.IPv6Address(c.br_addr) == ipaddress.IPv6Address(checks.BR)
    assert c.ipv4 == checks.IPV4
    assert (c.ps.psid, c.ps.offset, c.ps.len) == (checks.PSID, checks.PSID_OFFSET,
                                                  checks.PSID_LEN)
    assert c.port_count == len(checks.PORT_SET) == 252
    assert c.iid == 0                       # RFC 7597 interface identifier
    assert c.mtu == checks.MTU
    assert c.wan_ifindex == ce.ifindex["wan0"]
    assert c.tun_ifindex == ce.ifindex["mape0"]
    assert c.tun_peer_ifindex == ce.ifindex["tun_peer"]
    assert c.tun_mac == ce.mac["mape0"]
    assert c.tun_peer_mac == ce.mac["tun_peer"]
    assert c.n_lans == 1 and c.lan_ifindex[0] == ce.ifindex["lan0"]
    assert c.ipv4_len == 32
    # the kernel side: our IPv4 on mape0, default route into it, CE address on wan0
    a4 = json.loads(sh("ip", "-j", "-4", "addr", "show", "dev", "mape0").stdout)
    assert any(i["local"] == checks.IPV4 and i["prefixlen"] == 32
               for x in a4 for i in x["addr_info"])
    r4 = sh("ip", "-4", "route", "get", REMOTE).stdout
    assert " dev mape0 " in r4, r4
    a6 = json.loads(sh("ip", "-j", "-6", "addr", "show", "dev", "wan0").stdout)
    assert any(ipaddress.IPv6Address(i["local"]) == ipaddress.IPv6Address(checks.CE_ADDR)
               for x in a6 for i in x["addr_info"])


# ---------------------------------------------------------------- (a) outbound


def test_tun_udp_encap(ce):
    """UDP 192.168.1.10:40000 -> 198.51.100.7:53 at mape0 egress: NAPT into the
    port set, encapsulated to the BR, redirected to the WAN."""
    frame = out_udp(ce)
    before = ce.counters()
    v, out = ce.run_tun(frame)
    assert v == TC_ACT_REDIRECT
    assert out.type == 0x86DD and IPv6 in out
    o6 = out[IPv6]
    assert o6.version == 6 and o6.tc == 0 and o6.fl == 0
    assert o6.nh == 4 and o6.hlim == 64
    assert ipaddress.IPv6Address(o6.src) == ipaddress.IPv6Address(checks.CE_ADDR)
    assert ipaddress.IPv6Address(o6.dst) == ipaddress.IPv6Address(checks.BR)
    inner = o6.payload
    assert isinstance(inner, IP), "no extension header before IPIP: %r" % o6
    assert o6.plen == len(raw(inner)) == inner.len
    assert len(ce.last.raw) == len(ce.last.data_in) + 40
    sent = ce.last.sent[IP]
    assert inner.src == checks.IPV4 and inner.dst == REMOTE
    assert inner.ttl == sent.ttl and inner.len == sent.len
    # DF clear: the ID comes from our port set (RFC 7597 s8.3.3)
    assert checks.in_port_set(inner.id) if not sent.flags.DF else inner.id == sent.id
    ext = inner[UDP].sport
    assert checks.in_port_set(ext), "source port %d outside the port set" % ext
    assert ext >= 1024 and (ext >> 2) & 0xff == checks.PSID
    assert inner[UDP].dport == 53 and raw(inner[UDP].payload) == b"query"
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}
    s = ce.session(17, HOST, 40000, REMOTE, 53)
    assert s is not None and s.ext_port == ext and s.pkts_out == 1
    assert [(k.ext_port, k.rem_addr, k.rem_port, v.int_addr, v.int_port)
            for k, v in ce.in_entries()] == [(ext, REMOTE, 53, HOST, 40000)]


def test_tun_udp_same_session(ce):
    """A second packet of the flow uses the same session and port."""
    ext = ce.open_udp()
    before = ce.counters()
    v, out = ce.run_tun(out_udp(ce, payload=b"again"))
    assert v == TC_ACT_REDIRECT
    assert out[IPv6][UDP].sport == ext
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_slow": 1}
    assert ce.session(17, HOST, 40000, REMOTE, 53).pkts_out == 2


# ---------------------------------------------------------------- (b) inbound


def test_wan_udp_reply(ce):
    """The BR's reply is decapsulated, translated back to 192.168.1.10:40000 and
    redirected to the LAN in XDP, TTL decremented."""
    ext = ce.open_udp()
    frame = reply_udp(ce, ext)
    before = ce.counters()
    v, out = ce.run_wan(frame)
    assert v == XDP_REDIRECT
    assert out.type == 0x0800 and IPv6 not in out
    assert out.dst == checks.HOST_MAC and out.src == ce.mac["lan0"]
    ip = out[IP]
    assert ip.src == REMOTE and ip.dst == HOST
    assert ip.ttl == 63 and ip.id == 0x4321
    assert ip[UDP].sport == 53 and ip[UDP].dport == 40000
    assert raw(ip[UDP].payload) == b"answer"
    assert len(ce.last.raw) == len(ce.last.data_in) - 40
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_fast": 1}
    assert ce.session(17, HOST, 40000, REMOTE, 53).pkts_in == 1


# ---------------------------------------------------------------- (c) s8.1 spoofing


def test_wan_spoofed_source(ce):
    """Outer source neither the BR nor an FMR CE: dropped and counted (s8.1)."""
    ext = ce.open_udp()
    before = ce.counters()
    v, _ = ce.run_wan(reply_udp(ce, ext, src6="2001:db8:ffff::99"))
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {"drop_spoofed": 1}
    assert ce.session(17, HOST, 40000, REMOTE, 53).pkts_in == 0


# ---------------------------------------------------------------- (d) port set


@pytest.mark.parametrize("port", [52, 1023, 1024, 1228, 1236, 2255, 65535])
def test_wan_port_outside_set(ce, port):
    assert not checks.in_port_set(port)
    before = ce.counters()
    v, _ = ce.run_wan(reply_udp(ce, port))
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {"drop_port_outside": 1}


# ---------------------------------------------------------------- (e) not ours


@pytest.mark.parametrize("case", ["native-to-wan", "ipip-to-other", "icmpv6-to-ce"])
def test_wan_not_ours_passes(ce, case):
    """IPv6 that is not MAP-E to our CE address goes to the kernel untouched."""
    if case == "native-to-wan":
        frame = ce.wan6_frame(IPv6(src=checks.BR, dst=checks.WAN_ADDR) /
                              ICMPv6EchoRequest(id=7, seq=1, data=b"ping"))
    elif case == "ipip-to-other":
        frame = ce.wan_frame(IP(src=REMOTE, dst=checks.IPV4) / UDP(sport=53, dport=1232),
                             dst6="2001:db8:12:3400::1")
    else:
        frame = ce.wan6_frame(IPv6(src=checks.BR, dst=checks.CE_ADDR) /
                              ICMPv6EchoRequest(id=7, seq=1, data=b"ping"))
    data = raw(frame)
    before = ce.counters()
    v, out = ce.run_wan(data)
    assert v == XDP_PASS
    assert ce.last.raw == data
    assert ce.ctr_delta(before) == {"pass_not_ours": 1}


# ---------------------------------------------------------------- LAN fast path


def test_lan_fast_path_udp(ce):
    """With the session in place, mape_lan translates, encapsulates and redirects
    the LAN host's next packet in XDP (it decrements the TTL: it forwards)."""
    ext = ce.open_udp()
    frame = ce.lan_frame(IP(src=HOST, dst=REMOTE, ttl=64, id=0x2222) /
                         UDP(sport=40000, dport=53) / b"fast")
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == XDP_REDIRECT
    assert out.type == 0x86DD
    assert out.dst == checks.BR_MAC and out.src == ce.mac["wan0"]
    o6 = out[IPv6]
    assert (o6.nh, o6.hlim, o6.tc, o6.fl) == (4, 64, 0, 0)
    assert ipaddress.IPv6Address(o6.src) == ipaddress.IPv6Address(checks.CE_ADDR)
    assert ipaddress.IPv6Address(o6.dst) == ipaddress.IPv6Address(checks.BR)
    inner = o6.payload
    assert isinstance(inner, IP) and o6.plen == inner.len == len(raw(inner))
    assert inner.src == checks.IPV4 and inner.dst == REMOTE and inner.ttl == 63
    assert inner[UDP].sport == ext and inner[UDP].dport == 53
    assert raw(inner[UDP].payload) == b"fast"
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_fast": 1}
    assert ce.session(17, HOST, 40000, REMOTE, 53).pkts_out == 2


def test_lan_no_session_to_kernel(ce):
    """Without a session the LAN packet goes to the kernel (then mape_tun)."""
    frame = ce.lan_frame(IP(src=HOST, dst=REMOTE) / UDP(sport=40002, dport=53) / b"x")
    data = raw(frame)
    before = ce.counters()
    v, _ = ce.run_lan(data)
    assert v == XDP_PASS and ce.last.raw == data
    assert ce.ctr_delta(before) == {"out_to_kernel": 1}
