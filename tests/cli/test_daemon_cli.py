# SPDX-License-Identifier: MIT
"""CLI tier: the port-mapping options of `mapectl daemon` (checked before it
does anything) and their place: on the command line of the daemon or in
the configuration file, never on up's command line. The servers themselves
are tested in tests/lab/test_port_mapping.py."""
import os
import subprocess

import pytest

from test_show import one_error_line

MAPECTL = os.environ.get("MAPECTL", "build/mapectl")


def run(*args, env=None):
    return subprocess.run([MAPECTL, *args], capture_output=True, text=True, timeout=20,
                          env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("opt,value,want", [
    ("--port-mapping", "maybe", "bad --port-mapping 'maybe': want on or off"),
    ("--port-mapping-per-host", "0", "bad --port-mapping-per-host '0'"),
    ("--port-mapping-per-host", "x", "bad --port-mapping-per-host 'x'"),
    ("--port-mapping-max-lifetime", "0", "bad --port-mapping-max-lifetime '0'"),
    ("--port-mapping-max-lifetime", "604801", "bad --port-mapping-max-lifetime '604801'"),
])
def test_bad_port_mapping_options(tmp_path, opt, value, want):
    p = run("daemon", "--wan", "wan0", opt, value, env={"MAPE_RUN_DIR": str(tmp_path)})
    line = one_error_line(p)
    assert want in line, line
    assert not list(tmp_path.iterdir()), "the daemon left something behind"


def test_bad_option_in_the_configuration_file(tmp_path):
    conf = tmp_path / "mape.conf"
    conf.write_text("wan = wan0\nport-mapping = sometimes\n")
    line = one_error_line(run("daemon", "--config", str(conf),
                              env={"MAPE_RUN_DIR": str(tmp_path)}))
    assert "bad --port-mapping 'sometimes'" in line, line


@pytest.mark.parametrize("opt", ["--port-mapping", "--port-mapping-per-host",
                                 "--port-mapping-max-lifetime"])
def test_not_options_of_up(opt):
    line = one_error_line(run("up", "--wan", "wan0", opt, "1"))
    assert f"{opt} is an option of mapectl daemon, not of up" in line, line


def test_help_names_them():
    p = run("daemon", "--help")
    assert p.returncode == 0
    for opt in ("--port-mapping on|off", "--port-mapping-per-host N",
                "--port-mapping-max-lifetime"):
        assert opt in p.stdout, p.stdout
