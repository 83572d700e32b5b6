# SPDX-License-Identifier: MIT
"""The router service (`mapectl daemon`, `mapectl update`, the configuration
file, --route), in the lab on CE2 (h3 behind it): the daemon is started as a
child process with a configuration file and signalled; its readiness is read
from a NOTIFY_SOCKET of the test's own, as systemd would; CE2's IPv4 default
route before it (a stand-in for a PPPoE uplink) must be back after SIGTERM."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import LAB_SH, _env
from test_lab import calc, out

STANDIN_GW = "192.168.2.99"     # the stand-in uplink's gateway, on CE2's LAN (onlink)


def default_routes(lab):
    r = lab.run("ce2", "ip", "-4", "route", "show", "default")
    return r.stdout.strip()


def write_conf(lab, name, extra=""):
    path = os.path.join(lab.RUN, name)
    with open(path, "w") as f:
        f.write(f"""# CE2 of the lab, as the service runs it
wan = wan
lan = lan1
rule = {lab.RULE},fmr
br = {lab.BR_ADDR}
iid = {lab.IID}
pin-dir = {lab.pin('ce2')}
xdp-mode = {lab.mode}
{extra}
""")
    return path


class Notify:
    """A NOTIFY_SOCKET, as systemd gives a Type=notify service."""

    def __init__(self, lab):
        self.path = os.path.join(lab.RUN, f"notify-{os.getpid()}.sock")
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.msgs = []

    def wait(self, what, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(what in m for m in self.msgs):
                return True
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        return any(what in m for m in self.msgs)

    def close(self):
        self.sock.close()
        os.unlink(self.path)


def start_daemon(lab, notify, *args):
    cmd = [LAB_SH, "exec", "ce2", "env", f"NOTIFY_SOCKET={notify.path}", lab.mapectl_bin,
           "daemon", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_env(), stdin=subprocess.DEVNULL)


def daemon_pid(lab):
    r = lab.run("ce2", "pgrep", "-f", "^[^ ]*mapectl daemon")
    pids = [int(p) for p in r.stdout.split()]
    assert pids, "no mapectl daemon in ce2"
    return pids[0]


def wait_status(lab, pred, timeout):
    end = time.monotonic() + timeout
    st = None
    while time.monotonic() < end:
        r = lab.mapectl("ce2", "status", "--json", "--pin-dir", lab.pin("ce2"))
        if r.returncode == 0:
            st = json.loads(r.stdout)
            if pred(st):
                return st, True
        time.sleep(0.1)
    return st, False


def h3_reaches_web(lab):
    return lab.run("h3", "curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{lab.WEB}/",
                   timeout=15)


@pytest.fixture
def ce2_free(lab):
    """CE2 down (the service brings it up), with a stand-in default route;
    afterwards the lab's CE2 is back as it was."""
    lab.lab("gw-down", "ce2")
    lab.run("ce2", "ip", "route", "add", "default", "via", STANDIN_GW, "dev", "lan1", "onlink")
    notify = Notify(lab)
    try:
        yield lab, notify
    finally:
        lab.run("ce2", "pkill", "-f", "^[^ ]*mapectl daemon")
        end = time.monotonic() + 15     # its SIGTERM runs down, which restores routes
        while time.monotonic() < end and \
                lab.run("ce2", "pgrep", "-f", "^[^ ]*mapectl daemon").returncode == 0:
            time.sleep(0.2)
        lab.run("ce2", "ip", "route", "del", "default", "via", STANDIN_GW)
        notify.close()
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, out(r)


