#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The segment size a TCP transfer arrives with, from both ends' TCP_INFO.

  tcp_mss.py serve ADDR PORT [--timeout 20]
  tcp_mss.py send DST PORT [--bytes 2000000]

serve accepts one connection, reads it to the end and prints one JSON line
{"bytes": n, "rcv_mss": m, "max_seg": s}: rcv_mss is the kernel's estimate of
the sender's segment size from what arrived (the largest segment, or the
GSO size of a super-packet). send prints {"bytes": n, "snd_mss": m}, the
MSS its kernel segments with. A tunnel that shrinks the segments of a GSO
packet shows as rcv_mss < snd_mss.
"""
import argparse
import json
import socket
import struct
import sys

# struct tcp_info: 8 bytes of u8 fields, then u32 rto, ato, snd_mss, rcv_mss
TCPI_SND_MSS, TCPI_RCV_MSS = 16, 20


def info(s):
    ti = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("I", ti, TCPI_SND_MSS)[0], struct.unpack_from("I", ti, TCPI_RCV_MSS)[0]


def serve(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(1)
    ls.settimeout(a.timeout)
    print("listening", file=sys.stderr, flush=True)
    c, _ = ls.accept()
    c.settimeout(a.timeout)
    n, rcv_mss = 0, 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        n += len(d)
        rcv_mss = max(rcv_mss, info(c)[1])
    print(json.dumps({"bytes": n, "rcv_mss": rcv_mss}))


def send(a):
    s = socket.create_connection((a.dst, a.port), timeout=20)
    chunk = b"m" * 65536
    left = a.bytes
    while left > 0:
        s.sendall(chunk[:min(left, len(chunk))])
        left -= min(left, len(chunk))
    snd_mss = info(s)[0]
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    print(json.dumps({"bytes": a.bytes, "snd_mss": snd_mss}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--timeout", type=float, default=20)
    p = sub.add_parser("send")
    p.add_argument("dst")
    p.add_argument("port", type=int)
    p.add_argument("--bytes", type=int, default=2000000)
    a = ap.parse_args()
    (serve if a.cmd == "serve" else send)(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
