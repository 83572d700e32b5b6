# SPDX-License-Identifier: MIT
"""checks - scapy helpers of the packet tests: checksum verification,
MAP-E packet builders, the RFC 7597 example parameters.

Checksums are verified independently of the project: the emitted bytes are
re-parsed with scapy, the checksum fields deleted, the packet rebuilt by
scapy, and the rebuilt bytes must equal the emitted ones. The quoted IPv4
header of an ICMP error is checked the same way.

The port set is computed here from RFC 7597 s5.1 directly (not through
include/mape_map.h), so that the tests do not share the project's arithmetic.
"""
import ipaddress

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.compat import raw
from scapy.utils import checksum

# ---------------------------------------------------------------- parameters

# RFC 7597 Appendix A, example 1 (docs: MAPE-FACTS.md s2 "Test vectors").
PREFIX = "2001:db8:12:3400::/56"
RULE = "ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,offset=6"
BR = "2001:db8:ffff::1"
CE_ADDR = "2001:db8:12:3400:0:c000:212:34"
IPV4 = "192.0.2.18"
PSID = 0x34
PSID_OFFSET = 6
PSID_LEN = 8
MTU = 1460

# The test network (conftest.py builds it).
WAN_ADDR = "2001:db8:ffff::2"
BR_MAC = "02:00:00:00:00:01"
LAN_ADDR = "192.168.1.1"
HOST = "192.168.1.10"
HOST_MAC = "02:00:00:00:00:10"
REMOTE = "198.51.100.7"

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPIP = 1, 6, 17, 4

# A forwarding rule (mesh) for the FMR instance: the remotes' /24.
FMR_RULE = ("ipv6prefix=2001:db8:100::,prefix6len=40,ipv4prefix=198.51.100.0,prefix4len=24,"
            "ealen=16,offset=6")
FMR = dict(ip6="2001:db8:100::", ip6_len=40, ip4="198.51.100.0", ip4_len=24, ea_len=16,
           offset=6)
BMR = dict(ip6="2001:db8::", ip6_len=40, ip4="192.0.2.0", ip4_len=24, ea_len=16, offset=6)


def rfc_ce_addr(ipv4, port, ip6, ip6_len, ip4, ip4_len, ea_len, offset):
    """RFC 7597 s5.2 / s6 (written here from the RFC, not from include/): the
    CE address serving ipv4:port under a rule. EA bits = IPv4 suffix (p =
    32 - r bits) | PSID (q = o - p bits, taken from the port after the
    offset); end-user prefix = rule prefix | EA bits (subnet ID 0); IID =
    16 zero bits | IPv4 | PSID (right-aligned in 16 bits)."""
    a = int(ipaddress.IPv4Address(ipv4))
    p = 32 - ip4_len
    q = ea_len - p
    psid = (port >> (16 - offset - q)) & ((1 << q) - 1)
    ea = ((a & ((1 << p) - 1)) << q) | psid
    prefix = int(ipaddress.IPv6Address(ip6)) | (ea << (128 - ip6_len - ea_len))
    iid = (a << 16) | psid
    return str(ipaddress.IPv6Address(prefix | iid))


assert rfc_ce_addr(IPV4, 1232, **BMR) == "2001:db8:12:3400:0:c000:212:34"


def rfc_port_set(psid=PSID, offset=PSID_OFFSET, psid_len=PSID_LEN):
    """RFC 7597 s5.1: port = A << (16 - a) | PSID << m | j, A in 1..2^a - 1
    (a > 0), j in 0..2^m - 1, m = 16 - a - k. Returns a sorted list."""
    if psid_len == 0:
        return list(range(1, 65536))
    m = 16 - offset - psid_len
    if offset == 0:
        ports = [(psid << m) | j for j in range(1 << m)]
        return [p for p in ports if p != 0]
    return sorted((a << (16 - offset)) | (psid << m) | j
                  for a in range(1, 1 << offset) for j in range(1 << m))


PORT_SET = rfc_port_set()
PORT_SET_S = frozenset(PORT_SET)
assert len(PORT_SET) == 252 and PORT_SET[:4] == [1232, 1233, 1234, 1235]
assert PORT_SET[4] == 2256 and PORT_SET[-1] == 64723


