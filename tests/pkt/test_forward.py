# SPDX-License-Identifier: MIT
"""Port forwarding (`mapectl forward`, docs/design.md "Port forwarding"):
static NAPT of ports of our set to LAN servers, with a source filter.

An inbound first packet to a forwarded port enters the kernel translated to
the server, as if received on the tunnel (its firewall decides), and makes
no session; the server's answer makes it, and leaves from the forwarded
port, never from another. Forwarded ports are reserved: dynamic NAPT never
hands them out. Packets are built and checked with scapy."""
import json
import subprocess

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

import checks
from checks import verify_checksums
from conftest import MAPECTL
from pktutil import (HOST, HOST2, IPV4, P_TCP, P_UDP, REMOTE, REMOTE2, TC_ACT_REDIRECT,
                     XDP_DROP, XDP_REDIRECT, assert_encap, open_session,
                     tun_pkt, wan_pkt)

PORTS = sorted(checks.PORT_SET)
FWD = PORTS[40]                 # the forwarded external port of most tests
SRV_PORT = 8053                 # the server's own port behind it


def fwd_cmd(ce, *args):
    return subprocess.run([MAPECTL, "forward", *args, "--pin-dir", ce.pin_dir],
                          capture_output=True, text=True, timeout=30)


def fwd_list(ce):
    r = fwd_cmd(ce, "list", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def fwd(ce):
    """The CE with no forwards at the start and the end of the test."""
    def clear():
        for f in fwd_list(ce):
            protos = ["tcp", "udp"] if f["proto"] == "both" else [f["proto"]]
            for p in protos:
                fwd_cmd(ce, "del", p, str(f["ext_port"]))
    clear()
    yield ce
    clear()


def add(ce, *args):
    r = fwd_cmd(ce, "add", *args)
    assert r.returncode == 0, f"forward add {' '.join(args)}: {r.stderr}"
    return r.stdout


def nearest(port):
    below = [p for p in PORTS if p < port]
    above = [p for p in PORTS if p > port]
    return (below[-1] if below else None), (above[0] if above else None)


# ---------------------------------------------------------------- the command


def test_list_is_empty_json_list(fwd):
    r = fwd_cmd(fwd, "list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_add_list_del(fwd):
    add(fwd, "udp", str(FWD), f"{HOST}:{SRV_PORT}", "--comment", "dns")
    add(fwd, "--from", "198.51.100.0/29", "tcp", f"{PORTS[0]}-{PORTS[3]}", HOST2,
        "--from", "203.0.113.0/24")
    got = {(f["proto"], f["ext_port"]): f for f in fwd_list(fwd)}
    assert got[("udp", FWD)] == dict(got[("udp", FWD)], ext_last=FWD, host=HOST,
                                     port=SRV_PORT, **{"from": []}, comment="dns",
                                     sessions=0, enabled=True)
    t = got[("tcp", PORTS[0])]
    assert (t["ext_last"], t["host"], t["port"]) == (PORTS[3], HOST2, PORTS[0])
    assert t["from"] == ["198.51.100.0/29", "203.0.113.0/24"]
    r = fwd_cmd(fwd, "del", "tcp", str(PORTS[2]))      # any port of the range
    assert r.returncode == 0 and "removed" in r.stdout, r.stderr
    assert [(f["proto"], f["ext_port"]) for f in fwd_list(fwd)] == [("udp", FWD)]
    r = fwd_cmd(fwd, "del", "tcp", str(PORTS[2]))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,words", [
    (["tcp", "PORT_OUT", HOST], ["PORT_OUT", "NEAR_BELOW", "NEAR_ABOVE"]),
    (["tcp", "RANGE_SPAN", HOST], ["not all in", "port by port"]),
    (["tcp", str(FWD), "192.168.1.300"], ["192.168.1.300"]),
    (["tcp", str(FWD), f"{HOST}:0"], [f"{HOST}:0"]),
    (["icmp", str(FWD), HOST], ["icmp"]),
    (["tcp", "70000", HOST], ["70000"]),
    (["tcp", str(FWD), IPV4], ["own IPv4"]),
    (["tcp", str(FWD), HOST, "--from", "198.51.100.0/33"], ["198.51.100.0/33"]),
    (["tcp", str(FWD)], ["HOST"]),
], ids=["outside-set", "range-spans-blocks", "bad-host", "port-0", "bad-proto", "bad-port",
        "our-own-ipv4", "bad-from", "missing-host"])
