# SPDX-License-Identifier: MIT
"""Publishing a server (`mapectl forward`, docs/operations.md "Publishing a
server"), in the lab: servers on h1 (behind CE1) and h3 (behind CE2) are
reached by IPv4 clients on the internet side (inet), through the BR, on
ports of their CE's set; CE1 runs the ruleset of operations.md as written
there (its `define` values replaced by the lab's)."""
import json
import os
import re
import time

import pytest

from conftest import PY, ROOT
from test_firewall import fast_path_into
from test_lab import calc, out

WEB_PORT = 8080     # the servers' own ports
DNS_PORT = 5353
PAGE = "published from behind the port set\n"
OPS_MD = os.path.join(ROOT, "docs", "operations.md")


def doc_ruleset(lab):
    """The ruleset of operations.md, with the lab's values."""
    text = open(OPS_MD).read()
    m = re.search(r"<!-- ruleset: publishing a server -->\s*```\n(.*?)```", text, re.S)
    assert m, "operations.md lost its ruleset block"
    rs = m.group(1)
    values = {"LAN_IFS": '{ "lan1", "lan2" }', "WEB_SERVER": lab.H1,
              "WEB_PORT": str(WEB_PORT), "DNS_PORT": str(DNS_PORT)}
    for name, v in values.items():
        rs, n = re.subn(rf"^define {name} = .*$", f"define {name} = {v}", rs, flags=re.M)
        assert n == 1, f"operations.md's ruleset has no define {name}"
    return rs


def fwd(lab, ce, *args):
    return lab.mapectl(ce, "forward", *args, "--pin-dir", lab.pin(ce))


def fwd_list(lab, ce):
    return lab.json_of(ce, "forward", "list", "--pin-dir", lab.pin(ce))


def clear_forwards(lab, ce):
    for f in fwd_list(lab, ce):
        for p in (["tcp", "udp"] if f["proto"] == "both" else [f["proto"]]):
            fwd(lab, ce, "del", p, str(f["ext_port"]))


def ports_of(c):
    return [p for a, b in c["port_ranges"] for p in range(a, b + 1)]


def start_web(lab, node, host):
    www = os.path.join(lab.RUN, f"www-{node}")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "hello.txt"), "w") as f:
        f.write(PAGE)
    with open(os.path.join(www, "1M.bin"), "wb") as f:
        f.write(os.urandom(1 << 20))
    p = lab.popen(node, PY, "-m", "http.server", "--bind", host, "--directory", www,
                  str(WEB_PORT))
    end = time.monotonic() + 10
    while time.monotonic() < end:
        r = lab.run(node, "curl", "-sS", "-m", "1", f"http://{host}:{WEB_PORT}/hello.txt")
        if r.returncode == 0:
            return p
        time.sleep(0.2)
    p.kill()
    pytest.fail(f"the web server on {node} did not start")


def stop(p):
    p.kill()
    p.wait(5)


def curl(lab, node, url, *args, timeout=5):
    return lab.run(node, "curl", "-sS", "-m", str(timeout), *args, url, timeout=timeout + 10)


@pytest.fixture
def pub(lab):
    """CE1 with the documented ruleset and a web server and a DNS server on
    h1; no forwards before and after."""
    path = os.path.join(lab.RUN, "test-publish.nft")
    with open(path, "w") as f:
        f.write(doc_ruleset(lab))
    lab.run("ce1", "nft", "delete", "table", "inet", "filter")
    r = lab.run("ce1", "nft", "-f", path)
    assert r.returncode == 0, f"nft -f the ruleset of operations.md:\n{out(r)}"
    clear_forwards(lab, "ce1")
    web = start_web(lab, "h1", lab.H1)
    dns = lab.popen("h1", "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                    "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
                    f"--listen-address={lab.H1}", f"--port={DNS_PORT}", "--user=root",
                    "--group=root", "--address=/svc.lab.example/192.0.2.200")
    lab.c1 = calc(lab, lab.CE1_PREFIX)
    try:
        yield lab
    finally:
        stop(web)
        stop(dns)
        clear_forwards(lab, "ce1")
        lab.run("ce1", "nft", "delete", "table", "inet", "filter")


