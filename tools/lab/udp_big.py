#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Large UDP datagrams both ways (DNS with EDNS, QUIC, games): fragments.

  udp_big.py serve ADDR PORT [--lifetime 60]
  udp_big.py ask ADDR PORT [--send 4000] [--want 4000] [--count 5] [--gap 0.2]
                 [--timeout 3] [--between 100]
  udp_big.py await ECHO_ADDR ECHO_PORT --bind PORT --want N [--timeout 10]

serve answers each datagram with one of the size its first line asks
("WANT n"), filled with a pattern; ask sends COUNT datagrams of --send bytes
asking for --want bytes, waits for each answer, checks its size and
pattern, and prints one JSON line {"sent": n, "ok": n, "bad": [...]}; exit
0 only if every answer came back whole. Both ends send without DF
(IP_PMTUDISC_DONT), so their kernels fragment what exceeds the MTU. With
--between N, a datagram of N bytes goes out between two large ones (it
shifts a reordering pattern on the path by one packet each time).

await asks an udp_echo.py server "WHOAMI" from --bind PORT (which opens a
NAPT session and tells its mapped address: printed as the first line, as
the server says it), then waits for one datagram of N bytes of the pattern
(seed 0) on that port and prints {"len": n, "ok": bool}; exit 0 when ok.
"""
import argparse
import json
import socket
import sys
import time

IP_MTU_DISCOVER, IP_PMTUDISC_DONT = 10, 0


def pattern(n, seed):
    return bytes((seed + i * 13) & 0xff for i in range(n))


def sock(addr=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    if addr:
        s.bind(addr)
    return s


def serve(a):
    s = sock((a.addr, a.port))
    s.settimeout(0.5)
    end = time.monotonic() + a.lifetime
    print("listening", file=sys.stderr, flush=True)
    while time.monotonic() < end:
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        head = data[:32].split(b"\n")[0].split()
        if len(head) == 3 and head[0] == b"WANT":
            n, seed = int(head[1]), int(head[2])
            s.sendto(pattern(n, seed), peer)


def ask(a):
    s = sock()
    s.settimeout(a.timeout)
    ok, bad = 0, []
    for i in range(a.count):
        req = b"WANT %d %d\n" % (a.want, i)
        s.sendto(req + pattern(max(0, a.send - len(req)), 99), (a.addr, a.port))
        try:
            data = s.recv(65535)
        except socket.timeout:
            bad.append({"i": i, "error": "timeout"})
            continue
        if data == pattern(a.want, i):
            ok += 1
        else:
            bad.append({"i": i, "len": len(data)})
        if a.between:
            s.sendto(b"x" * a.between, (a.addr, a.port + 1))
        time.sleep(a.gap)
    print(json.dumps({"sent": a.count, "ok": ok, "bad": bad}))
    return 0 if ok == a.count else 1


def await_one(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.bind))
    s.settimeout(a.timeout)
    s.sendto(b"WHOAMI", (a.addr, a.port))
    print(s.recv(200).decode().strip(), flush=True)
    try:
        data = s.recv(65535)
    except socket.timeout:
        print(json.dumps({"len": 0, "ok": False}), flush=True)
        return 1
    ok = data == pattern(a.want, 0)
    print(json.dumps({"len": len(data), "ok": ok}), flush=True)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--lifetime", type=float, default=60)
    p = sub.add_parser("ask")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--send", type=int, default=4000)
    p.add_argument("--want", type=int, default=4000)
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--gap", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=3)
    p.add_argument("--between", type=int, default=0)
    p = sub.add_parser("await")
    p.add_argument("addr")
    p.add_argument("port", type=int)
    p.add_argument("--bind", type=int, required=True)
    p.add_argument("--want", type=int, required=True)
    p.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    if a.cmd == "await":
        return await_one(a)
    if a.cmd == "serve":
        serve(a)
        return 0
    return ask(a)


if __name__ == "__main__":
    sys.exit(main())