def test_refused_with_one_line(fwd, args, words):
    """A bad forward is refused: exit 1, one line naming the bad value,
    nothing stored."""
    out_port = next(p for p in range(PORTS[10], 65536) if p not in checks.PORT_SET_S)
    below, above = nearest(out_port)
    # a range from the last port of one block of the set into the next
    first = next(p for p in PORTS if p + 1 not in checks.PORT_SET_S)
    subst = {"PORT_OUT": str(out_port), "NEAR_BELOW": str(below), "NEAR_ABOVE": str(above),
             "RANGE_SPAN": f"{first - 1}-{first + 1}"}
    args = [subst.get(a, a) for a in args]
    r = fwd_cmd(fwd, "add", *args)
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and r.stdout == "", r.stderr
    for w in words:
        assert subst.get(w, w) in lines[0], lines[0]
    assert fwd_list(fwd) == []


def test_a_port_forwarded_twice_is_refused(fwd):
    add(fwd, "both", str(FWD), HOST)
    for proto in ("tcp", "udp", "both"):
        r = fwd_cmd(fwd, "add", proto, str(FWD), HOST2)
        assert r.returncode == 1 and str(FWD) in r.stderr and "already" in r.stderr
    # the same server port from a second external port: refused too
    r = fwd_cmd(fwd, "add", "udp", str(PORTS[41]), f"{HOST}:{FWD}")
    assert r.returncode == 1 and "already published" in r.stderr
    assert len(fwd_list(fwd)) == 1


# ---------------------------------------------------------------- the data path


def udp_in(ce, port, src=REMOTE, sport=5353, payload=b"query"):
    return ce.wan_frame(IP(src=src, dst=IPV4, ttl=64) / UDP(sport=sport, dport=port) / payload)


def test_inbound_enters_the_kernel_translated(fwd):
    """A first packet to a forwarded port: to the server, through the
    kernel (as if received on the tunnel), no session made."""
    add(fwd, "udp", str(FWD), f"{HOST}:{SRV_PORT}")
    before = fwd.counters()
    v, out = fwd.run_wan(udp_in(fwd, FWD))
    assert v == XDP_REDIRECT and out.dst == fwd.mac["mape0"]
    ip = out[IP]
    assert (ip.src, ip.dst, ip.sport, ip.dport) == (REMOTE, HOST, 5353, SRV_PORT)
    assert bytes(ip[UDP].payload) == b"query"
    verify_checksums(out)
    assert fwd.ctr_delta(before) == {"in_slow": 1, "to_kernel_forward": 1}
    assert fwd.sessions() == []


def test_the_answer_leaves_from_the_forwarded_port(fwd):
    """The server's answer makes the session on the forwarded port; the flow
    then runs both ways on it."""
    add(fwd, "udp", str(FWD), f"{HOST}:{SRV_PORT}")
    v, out = fwd.run_tun(tun_pkt(fwd, "udp", SRV_PORT, 5353))
    assert v == TC_ACT_REDIRECT
    assert_encap(out)
    assert (out[IP].src, out[IP].sport, out[IP].dport) == (IPV4, FWD, 5353)
    verify_checksums(out)
    s = fwd.session(P_UDP, HOST, SRV_PORT, REMOTE, 5353)
    assert s is not None and s.ext_port == FWD
    v, out = fwd.run_wan(udp_in(fwd, FWD))
    assert v == XDP_REDIRECT and (out[IP].dst, out[IP].dport) == (HOST, SRV_PORT)
    assert fwd_list(fwd)[0]["sessions"] == 1


