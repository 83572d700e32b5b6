# SPDX-License-Identifier: MIT
"""bpfsys - the BPF syscalls the packet tests need, through libbpf.so.1.

ctypes over Debian's libbpf 1.1.2: pinned objects (bpf_obj_get), program
test runs (bpf_prog_test_run_opts), map access by pinned path, per-CPU
sums. Plus Python mirrors of the structs of include/mape_types.h whose
layouts (size, member offsets and types) are read from the BTF of the
built BPF objects at import time (btf_mirror): only how to show a field
(an IPv4 address in host order, say) is written here. test_layout.py checks
the BTF's layouts against the host C compiler's.

Counter indices come from the MAPE_COUNTERS X-macro of include/mape_types.h,
parsed at import time: COUNTERS['drop_spoofed'] is enum MAPE_CTR_DROP_SPOOFED.

Nothing here computes MAP-E arithmetic or checksums.
"""
import ctypes
import ctypes.util
import errno
import ipaddress
import json
import os
import re
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TYPES_H = os.path.join(ROOT, "include", "mape_types.h")
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))

# Return codes
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = 0, 1, 2, 3, 4
TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT = 0, 2, 7
XDP_NAMES = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}
TC_NAMES = {-1: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 2: "TC_ACT_SHOT", 7: "TC_ACT_REDIRECT"}

BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2

# BPF map types we care about (uapi enum bpf_map_type)
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_LPM_TRIE = 11
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
PERCPU_TYPES = (BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH)

# --------------------------------------------------------------------- libbpf

_lib = ctypes.CDLL("libbpf.so.1", use_errno=True)


class BpfTestRunOpts(ctypes.Structure):
    """struct bpf_test_run_opts of libbpf 1.1.2 (/usr/include/bpf/bpf.h): 80 bytes."""
    _fields_ = [
        ("sz", ctypes.c_size_t),             # 0
        ("data_in", ctypes.c_void_p),        # 8
        ("data_out", ctypes.c_void_p),       # 16
        ("data_size_in", ctypes.c_uint32),   # 24
        ("data_size_out", ctypes.c_uint32),  # 28
        ("ctx_in", ctypes.c_void_p),         # 32
        ("ctx_out", ctypes.c_void_p),        # 40
        ("ctx_size_in", ctypes.c_uint32),    # 48
        ("ctx_size_out", ctypes.c_uint32),   # 52
        ("retval", ctypes.c_uint32),         # 56
        ("repeat", ctypes.c_int),            # 60
        ("duration", ctypes.c_uint32),       # 64
        ("flags", ctypes.c_uint32),          # 68
        ("cpu", ctypes.c_uint32),            # 72
        ("batch_size", ctypes.c_uint32),     # 76
    ]


assert ctypes.sizeof(BpfTestRunOpts) == 80
assert BpfTestRunOpts.retval.offset == 56 and BpfTestRunOpts.batch_size.offset == 76

_lib.bpf_obj_get.argtypes = [ctypes.c_char_p]
_lib.bpf_obj_get.restype = ctypes.c_int
_lib.bpf_prog_test_run_opts.argtypes = [ctypes.c_int, ctypes.POINTER(BpfTestRunOpts)]
_lib.bpf_prog_test_run_opts.restype = ctypes.c_int
_lib.bpf_map_lookup_elem.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_lib.bpf_map_lookup_elem.restype = ctypes.c_int
_lib.bpf_map_update_elem.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_uint64]
_lib.bpf_map_update_elem.restype = ctypes.c_int
_lib.bpf_map_delete_elem.argtypes = [ctypes.c_int, ctypes.c_void_p]
_lib.bpf_map_delete_elem.restype = ctypes.c_int
_lib.bpf_map_get_next_key.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_lib.bpf_map_get_next_key.restype = ctypes.c_int
_lib.bpf_obj_get_info_by_fd.argtypes = [ctypes.c_int, ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_uint32)]
_lib.bpf_obj_get_info_by_fd.restype = ctypes.c_int
_lib.libbpf_num_possible_cpus.argtypes = []
_lib.libbpf_num_possible_cpus.restype = ctypes.c_int


