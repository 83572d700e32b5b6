# SPDX-License-Identifier: MIT
"""Atomic reconfiguration. Sessions belong to the epoch of the configuration
they were made in; when our IPv4 address or port set changes, `up` writes the
configuration entry the data path is not reading and switches to it with one
write (mape_cfg_sel), in a new epoch. From then on no packet leaves with a
port of the old set: old sessions and bindings are never used again, and
they end by their own timers (made to fire by the packet that finds them or
by the sweep program), so that userspace deletes nothing that carries a
timer and ports in use always equal what live sessions hold."""
import struct
import time

import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6

import checks
from pktutil import (HOST, HOST2, P_ICMP, P_TCP, P_UDP, REMOTE, REMOTE2, TC_ACT_REDIRECT,
                     TC_ACT_SHOT, XDP_PASS, XDP_REDIRECT, lan_pkt, open_session, tun_pkt)

NEW_PSID = checks.PSID + 1
NEW_SET = checks.rfc_port_set(psid=NEW_PSID)
assert not set(NEW_SET) & checks.PORT_SET_S


def switch_epoch(ce, psid):
    """What `up` does when the port set changes: the next configuration in
    the other mape_cfg entry, in a new epoch, then one switch to it."""
    cfg = ce.cfg
    cfg.ps.psid = psid
    cfg.epoch += 1
    ce.switch_cfg(cfg)


def sweep(ce):
    """Run mape_sweep as `up` does: (old sessions found, janitor ready)."""
    v, out, _ = ce.progs["mape_sweep"].run(bytes(64))
    assert v == XDP_PASS
    return struct.unpack_from("=2I", out, 0)


def wait_empty(ce, timeout=5.0):
    end = time.monotonic() + timeout
    while ce.sessions() and time.monotonic() < end:
        time.sleep(0.05)
    return ce.sessions()


def nothing_held(ce):
    """Every per-port, per-protocol, binding, filter and host count is back to zero."""
    for proto in (P_TCP, P_UDP, P_ICMP):
        for p in checks.PORT_SET + NEW_SET:
            e = ce.port(proto, p)
            assert e.sessions == 0, (proto, p, e)
    used = ce.map("mape_pused")
    assert [struct.unpack("=I", used.lookup(struct.pack("=I", i)))[0] for i in range(3)] == [0] * 3
    assert not list(ce.map("mape_in").items())
    assert not list(ce.map("mape_bind").items())
    assert not list(ce.map("mape_adf").items())
    for k, v in ce.map("mape_hosts").items():
        assert struct.unpack("=4I", v) == (0, 0, 0, 0), k     # sessions, ports per protocol


@pytest.fixture
def epoch(ce):
    """A clean table; afterwards the original port set back, in yet another
    epoch, and the tables drained."""
    ce.flush_nat()
    yield
    switch_epoch(ce, checks.PSID)
    sweep(ce)
    wait_empty(ce)
    ce.flush_nat()


def test_old_binding_gives_no_old_port(ce, epoch):
    """Defect: the endpoint's binding (EIM) kept handing out its old port to
    new flows after the port set changed."""
    old = open_session(ce, "udp", 40000, fast=False)
    assert old in checks.PORT_SET_S
    switch_epoch(ce, NEW_PSID)
    v, out = ce.run_tun(tun_pkt(ce, "udp", 40000, dst=REMOTE2))
    assert v == TC_ACT_REDIRECT
    assert out[IPv6].payload.sport in NEW_SET, out[IPv6].payload.sport


def ext_of(kind, out):
    inner = out[IPv6].payload
    return inner.id if kind == "icmp" else inner.sport


def wait_counter(ce, before, name, want, timeout=5.0):
    end = time.monotonic() + timeout
    while ce.ctr_delta(before).get(name, 0) < want and time.monotonic() < end:
        time.sleep(0.05)
    return ce.ctr_delta(before).get(name, 0)


