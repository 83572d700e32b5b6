#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make soak SOAK_MIN=10: a lab of its own, tools/soak.py for SOAK_MIN
# minutes in it, then the lab down (whatever happened). Root.
#   tools/soak.sh MINUTES
set -u
cd "$(dirname "$0")/.."
export LAB_ID=${LAB_ID:-msoak$$}
log=$(mktemp)
trap 'tools/lab/lab.sh down >/dev/null 2>&1; rm -f "$log"' EXIT
if ! tools/lab/lab.sh up --xdp-mode "${SOAK_XDP_MODE:-native}" >"$log" 2>&1; then
	echo "soak: the lab did not come up:"
	tail -20 "$log"
	exit 1
fi
/usr/bin/python3 tools/soak.py --minutes "${1:-10}" --lab-id "$LAB_ID"
