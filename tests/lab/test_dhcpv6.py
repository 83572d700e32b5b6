# SPDX-License-Identifier: MIT
"""The service follows the line's DHCPv6 (docs/operations.md, "Running it as
a service"): kea-dhcp6-server in the ISP namespace delegates a /56 to CE2
and sends RFC 7598 option 94 with the domain's rule and BR; dhcpcd on CE2
requests the prefix and runs the shipped hook (packaging/dhcpcd-hook),
which tells `mapectl daemon` (mapectl update); CE2 comes up from DHCPv6
alone (its configuration file has no prefix and no rule). Then the ISP
renumbers the delegation, and within the lease's timers CE2 follows: new
IPv4 and port set, the old sessions ended, traffic flowing again."""
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import LAB_SH, ROOT, _env
from test_lab import calc, out
from test_service import Notify, daemon_pid, start_daemon, wait_status, write_conf

T1, T2, PREFERRED, VALID = 4, 6, 10, 20     # the lease's timers, seconds


def mape_option(lab):
    """Option 94's payload for the lab's domain (its rule as an FMR, offset 4;
    the BR), built here from the RFC 7598 layout, checked with mapectl calc."""
    rule = bytes([0x01, 16, 24]) + bytes([192, 0, 2, 0]) + bytes([40]) + \
        bytes.fromhex("20010db800")
    portparams = (93).to_bytes(2, "big") + (4).to_bytes(2, "big") + bytes([4, 0, 0, 0])
    opt89 = (89).to_bytes(2, "big") + (len(rule) + len(portparams)).to_bytes(2, "big") + \
        rule + portparams
    br = ipaddress.IPv6Address(lab.BR_ADDR).packed
    opt90 = (90).to_bytes(2, "big") + (16).to_bytes(2, "big") + br
    return (opt89 + opt90).hex()


def kea_conf(lab, path, prefix, payload):
    net = prefix.split("/")[0]
    conf = {"Dhcp6": {
        "interfaces-config": {"interfaces": ["ce2"]},
        "server-id": {"type": "LLT", "persist": False},
        "lease-database": {"type": "memfile", "persist": False},
        "renew-timer": T1, "rebind-timer": T2, "preferred-lifetime": PREFERRED,
        "valid-lifetime": VALID,
        "option-data": [{"code": 94, "space": "dhcp6", "csv-format": False,
                         "always-send": True, "data": payload}],
        "subnet6": [{"subnet": "2001:db8:ffff:2::/64", "interface": "ce2", "id": 1,
                     "pd-pools": [{"prefix": net, "prefix-len": 56, "delegated-len": 56}]}],
        "loggers": [{"name": "kea-dhcp6", "severity": "INFO",
                     "output_options": [{"output": os.path.join(lab.RUN, "kea.log")}]}],
    }}
    with open(path, "w") as f:
        json.dump(conf, f, indent=1)


@pytest.fixture
def dhcp_line(lab):
    if not shutil.which("kea-dhcp6") or not shutil.which("dhcpcd"):
        pytest.fail("kea-dhcp6-server and dhcpcd-base are needed (tools/install-deps.sh)")
    procs = []
    lab.lab("gw-down", "ce2")
    try:
        yield lab, procs
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        lab.run("ce2", "pkill", "-f", "^[^ ]*mapectl daemon")
        lab.run("ce2", "pkill", "-f", "^dhcpcd ")
        lab.run("isp", "pkill", "-f", "^kea-dhcp6 ")
        end = time.monotonic() + 15
        while time.monotonic() < end and \
                lab.run("ce2", "pgrep", "-f", "^[^ ]*mapectl daemon").returncode == 0:
            time.sleep(0.2)
        for p in (lab.CE2_PREFIX, lab.CE2_ALT_PREFIX):     # dhcpcd's reject routes
            lab.run("ce2", "ip", "-6", "route", "del", "unreachable", p, "dev", "lo")
        r = lab.lab("gw-up", "ce2")
        assert r.returncode == 0, out(r)


