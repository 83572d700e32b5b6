# SPDX-License-Identifier: MIT
"""LAN packets to our own IPv4 address (mape_lan, docs/design.md "Own address"):
the kernel would deliver them locally, so XDP takes TCP/UDP itself. A port of
our set is hairpinned (RFC 4787 REQ-9) to the LAN host owning it; any other
port belongs to a CE sharing the address and is encapsulated (to the BR here,
the fixture has no FMR). Echo requests stay the router's."""
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import raw

import bpfsys
import checks
from checks import verify_checksums
from pktutil import (BR, HOST, HOST2, IPV4, P_UDP, REMOTE, XDP_DROP, XDP_PASS, XDP_REDIRECT,
                     assert_encap, open_session)


def udp_from(ce, src, sport, dst, dport, payload=b"hp"):
    return ce.lan_frame(IP(src=src, dst=dst, ttl=64, id=0x3333) /
                        UDP(sport=sport, dport=dport) / payload)


def test_hairpin_both_ways(ce):
    """HOST owns external port E (a session to REMOTE). With endpoint-independent
    filtering, HOST2 reaches it at IPV4:E: HOST2's session is made and the
    packet translated to IPV4:E2 -> HOST:40000 (RFC 4787 REQ-9: the external
    source), but as a new flow to a LAN host it enters the kernel as if
    received on the tunnel, whose firewall decides, and makes no session
    for HOST. HOST's answer to IPV4:E2 makes HOST's session and goes back to
    HOST2 (no neighbour for HOST2 in the fixture: handed to the kernel,
    already translated, through the tunnel's peer: on the LAN interface the
    kernel would drop a packet from our own IPv4 as a martian). The flow's
    later packets from HOST2 go straight to HOST."""
    ext = open_session(ce, "udp", sport=40000)
    try:
        ce.reup(["--filtering", "endpoint"])
        before = ce.counters()
        v, out = ce.run_lan(udp_from(ce, HOST2, 41000, IPV4, ext))
        assert v == XDP_REDIRECT, bpfsys.XDP_NAMES.get(v, v)
        assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"]
        ip = out[IP]
        assert (ip.src, ip.dst, ip.dport, ip.ttl) == (IPV4, HOST, 40000, 64)
        ext2 = ip.sport
        assert checks.in_port_set(ext2) and ext2 != ext
        assert raw(ip[UDP].payload) == b"hp"
        verify_checksums(out)
        assert ce.ctr_delta(before) == {"hairpin": 1, "session_new": 1, "to_kernel_new": 1}
        s2 = ce.session(P_UDP, HOST2, 41000, IPV4, ext)
        assert s2 is not None and s2.ext_port == ext2
        assert ce.session(P_UDP, HOST, 40000, IPV4, ext2) is None

        before = ce.counters()
        v, out = ce.run_lan(udp_from(ce, HOST, 40000, IPV4, ext2, b"back"))
        assert v == XDP_REDIRECT
        assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"]
        ip = out[IP]
        assert (ip.src, ip.sport, ip.dst, ip.dport) == (IPV4, ext, HOST2, 41000)
        verify_checksums(out)
        assert ce.ctr_delta(before) == {"hairpin": 1, "session_new": 1}
        s1 = ce.session(P_UDP, HOST, 40000, IPV4, ext2)
        assert s1 is not None and s1.ext_port == ext

        before = ce.counters()
        v, out = ce.run_lan(udp_from(ce, HOST2, 41000, IPV4, ext, b"again"))
        assert v == XDP_REDIRECT and out.dst == checks.HOST_MAC
        ip = out[IP]
        assert (ip.src, ip.sport, ip.dst, ip.dport, ip.ttl) == (IPV4, ext2, HOST, 40000, 63)
        verify_checksums(out)
        assert ce.ctr_delta(before) == {"hairpin": 1}
    finally:
        ce.reup()


def test_hairpin_filtered_by_default(ce):
    """Address-dependent filtering: HOST never sent to our own address, so
    HOST2's packet to IPV4:E is refused."""
    ext = open_session(ce, "udp", sport=40000)
    before = ce.counters()
    v, _ = ce.run_lan(udp_from(ce, HOST2, 41000, IPV4, ext))
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {"drop_filtered": 1, "session_new": 1}


def test_own_address_other_port_goes_out(ce):
    """Our IPv4 at a port outside our set belongs to another CE (or nobody):
    encapsulated with a session of its own, outer destination the BR."""
    frame = udp_from(ce, HOST, 42000, IPV4, 5000)
    assert not checks.in_port_set(5000)
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == XDP_REDIRECT
    inner = assert_encap(out, dst6=BR)
    assert (inner.src, inner.dst, inner.dport) == (IPV4, IPV4, 5000)
    assert checks.in_port_set(inner.sport)
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_fast": 1, "session_new": 1}


def test_echo_to_own_address_is_the_routers(ce):
    """An echo request to our IPv4 goes to the kernel untouched."""
    frame = ce.lan_frame(IP(src=HOST, dst=IPV4, ttl=64) / ICMP(type=8, id=7, seq=1))
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == XDP_PASS and raw(out) == raw(frame)
    assert ce.ctr_delta(before) == {"pass_not_ours": 1}
    assert not ce.sessions()


def test_other_remote_still_normal(ce):
    """Sanity: a packet to a remote (not our address) is not taken by this path."""
    open_session(ce, "udp", sport=40000)
    v, out = ce.run_lan(udp_from(ce, HOST, 40000, REMOTE, 53))
    assert v == XDP_REDIRECT and Ether in out
    assert assert_encap(out).dst == REMOTE


