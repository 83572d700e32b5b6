#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A small PCP client (RFC 6887) for the lab tests: MAP and ANNOUNCE
requests with the options the tests need, and a listener for the
gateway's multicast announcements. Prints one JSON object per answer.

  pcpc.py map SERVER PROTO PORT [--suggest PORT] [--suggest-ip IP]
          [--lifetime S] [--nonce HEX] [--prefer-failure] [--third-party IP]
          [--client IP] [--option CODE]
  pcpc.py announce SERVER
  pcpc.py listen [--timeout S] [--count N]
"""
import argparse
import ipaddress
import json
import os
import socket
import struct
import sys

PORT = 5351
CLIENT_PORT = 5350
RESULTS = ["SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE",
           "UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES",
           "UNSUPP_PROTOCOL", "USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH",
           "EXCESSIVE_REMOTE_PEERS"]


def mapped(ip):
    return ipaddress.IPv6Address("::ffff:" + ip).packed


def unmapped(b):
    a = ipaddress.IPv6Address(b)
    return str(a.ipv4_mapped) if a.ipv4_mapped else str(a)


def option(code, data=b""):
    pad = (-len(data)) % 4
    return struct.pack("!BBH", code, 0, len(data)) + data + b"\0" * pad


def parse(b):
    if len(b) < 24:
        return {"short": len(b)}
    ver, op, _, res, life, epoch = struct.unpack("!BBBBII", b[:12])
    d = {"version": ver, "opcode": op & 0x7f, "response": bool(op & 0x80),
         "result": RESULTS[res] if res < len(RESULTS) else res, "lifetime": life,
         "epoch": epoch, "length": len(b)}
    if d["opcode"] == 1 and len(b) >= 60:
        nonce, proto, iport, eport, eip = struct.unpack("!12sB3xHH16s", b[24:60])
        d.update(nonce=nonce.hex(), proto=proto, internal_port=iport, external_port=eport,
                 external_ip=unmapped(eip))
        opts, p = [], b[60:]
        while len(p) >= 4:
            code, _, ln = struct.unpack("!BBH", p[:4])
            opts.append(code)
            p = p[4 + ln + ((-ln) % 4):]
        d["options"] = opts
    return d


def local_addr(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((server, PORT))
    a = s.getsockname()[0]
    s.close()
    return a


def ask(server, msg, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.connect((server, PORT))
    s.send(msg)
    try:
        return parse(s.recv(2048))
    except socket.timeout:
        return {"timeout": True}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["map", "announce", "listen"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--suggest", type=int, default=0)
    ap.add_argument("--suggest-ip", default="0.0.0.0")
    ap.add_argument("--lifetime", type=int, default=120)
    ap.add_argument("--nonce", default=None)
    ap.add_argument("--prefer-failure", action="store_true")
    ap.add_argument("--third-party", default=None)
    ap.add_argument("--client", default=None, help="the client address field (default: ours)")
    ap.add_argument("--option", type=int, action="append", default=[])
    ap.add_argument("--timeout", type=float, default=3)
    ap.add_argument("--count", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "listen":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", CLIENT_PORT))
        s.settimeout(a.timeout)
        print(json.dumps({"listening": True}), flush=True)
        got = 0
        while got < a.count:
            try:
                b, src = s.recvfrom(2048)
            except socket.timeout:
                print(json.dumps({"timeout": True}), flush=True)
                return 1
            d = parse(b) if b[:1] == b"\x02" else {"natpmp": b.hex()}
            d["from"] = src[0]
            print(json.dumps(d), flush=True)
            got += 1
        return 0
    server = a.args[0]
    client = a.client or local_addr(server)
    if a.cmd == "announce":
        msg = struct.pack("!BBHI", 2, 0, 0, 0) + mapped(client)
        print(json.dumps(ask(server, msg, a.timeout)))
        return 0
    proto = {"tcp": 6, "udp": 17}.get(a.args[1].lower(), None)
    proto = int(a.args[1]) if proto is None else proto
    port = int(a.args[2])
    nonce = bytes.fromhex(a.nonce) if a.nonce else os.urandom(12)
    msg = struct.pack("!BBHI", 2, 1, 0, a.lifetime) + mapped(client)
    msg += nonce + struct.pack("!B3xHH", proto, port, a.suggest) + mapped(a.suggest_ip)
    if a.prefer_failure:
        msg += option(2)
    if a.third_party:
        msg += option(1, mapped(a.third_party))
    for code in a.option:
        msg += option(code, b"\0" * 20)
    d = ask(server, msg, a.timeout)
    d["sent_nonce"] = nonce.hex()
    print(json.dumps(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
