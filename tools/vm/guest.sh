#!/bin/bash
# SPDX-License-Identifier: MIT
# PID 1 of the test VM after switch_root (tools/vm/init): the host's / seen
# read-only through 9p under a tmpfs overlay. Mounts what a booted system
# has, makes the booted kernel's modules loadable, runs tests/run.sh and
# leaves its exit code in /mnt/vmio/rc for tools/vm/run-vm.sh, then powers
# the VM off. params.sh (written by the host) sets REPO, BUILD, TIERS, KVER,
# KMODDIR and the test environment to pass on.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
VMIO=/mnt/vmio

poweroff_now() {
	sync
	dmesg -n 1 2>/dev/null
	echo o >/proc/sysrq-trigger
	sleep 60
}

finish() { # finish RC: hand RC to the host and stop
	echo "$1" >"$VMIO/rc.tmp" && mv "$VMIO/rc.tmp" "$VMIO/rc"
	poweroff_now
}

say() { echo "vm: $*"; }

# shellcheck source=/dev/null
. "$VMIO/params.sh" || { say "no params.sh"; poweroff_now; }

mnt() { # mnt TYPE DIR [OPTIONS]: mount unless DIR already is a mount point
	mkdir -p "$2"
	mountpoint -q "$2" && return 0
	mount -t "$1" ${3:+-o "$3"} "$1" "$2" || say "cannot mount $1 on $2"
}
mnt proc /proc
mnt sysfs /sys
mnt devtmpfs /dev
mnt devpts /dev/pts gid=5,mode=620,ptmxmode=666
mnt tmpfs /dev/shm mode=1777
mnt tmpfs /run mode=0755
# A tmpfs /tmp hides the host's files there, unless the repo or the build
# dir live under /tmp: then the overlay (itself on tmpfs) stays.
case "$REPO/ $BUILD/" in
*/tmp/*) ;;
*) mnt tmpfs /tmp mode=1777 ;;
esac
mnt bpf /sys/fs/bpf mode=0700
mnt cgroup2 /sys/fs/cgroup
mnt tracefs /sys/kernel/tracing
mnt debugfs /sys/kernel/debug
ln -sf /proc/self/fd /dev/fd 2>/dev/null
ln -sf /proc/self/fd/0 /dev/stdin 2>/dev/null
ln -sf /proc/self/fd/1 /dev/stdout 2>/dev/null
ln -sf /proc/self/fd/2 /dev/stderr 2>/dev/null
hostname mape-vm
dmesg -n 4 2>/dev/null

# The booted kernel's modules at the usual place (modprobe, and the kernel's
# own requests for veth, nft_* ... through /sbin/modprobe).
mkdir -p "/lib/modules/$KVER"
mount --bind "$KMODDIR" "/lib/modules/$KVER" || say "cannot bind $KMODDIR"
echo /sbin/modprobe >/proc/sys/kernel/modprobe
missing=""
for m in virtio_rng veth dummy ip6_tunnel sch_ingress cls_bpf nf_tables nf_conntrack \
	nf_nat nft_ct nft_chain_nat nft_nat nft_masq nft_reject_inet nft_fib_inet; do
	modprobe -q "$m" || missing="$missing $m"
done
[ -z "$missing" ] || say "modules that did not load:$missing"

ip link set lo up
ulimit -l unlimited
read -r up _ </proc/uptime
say "booted $(uname -r) in ${up}s"

cd "$REPO" || finish 2
if [ -n "${VM_CMD:-}" ]; then # a command of one's own instead of the tiers
	say "running: $VM_CMD"
	bash -c "$VM_CMD" </dev/null
	rc=$?
else
	# shellcheck disable=SC2086 # TIERS is a list of words
	tests/run.sh "$BUILD" $TIERS </dev/null
	rc=$?
fi
read -r up _ </proc/uptime
say "exit code $rc at ${up}s of uptime"
finish "$rc"
