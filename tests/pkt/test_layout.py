# SPDX-License-Identifier: MIT
"""The Python mirrors (bpfsys.py), whose layouts are read from the BPF objects'
BTF, against a host C compiler's view of include/mape_types.h and the pinned
maps."""
import json
import os
import shutil
import subprocess

import pytest

import bpfsys
from bpfsys import COUNTER_LIST, MIRRORS

ROOT = bpfsys.ROOT
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
BPF_OBJ = os.path.join(BUILD, "mape_ce.bpf.o")


def test_mirrors_are_read_from_btf():
    """Every mirror's layout comes from a built object's BTF (bpfsys.btf_mirror):
    nothing is written by hand but how a field is shown."""
    for cname, cls in MIRRORS.items():
        t = bpfsys.btf_struct(cname, cls._obj_)
        assert cls._size_ == t["size"]
        assert [(n, o) for n, o, _s in cls.layout()] == \
            [(m["name"], m["bits_offset"] // 8) for m in t["members"]]


def test_btf_layouts_match_host_compiler(tmp_path):
    """The BPF objects' layouts (clang -target bpf, read from BTF) equal the
    host C compiler's, which mapectl is built with: sizeof and every member's
    offsetof of every mirrored struct."""
    if not shutil.which("gcc"):
        pytest.fail("gcc missing")
    lines = []
    for cname, cls in sorted(MIRRORS.items()):
        lines.append('printf("%s %%zu\\n", sizeof(struct %s));' % (cname, cname))
        for n, _o, _s in cls.layout():
            lines.append('printf("%s.%s %%zu\\n", offsetof(struct %s, %s));' % (cname, n, cname, n))
    src = tmp_path / "layout.c"
    src.write_text('#include <stdio.h>\n#include <stddef.h>\n#include "mape_types.h"\n'
                   '#include "mape_map.h"\nint main(void) {\n%s\nreturn 0;\n}\n'
                   % "\n".join(lines))
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-I", os.path.join(ROOT, "include"), str(src), "-o", str(exe)],
                   check=True, capture_output=True)
    host = dict(x.split() for x in subprocess.run([str(exe)], capture_output=True, text=True,
                                                  check=True).stdout.splitlines())
    btf = {}
    for cname, cls in MIRRORS.items():
        btf[cname] = str(cls._size_)
        for n, o, _s in cls.layout():
            btf["%s.%s" % (cname, n)] = str(o)
    assert host == btf


def test_counters_match_c(tmp_path):
    """The counter list parsed from the X-macro equals the C enum order."""
    if not shutil.which("gcc"):
        pytest.fail("gcc missing")
    src = tmp_path / "ctr.c"
    src.write_text('#include <stdio.h>\n#include "mape_types.h"\n'
                   '#define P(id, name, help) printf("%d %s %s\\n", MAPE_CTR_##id, #id, name);\n'
                   'int main(void) { MAPE_COUNTERS(P) printf("%d MAX\\n", MAPE_CTR_MAX);'
                   ' return 0; }\n')
    exe = tmp_path / "ctr"
    subprocess.run(["gcc", "-I", os.path.join(ROOT, "include"), str(src), "-o", str(exe)],
                   check=True, capture_output=True)
    lines = subprocess.run([str(exe)], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    c = [tuple(x.split()) for x in lines[:-1]]
    assert c == [(str(i), cid, name) for i, (cid, name, _h) in enumerate(COUNTER_LIST)]
    assert lines[-1] == "%d MAX" % bpfsys.MAPE_CTR_MAX


def test_session_timer_layout():
    """struct bpf_timer is 16 bytes, 8-aligned: the session data starts at 16."""
    lay = {n: (o, s) for n, o, s in bpfsys.MapeSession.layout()}
    assert lay["timer"] == (0, 16) and lay["created_ns"] == (16, 8)
    assert bpfsys.MapeSession._size_ % 8 == 0


def test_mirror_roundtrip():
    c = bpfsys.MapeConfig(ce_addr="2001:db8::1", ipv4="192.0.2.18", mtu=1460,
                          tun_mac="02:00:00:00:00:aa", lan_ifindex=[1, 2, 3, 4, 5, 6, 7, 8])
    c.ps.psid, c.bmr.ipv4 = 0x34, "192.0.2.0"
    b = c.pack()
    assert len(b) == bpfsys.MapeConfig._size_ == 204
    assert b[32:36] == bytes([192, 0, 2, 18])           # __be32: network order
    assert b[136 + 32:136 + 36] == (0xc0000200).to_bytes(4, "little")  # host-order u32
    assert bpfsys.MapeConfig.unpack(b) == c
    k = bpfsys.MapeOutKey(int_addr="192.168.1.10", rem_addr="198.51.100.7", int_port=40000,
                          rem_port=53, proto=17)
    assert k.pack() == bytes([192, 168, 1, 10, 198, 51, 100, 7, 0x9c, 0x40, 0, 53, 17, 0, 0, 0])


# Map name -> (key mirror or size, value mirror or size)
MAPS = {
    "mape_cfg": (4, bpfsys.MapeConfig), "mape_fmr": (bpfsys.MapeFmrKey, bpfsys.MapeRule),
    "mape_out": (bpfsys.MapeOutKey, bpfsys.MapeSession),
    "mape_in": (bpfsys.MapeInKey, bpfsys.MapeInVal),
    "mape_bind": (bpfsys.MapeBindKey, bpfsys.MapeBind), "mape_ports": (4, bpfsys.MapePort),
    "mape_adf": (bpfsys.MapeAdfKey, 4), "mape_frag": (bpfsys.MapeFragKey, bpfsys.MapeFragVal),
    "mape_stats": (4, bpfsys.MapeCtr), "mape_hosts": (4, 16), "mape_cfg_sel": (4, 4),
}


@pytest.mark.parametrize("name", sorted(MAPS))
def test_pinned_map_sizes(ce, name):
    m = ce.map(name)
    k, v = MAPS[name]
    ks = k if isinstance(k, int) else k._size_
    vs = v if isinstance(v, int) else v._size_
    assert (m.key_size, m.value_size) == (ks, vs)
    if name == "mape_stats":
        assert m.percpu and m.max_entries == bpfsys.MAPE_CTR_MAX