def test_daemon_start_hup_update_term(ce2_free):
    lab, notify = ce2_free
    old, new = calc(lab, lab.CE2_PREFIX), calc(lab, lab.CE2_ALT_PREFIX)
    fport = old["port_ranges"][0][0] + 3
    conf = write_conf(lab, "service.conf", f"prefix = {lab.CE2_PREFIX}\n"
                      f"[forwards]\nweb = tcp {fport} {lab.H3}:8080\n")
    before = default_routes(lab)
    assert STANDIN_GW in before
    d = start_daemon(lab, notify, "--config", conf)
    try:
        assert notify.wait("READY=1", 30), f"no READY=1: {notify.msgs}"
        st, ok = wait_status(lab, lambda s: s["ipv4"] == old["ipv4"], 5)
        assert ok and st["psid"] == old["psid"], st
        assert "dev mape0" in default_routes(lab), default_routes(lab)
        assert STANDIN_GW not in default_routes(lab)
        r = h3_reaches_web(lab)
        assert r.returncode == 0, f"h3 -> WEB under the daemon:\n{out(r)}\n{lab.diag('ce2')}"
        fw = [f for f in st["forwards"] if f["origin"] == "config"]
        assert [(f["ext_port"], f["enabled"], f["comment"]) for f in fw] == [(fport, True, "web")]
        r = lab.mapectl("ce2", "forward", "del", "tcp", str(fport), "--pin-dir", lab.pin("ce2"))
        assert r.returncode == 1 and "configuration file" in r.stderr, out(r)

        # SIGHUP: the file again (a new MTU)
        text = open(conf).read().replace("xdp-mode", "mtu = 1400\nxdp-mode")
        open(conf, "w").write(text)
        os.kill(daemon_pid(lab), signal.SIGHUP)
        st, ok = wait_status(lab, lambda s: s["mtu"] == 1400, 5)
        assert ok, f"SIGHUP did not apply mtu = 1400: {st and st['mtu']}"

        # a new delegated prefix through update: applied within 2 s
        t0 = time.monotonic()
        r = lab.mapectl("ce2", "update", "--prefix", lab.CE2_ALT_PREFIX, "--pin-dir",
                        lab.pin("ce2"))
        assert r.returncode == 0 and r.stdout.startswith("daemon: ok"), out(r)
        st, ok = wait_status(lab, lambda s: s["ipv4"] == new["ipv4"] and
                             s["psid"] == new["psid"], 2)
        took = time.monotonic() - t0
        assert ok and took < 2.5, f"the new prefix took {took:.1f} s: {st}"
        fw = [f for f in st["forwards"] if f["origin"] == "config"]
        assert [f["enabled"] for f in fw] == [False], fw     # its port left the set
        r = h3_reaches_web(lab)
        assert r.returncode == 0, f"h3 -> WEB after the update:\n{out(r)}\n{lab.diag('ce2')}"

        # SIGTERM: down, the stand-in route back
        os.kill(daemon_pid(lab), signal.SIGTERM)
        rc = d.wait(20)
        log = d.stdout.read()
        assert rc == 0, f"daemon exit {rc}:\n{log}"
        r = lab.mapectl("ce2", "status", "--pin-dir", lab.pin("ce2"))
        assert r.returncode != 0 and "not up" in r.stderr, out(r)
        after = default_routes(lab)
        assert STANDIN_GW in after and "mape0" not in after, f"default route after: {after}"
        assert notify.wait("STOPPING=1", 2), notify.msgs
        for line in ("started", "up with prefix", "SIGHUP", "update: up with prefix",
                     "taking the CE down"):
            assert line in log, f"{line!r} not in the daemon's log:\n{log}"
    finally:
        if d.poll() is None:
            d.kill()
            d.wait(5)


