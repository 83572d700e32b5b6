#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs test tiers inside a Debian kernel under qemu (docs/testing.md):
#   tools/vm/run-vm.sh BUILD_DIR [TIER...]      (default tiers: $VM_TIERS or "pkt lab")
# The guest sees the host's / read-only over 9p under a tmpfs overlay, so it
# runs this very checkout and build dir; nothing it writes reaches the host
# but its exit code, in a small second share.
# Environment:
#   KPKG        kernel: a Debian package name or a path to a .deb
#               (default: the newest linux-image-6.1.0-N-amd64-unsigned apt knows)
#   VM_TIERS    tiers to run (default "pkt lab")
#   VM_TIMEOUT  wall-clock seconds before qemu is killed (default 3600)
#   VM_CACHE    downloaded and unpacked kernels (default ~/.cache/mape-vm)
#   VM_ACCEL    tcg (default) or kvm
#   VM_MEM, VM_SMP   guest MiB and vCPUs (default 4096, 2)
#   VM_CMD      a bash command to run in the repo instead of the tiers (diagnosis)
#   VM_KEEP     1: keep the temporary dir (initramfs, params.sh, rc)
#   PYTEST_ADDOPTS, MAPECTL_DEBUG, MAPE_PKT_LOADER, LAB_XDP_MODES, LAB_BR, CI
#               and the variables VM_ENV names: passed to the guest
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
build=${1:-$repo/build}
[ $# -gt 0 ] && shift
tiers=${*:-${VM_TIERS:-pkt lab}}
cache=${VM_CACHE:-${HOME:-/root}/.cache/mape-vm}
timeout_s=${VM_TIMEOUT:-3600}
accel=${VM_ACCEL:-tcg}
mem=${VM_MEM:-4096}
smp=${VM_SMP:-2}
qemu=${QEMU:-qemu-system-x86_64}

say() { echo "run-vm: $*"; }
die() { echo "run-vm: $*" >&2; exit 1; }

[ -d "$build" ] || die "no build dir $build (make all first)"
build=$(cd "$build" && pwd -P)
# shellcheck disable=SC2054 # commas belong to qemu's option syntax
case "$accel" in
tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
kvm) accel_args=(-accel kvm -cpu host) ;;
*) die "VM_ACCEL must be tcg or kvm, not $accel" ;;
esac
for t in "$qemu" busybox dpkg-deb depmod cpio gzip timeout flock; do
	command -v "$t" >/dev/null || die "$t not found: run tools/install-deps.sh"
done
# The guest runs the host's binaries: it needs a static busybox for the
# initramfs and the host's kmod for modprobe.
busybox_bin=$(command -v busybox)
ldd "$busybox_bin" >/dev/null 2>&1 &&
	die "$busybox_bin is not static: install busybox-static"

mkdir -p "$cache/debs" "$cache/kernels"
apt_updated=0
apt_update() {
	[ "$apt_updated" = 1 ] && return 0
	apt_updated=1
	say "apt-get update" >&2
	apt-get update -qq >&2 || say "apt-get update failed" >&2
}

# The newest linux-image-6.1.0-N-amd64-unsigned apt knows (the generic
# flavour: -cloud- has no 9p, -rt- is another kernel).
newest_known() {
	apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
		grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -n 1
}

candidate() { # the version apt would download of package $1, or nothing
	apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Version:/ { print $2; exit }'
}

