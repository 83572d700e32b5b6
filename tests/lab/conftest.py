# SPDX-License-Identifier: MIT
"""Fixtures of the lab tests: the namespace lab of tools/lab/lab.sh, up once
per XDP mode for the whole session and always torn down at the end.

Environment:
  LAB_TEST_ID    lab id of the tests (default "mlabt" + the pytest pid: several
                 runs and a lab brought up by hand or by `make demo`, id "mlab",
                 do not collide; labs of runs whose process is gone are removed)
  LAB_XDP_MODES  XDP modes to run the suite in (default "native skb")
  MAPECTL        the mapectl binary (default build/mapectl)
  LAB_BR         "mapectl" (default): the BR is `mapectl br up`; "standin": the
                 userspace stand-in tools/lab/br_standin.py, to exercise the CEs
                 without the real BR (it is no traceroute hop and has no counters)
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(ROOT, "tools", "lab")
LAB_SH = os.path.join(TOOLS, "lab.sh")
PY = "/usr/bin/python3"
LAB_ID = os.environ.get("LAB_TEST_ID", f"mlabt{os.getpid()}")
MODES = os.environ.get("LAB_XDP_MODES", "native skb").split()
BR_KIND = os.environ.get("LAB_BR", "mapectl")


def _env():
    env = dict(os.environ, LAB_ID=LAB_ID)
    mapectl = os.environ.get("MAPECTL")
    if mapectl:
        env["MAPECTL"] = os.path.abspath(mapectl)
    return env


def tail(text, n=25):
    lines = (text or "").rstrip().splitlines()
    return "\n".join(lines[-n:])


class Lab:
    """The running lab: addresses from `lab.sh info`, commands in nodes."""

    def __init__(self, mode):
        self.mode = mode
        out = self.lab("info").stdout
        self.info = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.mapectl_bin = self.info["MAPECTL"]
        self.standin = self.info.get("BR_KIND") == "standin"

    def __getattr__(self, name):  # lab.WEB, lab.BR_V4, ... from `lab.sh info`
        info = self.__dict__.get("info", {})
        if name in info:
            return info[name]
        raise AttributeError(name)

    # -- running things

    def lab(self, *args, timeout=60, env_extra=None):
        return subprocess.run([LAB_SH, *args], capture_output=True, text=True,
                              timeout=timeout, env=dict(_env(), **(env_extra or {})),
                              stdin=subprocess.DEVNULL)

    def run(self, node, *cmd, timeout=30):
        """CMD in NODE; a CompletedProcess (returncode 124 and a note on timeout)."""
        try:
            return subprocess.run([LAB_SH, "exec", node, *cmd], capture_output=True, text=True,
                                  timeout=timeout, env=_env(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            return subprocess.CompletedProcess(e.cmd, 124, out,
                                               err + f"\n(killed after {timeout} s)")

    def popen(self, node, *cmd):
        return subprocess.Popen([LAB_SH, "exec", node, *cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env(),
                                stdin=subprocess.DEVNULL)

    def py(self, node, script, *args, timeout=30):
        return self.run(node, PY, os.path.join(TOOLS, script), *args, timeout=timeout)

    def popen_py(self, node, script, *args):
        return self.popen(node, PY, os.path.join(TOOLS, script), *args)

    def capture_fields(self, node, iface, bpf_filter, fields, traffic):
        """Run traffic() while tshark captures IFACE in NODE; returns one list
        of the FIELDS (tshark -e names, as text) per captured frame.
        Traffic starts once tshark says it captures (seconds under emulation)."""
        args = ["tshark", "-l", "-i", iface, "-f", bpf_filter, "-a", "duration:120", "-T",
                "fields", "-E", "separator=,"]
        for f in fields:
            args += ["-e", f]
        cap = self.popen(node, *args)
        listening, err, rows = threading.Event(), [], []

        def watch():
            for line in cap.stderr:
                err.append(line)
                if "Capturing on" in line:
                    listening.set()

        def read():
            for line in cap.stdout:
                rows.append(line.rstrip("\n").split(","))

        threads = [threading.Thread(target=t, daemon=True) for t in (watch, read)]
        for t in threads:
            t.start()
        try:
            assert listening.wait(60), "tshark did not start capturing:\n" + "".join(err)
            traffic()
            time.sleep(2)   # the capture hands packets over in blocks
        finally:
            cap.send_signal(signal.SIGINT)
            try:
                cap.wait(timeout=30)
            except subprocess.TimeoutExpired:
                cap.kill()
                cap.wait()
            for t in threads:
                t.join(5)
        return rows

    def mapectl(self, node, *args, timeout=30):
        return self.run(node, self.mapectl_bin, *args, timeout=timeout)

    # -- state of the gateways and the ISP

    def pin(self, node):
        return self.info[node.upper() + "_PIN"]

    def json_of(self, node, *args):
        r = self.mapectl(node, *args, "--json")
        assert r.returncode == 0, \
            f"mapectl {' '.join(args)} --json in {node} failed ({r.returncode}): {r.stderr}"
        return json.loads(r.stdout)

    def status(self, ce):
        return self.json_of(ce, "status", "--pin-dir", self.pin(ce))

    def stats(self, ce):
        return self.json_of(ce, "stats", "--pin-dir", self.pin(ce))

    def br_stats(self):
        return self.json_of("br", "br", "stats", "--pin-dir", self.pin("br"))

    def br_mape_packets(self):
        """All packets the BR counted, except pass_not_ours (neighbour
        discovery and other non-MAP-E traffic): only what crossed the BR.
        None for the BR stand-in, which counts nothing."""
        if self.standin:
            return None
        def walk(o, name=""):
            if isinstance(o, dict):
                if isinstance(o.get("packets"), int):
                    return 0 if name == "pass_not_ours" else o["packets"]
                return sum(walk(v, k) for k, v in o.items())
            if isinstance(o, list):
                return sum(walk(v, name) for v in o)
            return 0
        return walk(self.br_stats())

    def counters(self):
        """The ISP's nft counters of forwarded tunnel packets: {name: packets}."""
        r = self.lab("counters")
        assert r.returncode == 0, f"lab.sh counters failed: {r.stderr}"
        return {f[0]: int(f[2]) for f in (line.split() for line in r.stdout.splitlines())}

    def diag(self, *ces):
        """Text for a failure message: counters of the CEs, the BR, the ISP."""
        out = []
        for ce in ces or ("ce1",):
            r = self.mapectl(ce, "stats", "--pin-dir", self.pin(ce))
            out.append(f"--- mapectl stats ({ce}):\n{r.stdout}{r.stderr}")
        if not self.standin:
            r = self.mapectl("br", "br", "stats", "--pin-dir", self.pin("br"))
            out.append(f"--- mapectl br stats:\n{r.stdout}{r.stderr}")
        r = self.lab("counters")
        out.append(f"--- ISP tunnel counters:\n{r.stdout}{r.stderr}")
        return "\n".join(out)