def test_tcp_syn_in_syn_ack_out(fwd):
    add(fwd, "tcp", str(FWD), f"{HOST}:80")
    syn = fwd.wan_frame(IP(src=REMOTE2, dst=IPV4) / TCP(sport=33000, dport=FWD, flags="S",
                                                          seq=5))
    v, out = fwd.run_wan(syn)
    assert v == XDP_REDIRECT and (out[IP].dst, out[TCP].dport) == (HOST, 80)
    verify_checksums(out)
    # not a SYN: no flow to open
    before = fwd.counters()
    ack = fwd.wan_frame(IP(src=REMOTE2, dst=IPV4) / TCP(sport=33001, dport=FWD, flags="A"))
    v, _ = fwd.run_wan(ack)
    assert v == XDP_DROP and fwd.ctr_delta(before) == {"drop_no_session": 1}
    v, out = fwd.run_tun(tun_pkt(fwd, "tcp", 80, 33000, dst=REMOTE2, flags="SA"))
    assert v == TC_ACT_REDIRECT and (out[TCP].sport, out[TCP].dport) == (FWD, 33000)
    verify_checksums(out)


def test_from_filters_before_any_state(fwd):
    """--from: other sources are dropped in XDP and counted; admitted ones
    reach the server."""
    add(fwd, "udp", str(FWD), HOST, "--from", "198.51.100.0/29")   # REMOTE .7 in, .8 not
    before = fwd.counters()
    v, _ = fwd.run_wan(udp_in(fwd, FWD, src=REMOTE2))
    assert v == XDP_DROP
    assert fwd.ctr_delta(before) == {"drop_fwd_filtered": 1}
    v, out = fwd.run_wan(udp_in(fwd, FWD, src=REMOTE))
    assert v == XDP_REDIRECT and out[IP].dst == HOST
    assert fwd.sessions() == []


def test_forwarded_ports_are_reserved(fwd):
    """Dynamic NAPT never hands out a forwarded port: not as a host's own
    port, not from the search, not when it overlaps."""
    add(fwd, "udp", str(FWD), HOST2)
    # a LAN host whose own port is FWD gets another one
    ext = open_session(fwd, "udp", sport=FWD, fast=False)
    assert ext != FWD
    # more flows than the set has ports: every port is used, overlapping ones too
    exts = set()
    for i in range(len(PORTS) + 20):
        v, out = fwd.run_tun(tun_pkt(fwd, "udp", 20000 + i, src=HOST))
        if v == TC_ACT_REDIRECT and out.haslayer(IPv6):
            exts.add(out[IP].sport)
    assert FWD not in exts and len(exts) > len(PORTS) // 3


def test_no_reply_from_another_port(fwd):
    """When the forwarded port's tuple to that remote is taken by an earlier
    dynamic session, the server's packet is dropped rather than sent from
    another port."""
    ext = open_session(fwd, "udp", sport=40000, dport=5353, src=HOST2, fast=False)
    add(fwd, "udp", str(ext), f"{HOST}:{SRV_PORT}")
    v, out = fwd.run_tun(tun_pkt(fwd, "udp", SRV_PORT, 5353))
    assert v != TC_ACT_REDIRECT or not out.haslayer(IPv6), out.summary()
    # another remote: the forwarded port
    v, out = fwd.run_tun(tun_pkt(fwd, "udp", SRV_PORT, 5353, dst=REMOTE2))
    assert v == TC_ACT_REDIRECT and out[IP].sport == ext


def test_earlier_dynamic_session_keeps_its_port(fwd):
    """A session on the port before the forward keeps it until it ends, and
    is shown; new flows from elsewhere go to the server."""
    ext = open_session(fwd, "udp", sport=40000, src=HOST2, fast=False)
    out = add(fwd, "udp", str(ext), HOST)
    assert "1 session made before the forward" in out
    f = fwd_list(fwd)[0]
    assert (f["sessions"], f["other_sessions"]) == (0, 1)
    v, o = fwd.run_wan(udp_in(fwd, ext, src=REMOTE, sport=53))
    assert v == XDP_REDIRECT and (o[IP].dst, o[IP].dport) == (HOST2, 40000)
    v, o = fwd.run_wan(udp_in(fwd, ext, src=REMOTE2, sport=53))
    assert v == XDP_REDIRECT and (o[IP].dst, o[IP].dport) == (HOST, ext)
    st = fwd_status(fwd)
    assert st["port_usage"]["udp"]["forwarded"] == 1 and st["forwards"][0]["other_sessions"] == 1


