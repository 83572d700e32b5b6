# SPDX-License-Identifier: MIT
"""LAN apps opening their own ports (docs/operations.md "Apps that open
their own ports"): `mapectl daemon` on CE2 serves UPnP IGD, NAT-PMP and PCP
on its LAN; h3 asks with real clients (upnpc from miniupnpc, natpmpc from
libnatpmp, and tools/lab/pcpc.py for PCP), and an IPv4 client on the
internet side (inet) reaches h3's web server through the mapped port."""
import json
import os
import re
import signal
import time

import pytest

from test_forward import OPS_MD, PAGE, WEB_PORT, curl, ports_of, start_web, stop
from test_lab import calc, out
from test_service import ce2_free, daemon_pid, start_daemon, wait_status, write_conf  # noqa: F401

MAX_LIFETIME = 600
PER_HOST = 4
NFT_SET = "inet filter mape_mapped"


def doc_ruleset():
    """The ruleset of operations.md's port mapping section, with the lab's LAN."""
    text = open(OPS_MD).read()
    m = re.search(r"<!-- ruleset: port mappings -->\s*```\n(.*?)```", text, re.S)
    assert m, "operations.md lost its port mapping ruleset"
    rs, n = re.subn(r"^define LAN_IFS = .*$", 'define LAN_IFS = { "lan1" }', m.group(1),
                    flags=re.M)
    assert n == 1
    return rs


def nft_set(lab):
    r = lab.run("ce2", "nft", "list", "set", *NFT_SET.split())
    assert r.returncode == 0, out(r)
    return r.stdout


def upnpc(lab, *args, timeout=20):
    # -i: go on although the external address is "reserved" (the lab's
    # addresses are documentation ranges; a real line has a public one)
    return lab.run("h3", "upnpc", "-i", "-m", "eth0", *args, timeout=timeout)


def natpmpc(lab, *args):
    return lab.run("h3", "natpmpc", "-g", lab.CE2_LAN, *args, timeout=20)


def pcpc(lab, *args):
    r = lab.py("h3", "pcpc.py", *args, timeout=20)
    assert r.returncode == 0, out(r)
    return json.loads(r.stdout.strip().splitlines()[-1])


def mappings(lab):
    return lab.json_of("ce2", "forward", "list", "--pin-dir", lab.pin("ce2"))


