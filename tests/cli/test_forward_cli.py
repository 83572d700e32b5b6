# SPDX-License-Identifier: MIT
"""CLI tier: `mapectl forward` without a running instance: --help, option
and argument errors (one line, non-zero exit), and the state file (listed,
deleted from, refused when damaged) under a private MAPE_STATE_DIR. Adding
needs a running instance (the port set): the pkt and lab tiers do that."""
import json
import os
import subprocess
import uuid

import pytest

MAPECTL = os.environ.get("MAPECTL", "build/mapectl")


@pytest.fixture
def state(tmp_path):
    """A private state directory and a pin dir that holds no instance."""
    pin = f"/sys/fs/bpf/mapetest-cli-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, MAPE_STATE_DIR=str(tmp_path))
    name = "forwards-" + pin[len("/sys/fs/bpf/"):] + ".json"
    return env, pin, tmp_path / name


def run(env, *args):
    return subprocess.run([MAPECTL, "forward", *args], capture_output=True, text=True,
                          timeout=20, env=env)


def one_error_line(p):
    assert p.returncode != 0 and p.stdout == "", p
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mapectl: "), p.stderr
    return lines[0]


def test_help():
    p = subprocess.run([MAPECTL, "forward", "--help"], capture_output=True, text=True)
    assert p.returncode == 0
    for w in ("forward add PROTO EXT[-EXT_LAST] HOST[:PORT]", "--from CIDR", "forward del",
              "forward list", "--json", "--pin-dir"):
        assert w in p.stdout
    p = subprocess.run([MAPECTL, "--help"], capture_output=True, text=True)
    assert "forward" in p.stdout


@pytest.mark.parametrize("args,word", [
    ([], "missing add, del or list"),
    (["frob"], "'frob'"),
    (["list", "extra"], "'extra'"),
    (["list", "--from", "1.2.3.4"], "--from is an option of forward add only"),
    (["del", "tcp", "5000", "--json"], "--json is an option of forward list only"),
    (["list", "--bogus"], "'--bogus'"),
])
def test_usage_errors(state, args, word):
    env, pin, _ = state
    assert word in one_error_line(run(env, *args, "--pin-dir", pin))


def test_list_without_forwards_is_an_empty_list(state):
    env, pin, _ = state
    p = run(env, "list", "--json", "--pin-dir", pin)
    assert p.returncode == 0 and json.loads(p.stdout) == []
    p = run(env, "--pin-dir", pin, "list")      # options before the action too
    assert p.returncode == 0 and "no forwards" in p.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="adding needs root")
def test_add_needs_a_running_instance(state):
    env, pin, path = state
    line = one_error_line(run(env, "add", "tcp", "5000", "192.168.1.10", "--pin-dir", pin))
    assert "not up" in line
    assert not path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="deleting needs root")
def test_state_file_listed_and_deleted_without_instance(state):
    env, pin, path = state
    rules = [{"proto": "both", "ext_port": 4384, "ext_last": 4386, "host": "192.168.1.10",
              "port": 8080, "from": ["203.0.113.0/24"], "comment": "web", "enabled": False}]
    path.write_text(json.dumps(rules))
    got = json.loads(run(env, "list", "--json", "--pin-dir", pin).stdout)
    assert got == [dict(rules[0], port_last=8082, sessions=0, other_sessions=0, origin="cli")]
    p = run(env, "list", "--pin-dir", pin)
    assert "disabled" in p.stdout and "203.0.113.0/24" in p.stdout
    # deleting one protocol of a "both" forward keeps the other
    p = run(env, "del", "udp", "4385", "--pin-dir", pin)
    assert p.returncode == 0 and "forward udp 4384-4386" in p.stdout, p.stderr
    assert [f["proto"] for f in json.loads(path.read_text())] == ["tcp"]
    line = one_error_line(run(env, "del", "udp", "4384", "--pin-dir", pin))
    assert "no forward of udp port 4384" in line
    assert run(env, "del", "both", "4384", "--pin-dir", pin).returncode == 0
    assert json.loads(path.read_text()) == []


def test_damaged_state_file_is_refused(state):
    env, pin, path = state
    path.write_text('[{"proto": "tcp", "ext_port": 4384, "ext_last": 4384, "host": "x", '
                    '"port": 1}]')
    line = one_error_line(run(env, "list", "--pin-dir", pin))
    assert str(path) in line and "forward 1" in line
