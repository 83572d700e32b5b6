# SPDX-License-Identifier: MIT
"""tools/stack-check.py against the verifier of the running kernel.

The build's stack check reads each function's stack depth off its
instructions. Here every program of the data-path objects is loaded with
the verifier's statistics (log level 4), whose last line gives the stack
depth of each subprogram of the loaded program ("stack depth 64+192+64"),
and the two must agree: the same depths, function for function (as
multisets, since the verifier numbers subprograms by their place in the
linked program). If the check read less than the verifier counts, the
budget would mean nothing.

Two things the verifier reports differently from what its stack check
used: after the check it inlines bpf_loop, which adds three 8-byte slots
(and the padding to 8) to the caller's depth; and newer kernels count a
depth in whole 8-byte slots. Neither changes a frame rounded to 32, so the
comparison is of depths rounded up to 32, with the inlining added back.
"""
import ctypes
import os
import re
import subprocess

import pytest

import bpfsys

BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(bpfsys.ROOT, "build")))
CHECK = os.path.join(bpfsys.ROOT, "tools", "stack-check.py")
OBJS = ("mape_ce.bpf.o", "mape_br.bpf.o")

lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
lib.bpf_object__open_file.restype = ctypes.c_void_p
lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
lib.bpf_object__next_program.restype = ctypes.c_void_p
lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
lib.bpf_program__name.restype = ctypes.c_char_p
lib.bpf_program__name.argtypes = [ctypes.c_void_p]
lib.bpf_program__set_log_level.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
lib.bpf_program__set_log_buf.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
lib.bpf_object__load.argtypes = [ctypes.c_void_p]
lib.bpf_object__close.argtypes = [ctypes.c_void_p]


def verifier_depths(path):
    """{program: sorted subprogram depths} as the running kernel's verifier counts them."""
    obj = lib.bpf_object__open_file(path.encode(), None)
    assert obj, "cannot open %s" % path
    bufs = {}
    try:
        prog = lib.bpf_object__next_program(obj, None)
        while prog:
            name = lib.bpf_program__name(prog).decode()
            bufs[name] = ctypes.create_string_buffer(1 << 16)
            lib.bpf_program__set_log_level(prog, 4)
            lib.bpf_program__set_log_buf(prog, bufs[name], len(bufs[name]))
            prog = lib.bpf_object__next_program(obj, prog)
        rc = lib.bpf_object__load(obj)
        assert rc == 0, "loading %s failed (%d): %s" % (
            path, rc, "\n".join(b.value.decode()[-2000:] for b in bufs.values()))
    finally:
        lib.bpf_object__close(obj)
    out = {}
    for name, buf in bufs.items():
        m = re.search(r"stack depth ([0-9+]+)", buf.value.decode())
        assert m, "%s: no stack depth in the verifier log:\n%s" % (name, buf.value.decode())
        out[name] = sorted(up(int(x), 32) for x in m.group(1).split("+"))
    return out


def up(n, r):
    return (max(n, 1) + r - 1) // r * r


def check_depths(path):
    """{function: depth} as tools/stack-check.py reads them, and each program's functions."""
    r = subprocess.run(["/usr/bin/python3", CHECK, "--depths", path], capture_output=True,
                       text=True, check=True)
    depth = {}
    for line in r.stdout.splitlines():
        name, d, loops = line.split()
        d = int(d)
        if int(loops):  # what bpf_loop's inlining adds after the check
            d = up(d, 8) + 24
        depth[name] = d
    r = subprocess.run(["/usr/bin/python3", CHECK, "--members", path], capture_output=True,
                       text=True, check=True)
    members = {}
    for line in r.stdout.splitlines():
        prog, funcs = line.split(":", 1)
        members[prog] = funcs.split()
    return depth, members


@pytest.mark.parametrize("obj", OBJS)
def test_depths_match_the_verifier(obj):
    path = os.path.join(BUILD, obj)
    kernel = verifier_depths(path)
    depth, members = check_depths(path)
    assert set(kernel) == set(members), (sorted(kernel), sorted(members))
    for prog, funcs in members.items():
        ours = sorted(up(depth[f], 32) for f in funcs)
        assert ours == kernel[prog], "%s: stack-check %s, verifier %s (functions %s)" % (
            prog, ours, kernel[prog], funcs)