@pytest.mark.parametrize("kind", ["udp", "tcp", "icmp"])
def test_old_session_is_not_used_at_tc(ce, epoch, kind):
    """A packet of a session made under the old port set never leaves with
    its old port: it is dropped (drop_stale_session) while the old session
    ends, or, once the old session's timer has run (it is made to fire at
    once: on a slow machine that can be before the new session is made), it
    makes a new session with a port of the new set."""
    flags = "S" if kind == "tcp" else "A"
    old = open_session(ce, kind, 40000, flags=flags, fast=False)
    assert old in checks.PORT_SET_S
    switch_epoch(ce, NEW_PSID)
    before = ce.counters()
    v, out = ce.run_tun(tun_pkt(ce, kind, 40000, flags=flags))
    if v == TC_ACT_SHOT:
        assert ce.ctr_delta(before).get("drop_stale_session") == 1, ce.ctr_delta(before)
    else:
        assert v == TC_ACT_REDIRECT and IPv6 in out, (out.summary(), ce.ctr_delta(before))
        assert ext_of(kind, out) in NEW_SET
    assert wait_counter(ce, before, "session_stale_ended", 1) == 1
    for proto in (P_TCP, P_UDP, P_ICMP):
        assert ce.port(proto, old).sessions == 0
    v, out = ce.run_tun(tun_pkt(ce, kind, 40000, flags=flags))
    assert v == TC_ACT_REDIRECT and ext_of(kind, out) in NEW_SET
    assert len(ce.sessions()) == 1


def test_old_session_is_not_used_at_xdp(ce, epoch):
    """The XDP fast path leaves a packet of an old session to the kernel
    (and so to mape_tun) instead of sending it with the old port."""
    open_session(ce, "udp", 40000)      # established in conntrack: XDP's
    v, out = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_REDIRECT and out[IPv6].payload.sport in checks.PORT_SET_S
    switch_epoch(ce, NEW_PSID)
    v, out = ce.run_lan(lan_pkt(ce, "udp", 40000))
    assert v == XDP_PASS and IPv6 not in out
    assert wait_empty(ce) == []


def test_sweep_ends_every_old_session(ce, epoch):
    """`up`'s sweep: every session of the old epoch ends by its timer, and
    everything it held is released: ports in use equal live sessions (0)."""
    n = 0
    for i, host in enumerate((HOST, HOST2)):
        for kind in ("udp", "tcp", "icmp"):
            for j in range(4):
                open_session(ce, kind, 41000 + 10 * i + j, src=host, fast=False,
                             flags="S" if kind == "tcp" else "A")
                n += 1
    assert len(ce.sessions()) == n
    before = ce.counters()
    switch_epoch(ce, NEW_PSID)
    found, ready = sweep(ce)
    assert (found, ready) == (n, 1)
    assert wait_empty(ce) == []
    assert ce.ctr_delta(before) == {"session_stale_ended": n}
    nothing_held(ce)


def test_sweep_keeps_sessions_of_this_epoch(ce, epoch):
    """A sweep in the same epoch (an `up` that keeps IPv4 and port set)
    ends nothing."""
    ext = open_session(ce, "udp", 40000, fast=False)
    assert sweep(ce) == (0, 1)
    time.sleep(0.2)
    s = ce.session(P_UDP, HOST, 40000, REMOTE, 53)
    assert s is not None and s.ext_port == ext


def test_up_same_set_keeps_sessions_and_switches_entry(ce):
    """`up` again with the same rule: a new generation in the other entry of
    mape_cfg, the same epoch, sessions kept."""
    ce.flush_nat()
    ext = open_session(ce, "udp", 40000, fast=False)
    before = ce.cfg
    slot = ce.cfg_slot
    out = ce.reup()
    after = ce.cfg
    assert ce.cfg_slot == 1 - slot
    assert after.generation == before.generation + 1 and after.epoch == before.epoch
    assert "ending" not in out
    s = ce.session(P_UDP, HOST, 40000, REMOTE, 53)
    assert s is not None and s.ext_port == ext
    v, out = ce.run_tun(tun_pkt(ce, "udp", 40000))
    assert v == TC_ACT_REDIRECT and out[IPv6].payload.sport == ext
    ce.flush_nat()
