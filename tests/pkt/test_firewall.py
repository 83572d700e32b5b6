# SPDX-License-Identifier: MIT
"""The firewall decides (flowtable semantics, docs/design.md "The firewall
decides"): XDP carries a session's packets only once the kernel's conntrack
has the flow established both ways, as an nftables flowtable does; until
then, and again after a FIN or RST, or when the conntrack entry is gone,
every packet goes through the kernel (its firewall and conntrack). While
XDP carries a flow it keeps the conntrack entry alive (its timeout set to
the session's).

conntrack entries are written here with conntrack(8) as the kernel has them
after its firewall let a flow's first packets through both ways.
"""
import re

from scapy.layers.inet import IP

import bpfsys
from pktutil import (HOST, P_TCP, P_UDP, REMOTE, TC_ACT_REDIRECT, TO_UDP, XDP_PASS,
                     XDP_REDIRECT, lan_pkt, open_session, tun_pkt, wan_pkt)

FAST = bpfsys.MAPE_SESS_FAST


def fast(ce, proto, sport=40000, rport=53):
    return bool(ce.session(proto, HOST, sport, REMOTE, rport).flags & FAST)


def ct_timeout(ce, proto, sport, rport):
    """Seconds left on the conntrack entry of HOST:sport -> REMOTE:rport."""
    name = {P_UDP: "udp", P_TCP: "tcp"}[proto]
    for line in ce.ct_entries():
        if line.startswith(name) and "sport=%d dport=%d" % (sport, rport) in line:
            return int(line.split()[2])
    return None


def test_not_established_goes_through_the_kernel(ce):
    """A session the kernel's conntrack has not seen answered: the LAN's next
    packet is left to the kernel, the reply enters it through the tunnel."""
    ext = open_session(ce, "udp", fast=False)
    assert not fast(ce, P_UDP)
    before = ce.counters()
    v, _ = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_PASS
    assert ce.ctr_delta(before) == {"out_to_kernel": 1, "to_kernel_ct": 1}
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, "udp", ext))
    assert v == XDP_REDIRECT and out.dst == ce.mac["mape0"]
    assert out[IP].dst == HOST and out[IP].dport == 40000
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_ct": 1}
    assert not fast(ce, P_UDP)


def test_taken_over_once_established(ce):
    """conntrack has it established (the reply went through the kernel): XDP
    takes both directions, counted once, and sets conntrack's timeout to the
    session's (300 s for UDP) so that it does not expire under XDP."""
    ext = open_session(ce, "udp", fast=False)
    ce.ct_insert(P_UDP, HOST, 40000, REMOTE, 53)
    assert ct_timeout(ce, P_UDP, 40000, 53) > TO_UDP + 100          # 600 as written
    before = ce.counters()
    v, out = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_REDIRECT and out.type == 0x86DD
    assert ce.ctr_delta(before) == {"out_fast": 1, "session_offloaded": 1}
    assert fast(ce, P_UDP)
    assert TO_UDP - 5 <= ct_timeout(ce, P_UDP, 40000, 53) <= TO_UDP
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, "udp", ext))
    assert v == XDP_REDIRECT and out.dst != ce.mac["mape0"]
    v, _ = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_REDIRECT
    assert ce.ctr_delta(before) == {"in_fast": 1, "out_fast": 1}


def test_taken_over_by_the_slow_path_too(ce):
    """The kernel's own path marks it too: the next LAN packet through mape_tun
    after conntrack saw the reply."""
    open_session(ce, "udp", fast=False)
    ce.ct_insert(P_UDP, HOST, 40000, REMOTE, 53)
    before = ce.counters()
    v, _ = ce.run_tun(tun_pkt(ce, "udp", 40000))
    assert v == TC_ACT_REDIRECT
    assert ce.ctr_delta(before) == {"out_slow": 1, "session_offloaded": 1}
    assert fast(ce, P_UDP)


def test_only_the_first_packet_seen_is_not_enough(ce):
    """conntrack saw the LAN's SYN only (no answer): the kernel keeps the flow."""
    ext = open_session(ce, "tcp", flags="S", fast=False)
    ce.ct_insert(P_TCP, HOST, 40000, REMOTE, 80, established=False)
    v, out = ce.run_wan(wan_pkt(ce, "tcp", ext, flags="SA"))
    assert v == XDP_REDIRECT and out.dst == ce.mac["mape0"]
    v, _ = ce.run_lan(lan_pkt(ce, "tcp", 40000, flags="A"))
    assert v == XDP_PASS
    assert not fast(ce, P_TCP, rport=80)


def test_fin_and_rst_give_the_flow_back(ce):
    """An established TCP flow in XDP: a FIN from outside goes to the kernel
    (which must see the end) and so does everything after it."""
    ext = open_session(ce, "tcp")
    v, out = ce.run_lan(lan_pkt(ce, "tcp", 40000, flags="PA"))
    assert v == XDP_REDIRECT and fast(ce, P_TCP, rport=80)
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, "tcp", ext, flags="FA"))
    assert v == XDP_REDIRECT and out.dst == ce.mac["mape0"]
    assert not fast(ce, P_TCP, rport=80)
    v, _ = ce.run_lan(lan_pkt(ce, "tcp", 40000, flags="PA"))
    assert v == XDP_PASS
    v, out = ce.run_wan(wan_pkt(ce, "tcp", ext, flags="PA"))
    assert out.dst == ce.mac["mape0"]
    assert ce.ctr_delta(before) == {"in_slow": 2, "out_to_kernel": 1, "to_kernel_ct": 3}


def test_rst_gives_the_flow_back(ce):
    ext = open_session(ce, "tcp")
    v, _ = ce.run_lan(lan_pkt(ce, "tcp", 40000, flags="PA"))
    assert v == XDP_REDIRECT and fast(ce, P_TCP, rport=80)
    v, out = ce.run_wan(wan_pkt(ce, "tcp", ext, flags="R"))
    assert v == XDP_REDIRECT and out.dst == ce.mac["mape0"]
    assert not fast(ce, P_TCP, rport=80)


def test_icmp_echo_needs_no_conntrack(ce):
    """conntrack's lookup serves TCP and UDP: echo replies are XDP's at once."""
    ident = open_session(ce, "icmp")
    before = ce.counters()
    v, out = ce.run_wan(wan_pkt(ce, "icmp", ident))
    assert v == XDP_REDIRECT and out.dst != ce.mac["mape0"]
    assert ce.ctr_delta(before) == {"in_fast": 1}


def test_entry_gone_gives_the_flow_back(ce):
    """conntrack forgot the flow (flushed, a ruleset reload, `conntrack -D`):
    at XDP's next refresh (every 5 s) the flow goes back to the kernel, which
    decides anew. Until then XDP refreshes the entry it has."""
    import subprocess
    import time

    ext = open_session(ce, "udp")
    v, _ = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_REDIRECT and fast(ce, P_UDP)
    subprocess.run(["conntrack", "-D", "-p", "udp", "-s", HOST, "--sport", "40000"],
                   capture_output=True, check=True)
    time.sleep(5.3)
    before = ce.counters()
    v, _ = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_PASS
    assert ce.ctr_delta(before) == {"out_to_kernel": 1, "to_kernel_ct": 1, "session_ct_lost": 1}
    assert not fast(ce, P_UDP)
    v, out = ce.run_wan(wan_pkt(ce, "udp", ext))
    assert out.dst == ce.mac["mape0"]