def test_web_and_dns_published(pub):
    """A web server and a DNS server on h1, published on ports of CE1's set,
    are reached from the internet side through the BR; the flows are the
    forwards' sessions, on the forwarded ports."""
    lab, ports = pub, ports_of(pub.c1)
    ext_web, ext_dns = ports[5], ports[6]
    r = fwd(lab, "ce1", "add", "tcp", str(ext_web), f"{lab.H1}:{WEB_PORT}", "--comment", "web")
    assert r.returncode == 0, out(r)
    assert f'iifname "mape0" ip daddr {lab.H1} tcp dport {WEB_PORT} accept' in r.stdout
    r = fwd(lab, "ce1", "add", "udp", str(ext_dns), f"{lab.H1}:{DNS_PORT}")
    assert r.returncode == 0, out(r)
    br0 = lab.br_mape_packets()
    r = curl(lab, "inet", f"http://{lab.c1['ipv4']}:{ext_web}/hello.txt")
    assert r.returncode == 0 and r.stdout == PAGE, \
        f"curl from inet to {lab.c1['ipv4']}:{ext_web}:\n{out(r)}\n{lab.diag()}"
    r = lab.py("inet", "dnsq.py", "svc.lab.example", "--server", lab.c1["ipv4"], "--port",
               str(ext_dns), "--timeout", "4", timeout=15)
    assert r.returncode == 0 and "svc.lab.example A 192.0.2.200" in r.stdout, \
        f"DNS from inet to {lab.c1['ipv4']}:{ext_dns}:\n{out(r)}\n{lab.diag()}"
    if br0 is not None:
        assert lab.br_mape_packets() > br0, "the flows did not cross the BR"
    got = {f["proto"]: f for f in fwd_list(lab, "ce1")}
    assert got["tcp"]["sessions"] >= 1 and got["udp"]["sessions"] >= 1, got
    sessions = lab.json_of("ce1", "sessions", "--pin-dir", lab.pin("ce1"))["sessions"]
    for s in sessions:
        if s["int_addr"] == lab.H1 and s["int_port"] in (WEB_PORT, DNS_PORT):
            assert s["ext_port"] == {WEB_PORT: ext_web, DNS_PORT: ext_dns}[s["int_port"]], s
    st = lab.status("ce1")
    assert st["port_usage"]["tcp"]["forwarded"] == 1 and len(st["forwards"]) == 2


def test_published_download_runs_in_xdp(pub):
    """Once the ruleset accepted the flow and the server answered, it is
    offloaded like any other (session_offloaded): in native mode a 1 MiB
    download from the published server leaves CE1 mostly in XDP (out_fast).
    In generic mode h1's TCP segments arrive as GSO packets larger than the
    tunnel MTU, which generic XDP leaves to the kernel (to_kernel_mtu), as
    for any LAN host's upload (operations.md: larger than the tunnel MTU)."""
    lab, ports = pub, ports_of(pub.c1)
    ext = ports[13]
    assert fwd(lab, "ce1", "add", "tcp", str(ext), f"{lab.H1}:{WEB_PORT}").returncode == 0
    c0 = lab.stats("ce1")["counters"]
    r = curl(lab, "inet", f"http://{lab.c1['ipv4']}:{ext}/1M.bin", "-o", "/dev/null", "-w",
             "%{size_download}", timeout=20)
    assert r.returncode == 0 and r.stdout.strip() == str(1 << 20), \
        f"1 MiB from the published server:\n{out(r)}\n{lab.diag()}"
    c1 = lab.stats("ce1")["counters"]
    assert c1["session_offloaded"]["packets"] > c0["session_offloaded"]["packets"], lab.diag()
    fast = c1["out_fast"]["packets"] - c0["out_fast"]["packets"]
    if lab.mode == "native":
        assert fast > 500, f"only {fast} packets of the download in XDP\n{lab.diag()}"


def test_from_restricts_the_source(pub):
    """--from WEB/32: WEB reaches the server, ALT (the same host, another
    address) does not, and its packets are counted where they are dropped."""
    lab, ports = pub, ports_of(pub.c1)
    ext = ports[7]
    r = fwd(lab, "ce1", "add", "tcp", str(ext), f"{lab.H1}:{WEB_PORT}", "--from", f"{lab.WEB}/32")
    assert r.returncode == 0, out(r)
    url = f"http://{lab.c1['ipv4']}:{ext}/hello.txt"
    r = curl(lab, "inet", url, "--interface", lab.WEB)
    assert r.returncode == 0 and r.stdout == PAGE, f"curl from WEB:\n{out(r)}\n{lab.diag()}"
    f0 = lab.stats("ce1")["counters"]["drop_fwd_filtered"]["packets"]
    r = curl(lab, "inet", url, "--interface", lab.ALT, timeout=3)
    assert r.returncode != 0, f"curl from ALT got through the --from filter:\n{out(r)}"
    f1 = lab.stats("ce1")["counters"]["drop_fwd_filtered"]["packets"]
    assert f1 > f0, f"drop_fwd_filtered did not count ALT's SYNs\n{lab.diag()}"


