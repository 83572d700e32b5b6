# SPDX-License-Identifier: MIT
"""End-to-end tests in the namespace lab (tools/lab/lab.sh, docs/lab.md):
real programs (ping, curl, a DNS query, iperf3, traceroute, many TCP
connections, CE-to-CE traffic) from the LAN hosts through CE, ISP and BR
to the IPv4 servers, in each XDP mode (see conftest.py).

The tests of a mode share one lab and run in file order; the ones that
re-run or restart mapectl come last.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import PY, ROOT


def out(r):
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


# ---------------------------------------------------------------- basic reachability

def test_ping_h1_to_inet(lab):
    r = lab.run("h1", "ping", "-c", "3", "-i", "0.3", "-W", "2", lab.WEB, timeout=20)
    assert r.returncode == 0 and " 0% packet loss" in r.stdout, \
        f"ping h1 -> {lab.WEB} through CE1 and the BR lost packets:\n{out(r)}\n{lab.diag()}"


def test_second_lan_h2(lab):
    """CE1's second LAN interface: ping and HTTP from h2."""
    r = lab.run("h2", "ping", "-c", "2", "-i", "0.3", "-W", "2", lab.ALT, timeout=20)
    assert r.returncode == 0, f"ping h2 -> {lab.ALT} failed:\n{out(r)}\n{lab.diag()}"
    r = lab.run("h2", "curl", "-sS", "-m", "10", f"http://{lab.WEB}/", timeout=20)
    assert r.returncode == 0 and "it works" in r.stdout, \
        f"curl from h2 failed:\n{out(r)}\n{lab.diag()}"


def test_ping_h3_behind_ce2(lab):
    r = lab.run("h3", "ping", "-c", "2", "-i", "0.3", "-W", "2", lab.WEB, timeout=20)
    assert r.returncode == 0, f"ping h3 -> {lab.WEB} through CE2 failed:\n{out(r)}\n" \
                              f"{lab.diag('ce2')}"


def test_http(lab):
    r = lab.run("h1", "curl", "-sS", "-m", "10", f"http://{lab.WEB}/", timeout=20)
    assert r.returncode == 0 and "it works" in r.stdout, f"curl index.html:\n{out(r)}\n{lab.diag()}"
    r = lab.run("h1", "curl", "-sS", "-m", "20", "-o", "/dev/null", "-w", "%{size_download}",
                f"http://{lab.WEB}/1M.bin", timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "1048576", \
        f"curl of a 1 MiB file did not get 1048576 bytes:\n{out(r)}\n{lab.diag()}"


@pytest.mark.parametrize("proto", ["udp", "tcp"])
def test_dns(lab, proto):
    names = dict(kv.split("=") for kv in lab.DNS_NAMES.split())
    for name, addr in names.items():
        args = [name, "--server", lab.WEB, "--timeout", "3"] + (["--tcp"] if proto == "tcp" else [])
        r = lab.py("h1", "dnsq.py", *args, timeout=15)
        assert r.returncode == 0 and f"{name} A {addr}" in r.stdout, \
            f"DNS over {proto.upper()} for {name} (want {addr}):\n{out(r)}\n{lab.diag()}"


# ---------------------------------------------------------------- throughput

def iperf(lab, *args):
    r = lab.run("h1", "iperf3", "-c", lab.WEB, "-p", lab.IPERF_PORT, "-t", "2", "-J",
                "--connect-timeout", "3000", *args, timeout=25)
    try:
        res = json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"iperf3 {' '.join(args)} gave no JSON:\n{out(r)}\n{lab.diag()}")
    assert r.returncode == 0 and "error" not in res, \
        f"iperf3 {' '.join(args)} failed: {res.get('error')}\n{out(r)[-1500:]}\n{lab.diag()}"
    return res


@pytest.mark.parametrize("reverse", [False, True], ids=["upload", "download"])
def test_iperf_tcp(lab, reverse):
    res = iperf(lab, *(["-R"] if reverse else []))
    bps = res["end"]["sum_received"]["bits_per_second"]
    assert bps > 0, f"iperf3 TCP {'-R ' if reverse else ''}received nothing\n{lab.diag()}"
    print(f"TCP {'download' if reverse else 'upload'} ({lab.mode}): {bps / 1e6:.0f} Mbit/s")