def test_daemon_follows_the_wan_64(ce2_free):
    """No prefix anywhere: the daemon waits, then takes the /64 of a SLAAC
    address on the WAN (an RA-only line), and follows it when it changes."""
    lab, notify = ce2_free
    p1 = lab.CE2_PREFIX.split("::")[0] + "::"           # the /56's first /64
    p2 = lab.CE2_ALT_PREFIX.split("::")[0] + "::"
    old, new = calc(lab, p1 + "/64"), calc(lab, p2 + "/64")
    conf = write_conf(lab, "service-ra.conf")
    d = start_daemon(lab, notify, "--config", conf)
    try:
        assert notify.wait("READY=1", 30), f"no READY=1: {notify.msgs}"
        assert notify.wait("waiting for a prefix", 5), notify.msgs
        lab.run("ce2", "ip", "-6", "addr", "add", p1 + "1234/64", "dev", "wan", "nodad",
                "valid_lft", "3600", "preferred_lft", "3600")
        st, ok = wait_status(lab, lambda s: s["ipv4"] == old["ipv4"] and
                             s["psid"] == old["psid"], 3)
        assert ok, f"the daemon did not take {p1}/64: {st}\n{notify.msgs}"
        assert h3_reaches_web(lab).returncode == 0
        t0 = time.monotonic()
        lab.run("ce2", "ip", "-6", "addr", "add", p2 + "1234/64", "dev", "wan", "nodad",
                "valid_lft", "3600", "preferred_lft", "3600")
        lab.run("ce2", "ip", "-6", "addr", "del", p1 + "1234/64", "dev", "wan")
        st, ok = wait_status(lab, lambda s: s["ipv4"] == new["ipv4"] and
                             s["psid"] == new["psid"], 3)
        took = time.monotonic() - t0
        assert ok and took < 2.5, f"the new /64 took {took:.1f} s: {st}"
        r = h3_reaches_web(lab)
        assert r.returncode == 0, f"h3 -> WEB after the /64 changed:\n{out(r)}\n{lab.diag('ce2')}"
        os.kill(daemon_pid(lab), signal.SIGTERM)
        assert d.wait(20) == 0
    finally:
        if d.poll() is None:
            d.kill()
            d.wait(5)
        lab.run("ce2", "ip", "-6", "addr", "del", p1 + "1234/64", "dev", "wan")
        lab.run("ce2", "ip", "-6", "addr", "del", p2 + "1234/64", "dev", "wan")


def test_update_without_daemon_repeats_the_last_up(lab):
    """No daemon: update runs up again with the last up's options and the
    new prefix; the lab's own gw-up puts CE2 back."""
    new = calc(lab, lab.CE2_ALT_PREFIX)
    try:
        r = lab.mapectl("ce2", "update", "--prefix", lab.CE2_ALT_PREFIX, "--pin-dir",
                        lab.pin("ce2"), timeout=60)
        assert r.returncode == 0, out(r)
        st = lab.status("ce2")
        assert (st["ipv4"], st["psid"]) == (new["ipv4"], new["psid"]), st
        assert h3_reaches_web(lab).returncode == 0
    finally:
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, out(r)


def test_route_table_and_metric(lab):
    """--route 'table N' puts the default route in table N and leaves main
    alone; --route none adds none; going back to the default replaces them."""
    try:
        r = lab.lab("gw-up", "ce2", env_extra={"LAB_GW_EXTRA": "--route table=100 --metric 7"})
        assert r.returncode == 0, out(r)
        t100 = lab.run("ce2", "ip", "-4", "route", "show", "table", "100").stdout
        assert re.search(r"default dev mape0 .*metric 7", t100), t100
        assert "mape0" not in default_routes(lab), default_routes(lab)
        r = lab.lab("gw-up", "ce2", env_extra={"LAB_GW_EXTRA": "--route table 101"})
        assert r.returncode == 0, out(r)    # "table N" as two words
        assert "mape0" in lab.run("ce2", "ip", "-4", "route", "show", "table", "101").stdout
        r = lab.lab("gw-up", "ce2", env_extra={"LAB_GW_EXTRA": "--route none"})
        assert r.returncode == 0, out(r)
        assert "mape0" not in lab.run("ce2", "ip", "-4", "route", "show", "table", "100").stdout
        assert "mape0" not in default_routes(lab)
        r = lab.mapectl("ce2", "up", "--route", "tabel 5", "--wan", "wan")
        assert r.returncode == 1 and "bad --route 'tabel 5'" in r.stderr, out(r)
    finally:
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, out(r)
        assert "dev mape0" in default_routes(lab)


