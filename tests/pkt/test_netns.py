# SPDX-License-Identifier: MIT
"""Namespace identity: the instance remembers the network namespace `up` ran
in (its interface indexes mean something only there). Every command run
from another namespace with the same --pin-dir refuses with one line and
changes nothing: before, `down` deleted whatever interface had the same
index there and unpinned the maps, leaving the programs attached with
nothing to manage them."""
import os
import subprocess

import pytest

from conftest import MAPECTL, mapectl_up_cmd


OTHER_NS = "mapetest-pkt-other-%d" % os.getpid()


@pytest.fixture(scope="module", autouse=True)
def other_ns():
    subprocess.run(["ip", "netns", "add", OTHER_NS], check=True)
    # interfaces of the same names there, so that `up` gets as far as the pin dir
    for dev in ("wan0", "lan0"):
        subprocess.run(["ip", "-n", OTHER_NS, "link", "add", dev, "type", "veth", "peer",
                        "name", dev + "p"], check=True)
        subprocess.run(["ip", "-n", OTHER_NS, "link", "set", dev, "up"], check=True)
    yield
    subprocess.run(["ip", "netns", "del", OTHER_NS])


def in_other_ns(*args):
    """mapectl ARGS in another network namespace, with the same mounts
    (nsenter --net only: `ip netns exec` would remount /sys)."""
    return subprocess.run(["nsenter", "--net=/run/netns/" + OTHER_NS, MAPECTL, *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("cmd", [["down"], ["status"], ["stats"], ["sessions"]])
def test_other_namespace_refused(ce, cmd):
    pins = sorted(os.listdir(ce.pin_dir))
    r = in_other_ns(*cmd, "--pin-dir", ce.pin_dir)
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "another network namespace" in lines[0], r.stderr
    assert sorted(os.listdir(ce.pin_dir)) == pins
    assert ce.cfg.flags & 1


def test_up_from_another_namespace_refused(ce):
    cmd = mapectl_up_cmd(ce.pin_dir)[1:]
    r = in_other_ns(*cmd)
    assert r.returncode != 0 and "another network namespace" in r.stderr, r
    assert os.path.exists(os.path.join(ce.pin_dir, "mape_cfg"))


def test_own_namespace_works(ce):
    r = subprocess.run([MAPECTL, "status", "--pin-dir", ce.pin_dir], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
