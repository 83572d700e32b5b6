# SPDX-License-Identifier: MIT
"""tools/stack-check.py: the build's stack budget check, on a fixture with
known call chains (tests/cli/stack/chain.bpf.c) compiled here with clang.

The frames' own depths come from the fixture's buffers (a range, since the
compiler adds a few bytes); what is checked exactly is how the chain is
summed: a BPF-to-BPF call and a bpf_loop callback add a frame, a timer
callback starts a chain of its own, each frame rounded up as Linux 6.1's
verifier does (32) or as newer ones do (16), and the exit status.
"""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHECK = os.path.join(ROOT, "tools", "stack-check.py")
SRC = os.path.join(HERE, "stack", "chain.bpf.c")
PY = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is missing")


def build(tmp_path, big):
    out = tmp_path / ("chain-%d.o" % big)
    arch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True,
                          text=True).stdout.strip() or "x86_64-linux-gnu"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-DBIG=%d" % big,
                    "-I/usr/include/" + arch, "-c", SRC, "-o", str(out)], check=True)
    return str(out)


def run(*args):
    return subprocess.run([PY, CHECK] + list(args), capture_output=True, text=True)


def depths(obj):
    r = run("--depths", obj)
    assert r.returncode == 0, r.stderr
    return {f[0]: int(f[1]) for f in (line.split() for line in r.stdout.splitlines())}


def up(n, r):
    n = max(n, 1)
    return (n + r - 1) // r * r


def report(out):
    """{program: (total, [frame names])} from -v output."""
    res = {}
    for line in out.splitlines():
        head, chain = line.split(": ", 1)
        f = head.split()
        res[f[1]] = (int(f[2]), [p.rsplit(" ", 1)[0] for p in chain.split(" + ")])
    return res


def test_depths_read_off_the_instructions(tmp_path):
    d = depths(build(tmp_path, 8))
    assert 48 <= d["chain"] <= 64, d
    assert 100 <= d["leaf"] <= 112, d
    assert 8 <= d["loop_cb"] <= 16, d
    assert 200 <= d["timer_cb"] <= 216, d


@pytest.mark.parametrize("rnd", [32, 16])
def test_chain_sum_and_rounding(tmp_path, rnd):
    obj = build(tmp_path, 8)
    d = depths(obj)
    r = run("-v", "--round", str(rnd), obj)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = report(r.stdout)
    # the call and the bpf_loop callback add frames; the timer callback does not
    total, names = rep["chain"]
    assert names == ["chain", "leaf", "loop_cb"]
    assert total == up(d["chain"], rnd) + up(d["leaf"], rnd) + up(d["loop_cb"], rnd)
    # ... it is a root of its own
    assert rep["timer_cb"] == (up(d["timer_cb"], rnd), ["timer_cb"])


def test_over_budget_fails(tmp_path):
    """A frame made too big fails the check, naming the program and its chain."""
    small, big = build(tmp_path, 8), build(tmp_path, 300)
    assert run("--budget", "448", small).returncode == 0
    r = run("--budget", "448", big)
    assert r.returncode == 1
    assert "OVER chain" in r.stdout and "leaf" in r.stdout
    assert "over the stack budget of 448" in r.stderr


def test_budget_is_inclusive(tmp_path):
    obj = build(tmp_path, 8)
    total = report(run("-v", obj).stdout)["chain"][0]
    assert run("--budget", str(total), obj).returncode == 0
    assert run("--budget", str(total - 1), obj).returncode == 1


def test_bad_input(tmp_path):
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an ELF file")
    r = run(str(junk))
    assert r.returncode == 2 and r.stderr.startswith("stack-check: ")
    assert run(str(tmp_path / "missing.o")).returncode == 2


def test_data_path_objects_within_budget():
    """The product's objects, as built: every program within 448 on 6.1."""
    build_dir = os.environ.get("BUILD", os.path.join(ROOT, "build"))
    objs = [os.path.join(build_dir, n) for n in ("mape_ce.bpf.o", "mape_br.bpf.o")]
    objs = [o for o in objs if os.path.exists(o)]
    if not objs:
        pytest.skip("not built")
    r = run("-v", "--budget", "448", *objs)
    assert r.returncode == 0, r.stdout + r.stderr
    progs = report(r.stdout)
    for p in ("mape_lan", "mape_wan", "mape_tun", "mape_pass", "mape_br4", "mape_br6"):
        assert p in progs, r.stdout
