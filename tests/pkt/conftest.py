# SPDX-License-Identifier: MIT
"""Fixtures of the packet tier: a private network namespace, the data path
brought up in it by `mapectl up`, and BPF_PROG_TEST_RUN access to it.

The pytest process itself enters the namespace (setns on
/run/netns/<name>), so BPF_PROG_TEST_RUN with an ifindex, bpf_fib_lookup
and the `ip`/`mapectl` children all see the test network:

    wan0 (2001:db8:ffff::2/64, default via the BR 2001:db8:ffff::1,
          permanent neighbour 02:00:00:00:00:01) -- wan0p
    lan0 (192.168.1.1/24, permanent neighbour 192.168.1.10
          02:00:00:00:00:10) -- lan0p

setns does not change the mount namespace: pins go to the host bpffs
under /sys/fs/bpf/mapetest-<pid> and are removed at the end.

The data path is set up by `mapectl up` (RFC 7597 example 1). For
development before `up` existed, MAPE_PKT_LOADER=manual loads the object
with bpftool and fills mape_cfg from Python (manual_up below); the
default is always `mapectl up`, and its failure fails the tier.

Environment: BUILD (build dir), MAPECTL (mapectl binary), MAPE_PKT_LOADER
(mapectl | manual). The forwards' state files (mapectl forward) go to a
directory of this run (MAPE_STATE_DIR), not to the host's /var/lib/mape.
"""
import atexit
import ctypes
import tempfile
import json
import os
import shutil
import socket
import struct
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpfsys  # noqa: E402
import checks  # noqa: E402
from bpfsys import (COUNTERS, COUNTER_NAMES, MAPE_CTR_FMT, Map, MapeConfig, MapeInKey,  # noqa: E402
                    MapeInVal, MapeOutKey, MapePort, MapeSession, Prog, MapeBind, MapeBindKey,
                    MapeAdfKey, BR_COUNTERS, BR_COUNTER_NAMES)
from scapy.layers.inet import IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402

ROOT = bpfsys.ROOT
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
MAPECTL = os.path.abspath(os.environ.get("MAPECTL", os.path.join(BUILD, "mapectl")))
BPF_OBJ = os.path.join(BUILD, "mape_ce.bpf.o")
LOADER = os.environ.get("MAPE_PKT_LOADER", "mapectl")

PROGS = ("mape_lan", "mape_wan", "mape_tun", "mape_pass", "mape_sweep", "mape_defrag")
NS_PREFIX = "mapetest-pkt-"
PIN_PREFIX = "mapetest-"
BPFFS = "/sys/fs/bpf"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)

if "MAPE_STATE_DIR" not in os.environ:
    os.environ["MAPE_STATE_DIR"] = tempfile.mkdtemp(prefix="mapetest-state-")
    atexit.register(shutil.rmtree, os.environ["MAPE_STATE_DIR"], True)