@pytest.mark.parametrize("reverse", [False, True], ids=["upload", "download"])
def test_iperf_udp(lab, reverse):
    res = iperf(lab, "-u", "-b", "10M", *(["-R"] if reverse else []))
    s = res["end"]["sum"]
    assert s["packets"] > 0 and s["bits_per_second"] > 0, \
        f"iperf3 UDP {'-R ' if reverse else ''}: nothing received: {s}\n{lab.diag()}"
    assert s["lost_percent"] < 20, \
        f"iperf3 UDP {'-R ' if reverse else ''}at 10 Mbit/s lost {s['lost_percent']:.1f} % " \
        f"of {s['packets']} datagrams\n{lab.diag()}"


# ---------------------------------------------------------------- NAPT capacity

def test_conn_burst_300(lab):
    """300 concurrent TCP connections on 240 ports: all blocks, port overlapping."""
    r = lab.py("h1", "conn_burst.py", "run", lab.WEB, "--ports", lab.BURST_PORTS, "-n", "300",
               "--hold", "2", "--timeout", "10", "--json", timeout=60)
    try:
        res = json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"conn_burst.py gave no JSON:\n{out(r)}\n{lab.diag()}")
    assert res["echoed"] == 300, \
        f"{res['echoed']}/300 connections held and echoed ({res['opened']} opened), " \
        f"failures: {res['errors']}\n{lab.diag()}"
    st = lab.status("ce1")
    tcp = st["port_usage"]["tcp"]
    busy = [i for i, n in enumerate(tcp["blocks"]) if n]
    assert len(busy) > 1, \
        f"after 300 connections, TCP ports in use in {len(busy)} block(s) only: {tcp}"
    assert tcp["used"] > 1, f"port usage {tcp}"


# ---------------------------------------------------------------- ICMP errors

@pytest.mark.parametrize("method", ["udp", "icmp"])
def test_traceroute(lab, method):
    """Time-exceeded from CE1 and from the BR come back through the NAPT.
    The IPv6 hops (the ISP) are invisible to IPv4: the path is CE1, BR, server."""
    args = ["traceroute", "-n", "-q", "2", "-w", "2", "-m", "6"] + \
        (["-I"] if method == "icmp" else []) + [lab.WEB]
    r = lab.run("h1", *args, timeout=60)
    hops = []
    for line in r.stdout.splitlines()[1:]:
        m = re.match(r"\s*(\d+)\s+(.*)", line)
        if m:
            hops.append(re.findall(r"\d+\.\d+\.\d+\.\d+", m.group(2)))
    want = [[lab.CE1_LAN1], [lab.BR_V4], [lab.WEB]]
    if lab.standin:
        want.remove([lab.BR_V4])  # the stand-in BR does not decrement the TTL
    got = [sorted(set(h)) for h in hops]
    assert got == want, \
        f"traceroute ({method}) h1 -> {lab.WEB}: hops {got}, want {want}\n{out(r)}\n{lab.diag()}"


# ---------------------------------------------------------------- mesh (FMR)

def calc(lab, prefix):
    r = lab.run("h1", lab.mapectl_bin, "calc", "--json", "--rule", lab.RULE + ",fmr",
                "--prefix", prefix, "--iid", lab.IID)
    assert r.returncode == 0, out(r)
    return json.loads(r.stdout)


def wait_line(path, prefix, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path) as f:
                for line in f:
                    if line.endswith("\n") and line.startswith(prefix):
                        return line[len(prefix):].strip()
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    return None


