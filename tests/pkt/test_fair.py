# SPDX-License-Identifier: MIT
"""Fair sharing: one LAN host cannot take the whole session table
(--max-sessions-per-host, by default a quarter of --max-sessions). Over its
share, a host's new flow is refused with ICMP 3/13 (drop_host_limit) while
other hosts' new flows go on; expiry gives the share back. And a share of
the port set (--max-ports-per-host, by default half): beyond it, a host's
new flows share ports already in use (port overlapping) instead of taking
the free ones the other hosts need."""
import struct
import time

import pytest
from scapy.layers.inet import ICMP, IP

import checks
from pktutil import HOST, HOST2, P_UDP, REMOTE, REMOTE2, TC_ACT_REDIRECT, open_session, tun_pkt

LIMIT = 4


def held(ce, host):
    v = ce.map("mape_hosts").lookup(bytes(map(int, host.split("."))))
    return 0 if v is None else struct.unpack("=I", v[:4])[0]


def ports_held(ce, host, pi=1):
    """Ports of protocol index pi (1: UDP) that host took first (struct mape_host.ports)."""
    v = ce.map("mape_hosts").lookup(bytes(map(int, host.split("."))))
    return 0 if v is None else struct.unpack("=4I", v)[1 + pi]


def test_default_is_a_quarter_of_the_table(ce):
    assert ce.cfg.max_per_host == ce.cfg.max_sessions // 4


def test_one_host_over_its_share(ce):
    try:
        ce.reup(["--max-sessions-per-host", str(LIMIT), "--timeout-udp", "1"])
        assert ce.cfg.max_per_host == LIMIT
        ce.flush_nat()
        for i in range(LIMIT):
            open_session(ce, "udp", 50000 + i, fast=False)
        assert held(ce, HOST) == LIMIT
        ce.map("mape_icmp_rl").update(0, bytes(16))     # a full ICMP token bucket
        before = ce.counters()
        v, out = ce.run_tun(tun_pkt(ce, "udp", 50000 + LIMIT))
        assert v == TC_ACT_REDIRECT and out.dst == ce.mac["mape0"]
        assert out[IP].dst == HOST and (out[ICMP].type, out[ICMP].code) == (3, 13)
        assert ce.ctr_delta(before) == {"drop_host_limit": 1, "icmp_sent": 1}
        assert len(ce.sessions()) == LIMIT
        # another host is not affected
        open_session(ce, "udp", 50000, src=HOST2, fast=False)
        assert held(ce, HOST2) == 1
        # expiry gives the share back
        end = time.monotonic() + 4
        while held(ce, HOST) and time.monotonic() < end:
            time.sleep(0.1)
        assert held(ce, HOST) == 0 and ce.session(P_UDP, HOST, 50000, REMOTE, 53) is None
        open_session(ce, "udp", 50000 + LIMIT, fast=False)
        assert held(ce, HOST) == 1
    finally:
        ce.reup()
        ce.flush_nat()


def test_the_routers_own_traffic_has_no_share(ce):
    """Sessions of our own IPv4 (the router's DNS, NTP, ...) are not limited."""
    try:
        ce.reup(["--max-sessions-per-host", "1"])
        for i in range(3):
            open_session(ce, "udp", 51000 + i, src=checks.IPV4, fast=False)
        assert len(ce.sessions()) == 3
    finally:
        ce.reup()
        ce.flush_nat()


def test_port_share_default_is_half_the_set(ce):
    assert ce.cfg.max_ports_host == (len(checks.PORT_SET) + 1) // 2


def test_port_share_over_the_set_is_refused(ce):
    with pytest.raises(RuntimeError, match="bad --max-ports-per-host '300': more than the "
                       "252 ports of the set"):
        ce.reup(["--max-ports-per-host", "300"])
    assert ce.cfg.max_ports_host == (len(checks.PORT_SET) + 1) // 2     # nothing applied


def test_one_host_over_its_port_share(ce):
    """Defect: one host's endpoints took every free port. With a share of 4,
    HOST's fifth endpoint shares a port in use (port overlapping), HOST2
    still gets a free port, and when no port in use is left for HOST's
    remote, HOST is refused (ICMP 3/13) while the set is far from full."""
    share = 4
    try:
        ce.reup(["--max-ports-per-host", str(share), "--max-sessions-per-host", "0"])
        assert ce.cfg.max_ports_host == share
        ce.flush_nat()
        mine = {open_session(ce, "udp", 50000 + i, fast=False) for i in range(share)}
        assert len(mine) == share and ports_held(ce, HOST) == share
        before = ce.counters()
        ext = open_session(ce, "udp", 50000 + share, dst=REMOTE2, fast=False)
        assert ext in mine, "over its share, the host must share a port in use"
        assert ce.ctr_delta(before) == {"out_slow": 1, "session_new": 1, "session_overlapped": 1}
        assert ports_held(ce, HOST) == share
        other = open_session(ce, "udp", 50000, src=HOST2, dst=REMOTE2, fast=False)
        assert other not in mine and ports_held(ce, HOST2) == 1
        # to REMOTE:53 every port HOST holds is taken; HOST2's port is not
        ext = open_session(ce, "udp", 50000 + share + 1, fast=False)
        assert ext == other
        ce.map("mape_icmp_rl").update(0, bytes(16))     # a full ICMP token bucket
        before = ce.counters()
        v, out = ce.run_tun(tun_pkt(ce, "udp", 50000 + share + 2))
        assert v == TC_ACT_REDIRECT and out[IP].dst == HOST
        assert (out[ICMP].type, out[ICMP].code) == (3, 13)
        assert ce.ctr_delta(before) == {"drop_host_limit": 1, "icmp_sent": 1}
    finally:
        ce.reup()
        ce.flush_nat()
