#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""gen-man.py MAPECTL > mapectl.8 - the man page, generated from the
program's own documentation: `mapectl --help` for the command list and
`mapectl COMMAND --help` for each command (what docs/cli.md details), so
that it cannot fall behind the options."""
import re
import subprocess
import sys


def help_of(mapectl, *args):
    r = subprocess.run([mapectl, *args, "--help"], capture_output=True, text=True, timeout=10)
    return (r.stdout or r.stderr).rstrip("\n")


def esc(line):
    """A line as roff text: backslashes, and a leading dot or quote."""
    line = line.replace("\\", "\\e").replace("-", "\\-")
    if line[:1] in (".", "'"):
        line = "\\&" + line
    return line


def verbatim(text):
    return ".nf\n" + "\n".join(esc(line) for line in text.splitlines()) + "\n.fi\n"


def main():
    mapectl = sys.argv[1]
    version = subprocess.run([mapectl, "--version"], capture_output=True,
                             text=True).stdout.split()[-1]
    top = help_of(mapectl)
    cmds = re.findall(r"^  (\w+)\s+(.*)$", top, re.M)
    out = [f'.TH MAPECTL 8 "" "mapectl {version}" "System Administration"',
           ".SH NAME", "mapectl \\- MAP\\-E (RFC 7597) gateway for Linux routers, in eBPF/XDP",
           ".SH SYNOPSIS", ".B mapectl", ".I COMMAND", "[\\fIOPTIONS\\fR]", ".br",
           ".B mapectl --version",
           ".SH DESCRIPTION",
           "mapectl derives the MAP parameters of a CE from the delegated IPv6 prefix and a "
           "rule, loads and attaches the XDP/TC data path that encapsulates, decapsulates and "
           "translates IPv4 (NAPT44 into the line's port set), publishes LAN servers on ports "
           "of the set, and shows the state of a running instance. The service "
           "(\\fBmapectl daemon\\fR, unit \\fBmape.service\\fR) brings it up from "
           "\\fI/etc/mape/mape.conf\\fR and follows prefix changes.",
           ".SH COMMANDS"]
    for name, what in cmds:
        out += [".TP", f".B {name}", esc(what)]
    for name, _ in cmds:
        out += [f".SH {name.upper()}", verbatim(help_of(mapectl, name)).rstrip("\n")]
    out += [".SH FILES",
            ".TP", ".I /etc/mape/mape.conf",
            "the configuration of the service: the options of \\fBup\\fR without their "
            "dashes, and a [forwards] section",
            ".TP", ".I /var/lib/mape",
            "forwards, replaced routes and the last options of \\fBup\\fR, per instance",
            ".TP", ".I /sys/fs/bpf/mape",
            "the pinned maps and programs of the default instance",
            ".SH EXIT STATUS", "0 on success, 1 on an error (one line on stderr), "
            "2 on a usage error.",
            ".SH SEE ALSO", "\\fBip\\fR(8), \\fBnft\\fR(8), \\fBbpftool\\fR(8); the project's "
            "docs/cli.md and docs/operations.md."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
