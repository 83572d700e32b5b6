# SPDX-License-Identifier: MIT
"""Native XDP into a veth whose peer cannot take XDP frames. A frame that
native XDP redirects into a veth is received only if the peer runs an XDP
program or has GRO on; a veth made with defaults (GRO off) drops it, and
with it every inbound packet of a container or namespace LAN. `up` in
native mode checks the peers of the LANs and the WAN (in whatever network
namespace they are) and reaches such an interface through the kernel."""
import json
import subprocess

import pytest

from conftest import MAPECTL
from pktutil import XDP_REDIRECT, open_session, wan_pkt

NATIVE = ["--xdp-mode", "native"]


def run(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def status(ce):
    return json.loads(run(MAPECTL, "status", "--json", "--pin-dir", ce.pin_dir).stdout)


def gro(dev, on, ns=None):
    pre = ["ip", "netns", "exec", ns] if ns else []
    run(*pre, "ethtool", "-K", dev, "gro", "on" if on else "off")


@pytest.fixture
def native(ce):
    """up in native mode (the pkt tier runs skb mode), back to skb after."""
    yield
    gro("lan0p", False)
    ce.reup()


def test_peer_without_gro_is_reached_through_the_kernel(ce, native):
    gro("lan0p", False)
    ce.reup(NATIVE)
    assert "notice: lan0 is a veth whose peer lan0p" in ce.last_up.stderr, ce.last_up.stderr
    st = status(ce)
    assert st["interfaces"]["lans"][0]["xdp_redirect"] is False
    assert ce.cfg.no_xdp_xmit & 1
    # an inbound packet of an established session goes the kernel's way
    ce.flush_nat()
    ext = open_session(ce, "udp", 40000)
    before = ce.counters()
    v, _ = ce.run_wan(wan_pkt(ce, "udp", ext))
    assert v == XDP_REDIRECT
    assert ce.ctr_delta(before) == {"in_slow": 1, "to_kernel_veth": 1}


def test_peer_with_gro_gets_the_fast_path(ce, native):
    gro("lan0p", True)
    ce.reup(NATIVE)
    assert "lan0 is a veth" not in ce.last_up.stderr, ce.last_up.stderr
    assert status(ce)["interfaces"]["lans"][0]["xdp_redirect"] is True
    assert not ce.cfg.no_xdp_xmit & 1


def test_peer_in_another_namespace(ce, native):
    """The peer lives in a namespace of its own, as a container's does."""
    ns = "mapetest-peer-%d" % __import__("os").getpid()
    run("ip", "netns", "add", ns)
    try:
        run("ip", "link", "add", "lan9", "type", "veth", "peer", "name", "eth9", "netns", ns)
        run("ip", "link", "set", "lan9", "up")
        run("ip", "netns", "exec", ns, "ip", "link", "set", "eth9", "up")
        ce.reup(NATIVE + ["--lan", "lan9"])
        err = ce.last_up.stderr
        assert "notice: lan9 is a veth whose peer eth9 (in /run/netns/%s)" % ns in err, err
        assert ce.cfg.no_xdp_xmit & 2
        gro("eth9", True, ns)
        ce.reup(NATIVE + ["--lan", "lan9"])
        assert "lan9" not in ce.last_up.stderr, ce.last_up.stderr
        assert not ce.cfg.no_xdp_xmit & 2
    finally:
        ce.reup()
        run("ip", "link", "del", "lan9", check=False)
        run("ip", "netns", "del", ns, check=False)

