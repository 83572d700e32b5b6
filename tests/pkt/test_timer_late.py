# SPDX-License-Identifier: MIT
"""A session whose expiry timer could not be armed when it was made (newer
kernels allocate a bpf_timer with a lock-free allocator that fails for a
moment under bursts) is flagged MAPE_SESS_NO_TIMER and armed by the sweep
(`up`, and the janitor, a timer of its own, a second after the failure). Before, such a session never expired and held its port for
ever. The state is made here the way the kernel leaves it: the session is
rewritten from userspace, which gives the element a fresh, unarmed timer."""
import struct
import time

import pytest
from scapy.layers.inet6 import IPv6

import bpfsys
from pktutil import HOST, P_UDP, REMOTE, TC_ACT_REDIRECT, XDP_PASS, open_session, tun_pkt

NO_TIMER = bpfsys.MAPE_SESS_NO_TIMER


def unarm(ce, timeout=1):
    """Make the session HOST:40000 -> REMOTE:53 one without a timer."""
    k = ce.session_key(P_UDP, HOST, 40000, REMOTE, 53)
    s = ce.session(P_UDP, HOST, 40000, REMOTE, 53)
    s.flags |= NO_TIMER
    s.timeout = timeout
    s.timer = bytes(16)
    ce.map("mape_out").update(k, s.pack())


def wait_gone(ce, limit):
    end = time.monotonic() + limit
    while ce.session(P_UDP, HOST, 40000, REMOTE, 53) and time.monotonic() < end:
        time.sleep(0.1)
    return ce.session(P_UDP, HOST, 40000, REMOTE, 53)


@pytest.fixture
def late(ce):
    ce.flush_nat()
    ext = open_session(ce, "udp", 40000, fast=False)
    unarm(ce)
    yield ext
    ce.flush_nat()


def test_unarmed_session_would_stay(ce, late):
    """The premise: without a timer nothing ends the session."""
    time.sleep(2.5)
    s = ce.session(P_UDP, HOST, 40000, REMOTE, 53)
    assert s is not None and s.flags & NO_TIMER


def test_its_packets_work_without_arming_it(ce, late):
    """The session keeps working meanwhile; its packets do not retry the
    allocation (a failing one per packet would slow the fast path)."""
    v, out = ce.run_tun(tun_pkt(ce, "udp", 40000))
    assert v == TC_ACT_REDIRECT and out[IPv6].payload.sport == late
    assert ce.session(P_UDP, HOST, 40000, REMOTE, 53).flags & NO_TIMER


def test_sweep_arms_it(ce, late):
    v, out, _ = ce.progs["mape_sweep"].run(bytes(64))
    assert v == XDP_PASS and struct.unpack_from("=2I", out, 0) == (0, 1)
    assert not ce.session(P_UDP, HOST, 40000, REMOTE, 53).flags & NO_TIMER
    assert wait_gone(ce, 5) is None
    assert ce.port(P_UDP, late).sessions == 0