def mesh(lab, c1, c2):
    """h1 -> h3's mapped address must go CE1 -> CE2 over the FMR, not via the BR.

    h3 runs a UDP echo on a port of CE2's set, learns its mapped address from
    the echo server in inet, and sends one datagram to CE1's IPv4 (a port of
    CE1's set), which opens CE2's address-dependent filter for that address.
    Then h1 sends 5 datagrams to h3's mapped address and wants 5 echoes."""
    h3_port = c2["port_ranges"][0][0] + 6
    ready = os.path.join(lab.RUN, f"test-h3-{c2['ipv4']}.ready")
    if os.path.exists(ready):
        os.unlink(ready)  # not to read an earlier run's line
    srv = lab.popen_py("h3", "udp_echo.py", "serve", f"0.0.0.0:{h3_port}",
                       "--lifetime", "30", "--announce", f"{lab.WEB}:{lab.ECHO_PORT}",
                       "--punch", f"{c1['ipv4']}:{c1['port_ranges'][0][0]}", "--ready", ready)
    try:
        mapped = wait_line(ready, "mapped ", 8)
        assert mapped, f"h3 did not learn its mapped address from {lab.WEB}:{lab.ECHO_PORT} " \
                       f"(the path h3 -> CE2 -> BR -> inet and back)\n{lab.diag('ce2')}"
        ip, port = mapped.rsplit(":", 1)
        assert ip == c2["ipv4"], f"h3 mapped to {mapped}, but CE2's IPv4 is {c2['ipv4']}"
        assert any(a <= int(port) <= b for a, b in c2["port_ranges"]), \
            f"h3 mapped to port {port}, outside CE2's port set {c2['port_ranges']}"
        time.sleep(0.3)  # the punch has crossed
        br0, isp0 = lab.br_mape_packets(), lab.counters()
        r = lab.py("h1", "udp_echo.py", "ask", mapped, "--count", "5", "--timeout", "3",
                   timeout=20)
        br1, isp1 = lab.br_mape_packets(), lab.counters()
        assert r.returncode == 0, \
            f"h1 -> h3's mapped address {mapped} (CE1 {c1['ipv4']} PSID {c1['psid']} -> " \
            f"CE2 {c2['ipv4']} PSID {c2['psid']}): {r.stdout.strip()}\n{lab.diag('ce1', 'ce2')}"
        delta = {k: isp1[k] - isp0[k] for k in isp1}
        assert delta["ce1_to_ce2"] >= 5 and delta["ce2_to_ce1"] >= 5, \
            f"the echoes did not go CE to CE directly: ISP counter deltas {delta}"
        assert delta["ce_to_br"] == 0 and delta["br_to_ce"] == 0, \
            f"CE-to-CE traffic crossed the BR link: ISP counter deltas {delta}"
        if br0 is not None:
            assert br1 == br0, \
                f"the BR counted {br1 - br0} MAP-E packets during CE-to-CE traffic"
    finally:
        srv.kill()
        srv.wait(5)


def test_mesh_shared_ipv4(lab):
    """CE1 and CE2 share one IPv4 address with different PSIDs: mesh by port."""
    mesh(lab, calc(lab, lab.CE1_PREFIX), calc(lab, lab.CE2_PREFIX))


def test_mesh_own_ipv4(lab):
    """CE2 reconfigured (mapectl up with new input) to a prefix whose IPv4
    address is its own (192.0.2.19): mesh CE1 <-> CE2 by the FMR; then back."""
    c1, c2 = calc(lab, lab.CE1_PREFIX), calc(lab, lab.CE2_ALT_PREFIX)
    assert c2["ipv4"] != c1["ipv4"], f"{lab.CE2_ALT_PREFIX} should give CE2 an IPv4 of its own"
    r = lab.lab("gw-up", "ce2", env_extra={"LAB_CE2_PREFIX": lab.CE2_ALT_PREFIX})
    try:
        assert r.returncode == 0 and c2["ipv4"] in r.stdout, \
            f"mapectl up on CE2 with the new prefix {lab.CE2_ALT_PREFIX}:\n{out(r)}"
        mesh(lab, c1, c2)
    finally:
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, f"mapectl up on CE2 back to {lab.CE2_PREFIX}:\n{out(r)}"


# ---------------------------------------------------------------- fragments

