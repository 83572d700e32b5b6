#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# lab.sh - the MAP-E lab: two CEs, an IPv6 ISP router, a BR and an IPv4
# "internet", each a network namespace, joined by veth pairs (no bridge, no
# tunnel device: the CI kernel has neither ip6tnl, nor sit, nor dummy).
# See docs/lab.md for the topology and the addresses.
#
#   lab.sh [--id ID] up [--xdp-mode native|skb] [--no-br | --br-standin] [--keep]
#   lab.sh [--id ID] down
#   lab.sh [--id ID] exec NODE CMD...      run CMD in NODE (h1 h2 h3 ce1 ce2 isp br inet)
#   lab.sh [--id ID] status
#   lab.sh [--id ID] gw-up NODE            run mapectl up (ce1, ce2) / br up (br) again,
#   lab.sh [--id ID] gw-down NODE          or down, exactly as `up` does
#   lab.sh [--id ID] counters              the ISP's counters of tunnel packets
#   lab.sh [--id ID] info                  addresses and names as KEY=VALUE lines
#
# The lab id (--id, else $LAB_ID, else "mlab") prefixes the namespace names
# (mlab-h1 ...), the pin directories (/sys/fs/bpf/mlab-ce1 ...) and the run
# directory (/tmp/mlab: server pid files and logs), so several labs coexist.
# `up` builds nothing: it runs $MAPECTL (default build/mapectl of this tree).
# A failed `up` tears down what it made, unless --keep. `down` is idempotent
# and also cleans up after a failed or partial `up`. --no-br leaves the BR
# out; --br-standin runs tools/lab/br_standin.py there instead of mapectl br
# (a slow userspace stand-in to exercise the CEs without the real BR).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3

ID=${LAB_ID:-mlab}
if [ "${1:-}" = "--id" ]; then
	ID=${2:?--id needs a value}
	shift 2
