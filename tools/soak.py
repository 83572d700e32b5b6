#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""soak.py - mixed traffic through a running lab for a while, with the
reconfigurations a router lives through, checking the gateways' state as
it goes (make soak SOAK_MIN=10; tools/soak.sh brings the lab up and down).

  soak.py --minutes M [--lab-id ID]

Each round (about 20 s): TCP bursts (conn_burst.py, 120 connections to 8
ports), UDP echoes from many source ports and pings from the LAN hosts of
both CEs, while one episode runs, in turn:
  reup     mapectl up again on CE1, under the traffic
  prefix   CE2 renumbered to its other prefix (and back next time)
  full     CE1 re-upped with --max-sessions-per-host 24 (a full host: its
           new flows are refused, drop_host_limit must count them), then
           restored
  forward  a forward added on CE1 under the traffic, then removed
After each round, for each CE (read while the traffic has stopped; a
mismatch must persist over 3 reads 1 s apart to count):
  ports    the ports mape_ports marks in use, per protocol (status), equal
           the distinct external ports of the live sessions (sessions)
  timeout  no session is idle longer than its timeout (+2 s for the timer)
  counters session_new - session_expired - session_stale_ended equals the
           sessions alive (every session that ends is counted once)
and once, at the end, against the end of the first round (warm):
  memory   Slab + Percpu of /proc/meminfo grew by less than 32 MiB, the
           maps' memlock (bpftool) by nothing
Exit 0 when every check of every round passed; each failure is printed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LAB = os.path.join(HERE, "lab", "lab.sh")
PY = "/usr/bin/python3"


class Lab:
    def __init__(self, lab_id):
        self.env = dict(os.environ, LAB_ID=lab_id)
        out = self.sh(LAB, "info").stdout
        self.info = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.mapectl = self.info["MAPECTL"]

    def sh(self, *cmd, env=None, timeout=120, check=False):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=dict(self.env, **(env or {})), stdin=subprocess.DEVNULL)
        if check and r.returncode:
            raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                      r.stderr))
        return r

    def x(self, node, *cmd, **kw):
        return self.sh(LAB, "exec", node, *cmd, **kw)

    def popen(self, node, *cmd):
        return subprocess.Popen([LAB, "exec", node, *cmd], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)

    def json(self, node, *args):
        r = self.x(node, self.mapectl, *args, "--pin-dir", self.info[node.upper() + "_PIN"],
                   "--json", check=True)
        return json.loads(r.stdout)

    def gw_up(self, node, extra="", prefix=None):
        env = {"LAB_GW_EXTRA": extra}
        if prefix:
            env["LAB_CE2_PREFIX"] = prefix
        self.sh(LAB, "gw-up", node, env=env, check=True)


