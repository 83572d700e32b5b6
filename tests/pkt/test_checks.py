# SPDX-License-Identifier: MIT
"""The checksum verifier itself: it accepts what scapy builds and catches a
wrong checksum in every place it claims to check. (No BPF involved.)"""
import pytest
from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

import checks
from checks import ChecksumError, verify_checksums

E = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def good():
    return {
        "udp": Ether(**E) / IP(src="192.0.2.18", dst="198.51.100.7") /
        UDP(sport=1232, dport=53) / b"abc",
        "tcp": Ether(**E) / IP(src="192.0.2.18", dst="198.51.100.7") /
        TCP(sport=1232, dport=80, flags="S", options=[("MSS", 1460)]),
        "icmp": Ether(**E) / IP(src="192.0.2.18", dst="198.51.100.7") /
        ICMP(type=8, id=1232, seq=1) / b"ping",
        "icmp-err": Ether(**E) / IP(src="198.51.100.1", dst="192.168.1.10") /
        ICMP(type=3, code=4, nexthopmtu=1400) /
        IP(src="192.168.1.10", dst="198.51.100.7", ttl=1) / UDP(sport=40000, dport=53) / b"q",
        "mape": checks.mape_pkt(IP(src="198.51.100.7", dst="192.0.2.18") /
                                UDP(sport=53, dport=1232) / b"x"),
        "fragment": Ether(**E) / IP(src="192.0.2.18", dst="198.51.100.7", flags="MF") /
        UDP(sport=1232, dport=53) / (b"y" * 16),
    }


# byte offset (from the IPv4 header) of each checksum, per packet kind
CSUM_AT = {
    "udp": {"ip": 10, "l4": 20 + 6},
    "tcp": {"ip": 10, "l4": 20 + 16},
    "icmp": {"ip": 10, "l4": 20 + 2},
    "icmp-err": {"ip": 10, "l4": 20 + 2, "quoted-ip": 20 + 8 + 10},
    "mape": {"ip": 10, "l4": 20 + 6},
}


@pytest.mark.parametrize("kind", sorted(good()))
def test_good_packets_pass(kind):
    p = good()[kind]
    rep = verify_checksums(Ether(raw(p)))
    assert rep and any("ipv4" in r for r in rep)


@pytest.mark.parametrize("kind,field", [(k, f) for k in sorted(CSUM_AT) for f in CSUM_AT[k]])
def test_bad_checksum_caught(kind, field):
    p = good()[kind]
    b = bytearray(raw(p))
    ip_off = 14 + (40 if kind == "mape" else 0)
    b[ip_off + CSUM_AT[kind][field]] ^= 0x01
    with pytest.raises(ChecksumError):
        verify_checksums(Ether(bytes(b)))


def test_udp_zero_checksum():
    p = good()["udp"]
    p[UDP].chksum = 0
    with pytest.raises(ChecksumError):
        verify_checksums(Ether(raw(p)))
    verify_checksums(Ether(raw(p)), allow_udp_zero=True)


def test_quoted_l4_optional():
    """A wrong checksum in the quoted UDP header (the outer ICMP checksum right):
    only checked with quoted_l4, and only when the whole datagram is quoted."""
    inner = IP(src="192.168.1.10", dst="198.51.100.7", ttl=1) / UDP(sport=40000, dport=53) / b"q"
    inner[UDP].chksum = IP(raw(inner))[UDP].chksum ^ 0x0100
    p = Ether(**E) / IP(src="198.51.100.1", dst="192.168.1.10") / ICMP(type=3, code=3) / inner
    b = raw(p)      # scapy computes the ICMP checksum over the wrong quote
    verify_checksums(Ether(b))
    with pytest.raises(ChecksumError):
        verify_checksums(Ether(b), quoted_l4=True)
    # quoted datagram truncated to 8 bytes of UDP: not checkable, accepted
    q = Ether(**E) / IP(src="198.51.100.1", dst="192.168.1.10") / ICMP(type=11) / \
        raw(p[ICMP].payload)[:28]
    verify_checksums(Ether(raw(q)), quoted_l4=True)


def test_port_set_rfc_example():
    ps = checks.PORT_SET
    assert len(ps) == 252
    assert ps[:8] == [1232, 1233, 1234, 1235, 2256, 2257, 2258, 2259]
    assert ps[-4:] == [64720, 64721, 64722, 64723]
    assert all((p >> 2) & 0xff == 0x34 and p >= 1024 for p in ps)
    assert all(not checks.in_port_set(p) for p in checks.port_outside_set())
    # v6plus synthetic vector (MAPE-FACTS.md): PSID 0x56, offset 4, length 8
    v6p = checks.rfc_port_set(0x56, 4, 8)
    assert len(v6p) == 240 and v6p[:2] == [5472, 5473] and v6p[-1] == 62831
