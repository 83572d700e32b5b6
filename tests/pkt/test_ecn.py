# SPDX-License-Identifier: MIT
"""ECN across the tunnel (RFC 6040, normal mode), CE side.

Encapsulation copies the inner packet's ECN field into the outer IPv6
traffic class (s4.1; DSCP is not copied). Decapsulation combines the two
fields by the table of s4.2 (checks.RFC6040, written from the RFC):

    inner \\ outer   Not-ECT  ECT(0)  ECT(1)  CE
    Not-ECT          Not-ECT  Not-ECT Not-ECT drop
    ECT(0)           ECT(0)   ECT(0)  ECT(1)  CE
    ECT(1)           ECT(1)   ECT(1)  ECT(1)  CE
    CE               CE       CE      CE      CE

The BR's programs are checked the same way in test_br_ecn.py.
"""
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6

import checks
from checks import verify_checksums
from pktutil import (HOST, IPV4, REMOTE, TC_ACT_REDIRECT, XDP_DROP, XDP_REDIRECT, assert_encap,
                     open_session)

NOT_ECT, ECT1, ECT0, CE = checks.NOT_ECT, checks.ECT1, checks.ECT0, checks.CE
DSCP = 0xb8     # EF: present in the inner TOS, never copied out
RFC6040, DROP = checks.RFC6040, None


@pytest.mark.parametrize("ecn", [NOT_ECT, ECT1, ECT0, CE])
def test_tun_encap_copies_ecn(ce, ecn):
    """mape_tun (slow path, a new session): outer traffic class = inner ECN."""
    ip = IP(src=HOST, dst=REMOTE, ttl=63, tos=DSCP | ecn) / UDP(sport=40000, dport=53) / b"e"
    v, out = ce.run_tun(ce.tun_frame(ip))
    assert v == TC_ACT_REDIRECT
    inner = assert_encap(out)
    assert out[IPv6].tc == ecn
    assert inner.tos == DSCP | ecn
    verify_checksums(out)


@pytest.mark.parametrize("ecn", [NOT_ECT, ECT1, ECT0, CE])
def test_lan_fast_path_copies_ecn(ce, ecn):
    """mape_lan (XDP fast path of an established session): the same."""
    ext = open_session(ce, "udp", 40001)
    ip = IP(src=HOST, dst=REMOTE, ttl=64, tos=DSCP | ecn) / UDP(sport=40001, dport=53) / b"e"
    v, out = ce.run_lan(ce.lan_frame(ip))
    assert v == XDP_REDIRECT
    inner = assert_encap(out)
    assert inner.sport == ext
    assert out[IPv6].tc == ecn
    assert inner.tos == DSCP | ecn
    verify_checksums(out)


@pytest.mark.parametrize("inner_ecn,outer_ecn", sorted(RFC6040))
def test_wan_decap_combines_ecn(ce, inner_ecn, outer_ecn):
    """mape_wan: the inner ECN field after decapsulation is RFC 6040's; a CE
    outer over a Not-ECT packet is dropped and counted as drop_ecn."""
    ext = open_session(ce, "udp", 40002)
    inner = IP(src=REMOTE, dst=IPV4, ttl=64, tos=DSCP | inner_ecn, id=0x4321) / \
        UDP(sport=53, dport=ext) / b"in-data"
    frame = checks.mape_pkt(inner, src6=checks.BR, dst6=checks.CE_ADDR,
                            eth_src=checks.BR_MAC, eth_dst=ce.mac["wan0"])
    frame[IPv6].tc = DSCP | outer_ecn
    before = ce.counters()
    v, out = ce.run_wan(frame)
    want = RFC6040[(inner_ecn, outer_ecn)]
    if want is DROP:
        assert v == XDP_DROP
        assert ce.ctr_delta(before) == {"drop_ecn": 1}
        return
    assert v == XDP_REDIRECT
    ip = out[IP]
    assert IPv6 not in out and ip.dst == HOST and ip[UDP].dport == 40002
    assert ip.tos == DSCP | want    # the outer DSCP is not copied in (RFC 6040 s4.2)
    verify_checksums(out)
    assert ce.ctr_delta(before) == {"in_fast": 1}
