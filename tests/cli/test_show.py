# SPDX-License-Identifier: MIT
"""CLI tier: `mapectl status`, `stats` and `sessions` without a running
instance: --help, option errors, and the "not up" error of a --pin-dir that
holds no instance. The views of a live instance are checked by the lab tier."""
import os
import subprocess
import uuid

import pytest

MAPECTL = os.environ.get("MAPECTL", "build/mapectl")
CMDS = ["status", "stats", "sessions"]
BPFFS = "/sys/fs/bpf"


def run(*args):
    return subprocess.run([MAPECTL, *args], capture_output=True, text=True, timeout=20)


def bpffs_mounted():
    try:
        with open("/proc/mounts") as f:
            return any(line.split()[1:3] == [BPFFS, "bpf"] for line in f)
    except OSError:
        return False


def one_error_line(p):
    """A failed command: non-zero exit, nothing on stdout, one mapectl: line."""
    assert p.returncode != 0
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("mapectl: "), p.stderr
    return lines[0]


@pytest.fixture
def missing_pin_dir():
    """A pin directory on the bpffs that does not exist."""
    if not bpffs_mounted() and os.geteuid() != 0:
        pytest.skip("no bpffs at /sys/fs/bpf and not root (mapectl would mount one)")
    return f"{BPFFS}/mape-test-missing-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("cmd", CMDS)
def test_help(cmd):
    p = run(cmd, "--help")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout.startswith(f"usage: mapectl {cmd} ")
    assert "--pin-dir DIR" in p.stdout and "--json" in p.stdout
    assert "/sys/fs/bpf/mape" in p.stdout


def test_help_command_specific_options():
    assert "--all" in run("stats", "--help").stdout
    assert "--proto" in run("sessions", "--help").stdout


@pytest.mark.parametrize("cmd", CMDS)
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_not_up(cmd, json_flag, missing_pin_dir):
    line = one_error_line(run(cmd, "--pin-dir", missing_pin_dir, *json_flag))
    assert "not up" in line
    assert missing_pin_dir in line


@pytest.mark.parametrize("cmd", CMDS)
def test_empty_pin_dir_is_not_up(cmd):
    """An existing bpffs directory without the instance's maps."""
    if os.geteuid() != 0 or not bpffs_mounted():
        pytest.skip("needs root and a bpffs at /sys/fs/bpf")
    d = f"{BPFFS}/mape-test-empty-{uuid.uuid4().hex[:8]}"
    os.mkdir(d)
    try:
        line = one_error_line(run(cmd, "--pin-dir", d))
    finally:
        os.rmdir(d)
    assert "not up" in line and "mape_cfg" in line


@pytest.mark.parametrize("cmd", CMDS)
def test_missing_dir_off_bpffs(cmd, tmp_path):
    """Wherever the directory is, a missing instance is one error line."""
    one_error_line(run(cmd, "--pin-dir", str(tmp_path / "nothing-here")))


@pytest.mark.parametrize("cmd", CMDS)
def test_unknown_option_is_usage_error(cmd):
    p = run(cmd, "--bogus")
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mapectl: ") and "--bogus" in lines[0]


@pytest.mark.parametrize("cmd", CMDS)
def test_unexpected_argument(cmd):
    line = one_error_line(run(cmd, "extra"))
    assert "extra" in line


def test_sessions_bad_proto():
    line = one_error_line(run("sessions", "--proto", "sctp"))
    assert "sctp" in line


def test_all_is_stats_only():
    assert run("status", "--all").returncode == 2
    assert run("sessions", "--all").returncode == 2
