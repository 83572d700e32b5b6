# SPDX-License-Identifier: MIT
"""Segmentation offload, path MTU and ECN through the lab (issue 14).

The router's own traffic (QUIC stacks and user-space VPNs send UDP with
GSO; its TCP sends GSO super-packets sized for mape0's MTU) is
encapsulated by mape_tun: UDP GSO must not be dropped, and TCP segments
must leave at the tunnel's full size (WAN MTU), not 40 bytes less.
"""
import json
import os
import time

from conftest import PY, TOOLS


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def link_mtu(lab, node, dev):
    r = lab.run(node, "cat", f"/sys/class/net/{dev}/mtu")
    assert r.returncode == 0, out(r)
    return int(r.stdout)


def wait_listening(proc, what):
    line = proc.stderr.readline()
    assert "listening" in line, f"{what} did not start: {line}"


def test_udp_gso_from_the_router(lab):
    """200 datagrams of 1200 bytes sent by ce1 itself as 20 UDP_SEGMENT
    buffers: all arrive at inet, none is dropped at mape_tun."""
    port = "9110"
    before = lab.stats("ce1")["counters"]
    rx = lab.popen("inet", PY, os.path.join(TOOLS, "udp_gso.py"), "recv", lab.WEB, port,
                   "--expect", "200", "--timeout", "15")
    wait_listening(rx, "the UDP receiver")
    r = lab.py("ce1", "udp_gso.py", "send", lab.WEB, port, "--size", "1200",
               "--per-send", "10", "--sends", "20")
    assert r.returncode == 0, out(r)
    stdout, _ = rx.communicate(timeout=30)
    got = json.loads(stdout.strip().splitlines()[-1])
    after = lab.stats("ce1")["counters"]
    drops = after["drop_encap"]["packets"] - before["drop_encap"]["packets"]
    assert got["datagrams"] == 200 and got["sizes"] == {"1200": 200}, \
        f"UDP GSO from the router: {got}, drop_encap +{drops}\n{lab.diag()}"
    assert drops == 0


def test_tcp_gso_segments_fill_the_tunnel(lab):
    """A TCP upload from ce1 itself: its kernel segments for mape0's MTU; on the
    ISP's link to the BR, the tunnel packets carrying it are as large as the
    WAN MTU allows (mape0 MTU + 40), not 40 bytes short."""
    port = "9111"
    wan_mtu = link_mtu(lab, "ce1", "wan")
    tun_mtu = link_mtu(lab, "ce1", "mape0")
    assert tun_mtu + 40 <= wan_mtu
    rx = lab.popen("inet", PY, os.path.join(TOOLS, "tcp_mss.py"), "serve", lab.WEB, port)
    wait_listening(rx, "the TCP receiver")

    def traffic():
        r = lab.py("ce1", "tcp_mss.py", "send", lab.WEB, port, "--bytes", "2000000", timeout=60)
        assert r.returncode == 0, out(r)

    rows = lab.capture_fields("isp", "br6", "ip6 proto 4", ["ipv6.plen", "ip.len"], traffic)
    stdout, _ = rx.communicate(timeout=30)
    assert json.loads(stdout.strip().splitlines()[-1])["bytes"] == 2000000
    sizes = [int(r[0]) for r in rows if r and r[0].isdigit()]
    assert len(sizes) > 1000, f"too few tunnel packets captured: {len(sizes)}"
    # IPv6 payload = the inner IPv4 packet; full-size segments fill mape0's MTU
    full = sum(1 for s in sizes if s == tun_mtu)
    assert max(sizes) == tun_mtu and full > len(sizes) // 2, \
        f"largest tunnel payload {max(sizes)}, {full} of {len(sizes)} at mape0's MTU {tun_mtu}"