BIG_UDP = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
data = bytes(range(256)) * 12          # 3072 bytes: fragments both ways
ok = 0
for i in range(3):
    s.sendto(data, (sys.argv[1], int(sys.argv[2])))
    try:
        got, _ = s.recvfrom(65535)
        ok += got == data
    except socket.timeout:
        pass
print(ok)
'''


def test_fragmented_udp_both_ways(lab):
    """A 3072-byte datagram from h1 to the UDP echo server and back: fragments
    through CE1 (the kernel fragments to the tunnel MTU, TC translates first
    and later fragments, the BR and the CE follow the first fragment's
    decision); the echo comes back whole."""
    r = lab.run("h1", PY, "-c", BIG_UDP, lab.WEB, lab.ECHO_PORT, timeout=20)
    assert r.returncode == 0, out(r)
    assert r.stdout.strip() == "3", f"big UDP echoes that came back whole: {r.stdout.strip()}/3" \
        f"\n{lab.diag()}"


# ---------------------------------------------------------------- the wire and spoofing

CHECK_PCAP = r'''
import json, sys
sys.path.insert(0, sys.argv[3])
from scapy.all import rdpcap, IPv6, IP, TCP, UDP, ICMP
from checks import verify_checksums
sets = json.loads(sys.argv[2])          # {ce IPv6 address: [[first, last], ...]}
br = sys.argv[4]
generic = sys.argv[5] == "skb"
bad, n, partial = [], 0, 0


def pseudo_sum(ip):
    """The folded pseudo-header sum: what a CHECKSUM_PARTIAL packet carries."""
    b = bytes(ip)
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(12, 20, 2))
    s += b[9] + ip.len - ip.ihl * 4
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


for p in rdpcap(sys.argv[1]):
    if IPv6 not in p or p[IPv6].nh != 4:
        if IPv6 in p and p[IPv6].nh in (0, 43, 44, 60):
            bad.append("extension header: " + p.summary())
        continue
    o = p[IPv6]
    n += 1
    inner = o.payload
    if not isinstance(inner, IP):
        bad.append("no IPv4 after the IPv6 header: " + p.summary())
        continue
    if o.dst == br:       # CE -> BR, captured after the ISP router's hop
        if o.hlim != 63:
            bad.append("hop limit %d from %s" % (o.hlim, o.src))
        ranges = sets.get(o.src)
        if ranges is None:
            bad.append("unknown CE " + o.src)
        elif TCP in inner or UDP in inner or (ICMP in inner and inner[ICMP].type == 8):
            port = inner[ICMP].id if ICMP in inner else inner.sport
            if not any(a <= port <= b for a, b in ranges):
                bad.append("port %d of %s outside its set" % (port, o.src))
    elif o.src == br and o.hlim != 64:
        bad.append("hop limit %d from the BR" % o.hlim)
    try:
        verify_checksums(inner)
    except AssertionError as e:
        # Generic XDP keeps a server's CHECKSUM_PARTIAL skb partial through
        # the BR (the completing device is further on: the ISP's egress); a
        # veth carries it as is, so this capture sees the pseudo-header sum
        # in the field, exactly, or the BR got it wrong.
        l4 = inner[TCP] if TCP in inner else inner[UDP] if UDP in inner else None
        if generic and o.src == br and l4 is not None and l4.chksum == pseudo_sum(inner):
            partial += 1
        else:
            bad.append("checksum: %s: %s" % (e, inner.summary()))
print(json.dumps({"tunnel_packets": n, "bad": bad[:20], "n_bad": len(bad),
                  "partial": partial}))