def _check(rc, what):
    """libbpf 1.x returns -errno (and sets errno)."""
    if rc < 0:
        e = -rc if rc != -1 else (ctypes.get_errno() or errno.EPERM)
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))
    return rc


def num_possible_cpus():
    return _check(_lib.libbpf_num_possible_cpus(), "libbpf_num_possible_cpus")


def bpf_obj_get(path):
    """fd of a pinned program or map."""
    return _check(_lib.bpf_obj_get(path.encode()), "bpf_obj_get(%s)" % path)


def prog_test_run(fd, data, ctx=None, repeat=1, out_size=None, ctx_out_size=None):
    """BPF_PROG_TEST_RUN: returns (retval, data_out bytes, ctx_out bytes or None)."""
    data = bytes(data)
    out_size = out_size or (len(data) + 4096)
    din = ctypes.create_string_buffer(data, len(data))
    dout = ctypes.create_string_buffer(out_size)
    o = BpfTestRunOpts()
    o.sz = ctypes.sizeof(o)
    o.data_in = ctypes.cast(din, ctypes.c_void_p)
    o.data_size_in = len(data)
    o.data_out = ctypes.cast(dout, ctypes.c_void_p)
    o.data_size_out = out_size
    o.repeat = repeat
    cin = cout = None
    if ctx is not None:
        ctx = bytes(ctx)
        cin = ctypes.create_string_buffer(ctx, len(ctx))
        n = ctx_out_size or len(ctx)
        cout = ctypes.create_string_buffer(n)
        o.ctx_in = ctypes.cast(cin, ctypes.c_void_p)
        o.ctx_size_in = len(ctx)
        o.ctx_out = ctypes.cast(cout, ctypes.c_void_p)
        o.ctx_size_out = n
    _check(_lib.bpf_prog_test_run_opts(fd, ctypes.byref(o)), "bpf_prog_test_run_opts")
    out = dout.raw[:o.data_size_out]
    ctx_out = cout.raw[:o.ctx_size_out] if cout is not None else None
    return o.retval, out, ctx_out


# uapi struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
# egress_ifindex (6 x u32, 24 bytes)
XDP_MD_SIZE = 24


def xdp_md(data_len, ingress_ifindex=0, rx_queue_index=0):
    """ctx for an XDP test run: no metadata, data_end = packet length."""
    return struct.pack("=6I", 0, data_len, 0, ingress_ifindex, rx_queue_index, 0)


def xdp_md_unpack(b):
    k = ("data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index", "egress_ifindex")
    return dict(zip(k, struct.unpack("=6I", b[:XDP_MD_SIZE])))


# uapi struct __sk_buff: 192 bytes; offsets from the C compiler (linux 6.x uapi).
SKB_SIZE = 192
SKB_OFF = {"len": 0, "pkt_type": 4, "mark": 8, "queue_mapping": 12, "protocol": 16,
           "priority": 32, "ingress_ifindex": 36, "ifindex": 40, "cb": 48, "wire_len": 160}


def skb_ctx(ifindex=0, mark=0, priority=0):
    """ctx for a TC test run; only the fields BPF_PROG_TEST_RUN accepts."""
    b = bytearray(SKB_SIZE)
    struct.pack_into("=I", b, SKB_OFF["mark"], mark)
    struct.pack_into("=I", b, SKB_OFF["priority"], priority)
    struct.pack_into("=I", b, SKB_OFF["ifindex"], ifindex)
    return bytes(b)


def skb_unpack(b):
    return {k: struct.unpack_from("=I", b, o)[0] for k, o in SKB_OFF.items() if k != "cb"}


# ----------------------------------------------------------------- maps

def _obj_info(fd, size=256):
    buf = ctypes.create_string_buffer(size)
    n = ctypes.c_uint32(size)
    _check(_lib.bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(n)), "bpf_obj_get_info_by_fd")
    return buf.raw[:n.value]


