# SPDX-License-Identifier: MIT
"""bpfsys - the BPF syscalls the packet tests need, through libbpf.so.1.

ctypes over Debian's libbpf 1.1.2: pinned objects (bpf_obj_get), program
test runs (bpf_prog_test_run_opts), map access by pinned path, per-CPU
sums. Plus Python mirrors of the structs of include/mape_types.h, written
with explicit offsets (see CStruct) and checked against the C compiler's
layout (tests/pkt/test_layout.py checks them against the object's BTF).

Counter indices come from the MAPE_COUNTERS X-macro of include/mape_types.h,
parsed at import time: COUNTERS['drop_spoofed'] is enum MAPE_CTR_DROP_SPOOFED.

Nothing here computes MAP-E arithmetic or checksums.
"""
import ctypes
import ctypes.util
import errno
import ipaddress
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TYPES_H = os.path.join(ROOT, "include", "mape_types.h")

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


@_selfcheck
class MapeRule(CStruct):
    """struct mape_rule (include/mape_map.h): 44 bytes, align 4."""
    _size_ = 44
    _fields_ = [("ip6", 0, "ip6"), ("br", 16, "ip6"), ("ipv4", 32, "ip4h"), ("psid", 36, "u16"),
                ("ip6_len", 38, "u8"), ("ip4_len", 39, "u8"), ("ea_len", 40, "u8"),
                ("psid_offset", 41, "u8"), ("psid_len", 42, "u8"), ("flags", 43, "u8")]


@_selfcheck
class MapePortset(CStruct):
    """struct mape_portset: 4 bytes, align 2."""
    _size_ = 4
    _fields_ = [("psid", 0, "u16"), ("offset", 2, "u8"), ("len", 3, "u8")]


MAPE_CFG_ENABLED = 0x1
MAPE_MAX_LANS = 8
MAPE_IID_RFC7597, MAPE_IID_DRAFT03 = 0, 1
MAPE_FILTER_ADDR, MAPE_FILTER_ENDPOINT = 0, 1


@_selfcheck
class MapeConfig(CStruct):
    """struct mape_config: 204 bytes, align 4."""
    _size_ = 204
    _fields_ = [
        ("ce_addr", 0, "ip6"), ("br_addr", 16, "ip6"), ("ipv4", 32, "ip4"),
        ("ps", 36, MapePortset), ("port_count", 40, "u32"), ("iid", 44, "u8"),
        ("filtering", 45, "u8"), ("mtu", 46, "u16"), ("flags", 48, "u32"),
        ("wan_ifindex", 52, "u32"), ("tun_ifindex", 56, "u32"), ("tun_peer_ifindex", 60, "u32"),
        ("tun_mac", 64, "mac"), ("tun_peer_mac", 70, "mac"),
        ("to_tcp_est", 76, "u32"), ("to_tcp_trans", 80, "u32"), ("to_udp", 84, "u32"),
        ("to_icmp", 88, "u32"), ("icmp_rate", 92, "u32"), ("generation", 96, "u32"),
        ("lan_ifindex", 100, ("array", "u32", MAPE_MAX_LANS)), ("n_lans", 132, "u8"),
        ("xdp_skb", 133, "u8"), ("ipv4_len", 134, "u8"), ("pad", 135, ("pad", 1)),
        ("bmr", 136, MapeRule), ("max_sessions", 180, "u32"), ("netns_ino", 184, "u32"),
        ("max_per_host", 188, "u32"), ("epoch", 192, "u32"), ("max_ports_host", 196, "u32"),
        ("no_xdp_xmit", 200, "u32"),
    ]


@_selfcheck
class MapeOutKey(CStruct):
    """struct mape_out_key: 16 bytes."""
    _size_ = 16
    _fields_ = [("int_addr", 0, "ip4"), ("rem_addr", 4, "ip4"), ("int_port", 8, "be16"),
                ("rem_port", 10, "be16"), ("proto", 12, "u8"), ("pad", 13, ("pad", 3))]


MAPE_TCP_SYN_SENT, MAPE_TCP_EST, MAPE_TCP_CLOSING = 1, 2, 3
MAPE_SESS_INBOUND = 0x1
MAPE_SESS_FIN_OUT, MAPE_SESS_FIN_IN, MAPE_SESS_RST, MAPE_SESS_FAST = 0x2, 0x4, 0x8, 0x10


@_selfcheck
class MapeSession(CStruct):
    """struct mape_session: 72 bytes, align 8 (struct bpf_timer: 16 bytes, align 8)."""
    _size_ = 72
    _fields_ = [("timer", 0, ("bytes", 16)), ("created_ns", 16, "u64"), ("last_ns", 24, "u64"),
                ("pkts_out", 32, "u64"), ("pkts_in", 40, "u64"), ("ext_port", 48, "be16"),
                ("state", 50, "u8"), ("flags", 51, "u8"), ("timeout", 52, "u32"),
                ("ct_ns", 56, "u64"), ("epoch", 64, "u32"), ("pad", 68, ("pad", 4))]


