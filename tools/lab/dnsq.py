#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dnsq.py - a tiny DNS A-record query over UDP or TCP (the lab has no dig).

  dnsq.py NAME --server ADDR [--port 53] [--tcp] [--timeout 3]

Prints "NAME A ADDR" for each A record of the answer section and exits 0
if there is at least one; otherwise prints why (timeout, rcode, no A) and
exits 1. UDP retries once per second until the timeout.
"""
import argparse
import random
import socket
import struct
import sys
import time

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def query(name, qid):
    hdr = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD, one question
    q = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    return hdr + q + b"\0" + struct.pack("!HH", 1, 1)  # A, IN


def skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:  # compression pointer ends the name
            return off + 2
        off += 1 + n


def parse(msg, qid):
    """(rcode, [ipv4 strings]) of a reply, or raises ValueError."""
    rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        raise ValueError("not our reply")
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(msg, off)
        rtype, rclass, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        if rtype == 1 and rclass == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[off:off + 4]))
        off += rdlen
    return flags & 0xF, addrs


def ask_udp(name, server, port, timeout):
    qid = random.randrange(65536)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.sendto(query(name, qid), (server, port))
        s.settimeout(min(1.0, max(0.05, deadline - time.monotonic())))
        try:
            while True:
                msg, src = s.recvfrom(4096)
                if src[0] == server:
                    try:
                        return parse(msg, qid)
                    except (ValueError, struct.error, IndexError):
                        continue
        except socket.timeout:
            continue
    raise TimeoutError(f"no UDP answer from {server}:{port} in {timeout} s")


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def ask_tcp(name, server, port, timeout):
    qid = random.randrange(65536)
    q = query(name, qid)
    with socket.create_connection((server, port), timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(q)) + q)
        (n,) = struct.unpack("!H", recv_exact(s, 2))
        return parse(recv_exact(s, n), qid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name")
    ap.add_argument("--server", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--tcp", action="store_true")
    ap.add_argument("--timeout", type=float, default=3.0)
    a = ap.parse_args()
    proto = "TCP" if a.tcp else "UDP"
    try:
        rcode, addrs = (ask_tcp if a.tcp else ask_udp)(a.name, a.server, a.port, a.timeout)
    except (OSError, TimeoutError, ValueError, struct.error) as e:
        print(f"{a.name}: no answer over {proto} from {a.server}: {e}")
        return 1
    if rcode:
        print(f"{a.name}: {RCODES.get(rcode, rcode)} over {proto} from {a.server}")
        return 1
    if not addrs:
        print(f"{a.name}: no A record over {proto} from {a.server}")
        return 1
    for x in addrs:
        print(f"{a.name} A {x} ({proto})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