def sh(*cmd, check=True, timeout=30):
    """Run a command (in the current network namespace); return stdout."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                   r.stderr))
    return r


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


def write_sysctl(name, value):
    with open("/proc/sys/" + name.replace(".", "/"), "w") as f:
        f.write(str(value))


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale():
    """Namespaces and pin dirs of earlier runs whose pytest is gone."""
    for d, prefix in (("/run/netns", NS_PREFIX), (BPFFS, PIN_PREFIX)):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            # <prefix><pid> or <prefix><tag>-<pid> (extra instances: fmr, br, ...)
            tail = n[len(prefix):].rsplit("-", 1)[-1]
            if not n.startswith(prefix) or not tail.isdigit():
                continue
            if _pid_alive(int(tail)):
                continue
            if d == "/run/netns":
                sh("ip", "netns", "del", n, check=False)
            else:
                shutil.rmtree(os.path.join(d, n), ignore_errors=True)


class NetNS:
    """A named network namespace the calling thread enters and leaves."""

    def __init__(self, name):
        self.name = name
        self.orig_fd = -1
        self.inside = False

    def enter(self):
        sh("ip", "netns", "add", self.name)
        self.orig_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open("/run/netns/" + self.name, os.O_RDONLY)
        try:
            setns(fd)
        finally:
            os.close(fd)
        self.inside = True

    def leave(self):
        if self.inside:
            setns(self.orig_fd)
            self.inside = False
        if self.orig_fd >= 0:
            os.close(self.orig_fd)
            self.orig_fd = -1
        sh("ip", "netns", "del", self.name, check=False)


def link_info(name):
    j = json.loads(sh("ip", "-j", "link", "show", "dev", name).stdout)[0]
    return j["ifindex"], j["address"]


def make_network():
    """The interfaces of the test network (run inside the namespace)."""
    write_sysctl("net.ipv6.conf.all.accept_dad", 0)
    write_sysctl("net.ipv6.conf.default.accept_dad", 0)
    write_sysctl("net.ipv4.ip_forward", 1)
    write_sysctl("net.ipv6.conf.all.forwarding", 1)
    cmds = [
        "link set lo up",
        "link add wan0 type veth peer name wan0p",
        "link add lan0 type veth peer name lan0p",
        "link set wan0 up", "link set wan0p up", "link set lan0 up", "link set lan0p up",
        "-6 addr add %s/64 dev wan0 nodad" % checks.WAN_ADDR,
        "-6 route replace default via %s dev wan0" % checks.BR,
        "-6 neigh replace %s lladdr %s dev wan0 nud permanent" % (checks.BR, checks.BR_MAC),
        "addr add %s/24 dev lan0" % checks.LAN_ADDR,
        "neigh replace %s lladdr %s dev lan0 nud permanent" % (checks.HOST, checks.HOST_MAC),
    ]
    for c in cmds:
        sh("ip", *c.split())
    # Quiet network: the programs stay attached during the tests and every
    # packet they see is counted, so nothing may send on its own. The peers
    # and the LAN get no IPv6 (no MLD reports), nor do the interfaces
    # created later (mape0 and its peer): their egress is mape_tun's.
    for dev in ("wan0p", "lan0p", "lan0"):
        write_sysctl("net.ipv6.conf.%s.disable_ipv6" % dev, 1)
    write_sysctl("net.ipv6.conf.default.disable_ipv6", 1)


def mapectl_up_cmd(pin_dir, rules=(checks.RULE,), extra=()):
    """The `mapectl up` command line of the test instance (rules: the --rule list,
    the first the BMR; extra: more options, e.g. --filtering endpoint)."""
    cmd = [MAPECTL, "up", "--wan", "wan0", "--lan", "lan0", "--prefix", checks.PREFIX]
    for r in rules:
        cmd += ["--rule", r]
    cmd += ["--br", checks.BR, "--pin-dir", pin_dir, "--xdp-mode", "skb"]
    return cmd + list(extra)


def mapectl_up(pin_dir, rules=(checks.RULE,), extra=()):
    """The default: `mapectl up` sets up everything (mape0, addresses, pins, mape_cfg)."""
    if not os.access(MAPECTL, os.X_OK):
        pytest.fail("packet tier: %s is missing (build it: make)" % MAPECTL, pytrace=False)
    cmd = mapectl_up_cmd(pin_dir, rules, extra)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.fail("packet tier: `%s` failed (exit %d):\n%s%s\n(for harness development "
                    "only: MAPE_PKT_LOADER=manual loads with bpftool instead)"
                    % (" ".join(cmd), r.returncode, r.stdout, r.stderr), pytrace=False)
    # mapectl leaves IPv6 (without addresses) on the tunnel for the XDP
    # fallback into IPv6 forwarding; the kernel still sends a little on it,
    # which mape_tun would count: keep the test network quiet.
    tun = "mape0"
    if "--tun" in cmd:
        tun = cmd[cmd.index("--tun") + 1]
    write_sysctl("net.ipv6.conf.%s.disable_ipv6" % tun, 1)


def mapectl_down(pin_dir):
    """Returns None or an error text."""
    cmd = [MAPECTL, "down", "--pin-dir", pin_dir]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except OSError as e:
        return "%s: %s" % (" ".join(cmd), e)
    if r.returncode != 0:
        return "`%s` failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr)
    return None


def manual_up(pin_dir):
    """What `mapectl up` does, by hand (development only): the tunnel veth
    mape0/mape0p with our IPv4 and the default route, the CE address on
    wan0, the object loaded and pinned by bpftool, mape_cfg filled. No
    program is attached: the tests only use BPF_PROG_TEST_RUN."""
    for c in ["link add mape0 type veth peer name mape0p",
              "link set mape0 up", "link set mape0p up",
              "addr add %s/32 dev mape0" % checks.IPV4,
              "route replace default dev mape0",
              "-6 addr add %s/128 dev wan0 nodad" % checks.CE_ADDR]:
        sh("ip", *c.split())
    sh("bpftool", "prog", "loadall", BPF_OBJ, pin_dir, "pinmaps", pin_dir, timeout=120)
    wan, _ = link_info("wan0")
    lan, _ = link_info("lan0")
    tun, tun_mac = link_info("mape0")
    peer, peer_mac = link_info("mape0p")
    cfg = MapeConfig(
        ce_addr=checks.CE_ADDR, br_addr=checks.BR, ipv4=checks.IPV4,
        port_count=len(checks.PORT_SET), iid=bpfsys.MAPE_IID_RFC7597,
        filtering=bpfsys.MAPE_FILTER_ADDR, mtu=checks.MTU, flags=bpfsys.MAPE_CFG_ENABLED,
        wan_ifindex=wan, tun_ifindex=tun, tun_peer_ifindex=peer, tun_mac=tun_mac,
        tun_peer_mac=peer_mac, to_tcp_est=7440, to_tcp_trans=240, to_udp=300, to_icmp=60,
        icmp_rate=100, generation=1, lan_ifindex=[lan] + [0] * 7, n_lans=1, xdp_skb=1,
        ipv4_len=32)
    cfg.ps.psid, cfg.ps.offset, cfg.ps.len = checks.PSID, checks.PSID_OFFSET, checks.PSID_LEN
    b = cfg.bmr
    b.ip6, b.ip6_len, b.ipv4, b.ip4_len = "2001:db8::", 40, "192.0.2.0", 24
    b.ea_len, b.psid_offset, b.psid_len, b.psid = 16, checks.PSID_OFFSET, checks.PSID_LEN, 0
    cfg.epoch = 1
    m = Map(os.path.join(pin_dir, "mape_cfg"))
    m.update(1, cfg.pack())     # entry generation & 1, then switch to it
    m.close()
    m = Map(os.path.join(pin_dir, "mape_cfg_sel"))
    m.update(0, struct.pack("<I", 1))
    m.close()


def manual_down(pin_dir):
    return None     # the pin dir and the namespace go away in the common teardown


class RunResult(tuple):
    """(verdict, scapy packet out); also .raw (bytes out), .ctx (ctx out bytes),
    .data_in (bytes in) and .sent (the input as scapy dissects it)."""

    def __new__(cls, verdict, pkt, raw, ctx, data_in):
        t = tuple.__new__(cls, (verdict, pkt))
        t.verdict, t.pkt, t.raw, t.ctx, t.data_in = verdict, pkt, raw, ctx, data_in
        t.sent = Ether(data_in)
        return t


class CE:
    """The data path under test: pinned programs and maps, the test network."""

    XDP_PASS, XDP_DROP, XDP_REDIRECT = bpfsys.XDP_PASS, bpfsys.XDP_DROP, bpfsys.XDP_REDIRECT
    TC_ACT_OK, TC_ACT_SHOT = bpfsys.TC_ACT_OK, bpfsys.TC_ACT_SHOT
    TC_ACT_REDIRECT = bpfsys.TC_ACT_REDIRECT

    # the RFC 7597 example the instance is configured with
    ce_addr, br, ipv4, prefix = checks.CE_ADDR, checks.BR, checks.IPV4, checks.PREFIX
    port_set = checks.PORT_SET
    host, host_mac, remote, br_mac = checks.HOST, checks.HOST_MAC, checks.REMOTE, checks.BR_MAC

    def __init__(self, loader=LOADER, tag="", rules=(checks.RULE,)):
        """tag: "" for the session instance; another instance (own namespace and
        pin dir, e.g. "fmr") gets names <prefix><tag>-<pid>. rules: the --rule list."""
        self.loader = loader
        self.pid = os.getpid()
        self.tag = tag
        self.rules = tuple(rules)
        sfx = "%s-%d" % (tag, self.pid) if tag else "%d" % self.pid
        self.pin_dir = os.path.join(BPFFS, PIN_PREFIX + sfx)
        self.ns = NetNS(NS_PREFIX + sfx)
        self.progs = {}
        self._maps = {}
        self.ifindex = {}
        self.mac = {}
        self.up_done = False
        self.last = None

    # ------------------------------------------------------------ life cycle
    def setup(self):
        if os.geteuid() != 0:
            pytest.fail("the packet tier needs root", pytrace=False)
        if not os.path.exists(BPF_OBJ):
            pytest.fail("%s is missing (make %s)" % (BPF_OBJ, os.path.relpath(BPF_OBJ, ROOT)),
                        pytrace=False)
        cleanup_stale()
        if not os.path.ismount(BPFFS):
            sh("mount", "-t", "bpf", "bpf", BPFFS)
        if os.path.exists(self.pin_dir):
            shutil.rmtree(self.pin_dir)
        self.ns.enter()
        make_network()
        if self.loader == "manual":
            manual_up(self.pin_dir)
        elif self.loader == "mapectl":
            mapectl_up(self.pin_dir, self.rules)
        else:
            pytest.fail("MAPE_PKT_LOADER=%s: want mapectl or manual" % self.loader)
        self.up_done = True
        missing = [p for p in PROGS if not os.path.exists(os.path.join(self.pin_dir, p))]
        if missing:
            pytest.fail("%s pinned no program %s under %s (has: %s)"
                        % (self.loader, ", ".join(missing), self.pin_dir,
                           ", ".join(sorted(os.listdir(self.pin_dir)))), pytrace=False)
        self.progs = {p: Prog(os.path.join(self.pin_dir, p)) for p in PROGS}
        for n in ("wan0", "lan0", "wan0p", "lan0p", "mape0"):
            self.ifindex[n], self.mac[n] = link_info(n)
        cfg = self.cfg
        self.tun_peer = socket.if_indextoname(cfg.tun_peer_ifindex)
        self.ifindex["tun_peer"], self.mac["tun_peer"] = link_info(self.tun_peer)

    def teardown(self):
        errors = []
        for p in self.progs.values():
            p.close()
        for m in self._maps.values():
            m.close()
        self.progs, self._maps = {}, {}
        if self.up_done:
            err = (manual_down if self.loader == "manual" else mapectl_down)(self.pin_dir)
            if err:
                errors.append(err)
        if os.path.exists(self.pin_dir):
            shutil.rmtree(self.pin_dir, ignore_errors=True)
        self.ns.leave()
        return errors

    def reup(self, extra=()):
        """Run `mapectl up` again with the instance's arguments plus extra (e.g.
        ["--filtering", "endpoint"]); with no extra it restores the defaults.
        The port set does not change, so the sessions are kept. The programs
        are pinned anew: reopen them (the maps are the same)."""
        if self.loader != "mapectl":
            pytest.skip("re-running `mapectl up` needs MAPE_PKT_LOADER=mapectl")
        cmd = mapectl_up_cmd(self.pin_dir, self.rules, extra)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("`%s` failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode,
                                                                  r.stdout, r.stderr))
        for p in self.progs.values():
            p.close()
        self.progs = {p: Prog(os.path.join(self.pin_dir, p)) for p in PROGS}
        self.last_up = r
        return r.stdout

    # ------------------------------------------------------------ maps
    def map(self, name):
        if name not in self._maps:
            self._maps[name] = Map(os.path.join(self.pin_dir, name))
        return self._maps[name]

    @property
    def cfg_slot(self):
        """The entry of mape_cfg the data path reads (struct mape_cfg_sel)."""
        return struct.unpack("<I", self.map("mape_cfg_sel").lookup(0))[0] & 1

    @property
    def cfg(self):
        return MapeConfig.unpack(self.map("mape_cfg").lookup(self.cfg_slot))

    def set_cfg(self, cfg):
        """Overwrite the active configuration in place (tests only: `up`
        writes the other entry and switches, see switch_cfg)."""
        self.map("mape_cfg").update(self.cfg_slot, cfg.pack())

    def switch_cfg(self, cfg):
        """What `up` does: the next generation into the other entry, then
        mape_cfg_sel switched to it."""
        gen = struct.unpack("<I", self.map("mape_cfg_sel").lookup(0))[0] + 1
        cfg.generation = gen
        self.map("mape_cfg").update(gen & 1, cfg.pack())
        self.map("mape_cfg_sel").update(0, struct.pack("<I", gen))

    def counters(self):
        """{name: (packets, bytes)} summed over CPUs."""
        m = self.map("mape_stats")
        return {n: m.lookup_sum(i, MAPE_CTR_FMT) for n, i in COUNTERS.items()}

    def ctr(self, name):
        return self.counters()[name][0]

    @staticmethod
    def delta(before, after, what=0):
        """{name: increase} of the counters that changed (what 0: packets, 1: bytes).
        session_timer_late is left out: it counts the kernel's timer allocator
        failing for a moment (frequent on 6.18 under BPF_PROG_TEST_RUN
        bursts), not a decision of ours; test_timer_late.py tests it."""
        return {n: after[n][what] - before[n][what] for n in COUNTER_NAMES
                if after[n][what] != before[n][what] and n != "session_timer_late"}

    def ctr_delta(self, before, what=0):
        return self.delta(before, self.counters(), what)

    def binds(self):
        """{(int_addr, int_port, proto): MapeBind}"""
        return {(k.int_addr, k.int_port, k.proto): MapeBind.unpack(v)
                for k, v in ((MapeBindKey.unpack(k), v) for k, v in self.map("mape_bind").items())}

    def adfs(self):
        """{(rem_addr, ext_port, proto): sessions}"""
        return {(k.rem_addr, k.ext_port, k.proto): struct.unpack("=I", v[:4])[0]
                for k, v in ((MapeAdfKey.unpack(k), v) for k, v in self.map("mape_adf").items())}

    def sessions(self):
        """[(MapeOutKey, MapeSession)]"""
        return [(MapeOutKey.unpack(k), MapeSession.unpack(v))
                for k, v in self.map("mape_out").items()]

    @staticmethod
    def session_key(proto, int_addr, int_port, rem_addr, rem_port):
        """The mape_out key (bytes) of a LAN-side tuple."""
        return MapeOutKey(int_addr=int_addr, int_port=int_port, rem_addr=rem_addr,
                          rem_port=rem_port, proto=proto).pack()

    def session(self, proto, int_addr, int_port, rem_addr, rem_port):
        v = self.map("mape_out").lookup(self.session_key(proto, int_addr, int_port, rem_addr,
                                                         rem_port))
        return None if v is None else MapeSession.unpack(v)

    def in_entries(self):
        return [(MapeInKey.unpack(k), MapeInVal.unpack(v)) for k, v in self.map("mape_in").items()]

    def port(self, proto, port):
        return MapePort.unpack(self.map("mape_ports").lookup(bpfsys.port_slot(proto, port)))

    def ct_insert(self, proto, int_addr, int_port, rem_addr, rem_port, established=True):
        """The kernel's conntrack entry of a LAN-side flow as the kernel has it
        once its firewall saw the flow established both ways (what lets XDP
        take the flow over), or (established=False) only its first packet."""
        name = {checks.IPPROTO_TCP: "tcp", checks.IPPROTO_UDP: "udp"}[proto]
        cmd = ["conntrack", "-I", "-p", name, "-s", int_addr, "-d", rem_addr,
               "--sport", str(int_port), "--dport", str(rem_port), "-r", rem_addr,
               "-q", int_addr, "--reply-port-src", str(rem_port),
               "--reply-port-dst", str(int_port), "--timeout", "600"]
        if established:
            cmd += ["--status", "SEEN_REPLY,ASSURED"]
            if name == "tcp":
                cmd += ["--state", "ESTABLISHED"]
        elif name == "tcp":
            cmd += ["--state", "SYN_SENT"]
        sh(*cmd)

    def ct_entries(self):
        """conntrack -L of the test namespace: one line per entry."""
        out = sh("conntrack", "-L", check=False).stdout
        return [line for line in out.splitlines() if line.strip()]

    def flush_nat(self):
        """Forget every session: the NAT tables back to empty."""
        sh("conntrack", "-F", check=False)
        # and the next-hop cache, so that each test sees the FIB as it is now
        for name in ("mape_out", "mape_in", "mape_bind", "mape_adf", "mape_frag", "mape_nh",
                     "mape_pmtu", "mape_reasm", "mape_reasm_src", "mape_hosts"):
            self.map(name).clear()
        ports = self.map("mape_ports")
        zero = bytes(MapePort._size_)
        for proto in (checks.IPPROTO_TCP, checks.IPPROTO_UDP, checks.IPPROTO_ICMP):
            for p in checks.PORT_SET:
                slot = bpfsys.port_slot(proto, p)
                if ports.lookup(slot) != zero:
                    ports.update(slot, zero)
        used = self.map("mape_pused")   # ports in use per protocol
        for i in range(3):
            used.update(struct.pack("=I", i), struct.pack("=I", 0))

    # ------------------------------------------------------------ frames
    def lan_frame(self, ip):
        """A frame from the LAN host to the router (lan0)."""
        return Ether(src=checks.HOST_MAC, dst=self.mac["lan0"]) / ip

    def wan_frame(self, inner, src6=checks.BR, dst6=checks.CE_ADDR, hlim=64, nh=4):
        """A MAP-E packet from the BR as it arrives on wan0."""
        return checks.mape_pkt(inner, src6=src6, dst6=dst6, eth_src=checks.BR_MAC,
                               eth_dst=self.mac["wan0"], hlim=hlim, nh=nh)

    def wan6_frame(self, l3):
        """A native IPv6 frame from the BR's MAC to wan0."""
        return Ether(src=checks.BR_MAC, dst=self.mac["wan0"]) / l3

    def tun_frame(self, ip):
        """An IPv4 packet as the kernel hands it to mape0's egress."""
        return Ether(src=self.mac["mape0"], dst=self.mac["tun_peer"]) / ip

    # ------------------------------------------------------------ test runs
    def _run(self, prog, frame, ctx, parse=Ether):
        data = bytes(frame) if not isinstance(frame, (bytes, bytearray)) else bytes(frame)
        rv, out, ctx_out = self.progs[prog].run(data, ctx(len(data)))
        self.last = RunResult(rv, Ether(out) if parse else None, out, ctx_out, data)
        return self.last

    def run_lan(self, frame, ifindex=None):
        """mape_lan (XDP) as if frame arrived on lan0: (verdict, Ether out)."""
        ifx = ifindex or self.ifindex["lan0"]
        return self._run("mape_lan", frame, lambda n: bpfsys.xdp_md(n, ifx))

    def run_wan(self, frame, ifindex=None):
        """mape_wan (XDP) as if frame arrived on wan0: (verdict, Ether out)."""
        ifx = ifindex or self.ifindex["wan0"]
        return self._run("mape_wan", frame, lambda n: bpfsys.xdp_md(n, ifx))

    def run_tun(self, frame, ifindex=None):
        """mape_tun (TC egress of mape0): (verdict, Ether out)."""
        ifx = ifindex or self.ifindex["mape0"]
        return self._run("mape_tun", frame, lambda n: bpfsys.skb_ctx(ifx))

    def run_defrag(self, frame, ifindex=None):
        """mape_defrag (TC ingress of wan0: the reassembly): (verdict, Ether out)."""
        ifx = ifindex or self.ifindex["wan0"]
        return self._run("mape_defrag", frame, lambda n: bpfsys.skb_ctx(ifx))

    def run_pass(self, frame):
        return self._run("mape_pass", frame, lambda n: bpfsys.xdp_md(n, self.ifindex["mape0"]))

    # ------------------------------------------------------------ helpers
    def open_udp(self, sport=40000, dport=53, host=checks.HOST, remote=checks.REMOTE,
                 payload=b"q", fast=True):
        """Create a UDP session through mape_tun; returns its external port.
        fast: conntrack has the flow established (XDP takes it)."""
        if fast:
            self.ct_insert(checks.IPPROTO_UDP, host, sport, remote, dport)
        v, out = self.run_tun(self.tun_frame(IP(src=host, dst=remote, ttl=63) /
                                             UDP(sport=sport, dport=dport) / payload))
        assert v == bpfsys.TC_ACT_REDIRECT, "mape_tun verdict %d" % v
        return out[IPv6].payload.sport