def fwd_status(ce):
    r = subprocess.run([MAPECTL, "status", "--json", "--pin-dir", ce.pin_dir],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_hairpin_to_a_forward(fwd):
    """A LAN host reaching our IPv4 on a forwarded port reaches the server
    (RFC 4787 REQ-9), through the kernel, from our IPv4 and its own
    external port; the filter applies to that source."""
    add(fwd, "udp", str(FWD), f"{HOST}:{SRV_PORT}")
    frame = fwd.lan_frame(IP(src=HOST2, dst=IPV4, ttl=64) / UDP(sport=41000, dport=FWD) /
                          b"hp")
    before = fwd.counters()
    v, out = fwd.run_lan(frame)
    assert v == XDP_REDIRECT and out.dst == fwd.mac["mape0"]
    ip = out[IP]
    assert (ip.src, ip.dst, ip.dport) == (IPV4, HOST, SRV_PORT) and ip.sport in checks.PORT_SET_S
    verify_checksums(out)
    d = fwd.ctr_delta(before)
    assert d.get("hairpin") == 1 and d.get("to_kernel_forward") == 1, d
    # the server's answer goes back to HOST2, from the forwarded port
    ext2 = ip.sport
    ans = fwd.lan_frame(IP(src=HOST, dst=IPV4, ttl=64) / UDP(sport=SRV_PORT, dport=ext2) / b"a")
    v, out = fwd.run_lan(ans)
    assert v == XDP_REDIRECT
    assert (out[IP].src, out[IP].sport, out[IP].dst, out[IP].dport) == \
        (IPV4, FWD, HOST2, 41000)
    verify_checksums(out)


def test_hairpin_filtered_by_from(fwd):
    add(fwd, "udp", str(FWD), HOST, "--from", "203.0.113.0/24")
    frame = fwd.lan_frame(IP(src=HOST2, dst=IPV4, ttl=64) / UDP(sport=41000, dport=FWD) / b"x")
    before = fwd.counters()
    v, _ = fwd.run_lan(frame)
    assert v == XDP_DROP and fwd.ctr_delta(before).get("drop_fwd_filtered") == 1


def test_del_gives_the_port_back(fwd):
    add(fwd, "udp", str(FWD), HOST)
    r = fwd_cmd(fwd, "del", "udp", str(FWD))
    assert r.returncode == 0, r.stderr
    before = fwd.counters()
    v, _ = fwd.run_wan(udp_in(fwd, FWD))
    assert v == XDP_DROP and fwd.ctr_delta(before) == {"drop_no_session": 1}
    ext = open_session(fwd, "udp", sport=FWD, fast=False)
    assert ext == FWD      # its own port, free again
    for m in ("mape_fwd", "mape_fwd_rev", "mape_fwd_src"):
        assert fwd.map(m).keys() == [], m


def test_forwards_survive_up_again(fwd):
    add(fwd, "tcp", str(FWD), f"{HOST}:80", "--from", "198.51.100.0/24")
    fwd.reup()
    assert [(f["proto"], f["ext_port"], f["enabled"]) for f in fwd_list(fwd)] == \
        [("tcp", FWD, True)]
    syn = fwd.wan_frame(IP(src=REMOTE, dst=IPV4) / TCP(sport=33000, dport=FWD, flags="S"))
    v, out = fwd.run_wan(syn)
    assert v == XDP_REDIRECT and (out[IP].dst, out[TCP].dport) == (HOST, 80)
    assert len(fwd.map("mape_fwd_src").keys()) == 1


def test_server_talks_to_many_remotes_from_its_port(fwd):
    """Static NAPT: whatever remote the server sends to (first or in answer),
    it sends from its forwarded port."""
    add(fwd, "udp", str(FWD), f"{HOST}:{SRV_PORT}")
    for i in range(5):
        v, out = fwd.run_tun(tun_pkt(fwd, "udp", SRV_PORT, 6000 + i, dst=f"198.51.100.{20 + i}"))
        assert v == TC_ACT_REDIRECT and out[IP].sport == FWD
    assert fwd_list(fwd)[0]["sessions"] == 5