def wait_for(pred, timeout, step=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


@pytest.fixture
def pm(ce2_free):
    """The daemon on CE2 with port mapping (on by default), a web server
    on h3; the daemon stopped afterwards (ce2_free puts CE2 back)."""
    lab, notify = ce2_free
    path = os.path.join(lab.RUN, "test-port-mapping.nft")
    with open(path, "w") as f:
        f.write(doc_ruleset())
    lab.run("ce2", "nft", "delete", "table", "inet", "filter")
    r = lab.run("ce2", "nft", "-f", path)
    assert r.returncode == 0, f"nft -f the ruleset of operations.md:\n{out(r)}"
    conf = write_conf(lab, "pm.conf", f"prefix = {lab.CE2_PREFIX}\n"
                      f"port-mapping-max-lifetime = {MAX_LIFETIME}\n"
                      f"port-mapping-per-host = {PER_HOST}\n"
                      f"port-mapping-nft-set = {NFT_SET}\n")
    d = start_daemon(lab, notify, "--config", conf)
    web = None
    try:
        assert notify.wait("READY=1", 30), f"no READY=1: {notify.msgs}"
        lab.c2 = calc(lab, lab.CE2_PREFIX)
        st, ok = wait_status(lab, lambda s: s["ipv4"] == lab.c2["ipv4"], 10)
        assert ok, st
        r = wait_for(lambda: (lambda r: r if "ExternalIPAddress" in r.stdout else None)(
            upnpc(lab, "-s")), 10, 0.5)
        assert r, f"upnpc found no IGD:\n{out(upnpc(lab, '-s'))}"
        web = start_web(lab, "h3", lab.H3)
        lab.daemon = d
        yield lab
    finally:
        if web:
            stop(web)
        if d.poll() is None:
            os.kill(daemon_pid(lab), signal.SIGTERM)
            try:
                d.wait(20)
            except Exception:
                d.kill()
        print(d.stdout.read())
        lab.run("ce2", "nft", "delete", "table", "inet", "filter")


def not_in_set(ports, near):
    p = near
    while p in ports:
        p += 1
    return p


def test_upnp_igd(pm):
    """upnpc discovers the gateway and reads the external address; a port
    outside the set is refused with 718 (so the app tries another), IGDv2's
    AddAnyPortMapping gives an in-set port; inet reaches h3 through it;
    the listing and DeletePortMapping work."""
    lab, ports = pm, ports_of(pm.c2)
    r = upnpc(lab, "-s")
    assert f"ExternalIPAddress = {lab.c2['ipv4']}" in r.stdout, out(r)
    assert "Status : Connected" in r.stdout, out(r)
    bad = not_in_set(ports, 8081)
    r = upnpc(lab, "-e", "game", "-a", lab.H3, str(WEB_PORT), str(bad), "TCP", "300")
    assert "failed with code 718" in r.stdout + r.stderr, out(r)
    assert mappings(lab) == []
    r = upnpc(lab, "-e", "game", "-n", lab.H3, str(WEB_PORT), str(bad), "TCP", "300")
    words = [w for w in r.stdout.split() if w.startswith(lab.c2["ipv4"] + ":")]
    assert "is redirected" in r.stdout and words, out(r)
    ext = int(words[0].split(":")[1])
    assert ext in ports, f"AddAnyPortMapping gave {ext}, not in the set"
    m = mappings(lab)
    assert [(x["origin"], x["proto"], x["ext_port"], x["host"], x["port"], x["comment"])
            for x in m] == [("upnp", "tcp", ext, lab.H3, WEB_PORT, "game")], m
    assert 290 <= m[0]["lifetime"] <= 300, m
    assert f"{lab.H3} . tcp . {WEB_PORT}" in nft_set(lab), nft_set(lab)
    r = curl(lab, "inet", f"http://{lab.c2['ipv4']}:{ext}/hello.txt")
    assert r.returncode == 0 and r.stdout == PAGE, \
        f"inet -> {lab.c2['ipv4']}:{ext} (UPnP):\n{out(r)}\n{lab.diag('ce2')}"
    # the ruleset decides: without the set's element the flow is dropped
    lab.run("ce2", "nft", "flush", "set", *NFT_SET.split())
    r = curl(lab, "inet", f"http://{lab.c2['ipv4']}:{ext}/hello.txt", "--connect-timeout", "2",
             timeout=3)
    assert r.returncode != 0, f"reached without the ruleset's accept:\n{out(r)}"
    # an exact AddPortMapping of a free in-set port is honoured (and the set made whole)
    other = next(p for p in ports if p != ext)
    r = upnpc(lab, "-a", lab.H3, "9999", str(other), "UDP", "120")
    assert "is redirected" in r.stdout and f":{other} UDP" in r.stdout, out(r)
    r = curl(lab, "inet", f"http://{lab.c2['ipv4']}:{ext}/hello.txt")
    assert r.returncode == 0 and r.stdout == PAGE, out(r)
    r = upnpc(lab, "-l")
    assert f"{ext}->{lab.H3}:{WEB_PORT}" in r.stdout, out(r)
    assert f"{other}->{lab.H3}:9999" in r.stdout, out(r)
    r = upnpc(lab, "-L")        # IGD:2's GetListOfPortMappings
    assert f"{ext}->{lab.H3}:{WEB_PORT}" in r.stdout, out(r)
    st = lab.status("ce2")
    assert st["port_usage"]["tcp"]["forwarded"] == 1, st["port_usage"]
    r = lab.mapectl("ce2", "status", "--pin-dir", lab.pin("ce2"))
    assert f"tcp {ext} -> {lab.H3}:{WEB_PORT}" in r.stdout and "upnp mapping" in r.stdout, out(r)
    r = lab.mapectl("ce2", "forward", "list", "--pin-dir", lab.pin("ce2"))
    assert '"game" (upnp, ' in r.stdout, out(r)
    r = upnpc(lab, "-d", str(ext), "TCP")
    assert r.returncode == 0 and "failed" not in r.stdout, out(r)
    assert [x["ext_port"] for x in mappings(lab)] == [other]
    assert f"{lab.H3} . tcp . {WEB_PORT}" not in nft_set(lab), nft_set(lab)
    assert f"{lab.H3} . udp . 9999" in nft_set(lab), nft_set(lab)
    r = upnpc(lab, "-d", str(ext), "TCP")
    assert "714" in r.stdout + r.stderr, out(r)
    # IGD:2 DeletePortMappingRange over every port: one change, the host's own
    r = upnpc(lab, "-N", "1", "65535", "UDP")
    assert r.returncode == 0 and mappings(lab) == [], out(r)
    assert f"{lab.H3} . udp . 9999" not in nft_set(lab), nft_set(lab)


def natpmp_map(lab, proto, port, lifetime):
    r = natpmpc(lab, "-a", "0", str(port), proto, str(lifetime))
    assert "Mapped public port" in r.stdout, out(r)
    return int(r.stdout.split("Mapped public port")[1].split()[0])


def test_natpmp_mapping_and_expiry(pm):
    """natpmpc gets an in-set port for h3's web server; a 3 s lifetime ends:
    the mapping goes, the port returns to the set, and inet does not get
    through; mapped again, inet reaches the server; lifetime 0 deletes.
    (Only new flows are tested after the end: a flow the mapping let in
    keeps its session, and with endpoint-independent filtering its binding,
    until it ends, as for any NAT session.)"""
    lab, ports = pm, ports_of(pm.c2)
    r = natpmpc(lab)
    assert f"Public IP address : {lab.c2['ipv4']}" in r.stdout, out(r)
    ext = natpmp_map(lab, "tcp", WEB_PORT, 3)
    assert ext in ports, ext
    assert [m["origin"] for m in mappings(lab)] == ["natpmp"]
    assert wait_for(lambda: mappings(lab) == [], 8), mappings(lab)
    assert lab.status("ce2")["port_usage"]["tcp"]["forwarded"] == 0
    url = f"http://{lab.c2['ipv4']}:{ext}/hello.txt"
    r = curl(lab, "inet", url, "--connect-timeout", "2", timeout=3)
    assert r.returncode != 0, f"{url} reached after the mapping expired:\n{out(r)}"
    ext = natpmp_map(lab, "tcp", WEB_PORT, 60)
    url = f"http://{lab.c2['ipv4']}:{ext}/hello.txt"
    r = curl(lab, "inet", url)
    assert r.returncode == 0 and r.stdout == PAGE, f"inet -> {url}:\n{out(r)}\n{lab.diag('ce2')}"
    r = natpmpc(lab, "-a", "0", str(WEB_PORT), "tcp", "0")
    assert mappings(lab) == [], out(r)


def test_pcp_map(pm):
    """PCP MAP: the suggested port when it is in the set and free, another
    in-set port otherwise, PREFER_FAILURE honoured, THIRD_PARTY for another
    host refused, renewals by nonce, short lifetimes expire, the cap holds."""
    lab, ports = pm, ports_of(pm.c2)
    want = ports[20]
    a = pcpc(lab, "map", lab.CE2_LAN, "udp", "5000", "--suggest", str(want), "--lifetime", "60")
    assert a["result"] == "SUCCESS" and a["external_port"] == want, a
    assert a["external_ip"] == lab.c2["ipv4"] and a["lifetime"] == 60 and a["response"], a
    bad = not_in_set(ports, 6000)
    b = pcpc(lab, "map", lab.CE2_LAN, "tcp", "6000", "--suggest", str(bad), "--prefer-failure")
    assert b["result"] == "CANNOT_PROVIDE_EXTERNAL", b
    b = pcpc(lab, "map", lab.CE2_LAN, "tcp", "6000", "--suggest", str(bad))
    assert b["result"] == "SUCCESS" and b["external_port"] in ports, b
    # renewing needs the nonce of the mapping
    c = pcpc(lab, "map", lab.CE2_LAN, "udp", "5000", "--lifetime", "90")
    assert c["result"] == "NOT_AUTHORIZED", c
    c = pcpc(lab, "map", lab.CE2_LAN, "udp", "5000", "--lifetime", "90", "--nonce",
             a["sent_nonce"])
    assert c["result"] == "SUCCESS" and c["external_port"] == want and c["lifetime"] == 90, c
    # no mappings for others, no lies about the client
    d = pcpc(lab, "map", lab.CE2_LAN, "tcp", "7000", "--third-party", "192.168.2.77")
    assert d["result"] == "NOT_AUTHORIZED", d
    d = pcpc(lab, "map", lab.CE2_LAN, "tcp", "7000", "--client", "192.168.2.77")
    assert d["result"] == "ADDRESS_MISMATCH", d
    d = pcpc(lab, "map", lab.CE2_LAN, "tcp", "7000", "--option", "3")     # FILTER
    assert d["result"] == "UNSUPP_OPTION", d
    e = pcpc(lab, "announce", lab.CE2_LAN)
    assert e["result"] == "SUCCESS" and e["opcode"] == 0, e
    # the cap on lifetimes
    f = pcpc(lab, "map", lab.CE2_LAN, "tcp", "7001", "--lifetime", "100000")
    assert f["result"] == "SUCCESS" and f["lifetime"] == MAX_LIFETIME, f
    # delete by nonce
    g = pcpc(lab, "map", lab.CE2_LAN, "udp", "5000", "--lifetime", "0", "--nonce",
             a["sent_nonce"])
    assert g["result"] == "SUCCESS", g
    assert want not in [m["ext_port"] for m in mappings(lab) if m["proto"] == "udp"]
    # seconds-short lifetimes are honoured and end
    h = pcpc(lab, "map", lab.CE2_LAN, "udp", "5001", "--lifetime", "2")
    assert h["result"] == "SUCCESS" and h["lifetime"] == 2, h
    assert wait_for(lambda: 5001 not in [m["port"] for m in mappings(lab)], 6), mappings(lab)
    assert all(m["origin"] == "pcp" for m in mappings(lab))


def test_limits_and_lan_only(pm):
    """At most PER_HOST mappings per host (PCP USER_EX_QUOTA, UPnP 728);
    the NAT-PMP/PCP sockets are bound to the LAN, nothing listens on the
    WAN or the tunnel."""
    lab = pm
    for i in range(PER_HOST):
        r = pcpc(lab, "map", lab.CE2_LAN, "tcp", str(7100 + i))
        assert r["result"] == "SUCCESS", r
    r = pcpc(lab, "map", lab.CE2_LAN, "tcp", "7200")
    assert r["result"] == "USER_EX_QUOTA", r
    r = upnpc(lab, "-n", lab.H3, "7201", "7201", "TCP", "60")
    assert "728" in r.stdout + r.stderr, out(r)
    assert len(mappings(lab)) == PER_HOST
    r = lab.run("ce2", "ss", "-Htulnp")
    mine = [line for line in r.stdout.splitlines() if "mapectl" in line and
            "127.0.0.1:" not in line]
    assert any(":5351 " in line for line in mine) and any(":1900 " in line for line in mine), \
        out(r)
    assert all("%lan1:" in line for line in mine), f"not bound to the LAN:\n{out(r)}"
    # the WAN's own IPv6 addresses do not reach UPnP's HTTP server
    http = [line.split()[4].rsplit(":", 1)[1] for line in mine if "LISTEN" in line]
    wan = lab.run("ce2", "ip", "-6", "-o", "addr", "show", "dev", "wan", "scope", "global")
    addrs = [w.split("/")[0] for w in wan.stdout.split() if w.startswith("2001:")]
    assert http and addrs, (out(r), out(wan))
    for a in addrs:
        r = lab.run("isp", "curl", "-sS", "-g", "-m", "3", f"http://[{a}]:{http[0]}/description.xml")
        assert r.returncode != 0, f"UPnP answered from the WAN at [{a}]:{http[0]}:\n{out(r)}"


def test_prefix_change_drops_mappings_and_announces(pm):
    """A new prefix moves the address and the port set: the mappings are
    dropped, and PCP/NAT-PMP clients hear a new epoch on 224.0.0.1:5350."""
    lab = pm
    a = pcpc(lab, "map", lab.CE2_LAN, "tcp", str(WEB_PORT), "--lifetime", "300")
    assert a["result"] == "SUCCESS", a
    t0 = time.monotonic()
    time.sleep(3)
    listener = lab.popen_py("h3", "pcpc.py", "listen", "--timeout", "15", "--count", "2")
    try:
        assert json.loads(listener.stdout.readline()) == {"listening": True}
        r = lab.mapectl("ce2", "update", "--prefix", lab.CE2_ALT_PREFIX, "--pin-dir",
                        lab.pin("ce2"))
        assert r.returncode == 0, out(r)
        heard = [json.loads(listener.stdout.readline()) for _ in range(2)]
    finally:
        listener.kill()
    pcp = [h for h in heard if h.get("version") == 2]
    assert pcp and pcp[0]["opcode"] == 0 and pcp[0]["response"], heard
    # a client sees the restart: the epoch is behind what time says (RFC 6887 §8.5)
    assert pcp[0]["epoch"] + 2 < a["epoch"] + (time.monotonic() - t0), (pcp, a)
    assert mappings(lab) == []
    new = calc(lab, lab.CE2_ALT_PREFIX)
    b = pcpc(lab, "map", lab.CE2_LAN, "tcp", str(WEB_PORT))
    assert b["result"] == "SUCCESS" and b["external_ip"] == new["ipv4"], b
    assert b["external_port"] in ports_of(new), b