# Prints the path of the kernel .deb, downloading it into the cache once.
kernel_deb() {
	local name=${KPKG:-} ver f tmp
	case "$name" in
	*.deb)
		[ -f "$name" ] || die "KPKG=$name: no such file"
		echo "$(cd "$(dirname "$name")" && pwd -P)/$(basename "$name")"
		return ;;
	esac
	if [ -z "$name" ]; then
		name=$(newest_known)
		[ -n "$name" ] || { apt_update; name=$(newest_known); }
		if [ -z "$name" ]; then # offline: the newest one already downloaded
			f=$(ls "$cache"/debs/linux-image-6.1.0-*-amd64-unsigned_*.deb 2>/dev/null | sort -V | tail -n 1)
			[ -n "$f" ] || die "apt knows no linux-image-6.1.0-*-amd64-unsigned"
			echo "$f"
			return
		fi
	fi
	ver=$(candidate "$name")
	[ -n "$ver" ] || { apt_update; ver=$(candidate "$name"); }
	if [ -z "$ver" ]; then
		f=$(ls "$cache/debs/${name}"_*.deb 2>/dev/null | sort -V | tail -n 1)
		[ -n "$f" ] || die "apt knows no package $name"
		echo "$f"
		return
	fi
	f=$(ls "$cache/debs/${name}_${ver//:/%3a}"_*.deb 2>/dev/null | head -n 1)
	if [ -z "$f" ]; then
		say "downloading $name $ver" >&2
		tmp=$(mktemp -d "$cache/debs/dl.XXXXXX")
		(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$name=$ver" >&2) ||
			{ rm -rf "$tmp"; die "apt-get download $name=$ver failed"; }
		f=$(ls "$tmp"/*.deb)
		mv "$f" "$cache/debs/"
		rm -rf "$tmp"
		f="$cache/debs/$(basename "$f")"
	fi
	echo "$f"
}

# One run at a time downloads and unpacks; the others wait for it.
exec 9>"$cache/.lock"
flock 9
deb=$(kernel_deb)
pkg=$(dpkg-deb -f "$deb" Package)
pkgver=$(dpkg-deb -f "$deb" Version)

# Unpacked once per .deb, with the modules.dep/alias that the package's
# postinst would have made.
kdir="$cache/kernels/$(basename "$deb" .deb)"
if [ ! -f "$kdir/.unpacked" ]; then
	say "unpacking $(basename "$deb")"
	rm -rf "$kdir"
	mkdir -p "$kdir"
	dpkg-deb -x "$deb" "$kdir"
	kver=$(ls "$kdir/lib/modules" | head -n 1)
	depmod -b "$kdir" "$kver"
	touch "$kdir/.unpacked"
fi
kver=$(ls "$kdir/lib/modules" | head -n 1)
kmods="$kdir/lib/modules/$kver"
vmlinuz="$kdir/boot/vmlinuz-$kver"
[ -f "$vmlinuz" ] || die "no boot/vmlinuz-$kver in $deb"
exec 9>&-

res=$(mktemp -d "${TMPDIR:-/tmp}/mape-vm.XXXXXX")
cleanup() {
	if [ "${VM_KEEP:-0}" = 1 ]; then say "kept $res"; else rm -rf "$res"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The initramfs: static busybox, /init, and the modules a 9p root under an
# overlay needs, in the order modules.dep implies.
declare -A dep_of path_of done_mod
while IFS=: read -r m deps; do
	dep_of[$m]=$deps
	b=${m##*/}
	b=${b%%.ko*}
	path_of[${b//-/_}]=$m
done <"$kmods/modules.dep"
load_order=()
add_mod() { # add_mod PATH: its dependencies first, then itself
	local d
	[ -n "${done_mod[$1]:-}" ] && return
	done_mod[$1]=1
	for d in ${dep_of[$1]}; do add_mod "$d"; done
	load_order+=("$1")
}
for m in virtio_pci 9pnet_virtio 9p overlay; do
	if [ -n "${path_of[$m]:-}" ]; then
		add_mod "${path_of[$m]}"
	elif ! grep -qE "/${m//_/[-_]}\.ko" "$kmods/modules.builtin"; then
		die "$pkg has no module $m"
	fi
done
stage="$res/initramfs"
mkdir -p "$stage"/{bin,dev,proc,sys,mods}
cp "$busybox_bin" "$stage/bin/busybox"
cp "$here/init" "$stage/init"
chmod 0755 "$stage/init"
mknod "$stage/dev/console" c 5 1 2>/dev/null || true
for m in "${load_order[@]}"; do
	b=${m##*/}
	case "$b" in # busybox insmod takes plain .ko only
	*.ko.xz) xz -dc "$kmods/$m" >"$stage/mods/${b%.xz}"; b=${b%.xz} ;;
	*.ko.zst) zstd -qdc "$kmods/$m" >"$stage/mods/${b%.zst}"; b=${b%.zst} ;;
	*.ko.gz) gzip -dc "$kmods/$m" >"$stage/mods/${b%.gz}"; b=${b%.gz} ;;
	*) cp "$kmods/$m" "$stage/mods/$b" ;;
	esac
	echo "$b" >>"$stage/mods/order"
done
touch "$stage/mods/order"
(cd "$stage" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$res/initrd.gz"
rm -rf "$stage"

# What the guest needs to know, read by /init and guest.sh.
{
	printf '%s=%q\n' REPO "$repo" BUILD "$build" TIERS "$tiers" KVER "$kver" KMODDIR "$kmods"
	for v in VM_CMD PYTEST_ADDOPTS MAPECTL_DEBUG MAPE_PKT_LOADER LAB_XDP_MODES LAB_BR CI ${VM_ENV:-}; do
		[ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"
	done
} >"$res/params.sh"
mkdir -p "$res/io"
mv "$res/params.sh" "$res/io/"

say "kernel $pkg $pkgver ($kver), accel $accel, $smp vCPUs, $mem MiB, tiers: $tiers"
start=$(date +%s)
# No NIC at all; the serial console is stdout; stdin is never read.
set +e
# --foreground: qemu stays in the terminal's process group, so Ctrl-C stops it.
timeout --foreground -k 15 "$timeout_s" "$qemu" \
	-nodefaults -no-reboot -display none \
	"${accel_args[@]}" -smp "$smp" -m "$mem" \
	-kernel "$vmlinuz" -initrd "$res/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4 mitigations=off random.trust_cpu=on" \
	-serial stdio \
	-fsdev local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap \
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
	-fsdev local,id=vmio,path="$res/io",security_model=none \
	-device virtio-9p-pci,fsdev=vmio,mount_tag=vmio \
	-device virtio-rng-pci \
	</dev/null | sed -u 's/\r$//'
qrc=${PIPESTATUS[0]}
set -e
took=$(($(date +%s) - start))

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	say "qemu killed after VM_TIMEOUT=${timeout_s}s"
fi
if [ ! -s "$res/io/rc" ]; then
	say "the guest left no exit code (qemu exit $qrc) after ${took}s"
	exit 1
fi
rc=$(cat "$res/io/rc")
say "guest exit code $rc after ${took}s ($pkg $pkgver, $accel)"
exit "$rc"
