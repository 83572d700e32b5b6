#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - what `make demo` runs: brings the namespace lab up, walks through
# a short narrated scenario across the MAP-E CE and BR, and tears the lab
# down again (also on Ctrl-C or a failure). Builds nothing: run make first.
#
#   tools/lab/demo.sh [--xdp-mode native|skb] [--br-standin]
#
# Every step prints what it shows and the command it runs (copy it after
# `tools/lab/lab.sh up` to try it by hand). Exits non-zero if a step failed.
# Env: LAB_ID (default mlab), MAPECTL (default build/mapectl).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LAB="$HERE/lab.sh"
PY=/usr/bin/python3
export LAB_ID=${LAB_ID:-mlab}
MODE=native
UP_EXTRA=()
while [ $# -gt 0 ]; do
	case $1 in
	--br-standin) UP_EXTRA=(--br-standin); shift ;; # development aid, see lab.sh
	--xdp-mode) MODE=${2:-}; shift 2 || true ;;
	--xdp-mode=*) MODE=${1#*=}; shift ;;
	-h | --help) sed -n '/^#   tools/s/^#   //p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*)
		echo "demo: unknown argument '$1' (demo.sh [--xdp-mode native|skb] [--br-standin])" >&2
		exit 2
		;;
	esac
done

# The lab's names and addresses, as variables L_WEB, L_BR_ADDR, ...
while IFS='=' read -r k v; do
	declare "L_$k=$v"
done < <("$LAB" info)

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else B="" G="" R="" N=""; fi
PASSED=0 FAILED=0 FAILED_STEPS=""
BG_PID=""
LAB_UP=0 # set once our `lab.sh up` succeeded: a lab that was there before is not ours

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$BG_PID" ]; then kill "$BG_PID" 2>/dev/null || true; fi
	if [ "$LAB_UP" = 1 ]; then
		echo
		echo "${B}== tearing the lab down${N}"
		"$LAB" down || rc=1
	fi
	exit "$rc"
}

say() { printf '%s\n' "$@" | fold -s -w 100; }
step() { # step TITLE EXPLANATION...
	echo
	echo "${B}== $1${N}"
	shift
	say "$@"
}
show() { # the command as typed from the top of the tree
	local s="$*"
	s=${s//$ROOT\//}
	case $s in lab\ *) s="tools/lab/lab.sh ${s#lab }" ;; esac
	echo "${B}\$ $s${N}"
}
ok() { echo "${G}ok${N}: $*"; PASSED=$((PASSED + 1)); }
bad() {
	echo "${R}FAILED${N}: $*"
	FAILED=$((FAILED + 1))
	FAILED_STEPS="$FAILED_STEPS
  - $*"
}
# check DESCRIPTION TIMEOUT CMD...: print CMD, run it (at most TIMEOUT
# seconds), count the result. CMD may start with `lab` for tools/lab/lab.sh.
check() {
	local what=$1 t=$2
	shift 2
	show "$@"
	[ "$1" = lab ] && set -- "$LAB" "${@:2}"
	if timeout "$t" "$@"; then ok "$what"; else bad "$what (exit $?)"; fi
}
lab() { "$LAB" "$@"; }
mapectl() { # mapectl NODE ARGS...: mapectl inside a node
	local n=$1
	shift
	"$LAB" exec "$n" "$L_MAPECTL" "$@"
}
json() { # json PYTHON-EXPRESSION: evaluates it with j = the JSON object on stdin
	$PY -c "import json, sys; j = json.load(sys.stdin); print($1)"
}
# Sum of the BR's packet counters, minus pass_not_ours (IPv6 neighbour
# discovery and the like): only MAP-E packets that went through the BR.
br_mape_packets() {
	mapectl br br stats --json --pin-dir "$L_BR_PIN" 2>/dev/null | $PY -c '
import json, sys
def walk(o, name=""):
    if isinstance(o, dict):
        if isinstance(o.get("packets"), int):
            return 0 if name == "pass_not_ours" else o["packets"]
        return sum(walk(v, k) for k, v in o.items())
    if isinstance(o, list):
        return sum(walk(v, name) for v in o)
    return 0
print(walk(json.load(sys.stdin)))' 2>/dev/null || echo "?"
}
isp_counter() { lab counters | awk -v c="$1" '$1 == c { print $3 }'; }

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "The lab" \
	"Eight network namespaces joined by veth pairs: LAN hosts h1 and h2 behind CE1, h3 behind" \
	"CE2; the CEs run 'mapectl up' (XDP on their WAN and LAN interfaces). 'isp' is an IPv6-only" \
	"router; 'br' runs 'mapectl br up', the Border Relay; 'inet' is the IPv4 internet with servers" \
	"on $L_WEB and $L_ALT. IPv4 crosses the ISP only inside IPv6 (RFC 7597 MAP-E)." \
	"docs/lab.md has the picture. Bringing it up (XDP mode: $MODE):"