class Map:
    """A map opened by its pinned path. Keys/values are bytes (or CStruct
    instances, which are packed). Per-CPU values: lookup_percpu()."""

    def __init__(self, path):
        self.path = path
        self.fd = bpf_obj_get(path)
        # struct bpf_map_info: type, id, key_size, value_size, max_entries, map_flags, name[16]
        info = _obj_info(self.fd)
        (self.type, self.id, self.key_size, self.value_size, self.max_entries,
         self.map_flags) = struct.unpack_from("=6I", info, 0)
        self.name = info[24:40].split(b"\0", 1)[0].decode()
        self.percpu = self.type in PERCPU_TYPES
        self.ncpus = num_possible_cpus() if self.percpu else 1
        # per-CPU values are rounded up to 8 bytes per CPU
        self.slot = (self.value_size + 7) & ~7 if self.percpu else self.value_size

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _key(self, key):
        if isinstance(key, int):
            key = struct.pack("=I", key)
        key = bytes(key)
        if len(key) != self.key_size:
            raise ValueError("%s: key of %d bytes, map wants %d" % (self.name, len(key),
                                                                    self.key_size))
        return ctypes.create_string_buffer(key, len(key))

    def _raw_lookup(self, key):
        kb = self._key(key)
        vb = ctypes.create_string_buffer(self.slot * self.ncpus)
        rc = _lib.bpf_map_lookup_elem(self.fd, kb, vb)
        if rc < 0:
            e = -rc if rc != -1 else ctypes.get_errno()
            if e == errno.ENOENT:
                return None
            _check(rc, "lookup %s" % self.name)
        return vb.raw

    def lookup(self, key):
        """Value bytes, or None. For a per-CPU map: CPU 0's value (see lookup_percpu)."""
        v = self._raw_lookup(key)
        return None if v is None else v[:self.value_size]

    def lookup_percpu(self, key):
        """List of per-CPU value bytes, or None."""
        v = self._raw_lookup(key)
        if v is None:
            return None
        return [v[i * self.slot:i * self.slot + self.value_size] for i in range(self.ncpus)]

    def lookup_sum(self, key, fmt):
        """Per-CPU values decoded with struct format fmt and summed field-wise."""
        vals = self.lookup_percpu(key)
        if vals is None:
            return None
        tot = None
        for v in vals:
            t = struct.unpack(fmt, v[:struct.calcsize(fmt)])
            tot = t if tot is None else tuple(a + b for a, b in zip(tot, t))
        return tot

    def update(self, key, value, flags=BPF_ANY):
        kb = self._key(key)
        value = bytes(value)
        if self.percpu and len(value) == self.value_size:
            value = b"".join(value.ljust(self.slot, b"\0") for _ in range(self.ncpus))
        want = self.slot * self.ncpus if self.percpu else self.value_size
        if len(value) != want:
            raise ValueError("%s: value of %d bytes, map wants %d" % (self.name, len(value), want))
        vb = ctypes.create_string_buffer(value, len(value))
        _check(_lib.bpf_map_update_elem(self.fd, kb, vb, flags), "update %s" % self.name)

    def delete(self, key):
        """True when deleted, False when absent."""
        rc = _lib.bpf_map_delete_elem(self.fd, self._key(key))
        if rc < 0:
            e = -rc if rc != -1 else ctypes.get_errno()
            if e == errno.ENOENT:
                return False
            _check(rc, "delete %s" % self.name)
        return True

    def keys(self):
        """Iterate over the keys (bpf_map_get_next_key); a snapshot list."""
        out = []
        cur = None
        nk = ctypes.create_string_buffer(self.key_size)
        while True:
            rc = _lib.bpf_map_get_next_key(self.fd, cur, nk)
            if rc < 0:
                e = -rc if rc != -1 else ctypes.get_errno()
                if e == errno.ENOENT:
                    break
                _check(rc, "get_next_key %s" % self.name)
            k = nk.raw
            out.append(k)
            cur = ctypes.create_string_buffer(k, len(k))
            if len(out) > self.max_entries + 1:
                raise RuntimeError("%s: key iteration does not end" % self.name)
        return out

    def items(self):
        for k in self.keys():
            v = self.lookup(k)
            if v is not None:
                yield k, v

    def clear(self):
        """Delete every key; arrays (whose keys cannot go) get every nonzero
        value zeroed instead. Returns how many entries it cleared."""
        n = 0
        if self.type in (BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY):
            for i in range(self.max_entries):
                k = struct.pack("=I", i)
                v = self._raw_lookup(k)
                if v is not None and any(v):
                    self.update(k, bytes(len(v)))
                    n += 1
            return n
        for k in self.keys():
            n += bool(self.delete(k))
        return n


