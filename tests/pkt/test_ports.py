# SPDX-License-Identifier: MIT
"""Port allocation over the whole set, port overlapping (RFC 7857 s3.2) and
exhaustion, with the 252-port RFC 7597 example set: mape_tun is run in a
loop (BPF_PROG_TEST_RUN), one new internal endpoint per packet, with the
per-host share of ports off.
"""
import pytest
import time

from scapy.compat import raw
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import IPv6

import checks
from checks import verify_checksums
from pktutil import (HOST, IPV4, P_TCP, P_UDP, REMOTE, REMOTE2, TC_ACT_REDIRECT,
                     TC_ACT_SHOT, XDP_DROP, XDP_REDIRECT, assert_encap, new_flags, ports_used, tun_pkt,
                     wan_pkt)

N = len(checks.PORT_SET)
BASE = 10000        # internal ports 10000.. (none of them in the set: never kept)


@pytest.fixture(scope="module", autouse=True)
def whole_set_for_one_host(ce_session):
    """These tests give the whole set to one LAN host: no per-host share of
    ports (test_fair.py tests the share)."""
    ce_session.reup(["--max-ports-per-host", "0"])
    yield
    ce_session.reup()


def reset_icmp_bucket(ce):
    """Token bucket of the ICMP errors we send back to "never used": the next
    error finds it full (--icmp-rate tokens)."""
    ce.map("mape_icmp_rl").update(0, bytes(16))


def assert_unreach13(ce, v, out, frame):
    """The packet turned into ICMP destination unreachable, code 13, from our
    IPv4 to the LAN host, quoting its IPv4 header + 8 bytes, sent back into the
    kernel through mape0's peer (Ethernet as if received on mape0)."""
    assert v == TC_ACT_REDIRECT
    assert out.dst == ce.mac["mape0"] and out.src == ce.mac["tun_peer"] and out.type == 0x0800
    orig = raw(frame)[14:]
    want = IP(src=IPV4, dst=HOST, tos=0xc0, ttl=64, id=0, flags=0) / \
        ICMP(type=3, code=13) / orig[:28]
    assert raw(out)[14:] == raw(want), out.show2(dump=True)
    verify_checksums(out)


def fill(ce, kind="udp", dst=REMOTE, base=BASE, n=N, host=HOST):
    """n new endpoints host:base+i -> dst:53 (or :80); returns {int_port: ext}."""
    assert not any(checks.in_port_set(p) for p in range(base, base + n))
    got = {}
    for i in range(n):
        v, out = ce.run_tun(tun_pkt(ce, kind, base + i, dst=dst, src=host, flags=new_flags(kind)))
        assert v == TC_ACT_REDIRECT, "endpoint %d: verdict %d" % (i, v)
        got[base + i] = out[IPv6].payload.sport
        if i % 25 == 0:
            verify_checksums(out)
    return got