show "tools/lab/lab.sh up --xdp-mode $MODE${UP_EXTRA[*]:+ ${UP_EXTRA[*]}}"
"$LAB" up --xdp-mode "$MODE" "${UP_EXTRA[@]}" # a failed up removes what it made
LAB_UP=1

step "What each CE gets from its prefix" \
	"Rule: ${L_RULE}. mapectl calc derives each CE's IPv4 address, PSID, 240 ports and CE IPv6" \
	"address from its delegated /56. CE2 shares CE1's IPv4 address with a different port set."
for ce in 1 2; do
	p=L_CE${ce}_PREFIX
	show "mapectl calc --rule $L_RULE,fmr --prefix ${!p} --iid draft03 --br $L_BR_ADDR"
	"$L_MAPECTL" calc --rule "$L_RULE,fmr" --prefix "${!p}" --iid draft03 --br "$L_BR_ADDR" |
		grep -E '^(IPv4|PSID|ports|CE IPv6):'
done
CALC1=$("$L_MAPECTL" calc --json --rule "$L_RULE,fmr" --prefix "$L_CE1_PREFIX" --iid draft03)

step "1. ping: ICMP echo through the NAPT" \
	"h1 ($L_H1) pings the web server. CE1 maps the echo identifier into its port set and sends" \
	"the packet inside IPv6 to the BR, which decapsulates it towards the IPv4 internet."
check "ping h1 -> $L_WEB" 15 lab exec h1 ping -c 3 -i 0.3 -W 2 "$L_WEB"

step "2. HTTP: a TCP connection" \
	"curl fetches a page and a 1 MiB file from the web server; the first packets take the" \
	"kernel path (TC on the tunnel interface creates the session), the rest the XDP fast path."
check "curl index.html" 15 lab exec h1 curl -sS -m 10 "http://$L_WEB/"
check "curl 1 MiB" 20 lab exec h1 curl -sS -m 15 -o /dev/null \
	-w 'fetched %{size_download} bytes in %{time_total} s\n' "http://$L_WEB/1M.bin"

step "3. DNS over UDP and TCP" \
	"dnsmasq on $L_WEB answers a few A records; tools/lab/dnsq.py is a 100-line resolver query."
check "DNS over UDP" 10 lab exec h1 $PY "$HERE/dnsq.py" web.lab.example --server "$L_WEB"
check "DNS over TCP" 10 lab exec h1 $PY "$HERE/dnsq.py" alt.lab.example --server "$L_WEB" --tcp

step "4. iperf3, 3 seconds each way" \
	"Bulk TCP upload (h1 -> server), then download (-R, server -> h1). MSS is clamped to the" \
	"tunnel MTU 1460 - 40, so no packet needs fragmenting."
for dir in upload download; do
	r=""
	[ $dir = download ] && r=-R
	show "tools/lab/lab.sh exec h1 iperf3 -c $L_WEB -t 3${r:+ $r}"
	if timeout 20 "$LAB" exec h1 iperf3 -c "$L_WEB" -t 3 $r --connect-timeout 3000 -f m |
		tail -n 4; then
		ok "iperf3 $dir"
	else
		bad "iperf3 $dir"
	fi
done

step "5. 300 TCP connections at once" \
	"CE1 has 240 ports. tools/lab/conn_burst.py opens 300 connections to ports ${L_BURST_PORTS}" \
	"of one server, holds them open 2 s together, then exchanges a line on each. This works" \
	"because the NAPT allocates over all 15 blocks of the port set and reuses an external port" \
	"for different remote endpoints (port overlapping, RFC 7857)."
check "300 concurrent connections" 40 lab exec h1 $PY "$HERE/conn_burst.py" run "$L_WEB" \
	--ports "$L_BURST_PORTS" -n 300 --hold 2 --timeout 10
show "tools/lab/lab.sh exec ce1 $L_MAPECTL status --pin-dir $L_CE1_PIN"
mapectl ce1 status --pin-dir "$L_CE1_PIN" || bad "mapectl status"

