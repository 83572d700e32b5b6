# SPDX-License-Identifier: MIT
"""CLI tier: `mapectl calc` output (JSON and human) and every error path.
Runs without root. Expected values come from RFC 7597 Appendix A, the FD.io
CSIT vector and the synthetic v6plus vector of MAPE-FACTS.md."""
import json
import os
import subprocess

import pytest

MAPECTL = os.environ.get("MAPECTL", "build/mapectl")
RFC_RULE = ("ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,"
            "ealen=16,offset=6")
V6PLUS_PORTS = [[5472 + 4096 * i, 5487 + 4096 * i] for i in range(15)]


def run(*args):
    return subprocess.run([MAPECTL, *args], capture_output=True, text=True, timeout=20)


def calc_json(*args):
    p = run("calc", "--json", *args)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    return json.loads(p.stdout)


def test_v6plus_auto_vector():
    o = calc_json("--preset", "auto", "--prefix", "240b:10:1234:5600::/56")
    assert o == {
        "ipv4": "106.72.18.52", "psid": 0x56, "psid_len": 8, "psid_offset": 4,
        "ce_ipv6": "240b:10:1234:5600:6a:4812:3400:5600", "br": "2404:9200:225:100::64",
        "port_ranges": V6PLUS_PORTS, "port_count": 240, "iid": "draft03",
        "service": "v6plus",
        "rule": {"ipv6_prefix": "240b:10::/31", "ipv4_prefix": "106.72.0.0/15", "ea_len": 25},
        "fmrs": [],
    }


def test_named_preset_equals_auto():
    a = calc_json("--preset", "auto", "--prefix", "240b:10:1234:5600::/56")
    b = calc_json("--preset", "v6plus", "--prefix", "240b:10:1234:5600::/56")
    assert a == b


def test_rfc7597_example1():
    o = calc_json("--rule", RFC_RULE, "--prefix", "2001:db8:0012:3400::/56")
    assert o["ipv4"] == "192.0.2.18"
    assert o["psid"] == 0x34 and o["psid_len"] == 8 and o["psid_offset"] == 6
    assert o["ce_ipv6"] == "2001:db8:12:3400:0:c000:212:34"
    assert o["iid"] == "rfc7597" and o["service"] is None and o["br"] is None
    assert o["port_count"] == 252 and len(o["port_ranges"]) == 63
    assert o["port_ranges"][0] == [1232, 1235] and o["port_ranges"][-1] == [64720, 64723]


def test_csit_vector():
    o = calc_json("--rule", "ipv6prefix=2001:db8::,prefix6len=32,ipv4prefix=20.0.0.0,"
                  "prefix4len=8,ealen=32,offset=6,psidlen=8",
                  "--prefix", "2001:db8:a9c9:db34::/64")
    assert o["ipv4"] == "20.169.201.219" and o["psid"] == 0x34
    assert o["ce_ipv6"] == "2001:db8:a9c9:db34:0:14a9:c9db:34"


def test_iid_override_and_br():
    o = calc_json("--rule", RFC_RULE, "--prefix", "2001:db8:12:3400::/56", "--iid", "draft03",
                  "--br", "2001:db8:ffff::1")
    assert o["ce_ipv6"] == "2001:db8:12:3400:c0:2:1200:3400"
    assert o["iid"] == "draft03" and o["br"] == "2001:db8:ffff::1"


def test_rule_br_and_fmrs():
    o = calc_json("--rule", RFC_RULE + ",br=2001:db8:ffff::1",
                  "--rule", "ipv6prefix=2001:db8:100::,prefix6len=40,ipv4prefix=198.51.100.0,"
                  "prefix4len=24,ealen=16",
                  "--prefix", "2001:db8:12:3400::/56")
    assert o["br"] == "2001:db8:ffff::1"
    assert o["fmrs"] == [{"ipv6_prefix": "2001:db8:100::/40",
                          "ipv4_prefix": "198.51.100.0/24", "ea_len": 16}]


def test_ra_only_64():
    o = calc_json("--preset", "v6plus", "--prefix", "240b:10:1234:56ab::/64")
    assert o["ce_ipv6"] == "240b:10:1234:56ab:6a:4812:3400:5600"


def test_human_output():
    p = run("calc", "--preset", "auto", "--prefix", "240b:10:1234:5600::/56")
    assert p.returncode == 0
    out = p.stdout
    for want in ("106.72.18.52", "240b:10:1234:5600:6a:4812:3400:5600", "2404:9200:225:100::64",
                 "5472-5487", "62816-62831", "240", "v6plus", "draft03"):
        assert want in out


def test_help():
    p = run("calc", "--help")
    assert p.returncode == 0 and "--prefix" in p.stdout and "v6plus" in p.stdout
    p = run("--help")
    assert p.returncode == 0 and "calc" in p.stdout


@pytest.mark.parametrize("args,needle", [
    (["--preset", "auto", "--prefix", "2001:db8:12:3400::/56"], "2001:db8:12:3400::/56"),
    (["--preset", "ocn", "--prefix", "240b:10:1234:5600::/56"], "ocn"),
    (["--preset", "nosuch", "--prefix", "240b:10:1234:5600::/56"], "nosuch"),
    (["--preset", "auto", "--prefix", "240b:10:1234:5600::"], "240b:10:1234:5600::"),
    (["--preset", "auto", "--prefix", "240b:10:zz::/56"], "240b:10:zz::/56"),
    (["--preset", "auto", "--prefix", "240b:10:1234:5600::/129"], "/129"),
    (["--preset", "auto"], "--prefix"),
    (["--prefix", "240b:10:1234:5600::/56"], "rule source"),
    (["--preset", "auto", "--rule", RFC_RULE, "--prefix", "240b:10:1234:5600::/56"],
     "more than one"),
    (["--rule", RFC_RULE, "--prefix", "2001:db8:12::/48"], "/48"),
    (["--rule", RFC_RULE, "--prefix", "2001:db9:12:3400::/56"], "2001:db9:12:3400::/56"),
    (["--rule", RFC_RULE, "--prefix", "2001:db8:12:3400::/72"], "/72"),
    (["--rule", RFC_RULE.replace("ealen=16", "ealen=49"), "--prefix", "2001:db8::/56"], "49"),
    (["--rule", RFC_RULE + ",offset=12", "--prefix", "2001:db8::/56"], "twice"),
    (["--rule", RFC_RULE.replace("offset=6", "offset=12"), "--prefix", "2001:db8::/56"], "12"),
    (["--rule", RFC_RULE + ",foo=1", "--prefix", "2001:db8::/56"], "'foo'"),
    (["--rule", RFC_RULE, "--prefix", "2001:db8:12:3400::/56", "--iid", "weird"], "weird"),
    (["--rule", RFC_RULE, "--prefix", "2001:db8:12:3400::/56", "--br", "nope"], "nope"),
    (["--dhcpv6-hex", "005e00zz", "--prefix", "2001:db8:12:3400::/56"], "'z'"),
    (["--provisioning", "/nonexistent/x.json", "--prefix", "2001:db8:12:3400::/56"],
     "/nonexistent/x.json"),
])
def test_errors(args, needle):
    p = run("calc", *args)
    assert p.returncode != 0
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("mapectl: ")
    assert needle in lines[0], lines[0]


def test_unknown_command_and_extra_args():
    p = run("frobnicate")
    assert p.returncode != 0 and "frobnicate" in p.stderr
    p = run("calc", "--preset", "auto", "--prefix", "240b:10:1234:5600::/56", "extra")
    assert p.returncode != 0 and "extra" in p.stderr