def test_hairpin_from_another_lan_host(pub):
    """h2 (CE1's other LAN) reaches h1's published server at CE1's public
    IPv4 and the forwarded port (RFC 4787 REQ-9). Its first packet is
    decided by the ruleset; the rest runs in XDP both ways (h1 and h2 with
    GRO: without it, native XDP hands the return half to the kernel, whose
    stateful ruleset drops it, see test_firewall.py)."""
    lab, ports = pub, ports_of(pub.c1)
    ext = ports[8]
    r = fwd(lab, "ce1", "add", "tcp", str(ext), f"{lab.H1}:{WEB_PORT}")
    assert r.returncode == 0, out(r)
    with fast_path_into(lab, "h1", "h2"):
        r = curl(lab, "h2", f"http://{lab.c1['ipv4']}:{ext}/hello.txt")
    assert r.returncode == 0 and r.stdout == PAGE, \
        f"hairpin curl from h2 to {lab.c1['ipv4']}:{ext}:\n{out(r)}\n{lab.diag()}"


def test_not_accepted_by_the_ruleset_is_dropped(pub):
    """The ruleset decides: a forward to a port the forward chain does not
    accept is not reached (the server listens, the packets enter the kernel)."""
    lab, ports = pub, ports_of(pub.c1)
    ext = ports[9]
    r = fwd(lab, "ce1", "add", "tcp", str(ext), f"{lab.H1}:{WEB_PORT + 1}")
    assert r.returncode == 0, out(r)
    srv = lab.popen("h1", PY, "-m", "http.server", "--bind", lab.H1, str(WEB_PORT + 1))
    try:
        time.sleep(1)
        n0 = lab.stats("ce1")["counters"]["to_kernel_forward"]["packets"]
        r = curl(lab, "inet", f"http://{lab.c1['ipv4']}:{ext}/", timeout=3)
        assert r.returncode != 0, f"a port the ruleset does not accept was reached:\n{out(r)}"
        assert lab.stats("ce1")["counters"]["to_kernel_forward"]["packets"] > n0
    finally:
        stop(srv)


def test_bad_forwards_refused(pub):
    lab, ports = pub, ports_of(pub.c1)
    outside = next(p for p in range(ports[0], 65536) if p not in set(ports))
    below = max(p for p in ports if p < outside)
    above = min(p for p in ports if p > outside)
    r = fwd(lab, "ce1", "add", "tcp", str(outside), lab.H1)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, out(r)
    assert all(str(x) in r.stderr for x in (outside, below, above)), r.stderr
    assert fwd(lab, "ce1", "add", "tcp", str(ports[10]), lab.H1).returncode == 0
    r = fwd(lab, "ce1", "add", "both", str(ports[10]), lab.H2)
    assert r.returncode == 1 and "already forwarded" in r.stderr, out(r)
    r = fwd(lab, "ce1", "add", "udp", str(ports[11]), "192.168.1.")
    assert r.returncode == 1 and "192.168.1." in r.stderr, out(r)
    assert len(fwd_list(lab, "ce1")) == 1


def test_forward_survives_up_again(pub):
    lab, ports = pub, ports_of(pub.c1)
    ext = ports[12]
    assert fwd(lab, "ce1", "add", "tcp", str(ext), f"{lab.H1}:{WEB_PORT}").returncode == 0
    r = lab.lab("gw-up", "ce1")
    assert r.returncode == 0, f"mapectl up on CE1 again:\n{out(r)}"
    assert [(f["ext_port"], f["enabled"]) for f in fwd_list(lab, "ce1")] == [(ext, True)]
    r = curl(lab, "inet", f"http://{lab.c1['ipv4']}:{ext}/hello.txt")
    assert r.returncode == 0 and r.stdout == PAGE, f"after up again:\n{out(r)}\n{lab.diag()}"


def test_prefix_change_disables_then_enables(lab):
    """CE2's prefix moves its port set away: the forward is kept, disabled,
    and said so by up and status; back on the old prefix it is enabled
    again and h3's server is reached."""
    old, new = calc(lab, lab.CE2_PREFIX), calc(lab, lab.CE2_ALT_PREFIX)
    newset = set(ports_of(new))
    ext = next(p for p in ports_of(old) if p not in newset)
    clear_forwards(lab, "ce2")
    web = start_web(lab, "h3", lab.H3)
    try:
        r = fwd(lab, "ce2", "add", "tcp", str(ext), f"{lab.H3}:{WEB_PORT}")
        assert r.returncode == 0, out(r)
        url = f"http://{old['ipv4']}:{ext}/hello.txt"
        r = curl(lab, "inet", url)
        assert r.returncode == 0 and r.stdout == PAGE, f"before:\n{out(r)}\n{lab.diag('ce2')}"
        r = lab.lab("gw-up", "ce2", env_extra={"LAB_CE2_PREFIX": lab.CE2_ALT_PREFIX})
        assert r.returncode == 0, out(r)
        assert f"forward tcp {ext} -> {lab.H3}:{WEB_PORT} disabled" in r.stdout, r.stdout
        st = lab.status("ce2")
        assert [(f["ext_port"], f["enabled"]) for f in st["forwards"]] == [(ext, False)]
        assert st["port_usage"]["tcp"]["forwarded"] == 0
        # nothing of it in the data path: the new address at that port reaches nobody
        r = curl(lab, "inet", f"http://{new['ipv4']}:{ext}/hello.txt", timeout=2)
        assert r.returncode != 0
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, out(r)
        assert f"forward tcp {ext} -> {lab.H3}:{WEB_PORT} enabled again" in r.stdout, r.stdout
        assert [f["enabled"] for f in fwd_list(lab, "ce2")] == [True]
        r = curl(lab, "inet", url)
        assert r.returncode == 0 and r.stdout == PAGE, f"after:\n{out(r)}\n{lab.diag('ce2')}"
    finally:
        stop(web)
        clear_forwards(lab, "ce2")
        lab.lab("gw-up", "ce2")