'''


def br_link_capture(lab, traffic, sets):
    """Capture the ISP's link to the BR while traffic() runs; check every
    tunnel packet with CHECK_PCAP against sets ({CE IPv6: port ranges})."""
    pcap = os.path.join(lab.RUN, "br-link.pcap")
    if os.path.exists(pcap):
        os.unlink(pcap)
    # Traffic starts once tshark says it captures: that takes about a second
    # natively and 5-15 s under emulation (make test-vm). It stops on SIGINT
    # after the traffic; the duration is only a backstop.
    cap = lab.popen("isp", "tshark", "-q", "-i", "br6", "-f", "ip6", "-a", "duration:120",
                    "-w", pcap)
    listening, err = threading.Event(), []

    def watch():
        for line in cap.stderr:
            err.append(line)
            if "Capturing on" in line:
                listening.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert listening.wait(60), "tshark did not start capturing:\n" + "".join(err)
        traffic()
        # the capture ring hands packets over in blocks, at the latest after
        # its block timeout: packets of the last moment before SIGINT are lost
        time.sleep(2)
    finally:
        cap.send_signal(signal.SIGINT)
        try:
            cap.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cap.kill()
            cap.wait()
        watcher.join(5)
    assert os.path.exists(pcap), "tshark wrote no capture"
    r = subprocess.run([PY, "-c", CHECK_PCAP, pcap, json.dumps(sets),
                        os.path.join(ROOT, "tests", "pkt"), lab.BR_ADDR, lab.mode],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, out(r)
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_wire_on_the_br_link(lab):
    """A capture on the ISP's link to the BR while h1 and h3 use the internet:
    every tunnel packet has no extension header, hop limit 64 as sent (63 after
    the ISP's hop), inner ports inside the sending CE's set, valid checksums."""
    c1, c2 = calc(lab, lab.CE1_PREFIX), calc(lab, lab.CE2_PREFIX)

    def traffic():
        lab.run("h1", "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.WEB, timeout=10)
        lab.run("h1", "curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{lab.WEB}/", timeout=10)
        name = lab.DNS_NAMES.split()[0].split("=")[0]
        lab.py("h1", "dnsq.py", name, "--server", lab.WEB, "--timeout", "3", timeout=10)
        lab.run("h3", "curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{lab.WEB}/", timeout=10)

    res = br_link_capture(lab, traffic, {c1["ce_ipv6"]: c1["port_ranges"],
                                         c2["ce_ipv6"]: c2["port_ranges"]})
    assert res["tunnel_packets"] >= 10, f"too few tunnel packets captured: {res}"
    assert res["n_bad"] == 0, f"tunnel packets on the BR link break the rules: {res}"


# 200 UDP flows from h3 for a bounded time: one datagram per flow every 100 ms
UDP_FLOWS = r'''
import socket, sys, time
dst, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 20000 + i))
    s.setblocking(False)
    socks.append(s)
end, sent = time.monotonic() + secs, 0
while time.monotonic() < end:
    for s in socks:
        try:
            s.sendto(b"flow", (dst, port))
            sent += 1
        except OSError:
            pass
    time.sleep(0.1)
