#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""udp_echo.py - UDP echo server and client of the MAP-E lab.

  udp_echo.py serve ADDR:PORT [ADDR:PORT...] [--lifetime S]
        [--announce ADDR:PORT] [--punch ADDR:PORT] [--ready FILE]
  udp_echo.py ask ADDR:PORT [--bind ADDR:PORT] [--count N] [--timeout S]

serve echoes every datagram back to its sender; a datagram "WHOAMI" is
answered with the sender's address as the server saw it ("ip:port"), which
is how a host behind the NAPT learns its mapped address and port. With
--announce, the server first asks that echo server for its own mapped
address (over the socket of its first ADDR:PORT); --punch sends one
datagram to a peer from that socket, which opens the NAPT's
address-dependent filter for the peer's IPv4 address. Then it writes
"mapped IP:PORT" (or "ready") to --ready FILE, or stdout, and serves.
--lifetime bounds how long it runs (default: until killed).

ask sends COUNT numbered datagrams, one every 0.1 s, and waits for each
echo; it prints what came back and exits 0 only if every echo came back
unchanged. The payload "WHOAMI" (--whoami) prints the mapped address.
"""
import argparse
import os
import selectors
import socket
import sys
import time


def addr_port(s):
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"bad ADDR:PORT '{s}'")
    return host, int(port)


def whoami(sock, server, timeout):
    """Ask an echo server for our address as it sees it: (ip, port) or None."""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        sock.sendto(b"WHOAMI", server)
        try:
            data, src = sock.recvfrom(2048)
        except socket.timeout:
            continue
        if src == server and data.startswith(b"ADDR "):
            ip, port = data[5:].decode().rsplit(":", 1)
            return ip, int(port)
    return None


def serve(args):
    socks = []
    for host, port in args.listen:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        socks.append(s)
    out = open(args.ready, "w") if args.ready else sys.stdout
    mapped = None
    if args.announce:
        mapped = whoami(socks[0], args.announce, 5.0)
        if not mapped:
            print(f"no answer from {args.announce[0]}:{args.announce[1]}", file=out, flush=True)
            return 1
    if args.punch:
        socks[0].sendto(b"PUNCH", args.punch)
    if mapped:
        print(f"mapped {mapped[0]}:{mapped[1]}", file=out, flush=True)
    elif args.ready:
        print("ready", file=out, flush=True)
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    end = time.monotonic() + args.lifetime if args.lifetime else None
    while end is None or time.monotonic() < end:
        timeout = None if end is None else max(0.0, end - time.monotonic())
        for key, _ in sel.select(timeout):
            try:
                data, src = key.fileobj.recvfrom(65535)
            except BlockingIOError:
                continue
            if data == b"WHOAMI":
                data = f"ADDR {src[0]}:{src[1]}".encode()
            try:
                key.fileobj.sendto(data, src)
            except OSError:
                pass
    return 0


def ask(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if args.bind:
        s.bind(args.bind)
    if args.whoami:
        mapped = whoami(s, args.server, args.timeout)
        if not mapped:
            print(f"no WHOAMI answer from {args.server[0]}:{args.server[1]} "
                  f"in {args.timeout} s")
            return 1
        print(f"mapped {mapped[0]}:{mapped[1]}")
        return 0
    s.settimeout(0.1)
    got, sent = set(), 0
    deadline = time.monotonic() + args.timeout + args.count * 0.1
    while time.monotonic() < deadline and len(got) < args.count:
        if sent < args.count:
            s.sendto(f"echo {sent}".encode(), args.server)
            sent += 1
        try:
            data, src = s.recvfrom(2048)
        except socket.timeout:
            continue
        except ConnectionRefusedError:
            continue
        if src == args.server and data.startswith(b"echo "):
            got.add(data.decode())
    print(f"{len(got)}/{args.count} echoes from {args.server[0]}:{args.server[1]}")
    return 0 if len(got) == args.count else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve")
    sp.add_argument("listen", nargs="+", type=addr_port, metavar="ADDR:PORT")
    sp.add_argument("--lifetime", type=float, default=0, help="exit after S seconds")
    sp.add_argument("--announce", type=addr_port, metavar="ADDR:PORT")
    sp.add_argument("--punch", type=addr_port, metavar="ADDR:PORT")
    sp.add_argument("--ready", metavar="FILE")
    ap_ = sub.add_parser("ask")
    ap_.add_argument("server", type=addr_port, metavar="ADDR:PORT")
    ap_.add_argument("--bind", type=addr_port, metavar="ADDR:PORT")
    ap_.add_argument("--count", type=int, default=5)
    ap_.add_argument("--timeout", type=float, default=3.0)
    ap_.add_argument("--whoami", action="store_true")
    args = ap.parse_args()
    if args.cmd == "serve" and args.ready:
        try:
            os.unlink(args.ready)
        except FileNotFoundError:
            pass
    return serve(args) if args.cmd == "serve" else ask(args)


if __name__ == "__main__":
    sys.exit(main())