# 200 UDP flows from h3 to the echo servers at WEB and ALT for a bounded
# time; prints, per flow, the CLOCK_MONOTONIC time of its last reply
ECHO_FLOWS = r'''
import json, select, socket, sys, time
dsts, port, n, secs = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks, last = [], {}
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 20000 + i))
    s.setblocking(False)
    socks.append(s)
fds = {s.fileno(): i for i, s in enumerate(socks)}
end, nxt = time.monotonic() + secs, 0
while time.monotonic() < end:
    if time.monotonic() >= nxt:
        for i, s in enumerate(socks):
            try:
                s.sendto(b"flow", (dsts[i % len(dsts)], port))
            except OSError:
                pass
        nxt = time.monotonic() + 0.1
    r, _, _ = select.select(list(fds), [], [], 0.05)
    for fd in r:
        try:
            while socks[fds[fd]].recv(64):
                last[fds[fd]] = time.monotonic()
        except OSError:
            pass
print(json.dumps({str(i): last.get(i, 0) for i in range(n)}))
'''


def h3_ext_ports(lab):
    sessions = lab.json_of("ce2", "sessions", "--pin-dir", lab.pin("ce2"))["sessions"]
    return {s["int_port"]: s["ext_port"] for s in sessions
            if s["proto"] == "udp" and s["int_addr"] == lab.H3 and 20000 <= s["int_port"] < 20200}


def test_forwards_do_not_disturb_200_flows(lab):
    """With 200 UDP flows running from h3, forwards are added (on ports those
    flows hold, and others) and removed: every flow keeps its external port
    and keeps getting answers."""
    clear_forwards(lab, "ce2")
    ports = ports_of(calc(lab, lab.CE2_PREFIX))
    # short-lived UDP sessions, so that the flows leave nothing behind for
    # later tests (their ports overlap, and an overlapped port takes no new
    # inbound flows while it is)
    r = lab.lab("gw-up", "ce2", env_extra={"LAB_GW_EXTRA": "--timeout-udp 3"})
    assert r.returncode == 0, out(r)
    flows = lab.popen("h3", PY, "-c", ECHO_FLOWS, f"{lab.WEB},{lab.ALT}", str(lab.ECHO_PORT),
                      "200", "9")
    try:
        time.sleep(2.5)
        before = h3_ext_ports(lab)
        assert len(before) == 200, f"{len(before)} of 200 flows have sessions\n{lab.diag('ce2')}"
        held = sorted(set(before.values()))[:3]
        free = [p for p in ports if p not in set(before.values())][:4]
        for _ in range(2):
            for i, p in enumerate(held):
                r = fwd(lab, "ce2", "add", "udp", str(p), f"{lab.H3}:{6000 + i}")
                assert r.returncode == 0, out(r)
            if len(free) >= 2:
                r = fwd(lab, "ce2", "add", "both", f"{free[0]}", f"{lab.H3}:7000")
                assert r.returncode == 0, out(r)
            time.sleep(0.3)
            clear_forwards(lab, "ce2")
            time.sleep(0.3)
        t_churned = time.monotonic()
        after = h3_ext_ports(lab)
        stdout, stderr = flows.communicate(timeout=30)
    finally:
        if flows.poll() is None:
            flows.kill()
        clear_forwards(lab, "ce2")
        end = time.monotonic() + 15
        while h3_ext_ports(lab) and time.monotonic() < end:
            time.sleep(0.5)
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, out(r)
    last = json.loads(stdout)
    moved = {p: (before[p], after.get(p)) for p in before if after.get(p) != before[p]}
    assert not moved, f"flows whose external port changed: {moved}"
    silent = [i for i, t in last.items() if t < t_churned + 0.5]
    assert not silent, f"{len(silent)} flows got no answer after the forwards changed: " \
                       f"{silent[:10]}\n{lab.diag('ce2')}"