@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_whole_set_then_overlap_then_exhausted(ce, kind):
    proto = P_UDP if kind == "udp" else P_TCP
    rport = 53 if kind == "udp" else 80
    # 1. 252 endpoints to one remote: 252 distinct ports, exactly the set
    before = ce.counters()
    first = fill(ce, kind)
    assert sorted(first.values()) == checks.PORT_SET
    assert ce.ctr_delta(before) == {"out_slow": N, "session_new": N}
    used = ports_used(ce, proto)
    assert sorted(used) == checks.PORT_SET
    assert all(e.sessions == 1 and e.shared == 0 and e.int_addr == HOST for e in used.values())
    assert {e.int_port: p for p, e in used.items()} == first
    # 2. new endpoints to ANOTHER remote address: every port is in use, so they
    # overlap on ports whose (proto, REMOTE2, rport) is still free
    before = ce.counters()
    over = fill(ce, kind, dst=REMOTE2, base=20000, n=10)
    assert len(set(over.values())) == 10 and all(checks.in_port_set(p) for p in over.values())
    assert ce.ctr_delta(before) == {"out_slow": 10, "session_new": 10, "session_overlapped": 10}
    for ip, ext in over.items():
        e = ce.port(proto, ext)
        assert (e.sessions, e.shared) == (2, 1)
        assert (e.int_addr, e.int_port) == (HOST, [k for k, v in first.items() if v == ext][0])
        s = ce.session(proto, HOST, ip, REMOTE2, rport)
        assert s.ext_port == ext
    # an overlapped (shared) port accepts exact matches only
    ext0 = next(iter(over.values()))
    owner = [k for k, v in first.items() if v == ext0][0]
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, kind, ext0, src=REMOTE2))
    assert v == XDP_REDIRECT and out[IP].dport == [k for k, v in over.items() if v == ext0][0]
    verify_checksums(out)
    v, out = ce.run_wan(wan_pkt(ce, kind, ext0, src=REMOTE))
    assert v == XDP_REDIRECT and out[IP].dport == owner
    verify_checksums(out)
    v, _ = ce.run_wan(wan_pkt(ce, kind, ext0, src=REMOTE, sport=9999))
    assert v == XDP_DROP
    # (these sessions have no conntrack entry: the kernel takes their packets)
    assert ce.ctr_delta(before) == {"in_slow": 2, "to_kernel_ct": 2, "drop_no_session": 1}
    # 3. a new endpoint to REMOTE:rport, whose tuple is taken on every port:
    # refused (drop_ports_exhausted), the host told with ICMP 3/13 (design.md)
    snap = sorted(ce.map("mape_out").items())
    reset_icmp_bucket(ce)
    before = ce.counters()
    frame = tun_pkt(ce, kind, 30000, flags=new_flags(kind))
    v, out = ce.run_tun(frame)
    assert_unreach13(ce, v, out, frame)
    assert ce.ctr_delta(before) == {"drop_ports_exhausted": 1, "icmp_sent": 1}
    assert sorted(ce.map("mape_out").items()) == snap
    # ... while another remote port of REMOTE still overlaps
    before = ce.counters()
    v, out = ce.run_tun(tun_pkt(ce, kind, 30000, dport=rport + 1, flags=new_flags(kind)))
    assert v == TC_ACT_REDIRECT and checks.in_port_set(out[IPv6].payload.sport)
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1, "session_overlapped": 1}
    # 4. existing sessions still translate both ways
    for ip in (BASE, BASE + 100, BASE + N - 1):
        v, out = ce.run_tun(tun_pkt(ce, kind, ip))
        assert v == TC_ACT_REDIRECT
        inner = assert_encap(out)
        assert inner.sport == first[ip] and inner.src == IPV4
        verify_checksums(out)
        v, out = ce.run_wan(wan_pkt(ce, kind, first[ip]))
        assert v == XDP_REDIRECT and out[IP].dport == ip and out[IP].dst == HOST
        verify_checksums(out)


def test_exhausted_per_protocol(ce):
    """Port usage is per protocol: UDP exhausted, TCP still has the whole set."""
    fill(ce, "udp")
    reset_icmp_bucket(ce)
    frame = tun_pkt(ce, "udp", 30000)
    v, out = ce.run_tun(frame)
    assert_unreach13(ce, v, out, frame)
    v, out = ce.run_tun(tun_pkt(ce, "tcp", 30000, flags="S"))
    assert v == TC_ACT_REDIRECT
    assert ce.port(P_TCP, out[IPv6].payload.sport).shared == 0


def test_eim_binding_survives_full_set(ce):
    """An endpoint with a binding keeps its port to a new remote even when the
    set is full (EIM is preferred to overlapping)."""
    first = fill(ce, "udp")
    before = ce.counters()
    v, out = ce.run_tun(tun_pkt(ce, "udp", BASE + 5, dst=REMOTE2))
    assert v == TC_ACT_REDIRECT and out[IPv6].payload.sport == first[BASE + 5]
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1}
    e = ce.port(P_UDP, first[BASE + 5])
    assert (e.sessions, e.shared) == (2, 0)


def test_exhausted_icmp_rate_limited(ce):
    """At most --icmp-rate errors per second (a full bucket to start with): the
    others are plain drops (TC_ACT_SHOT), counted icmp_rate_limited; every one
    is a drop_ports_exhausted."""
    fill(ce, "udp")
    rate = ce.cfg.icmp_rate
    assert rate >= 1
    n = rate + 20
    reset_icmp_bucket(ce)
    before = ce.counters()
    t0 = time.monotonic()
    verdicts = []
    for i in range(n):
        v, out = ce.run_tun(tun_pkt(ce, "udp", 30000 + i))
        verdicts.append(v)
    elapsed = time.monotonic() - t0
    sent = verdicts.count(TC_ACT_REDIRECT)
    assert verdicts.count(TC_ACT_SHOT) == n - sent
    # the bucket starts full and refills at `rate` per second
    assert rate <= sent <= rate + int(elapsed * rate) + 1
    assert ce.ctr_delta(before) == {"drop_ports_exhausted": n, "icmp_sent": sent,
                                    "icmp_rate_limited": n - sent}
    assert verdicts[:rate] == [TC_ACT_REDIRECT] * rate
