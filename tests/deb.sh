#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/deb.sh PKG.deb - the Debian package: lintian finds nothing, it
# installs, the installed mapectl runs (calc from /usr/sbin), the unit
# passes systemd-analyze verify, the configuration is a conffile, and it
# removes cleanly. Root (dpkg -i); the package is purged afterwards.
set -u
deb=$1
fail=0
pass=0
check() { # check NAME CMD...
	if "${@:2}"; then
		echo "ok   $1"
		pass=$((pass + 1))
	else
		echo "FAIL $1"
		fail=$((fail + 1))
	fi
}
if [ "$(id -u)" -ne 0 ]; then
	echo "deb: skipped (needs root to install)"
	exit 0
fi
if dpkg-query -W -f='${Status}' mapectl 2>/dev/null | grep -q 'install ok installed'; then
	echo "deb: mapectl is installed on this machine already: not touching it"
	exit 1
fi
trap 'dpkg --purge mapectl >/dev/null 2>&1 || true' EXIT
lint=$(lintian --fail-on error,warning "$deb" 2>&1)
check "lintian: no errors or warnings" test -z "$(echo "$lint" | grep -E '^[EW]:')"
[ -n "$lint" ] && echo "$lint" | sed 's/^/  lintian: /'
check "dpkg -i" dpkg -i "$deb"
out=$(/usr/sbin/mapectl calc --preset v6plus --prefix 240b:10:1234:5600::/56 2>&1)
check "installed mapectl calc" grep -q "^IPv4: *106.72" <<<"$out"
check "mapectl --version" /usr/sbin/mapectl --version
check "systemd-analyze verify mape.service" systemd-analyze verify /lib/systemd/system/mape.service
check "conffile /etc/mape/mape.conf" grep -q '^ */etc/mape/mape.conf' <(dpkg-query -W -f='${Conffiles}\n' mapectl)
check "man page" test -e /usr/share/man/man8/mapectl.8.gz
check "service not enabled by the install" test "$(systemctl is-enabled mape.service 2>/dev/null || true)" != enabled
check "dpkg --purge" dpkg --purge mapectl
check "nothing left in /usr/sbin" test ! -e /usr/sbin/mapectl
trap - EXIT
echo "deb: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