class Prog:
    """A pinned program; run() is BPF_PROG_TEST_RUN."""

    def __init__(self, path):
        self.path = path
        self.fd = bpf_obj_get(path)
        # struct bpf_prog_info: type (u32), id (u32), tag[8], ..., name at offset 64
        info = _obj_info(self.fd)
        self.type, self.id = struct.unpack_from("=2I", info, 0)
        self.name = info[64:80].split(b"\0", 1)[0].decode(errors="replace")

    def run(self, data, ctx=None, repeat=1):
        return prog_test_run(self.fd, data, ctx, repeat)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# ---------------------------------------------------------------- struct mirrors

def _ip4(b):
    return str(ipaddress.IPv4Address(b))


def _ip6(b):
    return str(ipaddress.IPv6Address(b))


def _mac(b):
    return ":".join("%02x" % x for x in b)


def _mac_b(s):
    if isinstance(s, (bytes, bytearray)):
        return bytes(s)
    return bytes(int(x, 16) for x in s.split(":"))


# kind -> (size, decode(bytes)->py, encode(py)->bytes)
_KINDS = {
    "u8": (1, lambda b: b[0], lambda v: struct.pack("=B", v)),
    "u16": (2, lambda b: struct.unpack("=H", b)[0], lambda v: struct.pack("=H", v)),
    "u32": (4, lambda b: struct.unpack("=I", b)[0], lambda v: struct.pack("=I", v)),
    "u64": (8, lambda b: struct.unpack("=Q", b)[0], lambda v: struct.pack("=Q", v)),
    # __be16 / __be32 as host integers (a port 1232 reads 1232)
    "be16": (2, lambda b: struct.unpack(">H", b)[0], lambda v: struct.pack(">H", v)),
    "be32": (4, lambda b: struct.unpack(">I", b)[0], lambda v: struct.pack(">I", v)),
    # __be32 IPv4 address as dotted string
    "ip4": (4, _ip4, lambda v: ipaddress.IPv4Address(v).packed),
    # __u32 IPv4 address in host order (struct mape_rule.ipv4) as dotted string
    "ip4h": (4, lambda b: _ip4(struct.pack(">I", struct.unpack("=I", b)[0])),
             lambda v: struct.pack("=I", int(ipaddress.IPv4Address(v)))),
    "ip6": (16, _ip6, lambda v: ipaddress.IPv6Address(v).packed),
    "mac": (6, _mac, _mac_b),
}