@_selfcheck
class MapeInKey(CStruct):
    """struct mape_in_key: 12 bytes."""
    _size_ = 12
    _fields_ = [("rem_addr", 0, "ip4"), ("ext_port", 4, "be16"), ("rem_port", 6, "be16"),
                ("proto", 8, "u8"), ("pad", 9, ("pad", 3))]


@_selfcheck
class MapeInVal(CStruct):
    """struct mape_in_val: 8 bytes."""
    _size_ = 8
    _fields_ = [("int_addr", 0, "ip4"), ("int_port", 4, "be16"), ("pad", 6, ("pad", 2))]


@_selfcheck
class MapeBindKey(CStruct):
    """struct mape_bind_key: 8 bytes."""
    _size_ = 8
    _fields_ = [("int_addr", 0, "ip4"), ("int_port", 4, "be16"), ("proto", 6, "u8"),
                ("pad", 7, ("pad", 1))]


@_selfcheck
class MapeBind(CStruct):
    """struct mape_bind: 8 bytes."""
    _size_ = 8
    _fields_ = [("ext_port", 0, "be16"), ("epoch", 2, "u16"), ("sessions", 4, "u32")]


@_selfcheck
class MapePort(CStruct):
    """struct mape_port: 12 bytes (value of mape_ports, key proto_idx * 65536 + port)."""
    _size_ = 12
    _fields_ = [("sessions", 0, "u32"), ("int_addr", 4, "ip4"), ("int_port", 8, "be16"),
                ("shared", 10, "u8"), ("pad", 11, ("pad", 1))]


@_selfcheck
class MapeAdfKey(CStruct):
    """struct mape_adf_key: 8 bytes."""
    _size_ = 8
    _fields_ = [("rem_addr", 0, "ip4"), ("ext_port", 4, "be16"), ("proto", 6, "u8"),
                ("pad", 7, ("pad", 1))]


@_selfcheck
class MapeFragKey(CStruct):
    """struct mape_frag_key: 28 bytes."""
    _size_ = 28
    _fields_ = [("peer", 0, "ip6"), ("src", 16, "ip4"), ("dst", 20, "ip4"), ("id", 24, "be16"),
                ("proto", 26, "u8"), ("dir", 27, "u8")]


@_selfcheck
class MapeFragVal(CStruct):
    """struct mape_frag_val: 32 bytes, align 8."""
    _size_ = 32
    _fields_ = [("peer", 0, "ip6"), ("ns", 16, "u64"), ("addr", 24, "ip4"),
                ("slow", 28, "u32")]


@_selfcheck
class MapeFmrKey(CStruct):
    """struct mape_fmr_key: 8 bytes (LPM trie key)."""
    _size_ = 8
    _fields_ = [("prefixlen", 0, "u32"), ("addr", 4, "ip4")]


@_selfcheck
class MapeCtr(CStruct):
    """struct mape_ctr: 16 bytes (per CPU)."""
    _size_ = 16
    _fields_ = [("packets", 0, "u64"), ("bytes", 8, "u64")]


MAPE_CTR_FMT = "=QQ"

MAPE_P_TCP, MAPE_P_UDP, MAPE_P_ICMP = 0, 1, 2
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17


def port_slot(proto, port):
    """Key of mape_ports: proto_idx * 65536 + port (host order)."""
    idx = {IPPROTO_TCP: MAPE_P_TCP, IPPROTO_UDP: MAPE_P_UDP}.get(proto, MAPE_P_ICMP)
    return idx * 65536 + port


# Python mirror class by C struct name, for the BTF layout check.
MIRRORS = {
    "mape_config": MapeConfig, "mape_rule": MapeRule, "mape_portset": MapePortset,
    "mape_out_key": MapeOutKey, "mape_session": MapeSession, "mape_in_key": MapeInKey,
    "mape_in_val": MapeInVal, "mape_bind_key": MapeBindKey, "mape_bind": MapeBind,
    "mape_port": MapePort, "mape_adf_key": MapeAdfKey, "mape_frag_key": MapeFragKey,
    "mape_frag_val": MapeFragVal, "mape_fmr_key": MapeFmrKey, "mape_ctr": MapeCtr,
}

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


@_selfcheck
class MapeBrConfig(CStruct):
    """struct mape_br_config: 56 bytes, align 4 (checked against mape_br.bpf.o's BTF
    in test_br.py, not in MIRRORS, which are the CE object's)."""
    _size_ = 56
    _fields_ = [("br_addr", 0, "ip6"), ("flags", 16, "u32"), ("v6_ifindex", 20, "u32"),
                ("v4_ifindex", 24, "u32"), ("tun_ifindex", 28, "u32"),
                ("tun_peer_ifindex", 32, "u32"), ("tun_mac", 36, "mac"),
                ("tun_peer_mac", 42, "mac"), ("iid", 48, "u8"), ("xdp_skb", 49, "u8"),
                ("mtu", 50, "u16"), ("no_xdp_xmit", 52, "u32")]