fi
case $ID in
*[!a-z0-9]* | "") echo "lab: bad lab id '$ID': want [a-z0-9], at most 12 characters" >&2; exit 2 ;;
esac
if [ ${#ID} -gt 12 ]; then
	echo "lab: bad lab id '$ID': want [a-z0-9], at most 12 characters" >&2
	exit 2
fi

MAPECTL=${MAPECTL:-$ROOT/build/mapectl}
case $MAPECTL in /*) ;; *) MAPECTL=$PWD/$MAPECTL ;; esac
RUN=/tmp/$ID
NODES="h1 h2 h3 ce1 ce2 isp br inet"
GWS="ce1 ce2 br"

# ---- the MAP domain (v6plus-shaped, scaled into the documentation ranges) ----
# Rule 2001:db8::/40 -> 192.0.2.0/24, EA 16: 8 IPv4 suffix bits + PSID length
# 8; offset 4: 15 blocks of 16 = 240 ports per CE, end-user prefixes /56.
RULE=ipv6prefix=2001:db8::,prefix6len=40,ipv4prefix=192.0.2.0,prefix4len=24,ealen=16,offset=4
BR_ADDR=2001:db8:ffff:ff::1
IID=draft03
CE1_PREFIX=2001:db8:12:3400::/56                   # 192.0.2.18 PSID 0x34
CE2_PREFIX=${LAB_CE2_PREFIX:-2001:db8:12:3500::/56} # 192.0.2.18 PSID 0x35: shares CE1's IPv4
# A second prefix the ISP also routes to CE2: with it (LAB_CE2_PREFIX=... lab.sh
# gw-up ce2) CE2 has an IPv4 address and a port set of its own, 192.0.2.19
# PSID 0x36 (forwards of the old set are disabled by such a change).
CE2_ALT_PREFIX=2001:db8:13:3600::/56

# ---- addresses ----
# LANs (private): CE1 has two LAN interfaces, one /25 each (no bridge needed).
H1=192.168.1.10 CE1_LAN1=192.168.1.1    # /25
H2=192.168.1.130 CE1_LAN2=192.168.1.129 # /25
H3=192.168.2.10 CE2_LAN=192.168.2.1     # /24
# IPv6 links of the ISP router
ISP_CE1=2001:db8:ffff:1::1 CE1_WAN=2001:db8:ffff:1::2
ISP_CE2=2001:db8:ffff:2::1 CE2_WAN=2001:db8:ffff:2::2
ISP_BR=2001:db8:ffff:3::1 BR_V6=2001:db8:ffff:3::2
# IPv4 "internet": the BR's uplink and two servers on inet's loopback
BR_V4=198.51.100.1 INET_BR=198.51.100.2 # /30
WEB=203.0.113.10 ALT=198.51.100.10
DNS_NAMES="web.lab.example=$WEB alt.lab.example=$ALT"
HTTP_PORT=80 IPERF_PORT=5201 DNS_PORT=53 ECHO_PORT=7 BURST_PORTS=9000-9007

log() { echo "lab: $*" >&2; }
die() {
	echo "lab: $*" >&2
	exit 1
}
ns() { echo "$ID-$1"; }
nsx() { # nsx NODE CMD...: run CMD in NODE's namespace
	local n=$1
	shift
	ip netns exec "$(ns "$n")" "$@"
}
ns_exists() { [ -e "/run/netns/$(ns "$1")" ]; }
pin_dir() { echo "/sys/fs/bpf/$ID-$1"; }
check_node() {
	case " $NODES " in *" $1 "*) ;; *) die "unknown node '$1': want one of $NODES" ;; esac
}

# ---- up ----

# veth A:IFA <-> B:IFB, created directly in the two namespaces.
link() {
	ip link add "$2" netns "$(ns "$1")" type veth peer name "$4" netns "$(ns "$3")"
	nsx "$1" ip link set dev "$2" up
	nsx "$3" ip link set dev "$4" up
}

addr4() { nsx "$1" ip addr add "$3" dev "$2"; }
addr6() { nsx "$1" ip -6 addr add "$3" dev "$2" nodad; }
sysctl_set() { # NODE KEY=VALUE...
	local n=$1
	shift
	nsx "$n" sysctl -q -w "$@" >/dev/null
}
eth_k() { nsx "$1" ethtool -K "$2" "${@:3}" >/dev/null; }

# The exact mapectl command line of a gateway, in GW_ARGV (one truth for up,
# gw-up and the tests).
gw_argv() {
	local mode
	mode=$(cat "$RUN/xdp_mode" 2>/dev/null || echo native)
	case $1 in
	ce1) GW_ARGV=("$MAPECTL" up --wan wan --lan lan1 --lan lan2 --prefix "$CE1_PREFIX"
		--rule "$RULE,fmr" --br "$BR_ADDR" --iid "$IID" --pin-dir "$(pin_dir ce1)"
		--xdp-mode "$mode") ;;
	ce2) GW_ARGV=("$MAPECTL" up --wan wan --lan lan1 --prefix "$CE2_PREFIX"
		--rule "$RULE,fmr" --br "$BR_ADDR" --iid "$IID" --pin-dir "$(pin_dir ce2)"
		--xdp-mode "$mode") ;;
	br) GW_ARGV=("$MAPECTL" br up --v6 v6 --v4 v4 --rule "$RULE" --br-addr "$BR_ADDR"
		--iid "$IID" --pin-dir "$(pin_dir br)" --xdp-mode "$mode") ;;
	*) die "not a gateway: '$1' (want ce1, ce2 or br)" ;;
	esac
	# more options for a CE's up, from a test (e.g. --timeout-udp 3)
	case $1 in
	ce1 | ce2) read -r -a extra <<<"${LAB_GW_EXTRA:-}"
		GW_ARGV+=("${extra[@]}") ;;
	esac
}

gw_up() {
	gw_argv "$1"
	log "$1: ${GW_ARGV[*]}"
	nsx "$1" "${GW_ARGV[@]}"
}

gw_down() {
	case $1 in
	ce1 | ce2) nsx "$1" "$MAPECTL" down --pin-dir "$(pin_dir "$1")" ;;
	br) nsx br "$MAPECTL" br down --pin-dir "$(pin_dir br)" ;;
	*) die "not a gateway: '$1' (want ce1, ce2 or br)" ;;
	esac
}

# start_server NAME NODE CMD...: in the background; pid file NODE.NAME.pid
# and log NODE.NAME.log in $RUN. `ip netns exec` execs CMD, so $! is the
# server's own pid.
start_server() {
	local name=$1 node=$2
	shift 2
	ip netns exec "$(ns "$node")" "$@" >"$RUN/$node.$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$node.$name.pid"
}

# wait_listen NODE PROTO PORT: until a socket listens (5 s at most).
wait_listen() {
	local flag=-Hltn
	[ "$2" = udp ] && flag=-Hlun
	for _ in $(seq 50); do
		if [ -n "$(nsx "$1" ss $flag "sport = :$3" 2>/dev/null)" ]; then
			return 0
		fi
		sleep 0.1
	done
	die "no $2 server listening on port $3 in $1 after 5 s (see $RUN/*.log)"
}

start_servers() {
	local dns_args="" kv
	mkdir -p "$RUN/www"
	printf '<html><body>MAP-E lab %s: it works</body></html>\n' "$ID" >"$RUN/www/index.html"
	head -c 1048576 /dev/zero >"$RUN/www/1M.bin"
	for kv in $DNS_NAMES; do
		dns_args="$dns_args --address=/${kv%%=*}/${kv#*=}"
	done
	start_server http inet $PY -m http.server --bind "$WEB" --directory "$RUN/www" "$HTTP_PORT"
	start_server iperf3 inet iperf3 -s -B "$WEB" -p "$IPERF_PORT" --idle-timeout 30
	# shellcheck disable=SC2086
	start_server dnsmasq inet dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --no-poll --bind-interfaces --listen-address="$WEB" --port="$DNS_PORT" \
		--user=root --group=root --log-queries $dns_args
	start_server udp_echo inet $PY "$HERE/udp_echo.py" serve "$WEB:$ECHO_PORT" "$ALT:$ECHO_PORT"
	start_server tcp_echo inet $PY "$HERE/conn_burst.py" serve --bind "$WEB" \
		--ports "$BURST_PORTS"
	wait_listen inet tcp "$HTTP_PORT"
	wait_listen inet tcp "$IPERF_PORT"
	wait_listen inet tcp "$DNS_PORT"
	wait_listen inet udp "$DNS_PORT"
	wait_listen inet udp "$ECHO_PORT"
	wait_listen inet tcp "${BURST_PORTS%-*}"
}

# Counters of the tunnel packets the ISP forwards: which way the IPv4-in-IPv6
# traffic went (via the BR, or CE to CE directly over the FMR).
ISP_COUNTERS="ce_to_br br_to_ce ce1_to_ce2 ce2_to_ce1"
isp_nft() {
	nsx isp nft -f - <<-EOF
		table ip6 lab {
			counter ce_to_br {}
			counter br_to_ce {}
			counter ce1_to_ce2 {}
			counter ce2_to_ce1 {}
			chain transit {
				type filter hook forward priority 0; policy accept;
				ip6 nexthdr 4 iifname { "ce1", "ce2" } oifname "br6" counter name "ce_to_br"
				ip6 nexthdr 4 iifname "br6" oifname { "ce1", "ce2" } counter name "br_to_ce"
				ip6 nexthdr 4 iifname "ce1" oifname "ce2" counter name "ce1_to_ce2"
				ip6 nexthdr 4 iifname "ce2" oifname "ce1" counter name "ce2_to_ce1"
			}
		}
	EOF
}

STEP=""
UP_KEEP=0
up_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$rc" -ne 0 ]; then
		log "up failed (exit $rc) at step: $STEP"
		if [ "$UP_KEEP" = 1 ]; then
			log "--keep: left as it is; tools/lab/lab.sh --id $ID down removes it"
		else
			log "tearing down what was made"
			do_down || true
		fi
	fi
	exit "$rc"
}

do_up() {
	local mode=native br=mapectl n
	while [ $# -gt 0 ]; do
		case $1 in
		--xdp-mode)
			mode=${2:-}
			shift 2 || die "--xdp-mode needs native or skb"
			;;
		--xdp-mode=*) mode=${1#*=}; shift ;;
		--no-br) br=none; shift ;;
		--br-standin) br=standin; shift ;;
		--keep) UP_KEEP=1; shift ;;
		*) die "up: unknown option '$1' (up [--xdp-mode native|skb] [--no-br|--br-standin] [--keep])" ;;
		esac
	done
	case $mode in native | skb) ;; *) die "bad --xdp-mode '$mode': want native or skb" ;; esac
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, BPF)"
	[ -x "$MAPECTL" ] || die "$MAPECTL not found or not executable: run make first"
	for n in $NODES; do
		if ns_exists "$n"; then
			die "lab '$ID' exists (namespace $(ns "$n")): run tools/lab/lab.sh --id $ID down first"
		fi
	done
	trap up_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	STEP="bpffs"
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	rm -rf "$RUN"
	mkdir -p "$RUN"
	echo "$mode" >"$RUN/xdp_mode"

	STEP="namespaces"
	for n in $NODES; do
		ip netns add "$(ns "$n")"
		nsx "$n" ip link set lo up
	done
	# IPv4-only nodes: no IPv6 at all (no link-local, DAD or MLD noise);
	# the others: no duplicate address detection, so that links work at once
	for n in h1 h2 h3 inet; do
		sysctl_set "$n" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	for n in ce1 ce2 isp br; do
		sysctl_set "$n" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done

	STEP="veth links"
	link h1 eth0 ce1 lan1
	link h2 eth0 ce1 lan2
	link h3 eth0 ce2 lan1
	link ce1 wan isp ce1
	link ce2 wan isp ce2
	link br v6 isp br6
	link br v4 inet br4
	for n in ce1:lan1 ce1:lan2 ce2:lan1 br:v4; do
		sysctl_set "${n%%:*}" "net.ipv6.conf.${n#*:}.disable_ipv6=1"
	done

	STEP="addresses"
	addr4 h1 eth0 $H1/25
	addr4 ce1 lan1 $CE1_LAN1/25
	addr4 h2 eth0 $H2/25
	addr4 ce1 lan2 $CE1_LAN2/25
	addr4 h3 eth0 $H3/24
	addr4 ce2 lan1 $CE2_LAN/24
	addr6 ce1 wan $CE1_WAN/64
	addr6 isp ce1 $ISP_CE1/64
	addr6 ce2 wan $CE2_WAN/64
	addr6 isp ce2 $ISP_CE2/64
	addr6 br v6 $BR_V6/64
	addr6 isp br6 $ISP_BR/64
	addr4 br v4 $BR_V4/30
	addr4 inet br4 $INET_BR/30
	addr4 inet lo $WEB/32
	addr4 inet lo $ALT/32

	STEP="forwarding sysctls"
	for n in ce1 ce2 br; do
		sysctl_set "$n" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	done
	sysctl_set isp net.ipv6.conf.all.forwarding=1
	sysctl_set inet net.ipv4.ip_forward=1

	STEP="routes"
	nsx h1 ip route add default via $CE1_LAN1
	nsx h2 ip route add default via $CE1_LAN2
	nsx h3 ip route add default via $CE2_LAN
	nsx ce1 ip -6 route add default via $ISP_CE1 dev wan
	nsx ce2 ip -6 route add default via $ISP_CE2 dev wan
	nsx isp ip -6 route add "$CE1_PREFIX" via $CE1_WAN dev ce1
	nsx isp ip -6 route add "$CE2_PREFIX" via $CE2_WAN dev ce2
	if [ "$CE2_ALT_PREFIX" != "$CE2_PREFIX" ]; then
		nsx isp ip -6 route add "$CE2_ALT_PREFIX" via $CE2_WAN dev ce2
	fi
	nsx isp ip -6 route add $BR_ADDR/128 via $BR_V6 dev br6
	nsx br ip -6 route add default via $ISP_BR dev v6
	nsx br ip route add default via $INET_BR dev v4
	nsx inet ip route add 192.0.2.0/24 via $BR_V4 dev br4

	# LAN hosts and servers keep their default offloads (TX checksum and TSO
	# on: they send CHECKSUM_PARTIAL packets, which the XDP programs complete
	# or leave to the kernel, see bpf/lib/partial.h).
	# The LAN hosts keep their defaults (GRO off): a veth drops frames that
	# native XDP redirects into it unless its peer runs XDP or has GRO on, so
	# mapectl up reaches them through the kernel; the tests that measure the
	# fast path into a host turn its GRO on first, as its admin would
	# (tests/lab/test_firewall.py, fast_path_into).
	# The ISP's ends model the wire: GRO merges the tunnel's TCP segments it
	# receives; with TX checksum offload and GSO off, they are cut again on
	# the way out with complete checksums, as a real link would carry them.
	STEP="ethtool (the ISP's ends as a wire)"
	for n in ce1 ce2 br6; do
		eth_k isp "$n" gro on
		eth_k isp "$n" tx off gso off
	done
	# the servers' side of the BR (inet br4) keeps its defaults: mapectl br up
	# reaches it through the kernel in native mode (user/veth.c)

	STEP="ISP counters (nft)"
	isp_nft

	STEP="servers in inet"
	start_servers

	case $br in
	mapectl)
		gw_argv br
		STEP="BR: ${GW_ARGV[*]}"
		gw_up br
		;;
	standin)
		STEP="BR stand-in (tools/lab/br_standin.py)"
		log "--br-standin: the BR is tools/lab/br_standin.py, not mapectl br"
		nsx br ip -6 addr add $BR_ADDR/128 dev lo nodad
		nsx br ip route add blackhole 192.0.2.0/24
		start_server br_standin br $PY "$HERE/br_standin.py" --rule "$RULE" \
			--br-addr "$BR_ADDR" --v4 v4 --iid "$IID"
		;;
	none) log "--no-br: the BR is not started (IPv4 via the BR will not work)" ;;
	esac
	echo "$br" >"$RUN/br_kind"
	gw_argv ce1
	STEP="CE1: ${GW_ARGV[*]}"
	gw_up ce1
	gw_argv ce2
	STEP="CE2: ${GW_ARGV[*]}"
	gw_up ce2

	trap - EXIT INT TERM
	log "lab '$ID' is up (XDP mode $mode): tools/lab/lab.sh --id $ID exec h1 ping $WEB"
}

# ---- down ----

# kill_pid PID NODE: only if PID still runs inside NODE's namespace.
kill_pid() {
	local pid=$1 ns_name
	ns_name=$(ns "$2")
	kill -0 "$pid" 2>/dev/null || return 0
	[ "$(ip netns identify "$pid" 2>/dev/null)" = "$ns_name" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

# Best effort: every step runs even when an earlier one failed (set +e),
# and each failure that matters is reported.
do_down() {
	local f n pid
	[ "$(id -u)" -eq 0 ] || die "needs root"
	set +e
	# 1. the servers, by their pid files (NODE.NAME.pid)
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		n=$(basename "$f")
		n=${n%%.*}
		case $pid in '' | *[!0-9]*) ;; *) kill_pid "$pid" "$n" ;; esac
		rm -f "$f"
	done
	# 2. the gateways, by their pin directories
	for n in $GWS; do
		if ns_exists "$n" && [ -e "$(pin_dir "$n")" ] && [ -x "$MAPECTL" ]; then
			gw_down "$n" >/dev/null 2>&1 || log "$n: mapectl down failed (cleaned below)"
		fi
	done
	# 3. whatever else still runs in the lab's namespaces (clients left by a
	#    killed test): they are the lab's, by namespace
	for n in $NODES; do
		ns_exists "$n" || continue
		for pid in $(ip netns pids "$(ns "$n")" 2>/dev/null); do
			kill_pid "$pid" "$n"
		done
	done
	# 4. the namespaces (their veths go with them)
	for n in $NODES; do
		if ns_exists "$n"; then
			ip netns del "$(ns "$n")" || log "cannot delete namespace $(ns "$n")"
		fi
	done
	# 5. pins left behind (down failed or never ran): unpinning frees the maps;
	#    and the gateways' state files (forwards, saved routes, up's options:
	#    mapectl keeps them across down, by pin dir)
	for n in $GWS; do
		rm -rf "$(pin_dir "$n")"
		for f in forwards routes up; do
			rm -f "${MAPE_STATE_DIR:-/var/lib/mape}/$f-$ID-$n.json"{,.lock,.new}
		done
	done
	rm -rf "$RUN"
	log "lab '$ID' is down"
}

# ---- status, counters, info ----

do_counters() {
	local c
	ns_exists isp || die "lab '$ID' is not up"
	for c in $ISP_COUNTERS; do
		nsx isp nft list counter ip6 lab "$c" |
			awk -v c="$c" '$1 == "packets" { print c, "packets", $2, "bytes", $4 }'
	done
}

do_status() {
	local n f pid st
	echo "lab '$ID' (run dir $RUN, XDP mode $(cat "$RUN/xdp_mode" 2>/dev/null || echo '?'))"
	for n in $NODES; do
		if ns_exists "$n"; then st=up; else st=absent; fi
		printf '  %-5s %-12s %s\n' "$n" "$(ns "$n")" "$st"
	done
	echo "servers:"
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		if kill -0 "$pid" 2>/dev/null; then st=running; else st=dead; fi
		printf '  %-9s pid %-7s %s\n' "$(basename "$f" .pid)" "$pid" "$st"
	done
	for n in ce1 ce2; do
		ns_exists "$n" || continue
		echo "$n: mapectl status --pin-dir $(pin_dir "$n")"
		nsx "$n" "$MAPECTL" status --pin-dir "$(pin_dir "$n")" 2>&1 | sed 's/^/  /' || true
	done
	if ns_exists br; then
		echo "br: mapectl br stats --pin-dir $(pin_dir br)"
		nsx br "$MAPECTL" br stats --pin-dir "$(pin_dir br)" 2>&1 | sed 's/^/  /' || true
	fi
	if ns_exists isp; then
		echo "isp: tunnel packets forwarded"
		do_counters | sed 's/^/  /' || true
	fi
}

do_info() {
	cat <<-EOF
		ID=$ID
		RUN=$RUN
		MAPECTL=$MAPECTL
		XDP_MODE=$(cat "$RUN/xdp_mode" 2>/dev/null || true)
		BR_KIND=$(cat "$RUN/br_kind" 2>/dev/null || true)
		NODES=$NODES
		RULE=$RULE
		BR_ADDR=$BR_ADDR
		IID=$IID
		CE1_PREFIX=$CE1_PREFIX
		CE2_PREFIX=$CE2_PREFIX
		CE2_ALT_PREFIX=$CE2_ALT_PREFIX
		CE1_PIN=$(pin_dir ce1)
		CE2_PIN=$(pin_dir ce2)
		BR_PIN=$(pin_dir br)
		H1=$H1
		H2=$H2
		H3=$H3
		CE1_LAN1=$CE1_LAN1
		CE1_LAN2=$CE1_LAN2
		CE2_LAN=$CE2_LAN
		BR_V4=$BR_V4
		INET_BR=$INET_BR
		WEB=$WEB
		ALT=$ALT
		DNS_NAMES=$DNS_NAMES
		HTTP_PORT=$HTTP_PORT
		IPERF_PORT=$IPERF_PORT
		DNS_PORT=$DNS_PORT
		ECHO_PORT=$ECHO_PORT
		BURST_PORTS=$BURST_PORTS
		ISP_COUNTERS=$ISP_COUNTERS
	EOF
}

usage() {
	sed -n '/^#   lab.sh/s/^#   //p' "${BASH_SOURCE[0]}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) do_up "$@" ;;
down) do_down ;;
exec)
	[ $# -ge 2 ] || die "usage: lab.sh exec NODE CMD..."
	check_node "$1"
	ns_exists "$1" || die "lab '$ID' is not up (no namespace $(ns "$1"))"
	n=$1
	shift
	exec ip netns exec "$(ns "$n")" "$@"
	;;
status) do_status ;;
gw-up | gw-down)
	[ $# -eq 1 ] || die "usage: lab.sh $cmd ce1|ce2|br"
	gw_argv "$1"
	ns_exists "$1" || die "lab '$ID' is not up (no namespace $(ns "$1"))"
	if [ "$cmd" = gw-up ]; then gw_up "$1"; else gw_down "$1"; fi
	;;
counters) do_counters ;;
info) do_info ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