step "6. CE to CE, directly (mesh, forwarding mapping rule)" \
	"Both CEs have the rule as an FMR, so IPv4 traffic to an address:port of another CE goes" \
	"straight to that CE's IPv6 address, not through the BR. CE2 shares CE1's IPv4 address with" \
	"another port set: a packet from h1 to 192.0.2.18 at one of CE2's ports leaves CE1 for CE2" \
	"(CE1's kernel would take the address for itself; its XDP program sends it on)."
CALC2=$("$L_MAPECTL" calc --json --rule "$L_RULE,fmr" --prefix "$L_CE2_PREFIX" --iid draft03)
say "h3 runs a UDP echo, learns its mapped address from the echo server in inet, and sends one" \
	"datagram towards CE1, which opens CE2's address-dependent filter for CE1's address. Then" \
	"h1 sends 5 datagrams to h3's mapped address. The ISP counts the tunnel packets per link."
ce1_v4=$(echo "$CALC1" | json 'j["ipv4"]')
ce1_port=$(echo "$CALC1" | json 'j["port_ranges"][0][0]')
h3_port=$(echo "$CALC2" | json 'j["port_ranges"][0][0] + 6')
ready="$L_RUN/h3-echo.ready"
rm -f "$ready"
show "tools/lab/lab.sh exec h3 $PY tools/lab/udp_echo.py serve 0.0.0.0:$h3_port --lifetime 30" \
	"--announce $L_WEB:$L_ECHO_PORT --punch $ce1_v4:$ce1_port --ready $ready &"
"$LAB" exec h3 $PY "$HERE/udp_echo.py" serve "0.0.0.0:$h3_port" --lifetime 30 \
	--announce "$L_WEB:$L_ECHO_PORT" --punch "$ce1_v4:$ce1_port" --ready "$ready" \
	</dev/null >/dev/null 2>&1 &
BG_PID=$!
mapped=""
for _ in $(seq 60); do
	if grep -q '^mapped ' "$ready" 2>/dev/null; then
		mapped=$(sed -n 's/^mapped //p' "$ready")
		break
	fi
	sleep 0.1
done
if [ -z "$mapped" ]; then
	bad "h3 did not learn its mapped address ($(cat "$ready" 2>/dev/null || echo 'no answer'))"
else
	echo "h3 ($L_H3:$h3_port) is reachable as $mapped"
	sleep 0.3
	br0=$(br_mape_packets)
	d0=$(isp_counter ce1_to_ce2) b0=$(isp_counter ce_to_br)
	check "h1 -> h3 ($mapped) over the mesh" 15 lab exec h1 $PY "$HERE/udp_echo.py" ask "$mapped" \
		--count 5 --timeout 3
	br1=$(br_mape_packets)
	d1=$(isp_counter ce1_to_ce2) b1=$(isp_counter ce_to_br)
	echo "ISP: tunnel packets CE1 -> CE2 directly: $d0 -> $d1; CEs -> BR: $b0 -> $b1"
	echo "BR: MAP-E packets counted by mapectl br stats: $br0 -> $br1"
	if [ "$d1" -gt "$d0" ] && [ "$b1" = "$b0" ] && [ "$br1" = "$br0" ]; then
		ok "the mesh traffic went CE to CE; the BR's counters did not move"
	else
		bad "the mesh traffic did not go CE to CE only (see the counters above)"
	fi
fi
kill "$BG_PID" 2>/dev/null || true
wait "$BG_PID" 2>/dev/null || true
BG_PID=""

step "7. What the gateways counted" \
	"mapectl stats: every packet ends in one verdict counter (fast path, slow path, or a drop" \
	"with its reason). Then the BR's counters."
show "tools/lab/lab.sh exec ce1 $L_MAPECTL stats --pin-dir $L_CE1_PIN"
mapectl ce1 stats --pin-dir "$L_CE1_PIN" || bad "mapectl stats (ce1)"
show "tools/lab/lab.sh exec br $L_MAPECTL br stats --pin-dir $L_BR_PIN"
mapectl br br stats --pin-dir "$L_BR_PIN" || bad "mapectl br stats"

echo
if [ "$FAILED" -eq 0 ]; then
	echo "${G}${B}demo: $PASSED steps passed, 0 failed${N}"
else
	echo "${R}${B}demo: $PASSED steps passed, $FAILED failed:${N}$FAILED_STEPS"
	exit 1
fi