def remove_stale_labs():
    """Labs of earlier runs that were killed: ids mlabt<pid> whose pid is gone,
    and this run's own id if given by LAB_TEST_ID."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    ids = {LAB_ID} if "LAB_TEST_ID" in os.environ else set()
    for m in re.finditer(r"^(mlabt(\d+))-\w+", out, re.M):
        if not os.path.exists(f"/proc/{m.group(2)}"):
            ids.add(m.group(1))
    for lab_id in sorted(ids):
        subprocess.run([LAB_SH, "--id", lab_id, "down"], capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session", params=MODES)
def lab(request):
    """The lab, up in one XDP mode; torn down after the last test of that mode."""
    mode = request.param
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    remove_stale_labs()
    t0 = time.monotonic()
    up = ["up", "--xdp-mode", mode] + (["--br-standin"] if BR_KIND == "standin" else [])
    try:
        r = subprocess.run([LAB_SH, *up], capture_output=True, text=True,
                           env=_env(), timeout=300, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        subprocess.run([LAB_SH, "down"], capture_output=True, env=_env(), timeout=120)
        pytest.fail(f"tools/lab/lab.sh up --xdp-mode {mode} took more than 300 s")
    if r.returncode != 0:
        pytest.fail(f"tools/lab/lab.sh up --xdp-mode {mode} failed (exit {r.returncode}); "
                    f"its last lines:\n{tail(r.stderr + r.stdout)}", pytrace=False)
    try:
        lab = Lab(mode)
        lab.up_seconds = time.monotonic() - t0
        yield lab
    finally:
        d = subprocess.run([LAB_SH, "down"], capture_output=True, text=True, env=_env(),
                           timeout=120, stdin=subprocess.DEVNULL)
        if d.returncode != 0:
            print(f"lab down failed ({d.returncode}): {d.stderr}")
