#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs every Debian package the build, the tests and the lab need.
# Idempotent: installs only what is missing; safe to run again.
set -eu
PKGS="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libjson-c-dev libinih-dev libsystemd-dev libmicrohttpd-dev libupnp-dev miniupnpc natpmpc pkg-config python3-pyelftools
      python3 python3-scapy python3-pytest iproute2 nftables tshark iperf3 dnsmasq-base gnuplot-nox
      curl traceroute iputils-ping procps ethtool netcat-openbsd conntrack"
# make test-vm: qemu, the initramfs (static busybox, cpio), modules.dep and
# modprobe for the guest's Debian kernel (kmod), its package (apt, dpkg).
VM_PKGS="qemu-system-x86 busybox-static cpio kmod"
# make deb / test-deb: debhelper, lintian
DEB_PKGS="debhelper dpkg-dev lintian"
# the DHCPv6 lab test: a server in the ISP namespace, a client on CE2
DHCP_PKGS="kea-dhcp6-server dhcpcd-base"
# make fuzz: clang 16 with libFuzzer and the sanitizer runtimes
FUZZ_PKGS="clang-16 libclang-rt-16-dev"
missing=""
for p in $PKGS $VM_PKGS $DEB_PKGS $DHCP_PKGS $FUZZ_PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] && SUDO="" || SUDO="sudo"
	echo "install-deps: installing$missing"
	$SUDO apt-get update -qq
	# tshark asks whether non-root users may capture; answer for it.
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		$SUDO debconf-set-selections
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps: all packages present"
