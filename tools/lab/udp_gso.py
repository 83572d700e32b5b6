#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""UDP with generic segmentation offload (UDP_SEGMENT, Linux 4.18+), as QUIC
stacks and user-space VPNs send it: each sendmsg hands the kernel one buffer
that leaves as several datagrams of --size bytes. iperf3 before 3.19 cannot
send this way, hence this tool.

  udp_gso.py send DST PORT [--size 1200] [--per-send 10] [--sends 20] [--gap 0.01]
  udp_gso.py recv ADDR PORT --expect N [--timeout 10]

recv prints one JSON line: {"datagrams": n, "bytes": b, "sizes": {size: count}}
and exits 0 once N datagrams came, 1 at the timeout.
"""
import argparse
import json
import socket
import sys
import time

SOL_UDP = 17
UDP_SEGMENT = 103


def send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(SOL_UDP, UDP_SEGMENT, a.size)
    buf = bytes(range(256)) * (a.size * a.per_send // 256 + 1)
    buf = buf[:a.size * a.per_send]
    for _ in range(a.sends):
        n = s.sendto(buf, (a.dst, a.port))
        if n != len(buf):
            sys.exit(f"udp_gso: sent {n} of {len(buf)} bytes")
        time.sleep(a.gap)
    print(json.dumps({"sent_datagrams": a.sends * a.per_send, "size": a.size}))


def recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.addr, a.port))
    s.settimeout(0.2)
    end = time.monotonic() + a.timeout
    n, total, sizes = 0, 0, {}
    print("listening", file=sys.stderr, flush=True)
    while n < a.expect and time.monotonic() < end:
        try:
            data = s.recv(65535)
        except socket.timeout:
            continue
        n += 1
        total += len(data)
        sizes[len(data)] = sizes.get(len(data), 0) + 1
    print(json.dumps({"datagrams": n, "bytes": total, "sizes": sizes}))
    return 0 if n >= a.expect else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--size", type=int, default=1200)
    p.add_argument("--per-send", type=int, default=10)
    p.add_argument("--sends", type=int, default=20)
    p.add_argument("--gap", type=float, default=0.01)
    p = sub.add_parser("recv")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    if a.cmd == "send":
        send(a)
        return 0
    return recv(a)


if __name__ == "__main__":
    sys.exit(main())