@pytest.fixture(scope="session")
def ce_session():
    """The CE of the whole session (set up once, torn down at the end)."""
    ce = CE()
    try:
        ce.setup()
    except BaseException:
        ce.teardown()
        raise
    yield ce
    errors = ce.teardown()
    if errors:
        pytest.fail("packet tier teardown: " + "\n".join(errors), pytrace=False)


@pytest.fixture
def ce(ce_session):
    """The CE, NAT tables empty at the start of each test."""
    ce_session.flush_nat()
    return ce_session


# ---------------------------------------------------------------- a second CE (FMR / mesh)


@pytest.fixture(scope="module")
def ce_fmr():
    """A CE of its own (namespace mapetest-pkt-fmr-<pid>, pin dir
    mapetest-fmr-<pid>) with the RFC rule as BMR and checks.FMR_RULE as an FMR.
    Module scope: a test using it must not use `ce` (one namespace at a time)."""
    ce = CE(tag="fmr", rules=(checks.RULE, checks.FMR_RULE))
    if ce.loader != "mapectl":
        pytest.skip("the FMR instance needs mapectl up")
    try:
        ce.setup()
    except BaseException:
        ce.teardown()
        raise
    yield ce
    errors = ce.teardown()
    if errors:
        pytest.fail("FMR instance teardown: " + "\n".join(errors), pytrace=False)