def in_port_set(port):
    return port in PORT_SET_S


def port_outside_set():
    """A few ports outside the set: A = 0, neighbour PSIDs, the top."""
    out = [0, 52, 1023, 1228, 1236, 1024, 65535]
    assert not any(in_port_set(p) for p in out)
    return out


# ---------------------------------------------------------------- builders

def mape_pkt(inner, src6=BR, dst6=CE_ADDR, eth_src=BR_MAC, eth_dst="02:00:00:00:00:02",
             hlim=64, nh=IPPROTO_IPIP):
    """Ether/IPv6(nh=4)/inner: a MAP-E packet as the BR sends it to the WAN."""
    return Ether(src=eth_src, dst=eth_dst) / IPv6(src=src6, dst=dst6, nh=nh, hlim=hlim) / inner


def eth4(inner, eth_src, eth_dst):
    """Ether/IPv4 frame."""
    return Ether(src=eth_src, dst=eth_dst, type=0x0800) / inner


def build(pkt):
    """Bytes of a packet, with every auto field (lengths, checksums) filled."""
    return raw(pkt)


# ---------------------------------------------------------------- checksums

class ChecksumError(AssertionError):
    pass


def _layer_raw(layer):
    """The bytes a dissected layer came from (to its packet's end)."""
    if getattr(layer, "original", None):
        return bytes(layer.original)
    return raw(layer)


def _is_fragment(ip):
    return bool(ip.frag) or bool(int(ip.flags) & 0x1)


def _diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "first difference at byte %d: emitted %02x, scapy %02x" % (i, x, y)
    return "lengths %d vs %d" % (len(a), len(b))


def _verify_ipv4(data, where, allow_udp_zero, quoted_l4, report):
    """Check the IPv4 packet in data (bytes from the IPv4 header on)."""
    p = IP(data)
    ihl = p.ihl * 4
    if p.version != 4 or ihl < 20 or len(data) < ihl:
        raise ChecksumError("%s: not an IPv4 header" % where)
    # IPv4 header: rebuild the header alone with the checksum deleted.
    h = IP(data[:ihl])
    h.remove_payload()
    want = h.chksum
    del h.chksum
    got = IP(raw(h)).chksum
    if got != want:
        raise ChecksumError("%s: IPv4 header checksum 0x%04x, scapy computes 0x%04x"
                            % (where, want, got))
    report.append("%s ipv4" % where)
    if _is_fragment(p):
        return p   # L4 checksums cover the whole datagram: not verifiable here
    l4len = p.len - ihl
    l4 = data[ihl:p.len]
    if len(l4) < l4len:
        raise ChecksumError("%s: IPv4 total length %d, only %d bytes present"
                            % (where, p.len, ihl + len(l4)))
    q = IP(data[:p.len])
    if p.proto == IPPROTO_UDP:
        if UDP not in q:
            raise ChecksumError("%s: truncated UDP" % where)
        if q[UDP].chksum == 0:
            if not allow_udp_zero:
                raise ChecksumError("%s: UDP checksum is zero (none)" % where)
            report.append("%s udp(zero)" % where)
        else:
            _rebuild_cmp(q, UDP, where, report)
    elif p.proto == IPPROTO_TCP:
        if TCP not in q:
            raise ChecksumError("%s: truncated TCP" % where)
        _rebuild_cmp(q, TCP, where, report)
    elif p.proto == IPPROTO_ICMP:
        if ICMP not in q:
            raise ChecksumError("%s: truncated ICMP" % where)
        _verify_icmp(q, data[ihl:p.len], where, allow_udp_zero, quoted_l4, report)
    return p


def _rebuild_cmp(q, cls, where, report):
    """q: IP packet; delete cls's checksum, rebuild, compare with the emitted bytes."""
    emitted = raw(q)
    want = q[cls].chksum
    r = q.copy()
    del r[cls].chksum
    rebuilt = raw(r)
    got = IP(rebuilt)[cls].chksum
    if got != want or rebuilt != emitted:
        raise ChecksumError("%s: %s checksum 0x%04x, scapy computes 0x%04x (%s)"
                            % (where, cls.__name__, want, got, _diff(emitted, rebuilt)))
    report.append("%s %s" % (where, cls.__name__.lower()))


