# SPDX-License-Identifier: MIT
"""The checks of `mapectl up` that warn instead of refusing (one line each):
IPv4 forwarding off, IPv6 forwarding off on the WAN, no route to the BR,
strict rp_filter with the default route elsewhere; and a LAN without native
XDP (a Linux bridge) makes the instance fall back to generic mode, saying
so, unless --xdp-mode native was asked for. In a namespace of its own."""
import json
import os
import subprocess

import pytest

import checks
from conftest import MAPECTL

NS = f"mapetest-upchk-{os.getpid()}"
PIN = f"/sys/fs/bpf/mapetest-upchk-{os.getpid()}"


def nsx(*cmd, check=True):
    r = subprocess.run(["ip", "netns", "exec", NS, *cmd], capture_output=True, text=True,
                       timeout=60)
    if check:
        assert r.returncode == 0, f"{' '.join(cmd)}: {r.stdout}{r.stderr}"
    return r


OFF_LINK_BR = "2001:db8:ff00::1"     # not on wan0's /64: needs a route


def up(*extra, br=OFF_LINK_BR):
    return nsx(MAPECTL, "up", "--wan", "wan0", "--lan", "br0", "--prefix", checks.PREFIX,
               "--rule", checks.RULE, "--br", br, "--pin-dir", PIN, *extra, check=False)


@pytest.fixture
def netns(tmp_path):
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    os.environ["MAPE_STATE_DIR"] = os.environ.get("MAPE_STATE_DIR", str(tmp_path))
    try:
        for c in ("link set lo up", "link add wan0 type veth peer name wan0p",
                  "link set wan0 up", "link set wan0p up", "link add br0 type bridge",
                  "link set br0 up", f"-6 addr add {checks.WAN_ADDR}/64 dev wan0 nodad",
                  "addr add 192.168.1.1/24 dev br0"):
            nsx("ip", *c.split())
        nsx("sysctl", "-qw", "net.ipv4.ip_forward=0")
        nsx("sysctl", "-qw", "net.ipv6.conf.wan0.forwarding=0")
        yield
    finally:
        nsx(MAPECTL, "down", "--pin-dir", PIN, check=False)
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        subprocess.run(["rm", "-rf", PIN])


def warnings(r):
    return [line for line in r.stderr.splitlines() if line.startswith("warning: ")]


def test_warnings_and_generic_fallback(netns):
    r = up()
    assert r.returncode == 0, r.stderr
    w = warnings(r)
    assert any("IPv4 forwarding is off" in line for line in w), r.stderr
    assert any("IPv6 forwarding is off on wan0" in line for line in w), r.stderr
    assert any(f"no IPv6 route to the BR {OFF_LINK_BR}" in line for line in w), r.stderr
    assert "notice: br0 has no native XDP: running in skb (generic) mode" in r.stderr
    st = json.loads(nsx(MAPECTL, "status", "--json", "--pin-dir", PIN).stdout)
    assert st["interfaces"]["lans"][0]["xdp"]["mode"] == "generic"
    assert st["interfaces"]["wan"]["xdp"]["mode"] == "generic"
    # the router fixed: no warnings; the instance stays in generic mode
    nsx("sysctl", "-qw", "net.ipv4.ip_forward=1")
    nsx("sysctl", "-qw", "net.ipv6.conf.wan0.forwarding=1")
    nsx("ip", "-6", "route", "add", "default", "via", checks.BR, "dev", "wan0")
    r = up()
    assert r.returncode == 0 and not warnings(r) and "notice" not in r.stderr, r.stderr
    st = json.loads(nsx(MAPECTL, "status", "--json", "--pin-dir", PIN).stdout)
    assert st["interfaces"]["wan"]["xdp"]["mode"] == "generic"


def test_native_asked_for_is_refused_on_a_bridge(netns):
    r = up("--xdp-mode", "native")
    assert r.returncode == 1 and "cannot attach XDP (native mode) to br0" in r.stderr, r.stderr
    assert nsx(MAPECTL, "status", "--pin-dir", PIN, check=False).returncode != 0


def test_strict_rp_filter_with_the_route_elsewhere(netns):
    nsx("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
    r = up("--route", "none", "--xdp-mode", "skb")
    assert r.returncode == 0, r.stderr
    assert any("rp_filter=1" in line and "set it to 2" in line for line in warnings(r)), r.stderr
    r = up("--xdp-mode", "skb")     # the default route through the tunnel: fine
    assert not any("rp_filter" in line for line in warnings(r)), r.stderr