def test_own_source_enters_the_kernel_on_the_tunnel(ce):
    """What the data path hands to the kernel through the tunnel's peer with
    our own IPv4 as source (ICMP 3/13 to a LAN host, the hairpin fallback)
    is forwarded to the LAN, not dropped as a martian: a real frame written
    into the peer comes out on the LAN, TTL - 1."""
    import socket
    import time

    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        rx.bind(("lan0p", 0))
        rx.settimeout(0.2)
        tx.bind((ce.tun_peer, 0))
        frame = Ether(src=ce.mac["tun_peer"], dst=ce.mac["mape0"]) / \
            IP(src=IPV4, dst=HOST, ttl=64, id=0x5151) / UDP(sport=1234, dport=40000) / b"own-src"
        tx.send(raw(frame))
        end = time.monotonic() + 2
        got = None
        while got is None and time.monotonic() < end:
            try:
                data = rx.recv(4096)
            except socket.timeout:
                continue
            pkt = Ether(data)
            if IP in pkt and pkt[IP].id == 0x5151:
                got = pkt
        assert got is not None, "the kernel dropped a packet from our own IPv4 on the tunnel " \
            "(martian source: accept_local)"
        assert (got[IP].src, got[IP].dst, got[IP].ttl) == (IPV4, HOST, 63)
        assert got.dst == checks.HOST_MAC
    finally:
        rx.close()
        tx.close()


def test_accept_local_on_the_tunnel(ce):
    with open("/proc/sys/net/ipv4/conf/mape0/accept_local") as f:
        assert f.read().strip() == "1"


# ------------------------------------------- to CEs sharing our IPv4: a router's duties


def test_share_out_ttl_and_mss(ce):
    """XDP forwards these without the kernel, so it does what the kernel's
    forwarding would: TTL - 1, the SYN's MSS clamped to the tunnel MTU - 40."""
    from scapy.layers.inet import TCP
    frame = ce.lan_frame(IP(src=HOST, dst=IPV4, ttl=64) /
                         TCP(sport=42010, dport=5000, flags="S", options=[("MSS", 1460)]))
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == XDP_REDIRECT
    inner = assert_encap(out, dst6=BR)
    assert inner.ttl == 63 and inner[TCP].options[0] == ("MSS", checks.MTU - 40)
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"out_fast": 1, "session_new": 1, "mss_clamped": 1}


def icmp_back(ce, out, frame, icmp_type, code, mtu=None):
    """out: the frame turned into an ICMP error from our IPv4 back to the
    LAN host (XDP_TX), quoting its IPv4 header and 8 bytes."""
    assert out.dst == checks.HOST_MAC and out.src == ce.mac["lan0"] and out.type == 0x0800
    ip = out[IP]
    assert (ip.src, ip.dst, ip.proto) == (IPV4, HOST, 1)
    assert (ip[ICMP].type, ip[ICMP].code) == (icmp_type, code)
    if mtu is not None:
        assert ip[ICMP].nexthopmtu == mtu
    sent = raw(frame[IP])
    assert raw(ip[ICMP].payload) == sent[:(sent[0] & 0xf) * 4 + 8]
    verify_checksums(out)


def reset_icmp_bucket(ce):
    ce.map("mape_icmp_rl").update(0, bytes(16))


def test_share_out_ttl_expired(ce):
    reset_icmp_bucket(ce)
    frame = udp_from(ce, HOST, 42011, IPV4, 5000)
    frame[IP].ttl = 1
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == bpfsys.XDP_TX
    icmp_back(ce, out, frame, 11, 0)
    assert ce.ctr_delta(before) == {"drop_ttl": 1, "icmp_sent": 1, "session_new": 1}


def test_share_out_too_big_df(ce):
    """DF set and bigger than the tunnel MTU: fragmentation needed with the
    tunnel MTU (no path-MTU black hole); DF clear: dropped, counted."""
    reset_icmp_bucket(ce)
    frame = ce.lan_frame(IP(src=HOST, dst=IPV4, ttl=64, flags="DF") /
                         UDP(sport=42012, dport=5000) / (b"x" * (checks.MTU - 27)))
    assert len(frame[IP]) == checks.MTU + 1
    before = ce.counters()
    v, out = ce.run_lan(frame)
    assert v == bpfsys.XDP_TX
    icmp_back(ce, out, frame, 3, 4, mtu=checks.MTU)
    assert ce.ctr_delta(before) == {"drop_mtu": 1, "icmp_sent": 1, "session_new": 1}
    frame[IP].flags = 0
    before = ce.counters()
    v, _ = ce.run_lan(frame)
    assert v == XDP_DROP
    assert ce.ctr_delta(before) == {"drop_mtu": 1}


def test_hairpin_target_routed_into_the_tunnel(ce):
    """A session whose "LAN host" is an address routed into the tunnel (a
    source spoofed on the LAN): a hairpinned packet to it must not be sent
    into the tunnel unencapsulated (drop_martian)."""
    spoof = "198.51.100.50"
    try:
        ce.reup(["--filtering", "endpoint"])
        v, out = ce.run_lan(udp_from(ce, spoof, 40000, IPV4, 5000))   # via the shared path
        assert v == XDP_REDIRECT
        ext = assert_encap(out).sport
        v, out = ce.run_lan(udp_from(ce, HOST2, 41000, IPV4, ext))    # new flow: the kernel's
        assert v == XDP_REDIRECT and out.dst == ce.mac["mape0"]
        ext2 = out[IP].sport
        v, _ = ce.run_lan(udp_from(ce, spoof, 40000, IPV4, ext2))     # the "owner" answers
        before = ce.counters()
        v, out = ce.run_lan(udp_from(ce, HOST2, 41000, IPV4, ext))
        assert v == XDP_DROP, "redirected to ifindex %s" % out
        assert ce.ctr_delta(before) == {"drop_martian": 1}
    finally:
        ce.reup()
