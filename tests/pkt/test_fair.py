# SPDX-License-Identifier: MIT
"""Fair sharing: one LAN host cannot take the whole session table
(--max-sessions-per-host, by default a quarter of --max-sessions). Over its
share, a host's new flow is refused with ICMP 3/13 (drop_host_limit) while
other hosts' new flows go on; expiry gives the share back."""
import struct
import time

from scapy.layers.inet import ICMP, IP

import checks
from pktutil import HOST, HOST2, P_UDP, REMOTE, TC_ACT_REDIRECT, open_session, tun_pkt

LIMIT = 4


def held(ce, host):
    v = ce.map("mape_hosts").lookup(bytes(map(int, host.split("."))))
    return 0 if v is None else struct.unpack("=I", v)[0]


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
