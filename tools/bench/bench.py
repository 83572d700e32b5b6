#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench: per-packet cost and forwarding rate, every comparison measured
in the same run. Prints a table and writes build/bench.json.

1. Program cost (BPF_PROG_TEST_RUN, kernel-timed, large repeat count) of the
   CE paths against a floor program (swap MACs, XDP_TX) run alongside.
2. Forwarding rate on a veth rig  gen --veth--> CE --veth--> sink  with 64-byte
   UDP frames over many flows from our live-frames generator: (a) a bare XDP
   redirect forwarder (the rig's ceiling), (b) our XDP fast path, (c) our TC
   slow path only, (d) Linux forwarding + nftables SNAT to a port range (no
   tunnel: the CI kernel has no ip6tnl). The generator's own rate is reported.
3. Scale: fast-path rate with 1k, 64k and 1M sessions in the table; new
   sessions per second through the slow path; kernel memory per session
   (maps, and what the kernel allocates for 100k live sessions); program
   time per packet while forwarding (bpf_stats); two veth queues with one
   generator per CPU, received rate per CPU.
4. iperf3 TCP through the namespace lab: CE + BR versus plain IPv6 routing
   on the same links.

Every figure is the median of --runs runs (default 5) with min and max.
Everything runs in network namespaces this script creates and removes.
"""
import argparse
import ctypes
import json
import os
import platform
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "pkt"))
import bpfsys  # noqa: E402  (ctypes over libbpf, struct mirrors)

from scapy.all import ICMP, IP, TCP, UDP, Ether, IPv6, raw  # noqa: E402

BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
MAPECTL = os.path.join(BUILD, "mapectl")
TRAFGEN = os.path.join(BUILD, "trafgen")
P = "mbench"                                  # namespace / pin prefix
PIN = "/sys/fs/bpf/%s-ce" % P
RULE = ("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,"
        "ealen=16,offset=6")
PREFIX = "2001:db8:12:3400::/56"
CE6 = "2001:db8:12:3400:0:c000:212:34"      # RFC 7597 Appendix A example 1
CE4 = "192.0.2.18"
BR6 = "2001:db8:ffff::1"
HOST4, REMOTE4 = "192.168.1.10", "198.51.100.7"
# Flows of the rate measurements: one LAN host to one remote endpoint can
# hold at most one session per port of the set (252 here).
FLOWS = 200


def sh(cmd, ns=None, check=True, capture=False, timeout=120):
    if ns:
        cmd = ["ip", "netns", "exec", "%s-%s" % (P, ns)] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError("%s: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip()))
    return r.stdout if capture else r


def mac(ns, dev):
    return sh(["cat", "/sys/class/net/%s/address" % dev], ns, capture=True).strip()


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


# ------------------------------------------------------------------ rig

def rig_down():
    for ns in ("gen", "ce", "sink"):
        subprocess.run(["ip", "netns", "exec", "%s-%s" % (P, ns), MAPECTL, "down",
                        "--pin-dir", PIN], capture_output=True)
        subprocess.run(["ip", "netns", "del", "%s-%s" % (P, ns)], capture_output=True)


def rig_up(queues=1):
    """gen --veth-- CE --veth-- sink; queues > 1: veths with that many queues
    each way (veth puts a frame on the peer's queue of the sending CPU)."""
    rig_down()
    for ns in ("gen", "ce", "sink"):
        sh(["ip", "netns", "add", "%s-%s" % (P, ns)])
        sh(["ip", "link", "set", "lo", "up"], ns)
    q = ["numtxqueues", str(queues), "numrxqueues", str(queues)] if queues > 1 else []
    sh(["ip", "link", "add", "g0", "netns", P + "-gen"] + q + ["type", "veth", "peer", "name",
        "lan0", "netns", P + "-ce"] + q)
    sh(["ip", "link", "add", "wan0", "netns", P + "-ce"] + q + ["type", "veth", "peer", "name",
        "s0", "netns", P + "-sink"] + q)
    for ns, dev in (("gen", "g0"), ("ce", "lan0"), ("ce", "wan0"), ("sink", "s0")):
        sh(["ip", "link", "set", dev, "up"], ns)
    # the receiving peers take XDP frames (NAPI) before `up` checks them: the
    # sink attaches its own XDP program only when it measures
    for ns, dev in (("gen", "g0"), ("sink", "s0")):
        sh(["ethtool", "-K", dev, "gro", "on"], ns)
    sh(["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"], "ce")
    sh(["ip", "addr", "add", "192.168.1.1/24", "dev", "lan0"], "ce")
    sh(["ip", "-6", "addr", "add", "2001:db8:ffff::2/64", "dev", "wan0", "nodad"], "ce")
    sh(["ip", "-6", "route", "add", "default", "via", BR6, "dev", "wan0"], "ce")
    sh(["ip", "-6", "neigh", "replace", BR6, "lladdr", mac("sink", "s0"), "dev", "wan0",
        "nud", "permanent"], "ce")
    sh(["ip", "neigh", "replace", HOST4, "lladdr", mac("gen", "g0"), "dev", "lan0",
        "nud", "permanent"], "ce")


def lan_xdp_off():
    """No XDP program on the CE's LAN: the TC slow path only."""
    sh(["ip", "link", "set", "dev", "lan0", "xdp", "off"], "ce", check=False)
    sh(["ip", "link", "set", "dev", "lan0", "xdpgeneric", "off"], "ce", check=False)
    # without an XDP program a veth takes redirected frames only with GRO on
    sh(["ethtool", "-K", "lan0", "gro", "on"], "ce")


def ce_up(extra=()):
    # one host's 200 flows to one remote endpoint need 200 ports of their own:
    # more than the default per-host share of the set (half), so no share
    sh([MAPECTL, "up", "--wan", "wan0", "--lan", "lan0", "--prefix", PREFIX, "--rule", RULE,
        "--br", BR6, "--pin-dir", PIN, "--max-sessions", str(1 << 20),
        "--max-ports-per-host", "0"] + list(extra), "ce")


def ct_established(proto, sport, dport, src=HOST4, dst=REMOTE4):
    """The conntrack entry of a flow as the kernel has it once its firewall let
    the flow through both ways: what lets XDP carry it (design.md, "The
    firewall decides"). The benchmarks measure the paths, not the firewall."""
    cmd = ["conntrack", "-I", "-p", proto, "-s", src, "-d", dst, "--sport", str(sport),
           "--dport", str(dport), "-r", dst, "-q", src, "--reply-port-src", str(dport),
           "--reply-port-dst", str(sport), "--timeout", "3600",
           "--status", "SEEN_REPLY,ASSURED"] + (["--state", "ESTABLISHED"] if proto == "tcp" else [])
    subprocess.run(cmd, check=True, capture_output=True)


def create_flow_sessions(flows):
    """The generator's flows (UDP 192.168.1.10:10000+i -> 198.51.100.7:9) get
    their sessions from the TC slow path program, one test run each, after
    their conntrack entries, so that every flow of the measurement takes the
    fast path."""
    tun = bpfsys.Prog(os.path.join(PIN, "mape_tun"))
    tun_if = socket.if_nametoindex("mape0")
    eth = Ether(src=mac("gen", "g0"), dst=mac("ce", "lan0"))
    for i in range(flows):
        ct_established("udp", 10000 + i, 9)
        pkt = raw(eth / IP(src=HOST4, dst=REMOTE4) / UDP(sport=10000 + i, dport=9, chksum=0) /
                  (b"\0" * 18))
        bpfsys.prog_test_run(tun.fd, pkt, bpfsys.skb_ctx(ifindex=tun_if))


def measure(seconds, flows=FLOWS, warmup=0.5):
    """Run sink and generator together; returns (generated pps, received pps)."""
    sink = subprocess.Popen(["ip", "netns", "exec", P + "-sink", TRAFGEN, "sink", "--dev", "s0",
                             "--seconds", str(seconds), "--warmup", str(warmup)],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    gen = sh([TRAFGEN, "gen", "--dev", "g0", "--smac", mac("gen", "g0"), "--dmac",
              mac("ce", "lan0"), "--src", HOST4, "--dst", REMOTE4, "--flows", str(flows),
              "--seconds", str(seconds + warmup + 0.4)], "gen", capture=True)
    out, _ = sink.communicate(timeout=seconds + 30)
    return json.loads(gen)["pps"], json.loads(out)["pps"]


def measure_cpus(seconds, cpus):
    """One generator per CPU of cpus, each pinned (so each fills its own veth
    queue and the CE and sink work for it on that CPU), the flows split
    between them. Returns (generated pps, received pps, received pps per CPU)."""
    sink = subprocess.Popen(["ip", "netns", "exec", P + "-sink", TRAFGEN, "sink", "--dev", "s0",
                             "--seconds", str(seconds), "--warmup", "0.5"],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    per = FLOWS // len(cpus)
    gens = [subprocess.Popen(["ip", "netns", "exec", P + "-gen", TRAFGEN, "gen", "--dev", "g0",
                              "--smac", mac("gen", "g0"), "--dmac", mac("ce", "lan0"), "--src",
                              HOST4, "--dst", REMOTE4, "--flows", str(per), "--base-port",
                              str(10000 + i * per), "--cpu", str(c), "--seconds",
                              str(seconds + 0.9)], stdout=subprocess.PIPE, text=True)
            for i, c in enumerate(cpus)]
    gen_pps = sum(json.loads(g.communicate(timeout=seconds + 30)[0])["pps"] for g in gens)
    out = json.loads(sink.communicate(timeout=seconds + 30)[0])
    return gen_pps, out["pps"], out["per_cpu_pps"]


def scaling(runs, seconds):
    """The rig with 2 queues each way: one generator on CPU 0, then one on
    each CPU, for the bare forwarder and for our fast path. Both CPUs also
    run the generators and the sink: the figures say whether the CE's work
    spreads over CPUs, not what a router with spare CPUs would do."""
    ncpu = os.cpu_count() or 1
    if ncpu < 2:
        return {"skipped": "one CPU"}
    cpus = list(range(min(ncpu, 2)))
    res = {}

    def runs_of(sel):
        rx, per = [], []
        for _ in range(runs):
            _g, r, p = measure_cpus(seconds, sel)
            rx.append(r)
            per.append(p)
        # per CPU: the median over runs of each CPU's rate
        return {"rx_pps": stats(rx),
                "per_cpu_pps": [statistics.median(x[i] for x in per) for i in range(len(per[0]))]}
    rig_up(queues=2)
    try:
        res["bare_1cpu"] = with_forwarder(runs * (seconds + 2) + 5, lambda: runs_of(cpus[:1]))
        res["bare_2cpu"] = with_forwarder(runs * (seconds + 2) + 5, lambda: runs_of(cpus))
        ce_up()
        in_netns(P + "-ce", lambda: create_flow_sessions(FLOWS))
        res["fast_1cpu"] = runs_of(cpus[:1])
        res["fast_2cpu"] = runs_of(cpus)
    finally:
        rig_down()
    return res


def rate_runs(runs, seconds, flows=FLOWS):
    gen, rx = [], []
    for _ in range(runs):
        g, r = measure(seconds, flows)
        gen.append(g)
        rx.append(r)
    return {"generator_pps": stats(gen), "rx_pps": stats(rx)}


def with_forwarder(seconds, fn):
    """The bare XDP forwarder on lan0 -> wan0 while fn() runs."""
    fwd = subprocess.Popen(["ip", "netns", "exec", P + "-ce", TRAFGEN, "fwd", "--in", "lan0",
                            "--out", "wan0", "--smac", mac("ce", "wan0"), "--dmac",
                            mac("sink", "s0"), "--seconds", str(seconds), "--warmup", "0"],
                           stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    try:
        return fn()
    finally:
        fwd.wait(timeout=seconds + 30)


# ------------------------------------------------------------------ program cost

def timed_run(fd, data, ctx, repeat):
    """BPF_PROG_TEST_RUN returning (verdict, the kernel's average ns per
    repetition). The repetitions run on one buffer, so a program that
    rewrites the packet sees its own output from the second one on: those
    are measured one run at a time (median_run)."""
    din = ctypes.create_string_buffer(bytes(data), len(data))
    cin = ctypes.create_string_buffer(bytes(ctx), len(ctx)) if ctx else None
    o = bpfsys.BpfTestRunOpts()
    o.sz = ctypes.sizeof(o)
    o.data_in = ctypes.cast(din, ctypes.c_void_p)
    o.data_size_in = len(data)
    o.repeat = repeat
    if cin is not None:
        o.ctx_in = ctypes.cast(cin, ctypes.c_void_p)
        o.ctx_size_in = len(ctx)
    bpfsys._check(bpfsys._lib.bpf_prog_test_run_opts(fd, ctypes.byref(o)), "test_run")
    return o.retval, o.duration


def in_netns(name, fn):
    """Run fn() with this process in network namespace name (test runs look
    devices up in the caller's namespace), then come back."""
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNET = 0x40000000
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/%s" % name, os.O_RDONLY)
    try:
        if libc.setns(there, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns %s" % name)
        return fn()
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(there)


def median_run(fd, data, ctx, n):
    """Median kernel-timed ns of n single runs on a fresh copy each time."""
    xs, rc = [], None
    for _ in range(n):
        rc, ns = timed_run(fd, data, ctx, 1)
        xs.append(ns)
    return rc, statistics.median(xs)


def prog_cost(runs, repeat):
    progs = {n: bpfsys.Prog(os.path.join(PIN, n)) for n in ("mape_lan", "mape_wan", "mape_tun")}
    floor_dir = "/sys/fs/bpf/%s-bench" % P
    shutil.rmtree(floor_dir, ignore_errors=True)
    subprocess.run(["bpftool", "prog", "loadall", os.path.join(BUILD, "bench.bpf.o"), floor_dir],
                   check=True, capture_output=True)
    floor = bpfsys.Prog(os.path.join(floor_dir, "bench_floor"))
    lan_if = int(sh(["cat", "/sys/class/net/lan0/ifindex"], "ce", capture=True))
    wan_if = int(sh(["cat", "/sys/class/net/wan0/ifindex"], "ce", capture=True))
    tun_if = int(sh(["cat", "/sys/class/net/mape0/ifindex"], "ce", capture=True))
    eth = Ether(src=mac("gen", "g0"), dst=mac("ce", "lan0"))
    l4 = {"udp": UDP(sport=40001, dport=53) / (b"x" * 18),
          "tcp": TCP(sport=40002, dport=80, flags="A") / (b"x" * 6),
          "icmp": ICMP(type=8, id=40003) / (b"x" * 18)}
    cases = {}
    # the sessions the established cases use, created by the TC slow path
    # (TCP: by its SYN, established by the SYN-ACK), after conntrack has them
    ext = {}
    weth = Ether(src=mac("sink", "s0"), dst=mac("ce", "wan0"))
    for name, seg in l4.items():
        pkt = raw(eth / IP(src=HOST4, dst=REMOTE4, ttl=64) / seg)
        if name != "icmp":
            ct_established(name, seg.sport, seg.dport)
        if name == "tcp":
            syn = raw(eth / IP(src=HOST4, dst=REMOTE4, ttl=64) /
                      TCP(sport=seg.sport, dport=seg.dport, flags="S"))
            out = bpfsys.prog_test_run(progs["mape_tun"].fd, syn,
                                       bpfsys.skb_ctx(ifindex=tun_if))[1]
            port = Ether(out)[IPv6].payload.sport
            synack = raw(weth / IPv6(src=BR6, dst=CE6, nh=4) / IP(src=REMOTE4, dst=CE4) /
                         TCP(sport=seg.dport, dport=port, flags="SA"))
            bpfsys.prog_test_run(progs["mape_wan"].fd, synack,
                                 bpfsys.xdp_md(len(synack), wan_if))
        rc, _ = timed_run(progs["mape_tun"].fd, pkt, bpfsys.skb_ctx(ifindex=tun_if), 1)
        out = bpfsys.prog_test_run(progs["mape_tun"].fd, pkt, bpfsys.skb_ctx(ifindex=tun_if))[1]
        inner = Ether(out)[IPv6].payload
        ext[name] = inner[ICMP].id if name == "icmp" else inner.sport
        cases["lan_est_" + name] = (progs["mape_lan"], pkt, bpfsys.xdp_md(len(pkt), lan_if),
                                    bpfsys.XDP_REDIRECT)
    reply = raw(weth / IPv6(src=BR6, dst=CE6, nh=4) / IP(src=REMOTE4, dst=CE4) /
                UDP(sport=53, dport=ext["udp"]) / (b"y" * 18))
    spoof = raw(weth / IPv6(src="2001:db8:ffff::99", dst=CE6, nh=4) / IP(src=REMOTE4, dst=CE4) /
                UDP(sport=53, dport=ext["udp"]) / (b"y" * 18))
    cases["wan_est_udp"] = (progs["mape_wan"], reply, bpfsys.xdp_md(len(reply), wan_if),
                            bpfsys.XDP_REDIRECT)
    cases["wan_spoofed_drop"] = (progs["mape_wan"], spoof, bpfsys.xdp_md(len(spoof), wan_if),
                                 bpfsys.XDP_DROP)
    floor_pkt = raw(eth / IP(src=HOST4, dst=REMOTE4) / l4["udp"])
    res = {"floor": [], "lan_new_udp": []}
    for k in cases:
        res[k] = []
    for r in range(runs):
        # the floor the same way as the cases: one run per fresh packet
        res["floor"].append(median_run(floor.fd, floor_pkt, bpfsys.xdp_md(len(floor_pkt),
                                                                          lan_if), repeat)[1])
        for k, (prog, pkt, ctx, want) in cases.items():
            rc, ns = median_run(prog.fd, pkt, ctx, repeat)
            if rc != want:  # a cost of the wrong path would mean nothing
                raise RuntimeError("bench case %s: verdict %d, want %d" % (k, rc, want))
            res[k].append(ns)
        # new sessions: a fresh source port per packet, one repetition each
        tot = 0
        n = 100
        for i in range(n):
            # a new LAN endpoint to a new remote each time: the usual new flow
            pkt = raw(eth / IP(src="192.168.1.%d" % (20 + r), dst="203.0.113.%d" % (1 + i)) /
                      UDP(sport=20000 + i, dport=53) / (b"x" * 18))
            tot += timed_run(progs["mape_tun"].fd, pkt, bpfsys.skb_ctx(ifindex=tun_if), 1)[1]
        res["lan_new_udp"].append(tot / n)
    shutil.rmtree(floor_dir, ignore_errors=True)
    out = {}
    fmed = statistics.median(res["floor"])
    for k, xs in res.items():
        out[k] = dict(stats(xs), ratio_to_floor=statistics.median(xs) / fmed if fmed else None)
    return out


# ------------------------------------------------------------------ scale

def _batch_update(path, keys, values, n):
    """bpf_map_update_batch of n packed keys and values (one syscall per 64k)."""
    m = bpfsys.Map(path)
    ks, vs = m.key_size, m.value_size
    lib = bpfsys._lib
    lib.bpf_map_update_batch.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_uint32), ctypes.c_void_p]
    step = 65536
    for off in range(0, n, step):
        cnt = min(step, n - off)
        kb = ctypes.create_string_buffer(keys[off * ks:(off + cnt) * ks], cnt * ks)
        vb = ctypes.create_string_buffer(values[off * vs:(off + cnt) * vs], cnt * vs)
        c = ctypes.c_uint32(cnt)
        bpfsys._check(lib.bpf_map_update_batch(m.fd, kb, vb, ctypes.byref(c), None),
                      "bpf_map_update_batch(%s)" % path)
    m.close()


def current_epoch():
    sel = bpfsys.Map(os.path.join(PIN, "mape_cfg_sel"))
    gen = struct.unpack("=I", sel.lookup(0))[0]
    sel.close()
    cfg = bpfsys.Map(os.path.join(PIN, "mape_cfg"))
    epoch = bpfsys.MapeConfig.unpack(cfg.lookup(gen & 1)).epoch
    cfg.close()
    return epoch


def fill_sessions(total, have):
    """Add idle sessions (map entries only: no timer, so they stay for the
    measurement) until the table holds about `total`. Returns the new count."""
    n = total - have
    if n <= 0:
        return have
    ok, ov, ik, iv = [], [], [], []
    # of the current epoch, as the data path's own (design.md, "Reconfiguration")
    sess = bpfsys.MapeSession(ext_port=1232, timeout=86400, epoch=current_epoch()).pack()
    for i in range(have, have + n):
        a, b = divmod(i, 60000)
        int_addr = bytes([192, 168, 2 + a // 250, 1 + a % 250])
        ok.append(struct.pack("!4s4sHHB3x", int_addr, bytes([203, 0, 113, 1 + a % 250]),
                              1024 + b, 443, 17))
        ov.append(sess)
        ik.append(struct.pack("!4sHHB3x", bytes([198, 51, 100, 1 + (i // 65535) % 250]),
                              1232, 1 + i % 65535, 17))
        iv.append(struct.pack("!4sH2x", int_addr, 1024 + b))
    _batch_update(os.path.join(PIN, "mape_out"), b"".join(ok), b"".join(ov), n)
    _batch_update(os.path.join(PIN, "mape_in"), b"".join(ik), b"".join(iv), n)
    return have + n


def memlock_per_session():
    total = 0
    per = {}
    for m in ("mape_out", "mape_in", "mape_bind", "mape_adf"):
        j = json.loads(sh(["bpftool", "-j", "map", "show", "pinned", os.path.join(PIN, m)],
                          capture=True))
        per[m] = j["bytes_memlock"] / j["max_entries"]
        total += per[m]
    return {"per_map": per, "out_plus_in": per["mape_out"] + per["mape_in"], "all_four": total}



# ------------------------------------------------------------------ live program cost

def prog_stats(name):
    """(run_time_ns, run_cnt) summed over the loaded programs called name:
    the kernel's own accounting, on while kernel.bpf_stats_enabled is 1."""
    t = c = 0
    for p in json.loads(sh(["bpftool", "-j", "prog", "show"], capture=True)):
        if p.get("name") == name:
            t += p.get("run_time_ns", 0)
            c += p.get("run_cnt", 0)
    return t, c


def live_cost(names, runs, seconds):
    """Program time per packet while the rig forwards: for each of names,
    the kernel's run_time_ns / run_cnt over each run (one clock pair per
    run, paid by every program alike). No test harness, no timer overhead
    of single test runs: the packets are the generator's."""
    out = {n: [] for n in names}
    sh(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"])
    try:
        for _ in range(runs):
            before = {n: prog_stats(n) for n in names}
            measure(seconds)
            for n in names:
                t, c = prog_stats(n)
                out[n].append((t - before[n][0]) / max(1, c - before[n][1]))
    finally:
        sh(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"])
    return {n: stats(xs) for n, xs in out.items()}


# ------------------------------------------------------------------ memory

def meminfo():
    d = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            d[k] = int(v.split()[0]) * 1024
    return d


def slabinfo():
    d = {}
    with open("/proc/slabinfo") as f:
        for line in f.readlines()[2:]:
            w = line.split()
            d[w[0]] = int(w[1]) * int(w[3])   # active objects x object size
    return d


def udp_frame(smac, dmac, src, dst, sport, dport):
    """Ethernet + IPv4 (checksummed) + UDP (no checksum) + 18 bytes, by hand:
    scapy would cost more than the program for 100k packets."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 18, 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    c = sum(struct.unpack("!10H", ip))
    c = (c & 0xffff) + (c >> 16)
    c = (c & 0xffff) + (c >> 16)
    ip = ip[:10] + struct.pack("!H", ~c & 0xffff) + ip[12:]
    return dmac + smac + b"\x08\x00" + ip + struct.pack("!HHHH", sport, dport, 26, 0) + b"x" * 18


def session_memory(n):
    """Kernel memory per live session, everything included: a CE with tables
    for 2^17 sessions, n sessions made by the TC program itself (each with
    its timer, binding and filter entry, as a new flow from a new LAN
    endpoint to a new remote makes them), and what the kernel allocated
    meanwhile (/proc/meminfo: Slab, Percpu, VmallocUsed) added to the
    maps' preallocated memory per entry."""
    sh([MAPECTL, "down", "--pin-dir", PIN], "ce")
    ce_up(["--max-sessions", str(1 << 17), "--max-sessions-per-host", "0"])
    maps = {}
    for m in ("mape_out", "mape_in", "mape_bind", "mape_adf"):
        j = json.loads(sh(["bpftool", "-j", "map", "show", "pinned", os.path.join(PIN, m)],
                          capture=True))
        maps[m] = j["bytes_memlock"] / j["max_entries"]

    def make():
        tun = bpfsys.Prog(os.path.join(PIN, "mape_tun"))
        ctx = bpfsys.skb_ctx(ifindex=socket.if_nametoindex("mape0"))
        smac = bytes.fromhex(mac("gen", "g0").replace(":", ""))
        dmac = bytes.fromhex(mac("ce", "lan0").replace(":", ""))
        m0, s0 = meminfo(), slabinfo()
        for i in range(n):
            host = "192.168.1.%d" % (10 + i % 200)
            rem = "203.0.113.%d" % (1 + (i // 200) % 250)
            pkt = udp_frame(smac, dmac, host, rem, 20000 + i // 200, 1000 + i // 50000)
            timed_run(tun.fd, pkt, ctx, 1)
        # sessions whose timer could not be allocated at once get it from
        # the janitor, a second later and again each second: wait for it
        jan = bpfsys.Map(os.path.join(PIN, "mape_janitor"))
        for _ in range(30):
            time.sleep(0.5)
            pending, _found, unarmed = struct.unpack_from("=3I", jan.lookup(0), 16)
            if not pending and not unarmed:
                break
        jan.close()
        return m0, s0, meminfo(), slabinfo()
    m0, s0, m1, s1 = in_netns(P + "-ce", make)
    out = bpfsys.Map(os.path.join(PIN, "mape_out"))
    made = timed = 0
    for _k, v in out.items():
        made += 1
        timed += not bpfsys.MapeSession.unpack(v).flags & bpfsys.MAPE_SESS_NO_TIMER
    out.close()
    grew = {k: m1[k] - m0[k] for k in ("Slab", "Percpu", "VmallocUsed")}
    caches = sorted(((s1.get(k, 0) - s0.get(k, 0), k) for k in s1), reverse=True)[:4]
    dyn = sum(grew.values()) / made if made else None
    return {"sessions": made, "with_own_timer": timed, "map_bytes_per_entry": maps,
            "kernel_grew_bytes": grew,
            "top_slab_caches": {k: v for v, k in caches},
            "dynamic_per_session": dyn,
            "per_session_out_in": maps["mape_out"] + maps["mape_in"] + (dyn or 0),
            "per_session_all": sum(maps.values()) + (dyn or 0)}

# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="per rate measurement")
    ap.add_argument("--repeat", type=int, default=2000,
                    help="single test runs per program-cost figure")
    ap.add_argument("--long", action="store_true", help="3 s per rate measurement")
    ap.add_argument("--no-lab", action="store_true", help="skip the iperf3 lab part")
    ap.add_argument("--sessions", type=int, default=100000,
                    help="live sessions made for the memory measurement")
    ap.add_argument("--out", default=os.path.join(BUILD, "bench.json"))
    a = ap.parse_args()
    if a.long:
        a.seconds = 3.0
    if os.geteuid():
        sys.exit("bench: needs root")
    t0 = time.time()
    res = {"machine": {"kernel": platform.release(), "cpus": os.cpu_count(),
                       "note": "2 vCPU VM, veth links: absolute numbers are the VM's"},
           "runs": a.runs}
    try:
        rig_up()
        # (a) ceiling: a bare XDP redirect forwarder
        res["rate_bare_xdp_forwarder"] = with_forwarder(
            a.runs * (a.seconds + 2) + 5, lambda: rate_runs(a.runs, a.seconds))
        res["live_cost_bare_ns"] = with_forwarder(
            a.runs * (a.seconds + 3) + 5, lambda: live_cost(["bench_fwd"], a.runs, a.seconds))
        # (b) our XDP fast path
        ce_up()
        in_netns(P + "-ce", lambda: create_flow_sessions(FLOWS))
        res["rate_xdp_fast_path"] = rate_runs(a.runs, a.seconds)
        res["live_cost_ns"] = live_cost(["mape_lan"], a.runs, a.seconds)
        res["program_cost_ns"] = in_netns(P + "-ce", lambda: prog_cost(a.runs, a.repeat))
        # scale: the same flows with 1k, 64k, 1M sessions in the table
        scale = {}
        have = sum(1 for _ in bpfsys.Map(os.path.join(PIN, "mape_out")).keys())
        for n in (1000, 65536, 1 << 20):
            print("bench: %d sessions in the table..." % n, file=sys.stderr)
            # room for the ~700 sessions the cost measurements and flows made
            have = fill_sessions(n - 1024, have)
            scale[str(n)] = dict(rate_runs(a.runs, a.seconds), sessions=have)
        res["scale_fast_path"] = scale
        res["memory_bytes_per_session"] = memlock_per_session()
        new_ns = res["program_cost_ns"]["lan_new_udp"]["median"]
        res["new_sessions_per_second_cpu_bound"] = 1e9 / new_ns if new_ns else None
        # (c) the TC slow path only: no XDP on the LAN
        lan_xdp_off()
        res["rate_tc_slow_path"] = rate_runs(a.runs, a.seconds)
        res["session_memory"] = session_memory(a.sessions)
        # (d) Linux forwarding + nftables SNAT to a port range, no tunnel
        sh([MAPECTL, "down", "--pin-dir", PIN], "ce")
        sh(["ip", "addr", "add", "203.0.113.2/24", "dev", "wan0"], "ce")
        sh(["ip", "route", "replace", "default", "via", "203.0.113.1", "dev", "wan0"], "ce")
        sh(["ip", "neigh", "replace", "203.0.113.1", "lladdr", mac("sink", "s0"), "dev", "wan0",
            "nud", "permanent"], "ce")
        for cmd in ("add table ip mbench",
                    "add chain ip mbench post { type nat hook postrouting priority 100 ; }",
                    "add rule ip mbench post oifname wan0 meta l4proto udp snat to 192.0.2.18:1024-65535"):
            sh(["nft"] + cmd.split(), "ce")
        res["rate_linux_nft_snat"] = rate_runs(a.runs, a.seconds)
    finally:
        rig_down()
    res["scaling_2_queues"] = scaling(a.runs, a.seconds)
    if not a.no_lab:
        res["iperf3_lab"] = iperf_lab(a.runs)
    res["elapsed_s"] = time.time() - t0
    summarize(res)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    res["plot"] = plot(res, os.path.join(os.path.dirname(a.out), "bench-sessions.png"))
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print("\nwrote %s (%.0f s)" % (a.out, res["elapsed_s"]))


def iperf_lab(runs):
    """iperf3 TCP, 1 s each: h1 -> inet through CE1 + BR (IPv4 over MAP-E), and
    ce1 -> br over plain IPv6 routing on the same links (ce1 - isp - br)."""
    lab = [os.path.join(ROOT, "tools", "lab", "lab.sh"), "--id", "mbl"]
    if not os.path.exists(lab[0]):
        return {"skipped": "tools/lab/lab.sh missing"}
    r = subprocess.run(lab + ["up"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, MAPECTL=MAPECTL))
    srv = None
    try:
        if r.returncode:
            return {"error": "lab up failed: " + (r.stderr or r.stdout)[-300:]}
        info = dict(line.split("=", 1) for line in subprocess.run(
            lab + ["info"], capture_output=True, text=True).stdout.splitlines() if "=" in line)
        srv = subprocess.Popen(lab + ["exec", "br", "iperf3", "-s", "-p", "5202",
                                      "--idle-timeout", "60"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        pairs = {"mape_ce_br": ("h1", [info["WEB"], "-p", info["IPERF_PORT"]]),
                 "plain_ipv6": ("ce1", ["2001:db8:ffff:3::2", "-p", "5202"])}
        out = {}
        for name, (client, target) in pairs.items():
            xs = []
            for _ in range(runs):
                p = subprocess.run(lab + ["exec", client, "iperf3", "-J", "-t", "1", "-c"] +
                                   target, capture_output=True, text=True, timeout=30)
                try:
                    xs.append(json.loads(p.stdout)["end"]["sum_received"]["bits_per_second"]
                              / 1e6)
                except (ValueError, KeyError):
                    xs.append(0.0)
            out[name + "_mbps"] = stats(xs)
        base = out["plain_ipv6_mbps"]["median"]
        out["ratio_mape_to_plain"] = out["mape_ce_br_mbps"]["median"] / base if base else None
        return out
    finally:
        if srv:
            srv.kill()
        subprocess.run(lab + ["down"], capture_output=True, timeout=120)


def plot(r, png):
    """Fast-path rate against sessions in the table (gnuplot), next to the
    bare forwarder and the kernel's NAT path of the same run."""
    if not shutil.which("gnuplot"):
        return None
    dat = png[:-4] + ".dat"
    with open(dat, "w") as f:
        for n, v in r["scale_fast_path"].items():
            s = v["rx_pps"]
            f.write("%s %f %f %f\n" % (n, s["median"] / 1e6, s["min"] / 1e6, s["max"] / 1e6))
    bare = r["rate_bare_xdp_forwarder"]["rx_pps"]["median"] / 1e6
    nft = r["rate_linux_nft_snat"]["rx_pps"]["median"] / 1e6
    script = """set terminal png size 800,480 noenhanced
set output '%s'
set logscale x
set xlabel 'sessions in the table'
set ylabel 'Mpps received (64-byte frames, %d flows)'
set yrange [0:%f]
set key bottom right
set title 'MAP-E CE XDP fast path vs session table size (veth rig, 2 vCPU VM)'
plot '%s' using 1:2:3:4 with yerrorlines lw 2 title 'XDP fast path (median, min..max)', \\
     %f with lines dt 2 title 'bare XDP redirect forwarder', \\
     %f with lines dt 3 title 'Linux forwarding + nftables SNAT'
""" % (png, FLOWS, max(bare, nft) * 1.2, dat, bare, nft)
    r2 = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    return png if r2.returncode == 0 else None


def fmt_rate(d):
    s = d["rx_pps"]
    return "%8.3f Mpps (min %.3f, max %.3f)" % (s["median"] / 1e6, s["min"] / 1e6, s["max"] / 1e6)


def summarize(r):
    print("\nProgram cost, ns per packet (median of %d; ratio to floor)" % r["runs"])
    for k, v in r["program_cost_ns"].items():
        print("  %-20s %7.1f ns  [%5.1f .. %5.1f]  x%.2f" % (k, v["median"], v["min"], v["max"],
                                                          v["ratio_to_floor"] or 0))
    print("\nForwarding rate, 60-byte UDP frames, %d flows (veth rig)" % FLOWS)
    base = r["rate_bare_xdp_forwarder"]["rx_pps"]["median"] or 1
    nft = r["rate_linux_nft_snat"]["rx_pps"]["median"] or 1
    for k in ("rate_bare_xdp_forwarder", "rate_xdp_fast_path", "rate_tc_slow_path",
              "rate_linux_nft_snat"):
        v = r[k]
        print("  %-26s %s  %5.1f%% of bare XDP, x%.2f Linux+nft; generator %.3f Mpps" % (
            k[5:], fmt_rate(v), 100 * v["rx_pps"]["median"] / base, v["rx_pps"]["median"] / nft,
            v["generator_pps"]["median"] / 1e6))
    print("\nFast path vs sessions in the table")
    for n, v in r["scale_fast_path"].items():
        print("  %8s sessions  %s" % (n, fmt_rate(v)))
    lc, lb = r["live_cost_ns"], r["live_cost_bare_ns"]["bench_fwd"]
    print("\nProgram time per packet while forwarding (bpf_stats, median of %d)" % r["runs"])
    print("  bench_fwd (bare forwarder)   %6.1f ns  [%5.1f .. %5.1f]" % (
        lb["median"], lb["min"], lb["max"]))
    for k, v in lc.items():
        print("  %-28s %6.1f ns  [%5.1f .. %5.1f]  x%.2f bare" % (
            k, v["median"], v["min"], v["max"], v["median"] / (lb["median"] or 1)))
    m = r["memory_bytes_per_session"]
    print("\nMap memory per entry (memlock / max entries): %.0f bytes (mape_out + mape_in), "
          "%.0f with bind and filter entries" % (m["out_plus_in"], m["all_four"]))
    sm = r["session_memory"]
    print("Memory per live session, %d sessions made by the program (%d with their own "
          "timer): %.0f bytes allocated beyond the maps (%s); %.0f in all (%.0f with bind and "
          "filter entries)" % (
              sm["sessions"], sm["with_own_timer"], sm["dynamic_per_session"] or 0,
              ", ".join("%s %+d kB" % (k, v // 1024) for k, v in sm["kernel_grew_bytes"].items()),
              sm["per_session_out_in"], sm["per_session_all"]))
    if r.get("new_sessions_per_second_cpu_bound"):
        print("New sessions through the TC slow path (program time only): %.0f per second" %
              r["new_sessions_per_second_cpu_bound"])
    sc = r.get("scaling_2_queues", {})
    if "fast_2cpu" in sc:
        print("\nTwo veth queues, one generator per CPU (received Mpps, median; per CPU)")
        for k in ("bare_1cpu", "bare_2cpu", "fast_1cpu", "fast_2cpu"):
            v = sc[k]
            print("  %-10s %7.3f  [%s]" % (k, v["rx_pps"]["median"] / 1e6,
                                          ", ".join("%.3f" % (x / 1e6) for x in v["per_cpu_pps"])))
    if "iperf3_lab" in r:
        print("\niperf3 through the lab: %s" % json.dumps(r["iperf3_lab"]))


if __name__ == "__main__":
    main()