class CStruct:
    """A C struct mirrored field by field: _fields_ = [(name, offset, kind)],
    kind a _KINDS name, ("pad", n), ("bytes", n), ("array", kind, n) or a
    CStruct subclass. _size_ is sizeof() in C; pad bytes are zero."""
    _fields_ = []
    _size_ = 0

    def __init__(self, **kw):
        for name, _off, kind in self._fields_:
            setattr(self, name, self._default(kind))
        for k, v in kw.items():
            if k not in self._names():
                raise AttributeError("%s has no field %s" % (type(self).__name__, k))
            setattr(self, k, v)

    @classmethod
    def _names(cls):
        return [f[0] for f in cls._fields_]

    @staticmethod
    def _ksize(kind):
        if isinstance(kind, str):
            return _KINDS[kind][0]
        if isinstance(kind, type) and issubclass(kind, CStruct):
            return kind._size_
        if kind[0] in ("pad", "bytes"):
            return kind[1]
        if kind[0] == "array":
            return CStruct._ksize(kind[1]) * kind[2]
        raise ValueError(kind)

    @staticmethod
    def _default(kind):
        if isinstance(kind, str):
            return {"ip4": "0.0.0.0", "ip4h": "0.0.0.0", "ip6": "::",
                    "mac": "00:00:00:00:00:00"}.get(kind, 0)
        if isinstance(kind, type) and issubclass(kind, CStruct):
            return kind()
        if kind[0] in ("pad", "bytes"):
            return bytes(kind[1])
        if kind[0] == "array":
            return [CStruct._default(kind[1]) for _ in range(kind[2])]
        raise ValueError(kind)

    @staticmethod
    def _dec(kind, b):
        if isinstance(kind, str):
            return _KINDS[kind][1](b)
        if isinstance(kind, type) and issubclass(kind, CStruct):
            return kind.unpack(b)
        if kind[0] in ("pad", "bytes"):
            return bytes(b)
        n = CStruct._ksize(kind[1])
        return [CStruct._dec(kind[1], b[i * n:(i + 1) * n]) for i in range(kind[2])]

    @staticmethod
    def _enc(kind, v):
        if isinstance(kind, str):
            return _KINDS[kind][2](v)
        if isinstance(kind, type) and issubclass(kind, CStruct):
            return v.pack()
        if kind[0] in ("pad", "bytes"):
            v = bytes(v)
            if len(v) != kind[1]:
                raise ValueError("bytes field wants %d bytes" % kind[1])
            return v
        return b"".join(CStruct._enc(kind[1], x) for x in v)

    @classmethod
    def unpack(cls, b):
        b = bytes(b)
        if len(b) < cls._size_:
            raise ValueError("%s: %d bytes, need %d" % (cls.__name__, len(b), cls._size_))
        o = cls.__new__(cls)
        for name, off, kind in cls._fields_:
            setattr(o, name, cls._dec(kind, b[off:off + cls._ksize(kind)]))
        return o

    def pack(self):
        b = bytearray(self._size_)
        for name, off, kind in self._fields_:
            if isinstance(kind, tuple) and kind[0] == "pad":
                continue
            e = self._enc(kind, getattr(self, name))
            b[off:off + len(e)] = e
        return bytes(b)

    def __bytes__(self):
        return self.pack()

    def __eq__(self, other):
        return type(self) is type(other) and self.pack() == other.pack()

    def asdict(self):
        d = {}
        for name, _off, kind in self._fields_:
            if isinstance(kind, tuple) and kind[0] == "pad":
                continue
            v = getattr(self, name)
            d[name] = v.asdict() if isinstance(v, CStruct) else v
        return d

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % kv for kv in self.asdict().items()))

    @classmethod
    def layout(cls):
        """[(name, offset, size)] for the layout checks."""
        return [(n, o, cls._ksize(k)) for n, o, k in cls._fields_]


def _selfcheck(cls):
    end = 0
    for name, off, kind in cls._fields_:
        assert off >= end, "%s.%s overlaps" % (cls.__name__, name)
        end = off + cls._ksize(kind)
    assert end <= cls._size_, cls.__name__
    return cls


# ---------------------------------------------------------------- BTF

_BTF = {}
_MIRROR_BY_CNAME = {}


def btf_types(obj="mape_ce.bpf.o"):
    """The BTF of a built BPF object: {type id: type} (bpftool -j btf dump)."""
    path = obj if os.path.isabs(obj) else os.path.join(BUILD, obj)
    if path not in _BTF:
        out = subprocess.run(["bpftool", "-j", "btf", "dump", "file", path],
                             capture_output=True, text=True, check=True).stdout
        _BTF[path] = {t["id"]: t for t in json.loads(out)["types"]}
    return _BTF[path]