def _verify_icmp(q, icmp_bytes, where, allow_udp_zero, quoted_l4, report):
    ic = ICMP(icmp_bytes)
    want = ic.chksum
    # rebuild the dissected message with the checksum deleted; scapy's ICMP
    # sums the whole message (header, quoted packet, data)
    r = ic.copy()
    del r.chksum
    rebuilt = raw(r)
    if rebuilt[4:] == icmp_bytes[4:]:
        got = int.from_bytes(rebuilt[2:4], "big")
    else:
        # scapy did not rebuild the message byte for byte (unusual fields):
        # let it sum the emitted bytes with the field cleared instead
        got = checksum(icmp_bytes[:2] + b"\0\0" + icmp_bytes[4:])
    if got != want:
        raise ChecksumError("%s: ICMP checksum 0x%04x, scapy computes 0x%04x (type %d code %d)"
                            % (where, want, got, ic.type, ic.code))
    report.append("%s icmp" % where)
    if ic.type in (3, 4, 5, 11, 12):    # an error: check the quoted IPv4 header
        quoted = icmp_bytes[8:]
        if len(quoted) < 20:
            raise ChecksumError("%s: ICMP error quotes %d bytes" % (where, len(quoted)))
        e = IPerror(quoted)
        ihl = e.ihl * 4
        h = IPerror(quoted[:ihl])
        h.remove_payload()
        want = h.chksum
        del h.chksum
        got = IPerror(raw(h)).chksum
        if got != want:
            raise ChecksumError("%s: quoted IPv4 header checksum 0x%04x, scapy computes 0x%04x"
                                % (where, want, got))
        report.append("%s quoted-ipv4" % where)
        if quoted_l4 and len(quoted) >= e.len and not _is_fragment(e):
            # the whole quoted datagram is present: its L4 checksum is checkable
            _verify_ipv4(quoted[:e.len], where + "/quoted", allow_udp_zero, False, report)


def ipv4_layers(pkt):
    """The IPv4 layers of a packet that are real packets (not ICMP quotes)."""
    out = []
    layer = pkt
    while layer is not None and not isinstance(layer, (Raw,)):
        if type(layer) is IP:
            out.append(layer)
        layer = layer.payload if layer.payload else None
    return out


def verify_checksums(pkt, allow_udp_zero=False, quoted_l4=False):
    """Verify every IPv4, TCP, UDP and ICMP checksum of pkt (a scapy packet,
    e.g. Ether/IPv6/IP/UDP or Ether/IP/ICMP/IPerror...), including the
    quoted IPv4 header of ICMP errors (and with quoted_l4 the quoted L4
    checksum when the whole datagram is quoted). Raises ChecksumError;
    returns the list of what was checked."""
    if isinstance(pkt, (bytes, bytearray)):
        pkt = Ether(bytes(pkt))
    layers = ipv4_layers(pkt)
    if not layers:
        raise ChecksumError("no IPv4 packet in %r" % pkt.summary())
    report = []
    for n, ip in enumerate(layers):
        _verify_ipv4(_layer_raw(ip), "ipv4[%d]" % n, allow_udp_zero, quoted_l4, report)
    return report


def ip6_eq(a, b):
    return ipaddress.IPv6Address(a) == ipaddress.IPv6Address(b)


# ECN codepoints (RFC 3168)
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3
# RFC 6040 s4.2: (inner ECN, outer ECN) -> inner ECN after decapsulation; None: drop
RFC6040 = {
    (NOT_ECT, NOT_ECT): NOT_ECT, (NOT_ECT, ECT0): NOT_ECT, (NOT_ECT, ECT1): NOT_ECT,
    (NOT_ECT, CE): None,
    (ECT0, NOT_ECT): ECT0, (ECT0, ECT0): ECT0, (ECT0, ECT1): ECT1, (ECT0, CE): CE,
    (ECT1, NOT_ECT): ECT1, (ECT1, ECT0): ECT1, (ECT1, ECT1): ECT1, (ECT1, CE): CE,
    (CE, NOT_ECT): CE, (CE, ECT0): CE, (CE, ECT1): CE, (CE, CE): CE,
}