def test_kea_dhcpcd_hook_daemon_renumbering(dhcp_line):
    lab, procs = dhcp_line
    old, new = calc(lab, lab.CE2_PREFIX), calc(lab, lab.CE2_ALT_PREFIX)
    payload = mape_option(lab)
    # the payload means the lab's domain (mapectl's own parser, RFC 7598 layout)
    r = lab.run("h1", lab.mapectl_bin, "calc", "--json", "--dhcpv6-hex", payload, "--prefix",
                lab.CE2_PREFIX, "--iid", lab.IID)
    assert r.returncode == 0 and json.loads(r.stdout)["ipv4"] == old["ipv4"], out(r)

    kea = os.path.join(lab.RUN, "kea6.json")
    kea_conf(lab, kea, lab.CE2_PREFIX, payload)
    env = _env()
    procs.append(subprocess.Popen(
        [LAB_SH, "exec", "isp", "env", f"KEA_PIDFILE_DIR={lab.RUN}",
         f"KEA_LOCKFILE_DIR={lab.RUN}", "kea-dhcp6", "-c", kea],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        stdin=subprocess.DEVNULL))

    # the service: no prefix, no rule source; DHCPv6 gives both
    notify = Notify(lab)
    conf = write_conf(lab, "service-dhcpv6.conf")
    d = start_daemon(lab, notify, "--config", conf)
    procs.append(d)
    assert notify.wait("READY=1", 30), notify.msgs
    assert notify.wait("waiting for a prefix", 5), notify.msgs

    hook_log = os.path.join(lab.RUN, "hook.log")
    hook = os.path.join(lab.RUN, "dhcpcd-hook.sh")
    with open(hook, "w") as f:
        f.write(f"""#!/bin/sh
# dhcpcd -c: the shipped hook, sourced as dhcpcd-run-hooks sources it
MAPECTL={lab.mapectl_bin}
MAPE_PIN_DIR={lab.pin('ce2')}
echo "reason=$reason" >> {hook_log}
. {os.path.join(ROOT, 'packaging', 'dhcpcd-hook')} >> {hook_log} 2>&1
""")
    os.chmod(hook, 0o755)
    dconf = os.path.join(lab.RUN, "dhcpcd.conf")
    with open(dconf, "w") as f:
        f.write("noipv4\nnoipv6rs\nipv6only\nduid\n")
        f.write(open(os.path.join(ROOT, "packaging", "dhcpcd-mape.conf")).read())
    procs.append(subprocess.Popen(
        [LAB_SH, "exec", "ce2", "dhcpcd", "-B", "-6", "-f", dconf, "-c", hook, "wan"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        stdin=subprocess.DEVNULL))

    def log():
        text = open(hook_log).read() if os.path.exists(hook_log) else "(no hook log)"
        return f"hook:\n{text}\nnotify: {notify.msgs}"

    st, ok = wait_status(lab, lambda s: (s["ipv4"], s["psid"]) == (old["ipv4"], old["psid"]),
                         20)
    assert ok, f"CE2 did not come up from DHCPv6: {st}\n{log()}"
    assert st["br"] == lab.BR_ADDR and st["fmrs"] == 1, st
    r = lab.run("h3", "curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{lab.WEB}/",
                timeout=15)
    assert r.returncode == 0, f"h3 -> WEB on the delegated prefix:\n{out(r)}\n{log()}"
    # a UDP flow that the renumbering must end
    lab.py("h3", "udp_echo.py", "ask", f"{lab.WEB}:{lab.ECHO_PORT}", "--count", "1",
           "--timeout", "2", timeout=10)

    # the ISP renumbers: the next renewal brings the new prefix
    kea_conf(lab, kea, lab.CE2_ALT_PREFIX, payload)
    lab.run("isp", "pkill", "-HUP", "-f", "^kea-dhcp6 ")
    st, ok = wait_status(lab, lambda s: (s["ipv4"], s["psid"]) == (new["ipv4"], new["psid"]),
                         VALID + 10)
    assert ok, f"CE2 did not follow the renumbering within the lease: {st}\n{log()}"
    assert st["ce_ipv6"] == new["ce_ipv6"], st
    sessions = lab.json_of("ce2", "sessions", "--pin-dir", lab.pin("ce2"))["sessions"]
    assert not [s for s in sessions if s.get("ending")], sessions
    r = lab.run("h3", "curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{lab.WEB}/",
                timeout=15)
    assert r.returncode == 0, f"h3 -> WEB after the renumbering:\n{out(r)}\n{log()}"
    assert "daemon: ok: up with prefix " + lab.CE2_ALT_PREFIX in open(hook_log).read(), log()
    os.kill(daemon_pid(lab), signal.SIGTERM)
    assert d.wait(20) == 0
    notify.close()