def btf_struct(cname, obj="mape_ce.bpf.o"):
    for t in btf_types(obj).values():
        if t["kind"] == "STRUCT" and t.get("name") == cname:
            return t
    raise LookupError("struct %s not in the BTF of %s" % (cname, obj))


def _btf_kind(types, tid, hint=None):
    """A CStruct kind for BTF type tid. Typedefs say what the integers are:
    __be16 is a port (host integer), __be32 an IPv4 address; u8[16] is an
    IPv6 address, u8[6] a MAC; hint overrides (e.g. "ip4h")."""
    t = types[tid]
    while t["kind"] in ("CONST", "VOLATILE", "TYPEDEF"):
        if t["kind"] == "TYPEDEF" and t["name"] in ("__be16", "__be32") and not hint:
            return {"__be16": "be16", "__be32": "ip4"}[t["name"]]
        t = types[t["type_id"]]
    if hint:
        return hint
    if t["kind"] in ("INT", "ENUM"):
        return {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[t["size"]]
    if t["kind"] == "STRUCT":
        cls = _MIRROR_BY_CNAME.get(t["name"])
        return cls if cls else ("bytes", t["size"])     # e.g. struct bpf_timer
    if t["kind"] == "ARRAY":
        n, elem = t["nr_elems"], _btf_kind(types, t["type_id"])
        if elem == "u8":
            return {16: "ip6", 6: "mac"}.get(n, ("bytes", n))
        return ("array", elem, n)
    raise ValueError("BTF kind %s not mirrored" % t["kind"])


def btf_mirror(cname, obj="mape_ce.bpf.o", hints=None):
    """Class decorator: _size_ and _fields_ from the BTF of struct cname in
    obj. Members named pad* are padding (packed as zeros)."""
    def deco(cls):
        types = btf_types(obj)
        t = btf_struct(cname, obj)
        fields = []
        for m in t["members"]:
            if m.get("bitfield_size"):
                raise ValueError("%s.%s: bit fields are not mirrored" % (cname, m["name"]))
            kind = _btf_kind(types, m["type_id"], (hints or {}).get(m["name"]))
            if m["name"].startswith("pad"):
                kind = ("pad", CStruct._ksize(kind))
            fields.append((m["name"], m["bits_offset"] // 8, kind))
        cls._size_, cls._fields_, cls._cname_, cls._obj_ = t["size"], fields, cname, obj
        _MIRROR_BY_CNAME[cname] = cls
        return _selfcheck(cls)
    return deco


@btf_mirror("mape_rule", hints={'ipv4': 'ip4h'})
class MapeRule(CStruct):
    """struct mape_rule (include/mape_map.h); ipv4 is a host-order __u32."""


@btf_mirror("mape_portset")
class MapePortset(CStruct):
    """struct mape_portset."""


MAPE_CFG_ENABLED = 0x1
MAPE_MAX_LANS = 8
MAPE_IID_RFC7597, MAPE_IID_DRAFT03 = 0, 1
MAPE_FILTER_ADDR, MAPE_FILTER_ENDPOINT = 0, 1


@btf_mirror("mape_config")
class MapeConfig(CStruct):
    """struct mape_config."""


@btf_mirror("mape_out_key")
class MapeOutKey(CStruct):
    """struct mape_out_key."""


MAPE_TCP_SYN_SENT, MAPE_TCP_EST, MAPE_TCP_CLOSING = 1, 2, 3
MAPE_SESS_INBOUND = 0x1
MAPE_SESS_FIN_OUT, MAPE_SESS_FIN_IN, MAPE_SESS_RST, MAPE_SESS_FAST = 0x2, 0x4, 0x8, 0x10
MAPE_SESS_NO_TIMER = 0x20     # the kernel refused its expiry timer (yet)


@btf_mirror("mape_session")
class MapeSession(CStruct):
    """struct mape_session (its struct bpf_timer: 16 opaque bytes)."""


@btf_mirror("mape_in_key")
class MapeInKey(CStruct):
    """struct mape_in_key."""


@btf_mirror("mape_in_val")
class MapeInVal(CStruct):
    """struct mape_in_val."""


@btf_mirror("mape_bind_key")
class MapeBindKey(CStruct):
    """struct mape_bind_key."""


@btf_mirror("mape_bind")
class MapeBind(CStruct):
    """struct mape_bind."""


@btf_mirror("mape_port")
class MapePort(CStruct):
    """struct mape_port (value of mape_ports, key proto_idx * 65536 + port)."""


@btf_mirror("mape_adf_key")
class MapeAdfKey(CStruct):
    """struct mape_adf_key."""


@btf_mirror("mape_frag_key")
class MapeFragKey(CStruct):
    """struct mape_frag_key."""


@btf_mirror("mape_frag_val")
class MapeFragVal(CStruct):
    """struct mape_frag_val."""


@btf_mirror("mape_nh_key")
class MapeNhKey(CStruct):
    """struct mape_nh_key: an IPv6 or IPv4-mapped address."""


@btf_mirror("mape_nh")
class MapeNh(CStruct):
    """struct mape_nh: a next hop and when the FIB gave it."""


@btf_mirror("mape_nh_slot")
class MapeNhSlot(CStruct):
    """struct mape_nh_slot: a slot of mape_nh (per CPU)."""


@btf_mirror("mape_fmr_key")
class MapeFmrKey(CStruct):
    """struct mape_fmr_key (LPM trie key)."""


@btf_mirror("mape_ctr")
class MapeCtr(CStruct):
    """struct mape_ctr (per CPU)."""


MAPE_CTR_FMT = "=QQ"

MAPE_P_TCP, MAPE_P_UDP, MAPE_P_ICMP = 0, 1, 2
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17


def port_slot(proto, port):
    """Key of mape_ports: proto_idx * 65536 + port (host order)."""
    idx = {IPPROTO_TCP: MAPE_P_TCP, IPPROTO_UDP: MAPE_P_UDP}.get(proto, MAPE_P_ICMP)
    return idx * 65536 + port


# Python mirror class by C struct name (test_layout.py checks them all).
MIRRORS = _MIRROR_BY_CNAME

# ---------------------------------------------------------------- counters


def parse_counters(path=TYPES_H, macro="MAPE_COUNTERS"):
    """[(ENUM_ID, name, help)] in enum order, from the MAPE_COUNTERS X-macro
    (or another of the same form: macro="MAPE_BR_COUNTERS")."""
    with open(path) as f:
        src = f.read()
    m = re.search(r"^#define\s+%s\(X\)" % re.escape(macro), src, re.M)
    if not m:
        raise RuntimeError("%s not found in %s" % (macro, path))
    # the macro body: every line up to the first one not ending in a backslash
    lines = []
    for line in src[m.start():].splitlines():
        lines.append(line)
        if not line.rstrip().endswith("\\"):
            break
    body = "\n".join(lines)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out = re.findall(r'\bX\(\s*(\w+)\s*,\s*"([^"]*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)', body)
    if not out:
        raise RuntimeError("no counters parsed from %s" % path)
    return out


COUNTER_LIST = parse_counters()
COUNTERS = {name: i for i, (_id, name, _h) in enumerate(COUNTER_LIST)}
COUNTER_IDS = {cid: i for i, (cid, _n, _h) in enumerate(COUNTER_LIST)}
COUNTER_NAMES = [name for _id, name, _h in COUNTER_LIST]
MAPE_CTR_MAX = len(COUNTER_LIST)

# The BR's counters (mape_br_stats), from the MAPE_BR_COUNTERS X-macro.
BR_COUNTER_LIST = parse_counters(macro="MAPE_BR_COUNTERS")
BR_COUNTERS = {name: i for i, (_id, name, _h) in enumerate(BR_COUNTER_LIST)}
BR_COUNTER_NAMES = [name for _id, name, _h in BR_COUNTER_LIST]


@btf_mirror("mape_br_config", obj="mape_br.bpf.o")
class MapeBrConfig(CStruct):
    """struct mape_br_config, from mape_br.bpf.o's BTF."""
