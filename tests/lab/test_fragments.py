# SPDX-License-Identifier: MIT
"""Fragments through the lab (issue 14; design.md "Fragments").

- 4000-byte UDP datagrams each way between h1 and the internet, while the
  ISP delivers every datagram's fragments in reverse order in both
  directions (tools/lab/reorder.py: netem is missing on the CI kernel): the
  BR and the CE put them back together (reasm_done on both) and every
  datagram arrives whole.
- A BR that fragments the outer IPv6 packet (tools/lab/frag6_send.py plays
  it on the BR node: the lab's BR fragments the inner IPv4 instead): the CE
  reassembles it and h1's socket gets the datagram.
"""
import json
import os
import subprocess

from conftest import PY, TOOLS


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


def neigh_mac(lab, node, addr, dev):
    """The link-layer address of a neighbour of NODE (asked for first)."""
    lab.run(node, "ping", "-6", "-c", "1", "-W", "2", addr, timeout=10)
    r = lab.run(node, "ip", "-j", "-6", "neigh", "show", addr, "dev", dev)
    assert r.returncode == 0, out(r)
    entries = [e for e in json.loads(r.stdout or "[]") if e.get("lladdr")]
    assert entries, f"no neighbour {addr} on {node}/{dev}: {r.stdout}"
    return entries[0]["lladdr"]


def via(lab, node, dst):
    """The next hop NODE routes DST (an address or a prefix) through."""
    r = lab.run(node, "ip", "-6", "route", "get", dst.split("/")[0])
    assert r.returncode == 0 and " via " in r.stdout, out(r)
    return r.stdout.split(" via ")[1].split()[0]


REORDER_NFT = """
table inet mapetest_reorder {
	chain forward_reorder {
		type filter hook forward priority -10; policy accept;
		ip6 nexthdr 4 @th,48,16 & 0x3fff != 0 drop
	}
}
"""


def ctr(stats, name):
    return stats["counters"][name]["packets"]


def test_fragments_reordered_both_ways(lab):
    port = 9130
    to_br = neigh_mac(lab, "isp", via(lab, "isp", lab.BR_ADDR), "br6")
    to_ce1 = neigh_mac(lab, "isp", via(lab, "isp", lab.CE1_PREFIX), "ce1")
    ce0 = ctr(lab.stats("ce1"), "reasm_done")
    br0 = None if lab.standin else ctr(lab.br_stats(), "reasm_done")
    r = subprocess.run(["ip", "netns", "exec", f"{lab.ID}-isp", "nft", "-f", "-"],
                       input=REORDER_NFT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, out(r)
    procs = []
    try:
        procs.append(lab.popen("inet", PY, os.path.join(TOOLS, "udp_big.py"), "serve", lab.WEB,
                               str(port), "--lifetime", "40"))
        for src, dst, mac in (("ce1", "br6", to_br), ("br6", "ce1", to_ce1)):
            procs.append(lab.popen("isp", PY, os.path.join(TOOLS, "reorder.py"), "--in", src,
                                   "--out", dst, "--dst-mac", mac, "--lifetime", "40"))
        for p in procs:
            line = p.stderr.readline()
            assert "listening" in line, f"a helper did not start: {line}"
        r = lab.py("h1", "udp_big.py", "ask", lab.WEB, str(port), "--send", "4000", "--want",
                   "4000", "--count", "6", "--between", "100", timeout=60)
        res = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
        assert r.returncode == 0 and res.get("ok") == 6, \
            f"4000-byte datagrams over a reordering ISP:\n{out(r)}\n{lab.diag()}"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        subprocess.run(["ip", "netns", "exec", f"{lab.ID}-isp", "nft", "delete", "table", "inet",
                        "mapetest_reorder"], capture_output=True, timeout=30)
    # every datagram came through reordered both ways: reassembled at both ends
    assert ctr(lab.stats("ce1"), "reasm_done") - ce0 >= 6, lab.diag()
    if br0 is not None:
        assert ctr(lab.br_stats(), "reasm_done") - br0 >= 6, lab.diag()


def test_outer_fragments_from_the_br(lab):
    """A 1500-byte datagram from the internet in a tunnel packet that a BR cut
    into two IPv6 fragments, the last sent first: h1 gets it whole."""
    st = lab.status("ce1")
    assert st["interfaces"]["wan"]["tc_ingress"] == "mape_defrag", st["interfaces"]["wan"]
    isp_mac = neigh_mac(lab, "br", via(lab, "br", lab.CE1_PREFIX), "v6")
    waiter = lab.popen("h1", PY, os.path.join(TOOLS, "udp_big.py"), "await", lab.WEB,
                       lab.ECHO_PORT, "--bind", "40131", "--want", "1472")
    try:
        mapped = waiter.stdout.readline().strip()
        assert ":" in mapped, f"no mapped address from the echo server: {mapped!r}"
        ext = mapped.rsplit(":", 1)[1]
        before = ctr(lab.stats("ce1"), "reasm_done")
        r = lab.run("br", PY, os.path.join(TOOLS, "frag6_send.py"), "--dev", "v6", "--dst-mac",
                    isp_mac, "--src6", lab.BR_ADDR, "--dst6", st["ce_ipv6"], "--src4", lab.WEB,
                    "--dst4", st["ipv4"], "--sport", lab.ECHO_PORT, "--dport", ext, "--reverse")
        assert r.returncode == 0, out(r)
        stdout, stderr = waiter.communicate(timeout=20)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    res = json.loads(stdout.strip().splitlines()[-1])
    assert res == {"len": 1472, "ok": True}, f"{res}\n{stderr}\n{lab.diag()}"
    assert ctr(lab.stats("ce1"), "reasm_done") == before + 1