print(sent)
'''


def test_prefix_change_under_traffic(lab):
    """CE2's delegated prefix changes (new IPv4 address and port set) while
    200 UDP flows run from h3: every packet captured on the BR link carries
    a port of the set of the CE address it comes from (none with the new
    address and an old port); afterwards the ports in use equal what the
    live sessions hold, all of them in the new set, and both fall to 0 once
    the sessions expire. Then back."""
    c1, old = calc(lab, lab.CE1_PREFIX), calc(lab, lab.CE2_PREFIX)
    new = calc(lab, lab.CE2_ALT_PREFIX)
    assert (new["ipv4"], new["port_ranges"]) != (old["ipv4"], old["port_ranges"])
    changed = {}

    def traffic():
        flows = lab.popen("h3", PY, "-c", UDP_FLOWS, lab.WEB, str(lab.ECHO_PORT), "200", "5")
        time.sleep(2)
        changed["up"] = lab.lab("gw-up", "ce2", env_extra={"LAB_CE2_PREFIX": lab.CE2_ALT_PREFIX,
                                                           "LAB_GW_EXTRA": "--timeout-udp 3"},
                                timeout=60)
        flows.communicate(timeout=30)

    try:
        res = br_link_capture(lab, traffic, {c1["ce_ipv6"]: c1["port_ranges"],
                                             old["ce_ipv6"]: old["port_ranges"],
                                             new["ce_ipv6"]: new["port_ranges"]})
        r = changed["up"]
        assert r.returncode == 0 and "ending" in r.stdout, \
            f"mapectl up on CE2 with the new prefix {lab.CE2_ALT_PREFIX}:\n{out(r)}"
        assert res["n_bad"] == 0, f"packets with a port outside their CE's set: {res}"
        assert res["tunnel_packets"] >= 1000, f"too few tunnel packets captured: {res}"
        sessions = lab.json_of("ce2", "sessions", "--pin-dir", lab.pin("ce2"))
        status = lab.status("ce2")
        udp_ports = {s["ext_port"] for s in sessions["sessions"] if s["proto"] == "udp"}
        assert all(any(a <= p <= b for a, b in new["port_ranges"]) for p in udp_ports), \
            f"sessions with ports outside the new set: {sorted(udp_ports)}"
        assert status["port_usage"]["udp"]["used"] == len(udp_ports), \
            f"ports in use {status['port_usage']['udp']} but the sessions hold {len(udp_ports)}"
        # the flows have stopped: after the (3 s) UDP timeout nothing is held
        end = time.monotonic() + 15
        while time.monotonic() < end:
            status = lab.status("ce2")
            if status["sessions"]["udp"] == 0 and status["port_usage"]["udp"]["used"] == 0:
                break
            time.sleep(0.5)
        assert (status["sessions"]["udp"], status["port_usage"]["udp"]["used"]) == (0, 0), \
            f"after expiry: {status['sessions']}, UDP ports in use {status['port_usage']['udp']}"
    finally:
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, f"mapectl up on CE2 back to {lab.CE2_PREFIX}:\n{out(r)}"


SPOOF = r'''
import sys
from scapy.all import IPv6, IP, UDP, send
dst6, src6, src4, dst4, sport, dport = sys.argv[1:7]
send(IPv6(src=src6, dst=dst6, nh=4) / IP(src=src4, dst=dst4) /
     UDP(sport=int(sport), dport=int(dport)) / b"spoofed", count=3, verbose=False)
'''


def counter(stats, name):
    return stats["counters"][name]["packets"]


def test_spoofed_to_ce(lab):
    """Encapsulated packets to CE1 whose outer source is neither the BR nor the
    CE its inner source maps to (RFC 7597 s8.1): dropped and counted."""
    c1 = calc(lab, lab.CE1_PREFIX)
    port = c1["port_ranges"][0][0]
    before = counter(lab.stats("ce1"), "drop_spoofed")
    r = lab.run("isp", PY, "-c", SPOOF, c1["ce_ipv6"], "2001:db8:ffff:1::1", lab.WEB,
                c1["ipv4"], "53", str(port))
    assert r.returncode == 0, out(r)
    after = counter(lab.stats("ce1"), "drop_spoofed")
    assert after - before == 3, f"CE1 drop_spoofed {before} -> {after}"


def test_spoofed_to_br(lab):
    """Encapsulated packets to the BR claiming CE1's IPv4 and port from another
    address: dropped and counted by the BR."""
    if lab.standin:
        pytest.skip("the BR stand-in counts nothing")
    c1 = calc(lab, lab.CE1_PREFIX)
    port = c1["port_ranges"][0][0]
    before = counter(lab.br_stats(), "drop_spoofed")
    r = lab.run("isp", PY, "-c", SPOOF, lab.BR_ADDR, "2001:db8:ffff:3::1", c1["ipv4"], lab.WEB,
                str(port), "53")
    assert r.returncode == 0, out(r)
    after = counter(lab.br_stats(), "drop_spoofed")
    assert after - before == 3, f"BR drop_spoofed {before} -> {after}"


# ---------------------------------------------------------------- mapectl up again / down + up

# UDP flows from many sockets (in batches: the descriptor limit), each from its
# own source port to its own destination port: every one a new endpoint
UDP_FLOOD = r'''
import socket, sys
dst, n, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sent = 0
for start in range(0, n, 500):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(min(500, n - start))]
    for i, s in enumerate(socks):
        try:
            s.sendto(b"flood", (dst, base + start + i))
            sent += 1
        except OSError:
            pass
    for s in socks:
        s.close()