def scrape(lab, url):
    r = lab.run("ce2", "curl", "-sS", "-m", "5", "-w", "\n%{http_code}", url, timeout=15)
    assert r.returncode == 0, out(r)
    body, code = r.stdout.rsplit("\n", 1)
    return body, int(code)


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of the exposition text."""
    got = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
        assert m, f"not a metric line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        got[(m.group(1), labels)] = float(m.group(3))
    return got


def test_daemon_metrics(ce2_free):
    """--metrics: Prometheus text whose numbers are those of stats --json
    and status --json read around the scrape."""
    lab, notify = ce2_free
    old = calc(lab, lab.CE2_PREFIX)
    fport = old["port_ranges"][0][0] + 5
    conf = write_conf(lab, "service-m.conf", f"prefix = {lab.CE2_PREFIX}\n"
                      "metrics = 127.0.0.1:9142\n"
                      f"[forwards]\nweb = tcp {fport} {lab.H3}:8080\n")
    d = start_daemon(lab, notify, "--config", conf)
    try:
        assert notify.wait("READY=1", 30), f"no READY=1: {notify.msgs}"
        assert h3_reaches_web(lab).returncode == 0
        lab.run("h3", "ping", "-c", "1", "-W", "2", lab.WEB)
        s0 = lab.stats("ce2")["counters"]
        body, code = scrape(lab, "http://127.0.0.1:9142/metrics")
        s1 = lab.stats("ce2")["counters"]
        st = lab.status("ce2")
        assert code == 200, body
        m = parse_metrics(body)
        assert m[("mape_up", frozenset())] == 1
        for name, c in s1.items():
            v = m[("mape_packets_total", frozenset({("counter", name)}))]
            lo = s0.get(name, {"packets": 0})["packets"]
            assert lo <= v <= c["packets"], f"{name}: {lo} <= {v} <= {c['packets']}"
        assert m[("mape_packets_total", frozenset({("counter", "session_new")}))] >= 2
        for p in ("tcp", "udp", "icmp"):
            assert m[("mape_sessions", frozenset({("proto", p)}))] == st["sessions"][p], (p, st)
            assert m[("mape_ports_used", frozenset({("proto", p)}))] == \
                st["port_usage"][p]["used"], (p, st)
        assert m[("mape_ports_forwarded", frozenset({("proto", "tcp")}))] == 1
        assert m[("mape_ports_total", frozenset())] == st["port_count"]
        assert m[("mape_sessions_max", frozenset())] == st["sessions"]["max"]
        assert m[("mape_host_sessions", frozenset({("host", lab.H3)}))] >= 1
        assert m[("mape_info", frozenset({("ipv4", old["ipv4"]), ("psid", str(old["psid"])),
                                          ("psid_len", "8"), ("psid_offset", "4"),
                                          ("version", lab.run("ce2", lab.mapectl_bin,
                                                              "--version").stdout.split()[1])}))] == 1
        assert any(k[0] == "mape_forward_sessions" and ("ext_port", str(fport)) in k[1]
                   for k in m), "no mape_forward_sessions of the forward"
        body, code = scrape(lab, "http://127.0.0.1:9142/other")
        assert code == 404
    finally:
        if d.poll() is None:
            os.kill(daemon_pid(lab), signal.SIGTERM)
            d.wait(20)


PPP_CE, PPP_INET = "198.51.100.5", "198.51.100.6"     # the stand-in uplink's /30
PPP_NAT = """
table ip labppp {
    chain post {
        type nat hook postrouting priority srcnat;
        oifname "ppp0" masquerade
    }
}
"""


def whoami(lab, host):
    r = lab.py(host, "udp_echo.py", "ask", f"{lab.WEB}:{lab.ECHO_PORT}", "--whoami",
               "--timeout", "4", timeout=15)
    assert r.returncode == 0, f"{host} -> WEB:\n{out(r)}\n{lab.diag()}"
    return r.stdout.split()[1].rsplit(":", 1)[0]


def test_policy_routing_beside_another_uplink(lab):
    """CE1 keeps a second IPv4 uplink (a stand-in for PPPoE, masqueraded) as
    its main default route, and sends only h1's LAN subnet over MAP-E
    (--route table 100 and one ip rule), as operations.md describes: WEB sees
    h1 from CE1's MAP-E address and h2 from the other uplink's."""
    c1 = calc(lab, lab.CE1_PREFIX)
    path = os.path.join(lab.RUN, "test-ppp.nft")
    with open(path, "w") as f:
        f.write(PPP_NAT)
    lab.run("ce1", "ip", "link", "del", "ppp0")
    r = lab.run("ce1", "ip", "link", "add", "ppp0", "type", "veth", "peer", "name", "ppp0i")
    assert r.returncode == 0, out(r)
    r = lab.run("ce1", "ip", "link", "set", "ppp0i", "netns", f"{lab.ID}-inet")
    assert r.returncode == 0, out(r)
    try:
        for node, cmd in (("ce1", f"addr add {PPP_CE}/30 dev ppp0"), ("ce1", "link set ppp0 up"),
                          ("inet", f"addr add {PPP_INET}/30 dev ppp0i"),
                          ("inet", "link set ppp0i up")):
            r = lab.run(node, "ip", *cmd.split())
            assert r.returncode == 0, out(r)
        assert lab.run("ce1", "nft", "-f", path).returncode == 0
        r = lab.lab("gw-up", "ce1", env_extra={"LAB_GW_EXTRA": "--route table=100"})
        assert r.returncode == 0, out(r)
        r = lab.run("ce1", "ip", "route", "replace", "default", "via", PPP_INET, "dev", "ppp0")
        assert r.returncode == 0, out(r)
        r = lab.run("ce1", "ip", "rule", "add", "from", f"{lab.H1}/25", "lookup", "100")
        assert r.returncode == 0, out(r)
        assert whoami(lab, "h1") == c1["ipv4"]
        assert whoami(lab, "h2") == PPP_CE
        r = lab.run("h1", "curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{lab.WEB}/",
                    timeout=15)
        assert r.returncode == 0, out(r)
    finally:
        lab.run("ce1", "ip", "rule", "del", "from", f"{lab.H1}/25", "lookup", "100")
        lab.run("ce1", "ip", "route", "del", "default", "via", PPP_INET)
        lab.run("ce1", "nft", "delete", "table", "ip", "labppp")
        lab.run("ce1", "ip", "link", "del", "ppp0")
        r = lab.lab("gw-up", "ce1")
        assert r.returncode == 0, out(r)


def test_daemon_session_log(ce2_free):
    """--session-log FILE: each NAT session made and ended, with its time, LAN
    endpoint, external port and remote, as an abuse report needs them."""
    lab, notify = ce2_free
    old = calc(lab, lab.CE2_PREFIX)
    log = os.path.join(lab.RUN, "sessions.log")
    if os.path.exists(log):
        os.unlink(log)
    conf = write_conf(lab, "service-log.conf", f"prefix = {lab.CE2_PREFIX}\n"
                      f"session-log = {log}\ntimeout-udp = 2\n")
    d = start_daemon(lab, notify, "--config", conf)
    try:
        assert notify.wait("READY=1", 30), f"no READY=1: {notify.msgs}"
        t0 = time.time()
        r = lab.py("h3", "udp_echo.py", "ask", f"{lab.WEB}:{lab.ECHO_PORT}", "--bind",
                   f"{lab.H3}:41234", "--count", "2", "--timeout", "3", timeout=15)
        assert r.returncode == 0, out(r)
        sessions = lab.json_of("ce2", "sessions", "--pin-dir", lab.pin("ce2"))["sessions"]
        ext = [s["ext_port"] for s in sessions if s["int_port"] == 41234]
        assert len(ext) == 1, sessions
        want = f"udp {lab.H3}:41234 ext {ext[0]} remote {lab.WEB}:{lab.ECHO_PORT}"
        end = time.monotonic() + 10
        text = ""
        while time.monotonic() < end:
            text = open(log).read() if os.path.exists(log) else ""
            if f"end {want} expired packets" in text:
                break
            time.sleep(0.3)
        lines = [line for line in text.splitlines() if want in line]
        assert [line.split()[1] for line in lines] == ["create", "end"], text
        assert lines[1].endswith("packets 2/2"), lines[1]
        stamp = time.mktime(time.strptime(lines[0].split()[0][:19], "%Y-%m-%dT%H:%M:%S")) \
            - time.timezone
        assert abs(stamp - t0) < 5, f"{lines[0]} is not at {time.ctime(t0)} (UTC)"
        assert any(a <= ext[0] <= b for a, b in old["port_ranges"])
    finally:
        if d.poll() is None:
            os.kill(daemon_pid(lab), signal.SIGTERM)
            d.wait(20)