# ---------------------------------------------------------------- the BR (mapectl br up)

BR_PROGS = ("mape_br6", "mape_br4", "mape_brt", "mape_brp", "mape_brd")
BR_OBJ = os.path.join(BUILD, "mape_br.bpf.o")


class BR:
    """`mapectl br up` in a namespace of its own (mapetest-pkt-br-<pid>):

        brv6 (2001:db8:ffff::5/64 + the BR address 2001:db8:ffff::1 from br up;
              2001:db8::/32 via 2001:db8:ffff::2, permanent neighbour
              02:00:00:00:00:02) -- brv6p
        brv4 (203.0.113.1/24, default via 203.0.113.254, permanent neighbour
              02:00:00:00:00:fe) -- brv4p
        mapebr0 / mapebr0-p (made by br up; routes of the rules' IPv4 prefixes)
    """

    XDP_PASS, XDP_DROP, XDP_REDIRECT = bpfsys.XDP_PASS, bpfsys.XDP_DROP, bpfsys.XDP_REDIRECT
    TC_ACT_OK, TC_ACT_SHOT = bpfsys.TC_ACT_OK, bpfsys.TC_ACT_SHOT
    TC_ACT_REDIRECT = bpfsys.TC_ACT_REDIRECT

    addr = "2001:db8:ffff::1"
    v6_addr, v6_nh, v6_nh_mac = "2001:db8:ffff::5", "2001:db8:ffff::2", "02:00:00:00:00:02"
    v4_addr, v4_gw, v4_gw_mac = "203.0.113.1", "203.0.113.254", "02:00:00:00:00:fe"

    def __init__(self, rules=(checks.RULE,)):
        self.pid = os.getpid()
        self.rules = tuple(rules)
        self.pin_dir = os.path.join(BPFFS, "%sbr-%d" % (PIN_PREFIX, self.pid))
        self.ns = NetNS("%sbr-%d" % (NS_PREFIX, self.pid))
        self.progs = {}
        self._maps = {}
        self.ifindex = {}
        self.mac = {}
        self.up_done = False
        self.last = None

    def setup(self):
        if os.geteuid() != 0:
            pytest.fail("the packet tier needs root", pytrace=False)
        if not os.access(MAPECTL, os.X_OK) or not os.path.exists(BR_OBJ):
            pytest.fail("%s or %s is missing (make)" % (MAPECTL, BR_OBJ), pytrace=False)
        cleanup_stale()
        if not os.path.ismount(BPFFS):
            sh("mount", "-t", "bpf", "bpf", BPFFS)
        if os.path.exists(self.pin_dir):
            shutil.rmtree(self.pin_dir)
        self.ns.enter()
        write_sysctl("net.ipv6.conf.all.accept_dad", 0)
        write_sysctl("net.ipv6.conf.default.accept_dad", 0)
        write_sysctl("net.ipv4.ip_forward", 1)
        write_sysctl("net.ipv6.conf.all.forwarding", 1)
        write_sysctl("net.ipv6.conf.default.forwarding", 1)
        for c in ["link set lo up",
                  "link add brv6 type veth peer name brv6p",
                  "link add brv4 type veth peer name brv4p"]:
            sh("ip", *c.split())
        for dev in ("brv6p", "brv4p", "brv4"):
            write_sysctl("net.ipv6.conf.%s.disable_ipv6" % dev, 1)
        for c in ["link set brv6 up", "link set brv6p up", "link set brv4 up",
                  "link set brv4p up",
                  "-6 addr add %s/64 dev brv6 nodad" % self.v6_addr,
                  "-6 neigh replace %s lladdr %s dev brv6 nud permanent" % (self.v6_nh,
                                                                            self.v6_nh_mac),
                  "-6 route replace 2001:db8::/32 via %s dev brv6" % self.v6_nh,
                  "addr add %s/24 dev brv4" % self.v4_addr,
                  "neigh replace %s lladdr %s dev brv4 nud permanent" % (self.v4_gw,
                                                                         self.v4_gw_mac),
                  "route replace default via %s dev brv4" % self.v4_gw]:
            sh("ip", *c.split())
        write_sysctl("net.ipv6.conf.default.disable_ipv6", 1)
        cmd = [MAPECTL, "br", "up", "--v6", "brv6", "--v4", "brv4", "--br-addr", self.addr,
               "--pin-dir", self.pin_dir, "--xdp-mode", "skb"]
        for r in self.rules:
            cmd += ["--rule", r]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            pytest.fail("`%s` failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                          r.stderr), pytrace=False)
        self.up_done = True
        missing = [p for p in BR_PROGS if not os.path.exists(os.path.join(self.pin_dir, p))]
        if missing:
            pytest.fail("br up pinned no program %s under %s" % (", ".join(missing),
                                                                self.pin_dir), pytrace=False)
        self.progs = {p: Prog(os.path.join(self.pin_dir, p)) for p in BR_PROGS}
        for n in ("brv6", "brv6p", "brv4", "brv4p", "mapebr0", "mapebr0-p"):
            self.ifindex[n], self.mac[n] = link_info(n)

    def teardown(self):
        errors = []
        for p in self.progs.values():
            p.close()
        for m in self._maps.values():
            m.close()
        self.progs, self._maps = {}, {}
        if self.up_done:
            cmd = [MAPECTL, "br", "down", "--pin-dir", self.pin_dir]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                errors.append("`%s` failed (exit %d):\n%s%s" % (" ".join(cmd), r.returncode,
                                                                r.stdout, r.stderr))
        if os.path.exists(self.pin_dir):
            shutil.rmtree(self.pin_dir, ignore_errors=True)
        self.ns.leave()
        return errors

    def map(self, name):
        if name not in self._maps:
            self._maps[name] = Map(os.path.join(self.pin_dir, name))
        return self._maps[name]

    def counters(self):
        m = self.map("mape_br_stats")
        return {n: m.lookup_sum(i, MAPE_CTR_FMT) for n, i in BR_COUNTERS.items()}

    def ctr_delta(self, before, what=0):
        after = self.counters()
        return {n: after[n][what] - before[n][what] for n in BR_COUNTER_NAMES
                if after[n][what] != before[n][what]}

    def _run(self, prog, frame, ctx):
        data = bytes(frame)
        rv, out, ctx_out = self.progs[prog].run(data, ctx(len(data)))
        self.last = RunResult(rv, Ether(out), out, ctx_out, data)
        return self.last

    def run_br6(self, frame):
        """mape_br6 (XDP) as if the frame arrived on brv6."""
        return self._run("mape_br6", frame, lambda n: bpfsys.xdp_md(n, self.ifindex["brv6"]))

    def run_br4(self, frame):
        """mape_br4 (XDP) as if the frame arrived on brv4."""
        return self._run("mape_br4", frame, lambda n: bpfsys.xdp_md(n, self.ifindex["brv4"]))

    def run_brd(self, frame):
        """mape_brd (TC ingress of brv6: the reassembly)."""
        return self._run("mape_brd", frame, lambda n: bpfsys.skb_ctx(self.ifindex["brv6"]))

    def run_brt(self, frame):
        """mape_brt (TC egress of mapebr0)."""
        return self._run("mape_brt", frame, lambda n: bpfsys.skb_ctx(self.ifindex["mapebr0"]))

    def v6_frame(self, inner, src6, dst6=None, hlim=64, nh=4):
        """An encapsulated packet from a CE as it arrives on brv6."""
        return checks.mape_pkt(inner, src6=src6, dst6=dst6 or self.addr,
                               eth_src=self.v6_nh_mac, eth_dst=self.mac["brv6"], hlim=hlim, nh=nh)

    def v4_frame(self, ip):
        """An IPv4 packet from the internet as it arrives on brv4."""
        return Ether(src=self.v4_gw_mac, dst=self.mac["brv4"]) / ip

    def tun_frame(self, ip):
        return Ether(src=self.mac["mapebr0"], dst=self.mac["mapebr0-p"]) / ip


@pytest.fixture(scope="module")
def br():
    """The BR instance (module scope; its tests must not use `ce`)."""
    b = BR()
    try:
        b.setup()
    except BaseException:
        b.teardown()
        raise
    yield b
    errors = b.teardown()
    if errors:
        pytest.fail("BR teardown: " + "\n".join(errors), pytrace=False)