def traffic(lab, seconds):
    """Start the round's traffic; the processes (each bounded in time)."""
    web, alt = lab.info["WEB"], lab.info["ALT"]
    port = lab.info["ECHO_PORT"]
    ps = []
    for node in ("h1", "h3"):
        ps.append(lab.popen(node, PY, os.path.join(HERE, "lab", "conn_burst.py"), "run", web,
                            "--ports", lab.info["BURST_PORTS"], "-n", "120", "--hold", "2",
                            "--timeout", "10"))
        ps.append(lab.popen(node, "ping", "-q", "-c", str(seconds * 2), "-i", "0.5", "-W", "1",
                            web))
        for dst in (web, alt):      # many source ports: one socket each
            ps.append(lab.popen(node, "timeout", str(seconds + 5), PY, "-c",
                                "import socket,time\n"
                                "for r in range(%d):\n"
                                " for i in range(25):\n"
                                "  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                                "  s.settimeout(0.2)\n"
                                "  s.sendto(b'soak',('%s',%s))\n"
                                "  try: s.recv(64)\n"
                                "  except OSError: pass\n"
                                "  s.close()\n"
                                " time.sleep(1)\n" % (seconds // 2, dst, port)))
    return ps


def episode(lab, n, state):
    kind = ("reup", "prefix", "full", "forward")[n % 4]
    if kind == "reup":
        lab.gw_up("ce1")
    elif kind == "prefix":
        state["alt"] = not state.get("alt")
        lab.gw_up("ce2", prefix=lab.info["CE2_ALT_PREFIX"] if state["alt"] else
                  lab.info["CE2_PREFIX"])
    elif kind == "full":
        lab.gw_up("ce1", extra="--max-sessions-per-host 24")
        time.sleep(6)
        lab.gw_up("ce1")
    else:
        c = json.loads(lab.x("h1", lab.mapectl, "calc", "--json", "--rule",
                             lab.info["RULE"] + ",fmr", "--prefix", lab.info["CE1_PREFIX"],
                             "--iid", lab.info["IID"], check=True).stdout)
        ports = [p for a, b in c["port_ranges"] for p in range(a, b + 1)]
        ext = ports[len(ports) // 2]
        pin = lab.info["CE1_PIN"]
        lab.x("ce1", lab.mapectl, "forward", "add", "tcp", str(ext),
              "%s:%s" % (lab.info["H1"], 8080), "--pin-dir", pin, check=True)
        time.sleep(3)
        lab.x("ce1", lab.mapectl, "forward", "del", "tcp", str(ext), "--pin-dir", pin,
              check=True)
    return kind


PROTO_KEYS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp"}


def check_ce(lab, node, seen):
    """The problems of node's state now (empty: none); seen[node]: the
    sessions found alive."""
    st = lab.json(node, "status")
    sess = lab.json(node, "sessions")["sessions"]
    stats = lab.json(node, "stats")["counters"]
    seen[node] = len(sess)
    bad = []
    for proto in ("tcp", "udp", "icmp"):
        used = st["port_usage"][proto]["used"]
        ext = {s["ext_port"] for s in sess if s["proto"] == proto}
        if used != len(ext):
            bad.append("%s: %s ports marked in use, %d used by %d live sessions" %
                       (node, used, len(ext), sum(s["proto"] == proto for s in sess)))
    for s in sess:
        if s["timeout"] and s["idle"] > s["timeout"] + 2:
            bad.append("%s: session %s %s:%d -> %s:%d idle %d s, timeout %d s%s (%d armed "
                       "late so far)" %
                       (node, s["proto"], s["int_addr"], s["int_port"], s["rem_addr"],
                        s["rem_port"], s["idle"], s["timeout"],
                        ", no timer" if s["no_timer"] else "",
                        stats["session_timer_late"]["packets"]))
            break
    made = stats["session_new"]["packets"]
    ended = stats["session_expired"]["packets"] + stats["session_stale_ended"]["packets"]
    if made - ended != len(sess):
        bad.append("%s: %d sessions made, %d ended (expired + stale), but %d alive" %
                   (node, made, ended, len(sess)))
    return bad


def memory(lab):
    kb = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            kb[k] = int(v.split()[0])
    r = lab.sh("bpftool", "-j", "map", "show")
    memlock = sum(m.get("bytes_memlock", 0) for m in json.loads(r.stdout or "[]"))
    return kb["Slab"] + kb.get("Percpu", 0), memlock


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--lab-id", default=os.environ.get("LAB_ID", "soak"))
    a = ap.parse_args()
    lab = Lab(a.lab_id)
    end = time.monotonic() + a.minutes * 60
    state, failures, rounds, warm = {}, [], 0, None
    while time.monotonic() < end or rounds < 4:
        ps = traffic(lab, 12)
        time.sleep(2)
        limited = lab.json("ce1", "stats")["counters"]["drop_host_limit"]["packets"]
        kind = episode(lab, rounds, state)
        for p in ps:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        seen = {}
        if kind == "full" and \
                lab.json("ce1", "stats")["counters"]["drop_host_limit"]["packets"] == limited:
            failures.append("round %d (full): no flow refused for the host limit" % rounds)
        for node in ("ce1", "ce2"):
            bad = None
            for _ in range(3):      # in flux at first: timers firing, entries going
                bad = check_ce(lab, node, seen)
                if not bad:
                    break
                time.sleep(1)
            for b in bad:
                failures.append("round %d (%s): %s" % (rounds, kind, b))
                print("soak: FAIL round %d (%s): %s" % (rounds, kind, b), flush=True)
        rounds += 1
        if warm is None:
            warm = memory(lab)
        if not all(seen.values()):
            failures.append("round %d (%s): no live session to check: %r" % (rounds, kind, seen))
        print("soak: round %d (%s) checked, sessions alive %s, %d failure%s so far" %
              (rounds, kind, seen, len(failures), "" if len(failures) == 1 else "s"),
              flush=True)
    slab, memlock = memory(lab)
    grew = slab - warm[0]
    print("soak: kernel slab+percpu %+d KiB since the first round, maps' memlock %+d bytes" %
          (grew, memlock - warm[1]))
    if grew > 32 * 1024:
        failures.append("kernel memory grew by %d KiB" % grew)
    if memlock != warm[1]:
        failures.append("maps' memlock changed by %d bytes" % (memlock - warm[1]))
    print("soak: %d rounds in %.1f min, %s" % (rounds, a.minutes,
                                               "all checks passed" if not failures else
                                               "%d failures" % len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
