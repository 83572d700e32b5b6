#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make profile: where the CE's program time goes, by perf with BPF JIT
symbols (net.core.bpf_jit_kallsyms=1: every program and subprogram is a
kernel symbol bpf_prog_<tag>_<name>). The machine kind has no hardware
counters, so perf samples the cpu-clock (a timer) on every CPU.

  fast   the veth rig of make bench, 200 established flows on the XDP fast
         path (mape_lan), perf over the whole system while it forwards
  slow   the same flows with no XDP program on the LAN: the kernel forwards
         them into mape0, where mape_tun (TC) translates and encapsulates
  new    new sessions: mape_tun test runs, each a new flow from a new LAN
         endpoint to a new remote, perf on this process

Prints the symbols by share of the samples that were not idle (new: of the
kernel's samples only), and the same grouped (our programs, the kernel's hash table code, timers, ...).
perf.data goes to build/profile-<case>.data for perf report.
"""
import argparse
import collections
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402

IDLE = ("pvm_safe_halt", "default_idle", "native_safe_halt", "cpuidle", "acpi_idle",
        "intel_idle", "poll_idle", "do_idle")
GROUPS = [
    ("our BPF programs", lambda s: s.startswith("bpf_prog_") and "_bench_" not in s),
    ("kernel hash map code", lambda s: s.startswith(("lookup_nulls_elem_raw", "htab_", "__htab",
                                                     "memcmp", "pcpu_freelist", "alloc_htab",
                                                     "free_htab", "htab_lock", "htab_unlock"))),
    ("timers", lambda s: "timer" in s or "async" in s or s.startswith(("__hrtimer", "hrtimer"))),
    ("conntrack lookup", lambda s: "conntrack" in s or s.startswith(("nf_ct", "__nf_ct"))),
    ("BPF helpers", lambda s: s.startswith(("bpf_", "__bpf")) and not s.startswith("bpf_prog_")),
    ("generator and sink", lambda s: "_bench_" in s or "test_run" in s),
    ("veth, redirect, page pool", lambda s: s.startswith(("veth", "xdp", "bq_", "dev_", "page_pool",
                                                          "__xdp", "napi", "net_rx"))),
    ("kernel IP forwarding, skbs", lambda s: s.startswith(("ip_", "ip6_", "__ip", "skb", "__skb",
                                                           "kmem_cache", "__netif", "netif",
                                                           "nf_", "__nf", "fib", "neigh",
                                                           "__dev_queue", "sch_", "tcf_",
                                                           "kfree", "__alloc_skb",
                                                           "napi_build_skb", "build_skb"))),
]


def perf_record(out, seconds=None, pid=None):
    cmd = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "10000", "-o", out]
    cmd += ["-p", str(pid)] if pid else ["-a"]
    if seconds:
        cmd += ["--", "sleep", str(seconds)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def report(data, top, kernel_only=False):
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "sym",
                          "--stdio", "-g", "none", "-F", "overhead,sym", "--percent-limit", "0"],
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        w = line.split()
        if len(w) >= 3 and w[0].endswith("%") and (w[1] == "[k]" or not kernel_only):
            rows.append((float(w[0][:-1]), w[2]))
    busy = sorted(((p, s) for p, s in rows if not s.startswith(IDLE)), reverse=True)
    tot = sum(p for p, _ in busy) or 1
    print("  %-52s %6s" % ("symbol", "%"))
    for p, s in busy[:top]:
        print("  %-52s %6.1f" % (s[:52], 100 * p / tot))
    groups = collections.OrderedDict((g, 0.0) for g, _ in GROUPS)
    groups["other kernel and user"] = 0.0
    for p, s in busy:
        for g, f in GROUPS:
            if f(s):
                groups[g] += p
                break
        else:
            groups["other kernel and user"] += p
    print("  grouped:")
    for g, p in groups.items():
        print("    %-30s %6.1f %%" % (g, 100 * p / tot))


def forwarding(args, case):
    """The rig's 200 established flows, perf over the whole system while they
    are forwarded: by the XDP fast path, or (slow) with no XDP program on
    the LAN, so that the kernel forwards them into mape_tun."""
    B.ce_up()
    B.in_netns(B.P + "-ce", lambda: B.create_flow_sessions(B.FLOWS))
    if case == "slow":
        B.lan_xdp_off()
    data = os.path.join(B.BUILD, "profile-%s.data" % case)
    rec = perf_record(data, seconds=args.seconds)
    B.measure(args.seconds + 0.5)
    rec.wait()
    print("\n%s, %d flows, whole system:" % (
        "fast path (mape_lan)" if case == "fast" else "slow path (kernel forwarding + mape_tun)",
        B.FLOWS))
    report(data, args.top)


def new(args):
    B.ce_up()
    data = os.path.join(B.BUILD, "profile-new.data")

    def run():
        tun = B.bpfsys.Prog(os.path.join(B.PIN, "mape_tun"))
        ctx = B.bpfsys.skb_ctx(ifindex=socket.if_nametoindex("mape0"))
        smac = bytes.fromhex(B.mac("gen", "g0").replace(":", ""))
        dmac = bytes.fromhex(B.mac("ce", "lan0").replace(":", ""))
        pkts = [B.udp_frame(smac, dmac, "192.168.1.%d" % (10 + i % 200),
                            "203.0.113.%d" % (1 + (i // 200) % 250), 20000 + i // 200, 53)
                for i in range(args.sessions)]
        rec = perf_record(data, pid=os.getpid())
        time.sleep(0.5)
        t = 0
        for p in pkts:
            t += B.timed_run(tun.fd, p, ctx, 1)[1]
        rec.send_signal(2)
        rec.wait()
        return t / len(pkts)
    ns = B.in_netns(B.P + "-ce", run)
    print("\nnew sessions (mape_tun test runs), %d sessions, %.0f ns each (kernel-timed); "
          "this process's kernel samples (the test-run syscall):" % (args.sessions, ns))
    report(data, args.top, kernel_only=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="*", help="fast, slow, new (default: all three)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--sessions", type=int, default=5000)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    args.cases = args.cases or ["fast", "slow", "new"]
    for c in args.cases:
        if c not in ("fast", "slow", "new"):
            sys.exit("profile: unknown case %r (fast, slow, new)" % c)
    if os.geteuid():
        sys.exit("profile: needs root")
    subprocess.run(["sysctl", "-qw", "net.core.bpf_jit_kallsyms=1"], check=True)
    for case in args.cases:
        B.rig_up()
        try:
            if case == "new":
                new(args)
            else:
                forwarding(args, case)
        finally:
            B.rig_down()


if __name__ == "__main__":
    main()