print(sent)
'''


def test_one_host_floods_another_still_works(lab):
    """h1 opens 3000 UDP flows at once; it may take only its share of the free
    ports (--max-ports-per-host, by default half the set) and overlaps beyond
    it, so free ports remain for h2, whose new UDP and TCP flows work."""
    before = lab.status("ce1")
    share = before["sessions"]["max_ports_per_host"]
    total = before["port_usage"]["udp"]["total"]
    r = lab.run("h1", PY, "-c", UDP_FLOOD, lab.WEB, "3000", "20000", timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "3000", out(r)
    time.sleep(1)
    st = lab.status("ce1")
    used = st["port_usage"]["udp"]["used"]
    assert st["sessions"]["udp"] >= 2900, f"the flood made too few sessions: {st['sessions']}"
    assert used <= share + before["port_usage"]["udp"]["used"], \
        f"h1 took {used} UDP ports of {total}, its share is {share}"
    assert used < total
    name = lab.DNS_NAMES.split()[0].split("=")[0]
    r = lab.py("h2", "dnsq.py", name, "--server", lab.WEB, "--timeout", "3", timeout=10)
    assert r.returncode == 0, f"h2's DNS query during h1's flood:\n{out(r)}\n{lab.diag()}"
    r = lab.run("h2", "curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{lab.WEB}/", timeout=10)
    assert r.returncode == 0, f"h2's curl during h1's flood:\n{out(r)}\n{lab.diag()}"


def test_reup_same_input_keeps_sessions(lab):
    """`mapectl up` again with the same input: open connections survive."""
    burst = lab.popen_py("h1", "conn_burst.py", "run", lab.WEB, "--ports", lab.BURST_PORTS,
                         "-n", "20", "--hold", "3", "--timeout", "10", "--json")
    time.sleep(1.0)  # connections open, now held
    r = lab.lab("gw-up", "ce1", timeout=60)
    stdout, stderr = burst.communicate(timeout=40)
    assert r.returncode == 0, f"lab.sh gw-up ce1 (mapectl up again) failed:\n{out(r)}"
    assert "reconfigured" in r.stdout, f"mapectl up again did not say '(reconfigured)':\n{out(r)}"
    res = json.loads(stdout) if stdout.strip() else {"echoed": 0, "errors": stderr}
    assert res["echoed"] == 20, \
        f"connections open across `mapectl up` again: {res['echoed']}/20 survived, " \
        f"failures {res['errors']}\n{lab.diag()}"
    r = lab.run("h1", "curl", "-sS", "-m", "10", f"http://{lab.WEB}/", timeout=20)
    assert r.returncode == 0, f"curl after mapectl up again:\n{out(r)}\n{lab.diag()}"


def test_down_then_up(lab):
    r = lab.lab("gw-down", "ce1", timeout=60)
    assert r.returncode == 0, f"mapectl down failed:\n{out(r)}"
    links = lab.run("ce1", "ip", "-d", "link", "show")
    assert "mape0" not in links.stdout and "xdp" not in links.stdout, \
        f"mapectl down left the tunnel or an XDP program:\n{links.stdout}"
    r = lab.run("h1", "ping", "-c", "1", "-W", "1", lab.WEB, timeout=10)
    assert r.returncode != 0, "ping through CE1 worked while its mapectl was down"
    r = lab.lab("gw-up", "ce1", timeout=60)
    assert r.returncode == 0, f"mapectl up after down failed:\n{out(r)}"
    r = lab.run("h1", "ping", "-c", "3", "-i", "0.3", "-W", "2", lab.WEB, timeout=20)
    assert r.returncode == 0, f"ping after mapectl down + up:\n{out(r)}\n{lab.diag()}"
    r = lab.run("h1", "curl", "-sS", "-m", "10", f"http://{lab.WEB}/", timeout=20)
    assert r.returncode == 0, f"curl after mapectl down + up:\n{out(r)}\n{lab.diag()}"
    r = lab.py("h1", "dnsq.py", "web.lab.example", "--server", lab.WEB, timeout=15)
    assert r.returncode == 0, f"DNS after mapectl down + up:\n{out(r)}\n{lab.diag()}"

