#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""conn_burst.py - many concurrent TCP connections through the NAPT.

  conn_burst.py run HOST [--ports A-B] [-n 300] [--hold 2] [--timeout 10] [--json]
  conn_burst.py serve [--bind ADDR] [--ports A-B]

run opens N TCP connections at once to HOST, spread round-robin over the
ports A-B, keeps them all open for --hold seconds, then sends one line on
each and reads the echo back. It reports how many connections were
opened and how many echoed, and exits 0 only if all N did. Every
connect and read has a timeout, and the whole run stops after
--timeout + --hold seconds at most.

Why several ports: a NAPT of 240 ports can hold at most 240 connections to
ONE remote address:port (the external 5-tuple must stay unique); with
port overlapping (RFC 7857 s3.2) the same external port serves different
remote endpoints, so 300 connections to 8 ports of one server fit.

serve is the other end: a line echo server on every port of A-B (backlog
1024), each connection kept until the client closes it.
"""
import argparse
import asyncio
import json
import sys
import time


def port_range(s):
    a, _, b = s.partition("-")
    lo, hi = int(a), int(b or a)
    if not 0 < lo <= hi < 65536:
        raise argparse.ArgumentTypeError(f"bad port range '{s}'")
    return list(range(lo, hi + 1))


class Barrier:
    """Released when every connection has finished its connect attempt."""
    def __init__(self, n):
        self.left, self.done = n, asyncio.Event()

    def arrive(self):
        self.left -= 1
        if self.left <= 0:
            self.done.set()


async def one(host, port, i, opened, barrier, hold, timeout):
    """One connection: 'ok' or an error string."""
    writer = None
    connected = False
    try:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            connected = True
        finally:
            barrier.arrive()
        opened.append(i)
        # all connections open at the same time, for `hold` seconds
        await asyncio.wait_for(barrier.done.wait(), timeout + 1)
        await asyncio.sleep(hold)
        line = f"hello {i}\n".encode()
        writer.write(line)
        await asyncio.wait_for(writer.drain(), timeout)
        reply = await asyncio.wait_for(reader.readline(), timeout)
        if reply != line:
            return f"bad echo {reply[:40]!r}"
        return "ok"
    except asyncio.TimeoutError:
        return "echo timeout" if connected else "connect timeout"
    except OSError as e:
        return ("" if connected else "connect: ") + type(e).__name__ + \
            (f" errno {e.errno}" if e.errno else "")
    finally:
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (OSError, asyncio.TimeoutError):
                pass


async def run(args):
    t0 = time.monotonic()
    opened = []
    barrier = Barrier(args.n)
    tasks = [one(args.host, args.ports[i % len(args.ports)], i, opened, barrier, args.hold,
                 args.timeout) for i in range(args.n)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*tasks),
                                         args.timeout * 2 + args.hold + 5)
    except asyncio.TimeoutError:
        results = ["overall timeout"] * args.n
    errors = {}
    for r in results:
        if r != "ok":
            errors[r] = errors.get(r, 0) + 1
    ok = results.count("ok")
    return {"host": args.host, "ports": f"{args.ports[0]}-{args.ports[-1]}", "wanted": args.n,
            "opened": len(opened), "echoed": ok, "errors": errors,
            "seconds": round(time.monotonic() - t0, 2)}


async def serve(args):
    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write(line)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, args.bind, p, backlog=1024, reuse_address=True)
               for p in args.ports]
    print(f"listening on {args.bind} ports {args.ports[0]}-{args.ports[-1]}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("host")
    r.add_argument("--ports", type=port_range, default=port_range("9000-9007"))
    r.add_argument("-n", type=int, default=300)
    r.add_argument("--hold", type=float, default=2.0)
    r.add_argument("--timeout", type=float, default=10.0)
    r.add_argument("--json", action="store_true")
    s = sub.add_parser("serve")
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--ports", type=port_range, default=port_range("9000-9007"))
    args = ap.parse_args()
    if args.cmd == "serve":
        asyncio.run(serve(args))
        return 0
    res = asyncio.run(run(args))
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['echoed']}/{res['wanted']} connections to {res['host']} ports "
              f"{res['ports']} held and echoed ({res['opened']} opened) in {res['seconds']} s")
        for err, n in sorted(res["errors"].items(), key=lambda kv: -kv[1]):
            print(f"  {n} failed: {err}")
    return 0 if res["echoed"] == res["wanted"] else 1


if __name__ == "__main__":
    sys.exit(main())
