/* SPDX-License-Identifier: MIT */
/*
 * mape_types.h - types shared by the BPF programs and mapectl: map keys and
 * values, the configuration, counter names. Byte order is in the type:
 * __be* is network order as on the wire, __u* is host order.
 *
 * Map values carry BTF (the object is built with -g), so
 * `bpftool map dump pinned /sys/fs/bpf/mape/<map>` prints these structs.
 */
#ifndef MAPE_TYPES_H
#define MAPE_TYPES_H

#ifndef __bpf__
#include <linux/types.h>
#include <linux/bpf.h>
#endif
#include "mape_map.h"

#define MAPE_PIN_DIR "/sys/fs/bpf/mape"

#define MAPE_MAX_LANS 8

/* Table sizes (entries). A session costs one mape_out, one mape_in entry. */
#define MAPE_MAX_SESSIONS 65536
#define MAPE_MAX_FMRS 1024
#define MAPE_FRAG_ENTRIES 4096
/* A first fragment's decision is trusted this long (RFC 791's reassembly
 * timer; Linux's ipfrag_time is 30 s too). */
#define MAPE_FRAG_AGE_NS (30ULL * 1000000000ULL)

/* Protocol index of the per-port table: index = proto_idx * 65536 + port. */
enum mape_proto_idx { MAPE_P_TCP = 0, MAPE_P_UDP = 1, MAPE_P_ICMP = 2, MAPE_P_NUM = 3 };

/* Inbound filtering (RFC 4787 s5): address-dependent is the default. */
enum mape_filtering { MAPE_FILTER_ADDR = 0, MAPE_FILTER_ENDPOINT = 1 };

#define MAPE_CFG_ENABLED 0x1	/* configuration is complete: data path active */

/* The single entry of mape_cfg: what `mapectl up` computed and set up. */
struct mape_config {
	__u8 ce_addr[16];	/* our CE IPv6 address (outer source) */
	__u8 br_addr[16];	/* BR (outer destination of hub-and-spoke traffic) */
	__be32 ipv4;		/* our external IPv4 address */
	struct mape_portset ps;	/* our port set (PSID, offset, length) */
	__u32 port_count;	/* mape_ps_count(&ps), cached */
	__u8 iid;		/* MAPE_IID_* of this domain (FMR peers too) */
	__u8 filtering;		/* enum mape_filtering */
	__u16 mtu;		/* tunnel MTU (IPv4 packet size limit) */
	__u32 flags;		/* MAPE_CFG_* */
	__u32 wan_ifindex;	/* IPv6 uplink */
	__u32 tun_ifindex;	/* mape0: the IPv4 face the kernel routes into */
	__u32 tun_peer_ifindex;	/* its veth peer: inbound slow path enters here */
	__u8 tun_mac[6];	/* MAC of mape0 (destination of slow-path frames) */
	__u8 tun_peer_mac[6];	/* MAC of the peer (their source) */
	__u32 to_tcp_est;	/* timeouts in seconds (RFC 5382, 4787, 5508) */
	__u32 to_tcp_trans;
	__u32 to_udp;
	__u32 to_icmp;
	__u32 icmp_rate;	/* ICMP errors we originate, per second (0: none) */
	__u32 generation;	/* bumped by every `up` */
	/* What `up` attached to, so that `down` removes exactly that. */
	__u32 lan_ifindex[MAPE_MAX_LANS];
	__u8 n_lans;
	__u8 xdp_skb;		/* 1: generic (skb) XDP mode, 0: native */
	__u8 ipv4_len;		/* our IPv4 prefix length (32 unless a prefix CE) */
	__u8 pad;
	struct mape_rule bmr;	/* the basic mapping rule (for status) */
	__u32 max_sessions;	/* size of the session tables (fixed at first up) */
	__u32 netns_ino;	/* the network namespace `up` ran in (nsfs inode); the
				 * interface indexes above mean something only there */
	__u32 max_per_host;	/* sessions one LAN host may hold (0: no limit) */
	__u32 epoch;		/* session epoch: bumped when our IPv4 or port set
				 * changes; sessions of another epoch are ending */
	__u32 max_ports_host;	/* ports of our set one LAN host may take alone, per
				 * protocol; beyond, it overlaps (0: no limit) */
	__u32 no_xdp_xmit;	/* native XDP must not redirect into these (veths whose
				 * peer would drop XDP frames): bit i lan_ifindex[i],
				 * MAPE_NOXMIT_WAN the WAN */
};

#define MAPE_NOXMIT_WAN 0x80000000u

/*
 * mape_cfg holds two configurations: `up` writes the one the data path is
 * not reading (entry generation & 1 of the next generation), then switches
 * mape_cfg_sel to it with one 4-byte write. A packet sees one whole
 * configuration, never half of each.
 */
struct mape_cfg_sel {
	__u32 generation;	/* active entry of mape_cfg: generation & 1 */
};

/* mape_hosts: what each LAN host holds (fair sharing), by its IPv4. nat.h
 * counts in it as an array of __u32: every field stays a __u32. */
struct mape_host {
	__u32 sessions;
	__u32 ports[MAPE_P_NUM];	/* ports it took first (mape_port.int_addr), per
					 * enum mape_proto_idx */
};

/* mape_fmr: LPM trie over IPv4 destination prefixes -> forwarding rule. */
struct mape_fmr_key {
	__u32 prefixlen;
	__be32 addr;
};

/*
 * Sessions. mape_out is keyed by the LAN side 5-tuple and owns the state
 * and the expiry timer; mape_in maps the WAN side back to it.
 */
struct mape_out_key {
	__be32 int_addr;	/* LAN host (or our own IPv4 for router traffic) */
	__be32 rem_addr;	/* remote IPv4 */
	__be16 int_port;	/* LAN port or ICMP echo identifier */
	__be16 rem_port;	/* remote port; 0 for ICMP */
	__u8 proto;		/* IPPROTO_TCP/UDP/ICMP */
	__u8 pad[3];
};

/*
 * TCP (RFC 7857 s2.1, RFC 5382 REQ-5): a session is made by a SYN only;
 * transitory until the other side answers, established after, transitory
 * again once both sides have sent a FIN, or after an RST until more
 * traffic shows the RST was not the end.
 */
enum mape_tcp_state {
	MAPE_TCP_SYN_SENT = 1,	/* transitory until the other side answers */
	MAPE_TCP_EST = 2,
	MAPE_TCP_CLOSING = 3,	/* FIN both ways, or RST: transitory */
};

#define MAPE_SESS_INBOUND 0x1	/* created by an inbound packet (EIF/ADF) */
#define MAPE_SESS_FIN_OUT 0x2	/* TCP: the LAN side has sent a FIN */
#define MAPE_SESS_FIN_IN 0x4	/* TCP: the remote side has sent a FIN */
#define MAPE_SESS_RST 0x8	/* TCP: closing because of an RST */
#define MAPE_SESS_FAST 0x10	/* the kernel's conntrack saw it established both ways:
				 * XDP takes it (like an nftables flowtable) */
#define MAPE_SESS_NO_TIMER 0x20	/* its expiry timer could not be allocated yet: the next
				 * packet that finds it, or `up`'s sweep, arms it */

struct mape_session {
	struct bpf_timer timer;	/* expiry (no userspace involved) */
	__u64 created_ns;	/* bpf_ktime_get_ns() clock */
	__u64 last_ns;		/* last packet that refreshes the session */
	__u64 pkts_out, pkts_in;
	__be16 ext_port;	/* our external port / ICMP identifier */
	__u8 state;		/* enum mape_tcp_state for TCP, 0 otherwise */
	__u8 flags;		/* MAPE_SESS_* */
	__u32 timeout;		/* seconds, from the state */
	__u64 ct_ns;		/* when XDP last refreshed the conntrack entry */
	__u32 epoch;		/* mape_config.epoch it was made in (else: ending) */
	__u32 pad;
};

struct mape_in_key {
	__be32 rem_addr;
	__be16 ext_port;
	__be16 rem_port;
	__u8 proto;
	__u8 pad[3];
};

struct mape_in_val {
	__be32 int_addr;
	__be16 int_port;
	__u16 pad;
};

/* mape_bind: endpoint-independent mapping, internal endpoint -> port. */
struct mape_bind_key {
	__be32 int_addr;
	__be16 int_port;
	__u8 proto;
	__u8 pad;
};

struct mape_bind {
	__be16 ext_port;
	__u16 epoch;		/* low bits of the session epoch it was made in */
	__u32 sessions;		/* live sessions using this binding */
};

/* mape_ports: per (protocol, external port): who uses it. */
struct mape_port {
	__u32 sessions;		/* live sessions on this port (0: free) */
	__be32 int_addr;	/* the LAN endpoint that took it first */
	__be16 int_port;
	__u8 shared;		/* another endpoint overlaps on it (RFC 7857 s3.2) */
	__u8 pad;
};

/* mape_adf: address-dependent filtering, (proto, port, remote addr) -> sessions. */
struct mape_adf_key {
	__be32 rem_addr;
	__be16 ext_port;
	__u8 proto;
	__u8 pad;
};

/*
 * Port forwarding (static NAPT, `mapectl forward`). mape_fwd: an external
 * port of our set -> the LAN server behind it. Only enabled forwards are
 * here; mapectl writes them, the data path only reads. A forwarded port is
 * reserved: dynamic NAPT never hands it out.
 */
struct mape_fwd_key {
	__be16 ext_port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

struct mape_fwd {
	__be32 int_addr;	/* the LAN server */
	__be16 int_port;
	__u16 pad;
	__u32 filter;		/* 0: from anywhere; else the key of its sources in
				 * mape_fwd_src (the `--from` packet filter) */
};

/* mape_fwd_rev: the server's endpoint (key: struct mape_bind_key) -> the
 * forwarded port its traffic leaves from. */
struct mape_fwd_rev {
	__be16 ext_port;
	__u16 pad;
};

/* mape_fwd_src: LPM trie of the sources a filtered forward admits: prefixlen
 * is 32 + the CIDR's length, filter matched whole. */
struct mape_fwd_src_key {
	__u32 prefixlen;
	__u32 filter;
	__be32 addr;
};

#define MAPE_MAX_FWDS 4096	/* forwarded (protocol, port) pairs */
#define MAPE_MAX_FWD_SRCS 4096	/* --from prefixes, over all forwards */

/*
 * The NAT session log (mapectl daemon --session-log): the data path writes
 * one event per session made and ended into the ring buffer mape_events,
 * while mape_evlog says someone reads it (mapectl writes 1 there).
 */
enum mape_event_type { MAPE_EV_CREATE = 1, MAPE_EV_END = 2 };

struct mape_event {
	__u64 ns;		/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u64 pkts_out, pkts_in;	/* MAPE_EV_END: the session's packets */
	__be32 int_addr;	/* LAN endpoint */
	__be32 rem_addr;	/* remote */
	__be16 int_port;
	__be16 ext_port;	/* our external port / ICMP identifier */
	__be16 rem_port;
	__u8 proto;
	__u8 type;		/* enum mape_event_type */
	__u8 why;		/* MAPE_EV_END: 0 expired, 1 our IPv4 or port set changed */
	__u8 pad[7];
};

#define MAPE_EVENTS_BYTES (256 * 1024)	/* the ring: about 4000 events */

struct mape_evlog {
	__u32 enabled;		/* 1: a reader is there, write events */
	__u32 pad;
};

/* mape_frag: the first fragment's decision for the rest (RFC 7597 s8.3).
 * Inbound, the key holds the outer source: a first fragment from another
 * tunnel peer (or, on the BR, another CE sharing the IPv4 address) makes an
 * entry of its own and steers nobody else's fragments. */
struct mape_frag_key {
	__u8 peer[16];		/* inbound: the outer source; outbound: zero */
	__be32 src;
	__be32 dst;
	__be16 id;
	__u8 proto;
	__u8 dir;		/* 0 outbound, 1 inbound */
};

struct mape_frag_val {
	__u8 peer[16];		/* outer destination (outbound) or source (inbound) */
	__u64 ns;		/* when the first fragment passed */
	__be32 addr;		/* translated address (inbound: the LAN host) */
	__u32 slow;		/* inbound: 1 when the first went to the kernel (all follow it) */
};

/*
 * mape_reasm: datagrams being put back together at TC (bpf/lib/reasm.h):
 * outer IPv6 packets to our address that arrived in fragments (RFC 2473
 * s7, RFC 7597 s8.3.1), and inner IPv4 datagrams whose later fragments
 * came before their first (RFC 4787 REQ-14). Bounded: MAPE_REASM_ENTRIES
 * datagrams (LRU), MAPE_REASM_FRAGS fragments and MAPE_REASM_MAX bytes
 * each, MAPE_REASM_TIMEOUT_NS from the first fragment seen.
 */
#define MAPE_REASM_ENTRIES 64
#define MAPE_REASM_MAX 8192		/* payload bytes of one datagram */
#define MAPE_REASM_FRAG_MAX 2048	/* payload bytes of one fragment */
#define MAPE_REASM_FRAGS 16
#define MAPE_REASM_TIMEOUT_NS (10ULL * 1000000000ULL)
#define MAPE_REASM_PER_SRC 16		/* datagrams one sender may have in reassembly */
#define MAPE_REASM_SRC_ENTRIES 1024
#define MAPE_REASM_V6 6			/* an outer IPv6 packet */
#define MAPE_REASM_V4 4			/* an inner IPv4 datagram */

struct mape_reasm_key {
	__u8 peer[16];		/* the outer source (BR or FMR CE) */
	__be32 src, dst;	/* V4: the inner addresses; V6: 0 */
	__be32 id;		/* the IPv6 fragment identification, or the IPv4 one */
	__u8 kind;		/* MAPE_REASM_V6 / MAPE_REASM_V4 */
	__u8 proto;		/* V4: the inner protocol */
	__u16 pad;
};

/* mape_reasm_src: datagrams in reassembly per sender (the outer source;
 * for IPv4 datagrams, and the inner source), so that one sender cannot
 * take the whole table. A count untouched for MAPE_REASM_TIMEOUT_NS
 * starts again from 0 (entries evicted meanwhile are forgotten so). */
struct mape_reasm_src_key {
	__u8 peer[16];
	__be32 src;		/* V4: the inner source; V6: 0 */
	__u32 pad;
};

struct mape_reasm_src {
	__u32 n;		/* datagrams being reassembled */
	__u32 pad;
	__u64 ns;		/* when one was last begun */
};

struct mape_reasm {
	__u64 ns;		/* when its first fragment (in time) came */
	__u16 total;		/* payload length, known from the last fragment; 0 until then */
	__u16 have;		/* payload bytes held */
	__u8 n;			/* fragments held */
	__u8 dead;		/* overlapping fragments: all of it is dropped until it ages out */
	__u8 hlen;		/* V4: the first fragment's IPv4 header length; 0 until it came */
	__u8 nexthdr;		/* V6: the first header of the fragmentable part */
	__u16 off[MAPE_REASM_FRAGS];	/* the fragments held: offset and length */
	__u16 len[MAPE_REASM_FRAGS];
	__u8 hdr[64];		/* V4: the first fragment's IPv4 header (zero-padded) */
	__u8 tclass;		/* the outer traffic class of the first fragment held */
	__u8 pad[7];
	__u8 data[MAPE_REASM_MAX + MAPE_REASM_FRAG_MAX];	/* the payload, at its offsets */
};

/*
 * mape_nh: next-hop cache of the XDP fast paths, so that an established
 * flow does not pay a FIB lookup per packet. A per-CPU array used as a
 * direct-mapped cache: the slot of an address is a multiplicative hash of
 * it, and the slot holds the address it answers for. An address is the
 * outer IPv6 destination or an IPv4-mapped one (::ffff:a.b.c.d, a LAN
 * host). An answer is trusted for MAPE_NH_TTL_NS, then asked again. Two
 * addresses sharing a slot cost a FIB lookup each time they alternate;
 * an array lookup costs far less than a hash table's (docs/performance.md).
 */
#define MAPE_NH_TTL_NS 1000000000ULL
#define MAPE_NH_SLOT_BITS 10
#define MAPE_NH_ENTRIES (1u << MAPE_NH_SLOT_BITS)

struct mape_nh_key {
	__u8 addr[16];
} __attribute__((aligned(4)));

struct mape_nh {
	__u64 ns;		/* when the FIB said so; 0: empty */
	__u32 ifindex;
	__u8 dmac[6];
	__u8 smac[6];
};

struct mape_nh_slot {
	struct mape_nh_key key;	/* the address this slot answers for */
	struct mape_nh nh;
};

/*
 * mape_pmtu: path MTUs learned from ICMPv6 Packet Too Big about our tunnel
 * packets (RFC 8201), per tunnel peer (BR or FMR CE; for the BR: per CE).
 * An entry lowers the tunnel MTU towards that peer for MAPE_PMTU_AGE_NS
 * (RFC 8201 s4: ten minutes), then it is forgotten. Never below 1280.
 */
#define MAPE_PMTU_ENTRIES 1024
#define MAPE_PMTU_AGE_NS (600ULL * 1000000000ULL)
#define MAPE_PMTU_MIN 1280
#define MAPE_DUMMY_IPV4 0xc0000008	/* 192.0.0.8 (RFC 7600): source of relayed errors */

struct mape_pmtu_key {
	__u8 peer[16];		/* the outer destination the packet too big was sent to */
};

struct mape_pmtu {
	__u32 mtu;		/* IPv6 path MTU (>= MAPE_PMTU_MIN) */
	__u32 pad;
	__u64 ns;		/* when it was learned (CLOCK_MONOTONIC) */
};

/*
 * Counters: one per-CPU array, indexed by these names. Every packet a
 * program sees ends in exactly one verdict counter (the *_ ones under
 * "verdicts"); events are counted besides.
 */
#define MAPE_COUNTERS(X)                                                                      \
	/* verdicts */                                                                        \
	X(PASS_NOT_OURS, "pass_not_ours", "not MAP-E traffic of ours: passed untouched")      \
	X(OUT_FAST, "out_fast", "LAN->WAN encapsulated in XDP (fast path)")                    \
	X(OUT_SLOW, "out_slow", "LAN->WAN encapsulated at TC (slow path)")                     \
	X(OUT_TO_KERNEL, "out_to_kernel", "LAN packet left to the kernel (no session/neigh)")  \
	X(IN_FAST, "in_fast", "WAN->LAN decapsulated and redirected in XDP")                   \
	X(IN_SLOW, "in_slow", "WAN->LAN decapsulated into the tunnel interface")              \
	X(HAIRPIN, "hairpin", "LAN->our IPv4 at a mapped port: delivered to the LAN host")     \
	X(DROP_TRUNCATED, "drop_truncated", "packet shorter than its headers")                  \
	X(DROP_BAD_HDR, "drop_bad_header", "malformed IPv4/IPv6 header or options")             \
	X(DROP_SPOOFED, "drop_spoofed", "outer source is neither the BR nor the FMR CE (s8.1)") \
	X(DROP_NOT_OURS, "drop_not_our_addr", "inner destination is not our IPv4 (s8.1)")       \
	X(DROP_PORT, "drop_port_outside", "inner destination port not in our set (s8.1)")      \
	X(DROP_NO_SESSION, "drop_no_session", "inbound packet without session")               \
	X(DROP_FILTERED, "drop_filtered", "inbound refused by address-dependent filtering")    \
	X(DROP_EXHAUSTED, "drop_ports_exhausted", "no tuple-unique port left (ICMP 13 sent)")   \
	X(DROP_TABLE_FULL, "drop_table_full", "session table full (ICMP 13 sent)")             \
	X(DROP_PROTO, "drop_proto", "IPv4 protocol the NAPT cannot translate")                  \
	X(DROP_FRAG, "drop_frag_unknown", "non-first fragment without its first fragment")     \
	X(DROP_ICMP_ERR, "drop_icmp_error", "ICMP error about no known session")                \
	X(DROP_ENCAP, "drop_encap", "headroom/resizing failed")                                 \
	X(DROP_MTU, "drop_mtu", "bigger than the tunnel MTU (to a CE sharing our IPv4) or a learned path MTU (with DF: ICMP sent)") \
	X(DROP_TTL, "drop_ttl", "to a CE sharing our IPv4: TTL expired (ICMP sent)")            \
	X(DROP_NO_CONFIG, "drop_no_config", "data path not configured")                         \
	X(DROP_EXT_HDR, "drop_ipv6_ext_hdr", "IPv6 extension header before IPIP")               \
	X(DROP_NOT_SYN, "drop_tcp_not_syn", "LAN TCP segment without session and without SYN")  \
	X(DROP_MARTIAN, "drop_martian", "martian address: inbound source, or hairpin target")  \
	X(DROP_HOST_LIMIT, "drop_host_limit", "the LAN host holds its share of sessions or ports (ICMP 13 sent)") \
	X(DROP_STALE, "drop_stale_session", "flow of a previous IPv4/port set: its session is ending") \
	X(DROP_FWD_FILTERED, "drop_fwd_filtered", "inbound to a forwarded port from a source its --from does not admit") \
	X(DROP_ECN, "drop_ecn", "CE-marked tunnel packet carrying a Not-ECT packet (RFC 6040 s4.2)") \
	X(IN_REASM, "in_reasm", "fragment left to the TC reassembly (outer IPv6 fragment, or an IPv4 fragment before its first)") \
	X(IN_FRAG_HELD, "in_frag_held", "fragment held at TC until its datagram is complete") \
	X(DROP_FRAG_OVERLAP, "drop_frag_overlap", "overlapping fragments (RFC 5722): the datagram is abandoned") \
	X(DROP_FRAG_DUP, "drop_frag_dup", "a fragment received twice") \
	X(DROP_FRAG_LIMIT, "drop_frag_limit", "fragment beyond the reassembly limits (size, count) or malformed") \
	/* events */                                                                          \
	X(EV_NEW_SESSION, "session_new", "sessions created")                                  \
	X(EV_OVERLAP, "session_overlapped", "sessions sharing a port with another host")      \
	X(EV_EXPIRED, "session_expired", "sessions expired by timer")                          \
	X(EV_MSS_CLAMP, "mss_clamped", "TCP MSS options lowered")                              \
	X(EV_ICMP_SENT, "icmp_sent", "ICMP errors sent to LAN hosts")                          \
	X(EV_ICMP_LIMITED, "icmp_rate_limited", "ICMP errors suppressed by the rate limit")   \
	X(EV_TO_KERNEL_NEIGH, "to_kernel_neigh", "to the kernel: next hop not resolved")      \
	X(EV_TO_KERNEL_MTU, "to_kernel_mtu", "to the kernel: needs fragmenting/ICMP")          \
	X(EV_TO_KERNEL_TTL, "to_kernel_ttl", "to the kernel: TTL <= 1")                        \
	X(EV_TO_KERNEL_LOCAL, "to_kernel_local", "to the kernel: router-local or not routed")  \
	X(EV_TO_KERNEL_CT, "to_kernel_ct", "to the kernel: not (or no longer) established in conntrack") \
	X(EV_TO_KERNEL_NEW, "to_kernel_new", "to the kernel: inbound packet that may start a flow") \
	X(EV_TO_KERNEL_FWD, "to_kernel_forward", "to the kernel: inbound packet that may start a flow to a forwarded port") \
	X(EV_OFFLOADED, "session_offloaded", "flows XDP took over once conntrack saw them established") \
	X(EV_CT_LOST, "session_ct_lost", "offloaded flows given back: their conntrack entry was gone") \
	X(EV_STALE_ENDED, "session_stale_ended", "sessions ended because our IPv4 or port set changed") \
	X(EV_TIMER_LATE, "session_timer_late", "sessions whose expiry timer the kernel could not allocate at once (armed later)") \
	X(EV_CSUM_COMPLETED, "csum_completed", "TCP/UDP checksums left to offload (CHECKSUM_PARTIAL) completed in XDP") \
	X(EV_CSUM_PARTIAL, "csum_partial_kept", "generic XDP: CHECKSUM_PARTIAL packets kept partial for the device") \
	X(EV_TO_KERNEL_XMIT, "to_kernel_veth", "to the kernel: the target veth's peer cannot take XDP frames (no GRO/XDP)") \
	X(EV_PMTU_LEARNED, "pmtu_learned", "ICMPv6 Packet Too Big about our tunnel packets: path MTU learned, relayed as ICMPv4 fragmentation needed") \
	X(EV_REASM_DONE, "reasm_done", "datagrams put back together at TC") \
	X(EV_REASM_TIMEOUT, "reasm_timeout", "reassemblies abandoned: not complete within 10 s")

#define MAPE_CTR_ENUM(id, name, help) MAPE_CTR_##id,
enum mape_counter { MAPE_COUNTERS(MAPE_CTR_ENUM) MAPE_CTR_MAX };
#undef MAPE_CTR_ENUM

struct mape_ctr {
	__u64 packets;
	__u64 bytes;
};

/* ---- BR mode (bpf/mape_br.bpf.c) ---- */

#define MAPE_BR_PIN_DIR "/sys/fs/bpf/mape-br"
#define MAPE_BR_MAX_RULES 4096

/* The single entry of mape_br_cfg, written by `mapectl br up`. */
struct mape_br_config {
	__u8 br_addr[16];	/* our BR address (outer source / decap destination) */
	__u32 flags;		/* MAPE_CFG_ENABLED */
	__u32 v6_ifindex;	/* IPv6 side (towards the CEs) */
	__u32 v4_ifindex;	/* IPv4 side (towards the internet) */
	__u32 tun_ifindex;	/* mapebr0: kernel-routed IPv4 to the CEs enters here */
	__u32 tun_peer_ifindex;	/* its veth peer: decapsulated packets enter the kernel here */
	__u8 tun_mac[6];
	__u8 tun_peer_mac[6];
	__u8 iid;		/* MAPE_IID_* of the domain */
	__u8 xdp_skb;
	__u16 mtu;		/* IPv4 MTU towards the CEs (v6 MTU - 40) */
	__u32 no_xdp_xmit;	/* native XDP must not redirect into these veths (their
				 * peer would drop XDP frames): MAPE_BR_NOXMIT_* */
};

#define MAPE_BR_NOXMIT_V6 0x1
#define MAPE_BR_NOXMIT_V4 0x2

/* mape_br_rules: LPM trie over IPv4 prefixes -> rule (key: struct mape_fmr_key). */

#define MAPE_BR_COUNTERS(X)                                                                   \
	X(PASS_NOT_OURS, "pass_not_ours", "not MAP-E traffic: passed untouched")               \
	X(DECAP_FAST, "decap_fast", "CE->internet decapsulated and redirected in XDP")         \
	X(DECAP_SLOW, "decap_slow", "CE->internet decapsulated into the kernel")               \
	X(ENCAP_FAST, "encap_fast", "internet->CE encapsulated in XDP")                        \
	X(ENCAP_SLOW, "encap_slow", "internet->CE encapsulated at TC (kernel-routed)")          \
	X(TO_KERNEL, "to_kernel", "IPv4 to a CE left to the kernel (TTL, neighbour, MTU)")     \
	X(DROP_TRUNCATED, "drop_truncated", "packet shorter than its headers")                  \
	X(DROP_BAD_HDR, "drop_bad_header", "malformed IPv4 header")                             \
	X(DROP_NO_RULE, "drop_no_rule", "decapsulated source covered by no rule")               \
	X(DROP_SPOOFED, "drop_spoofed", "outer source is not the CE of the inner source (s8.1)") \
	X(DROP_PORT, "drop_port_outside", "port outside every CE's port set")                  \
	X(DROP_PROTO, "drop_proto", "IPv4 protocol without ports")                              \
	X(DROP_FRAG, "drop_frag_unknown", "non-first fragment without its first fragment")     \
	X(DROP_EXT_HDR, "drop_ipv6_ext_hdr", "IPv6 extension header we do not handle")          \
	X(DROP_ENCAP, "drop_encap", "headroom/resizing failed")                                 \
	X(DROP_NO_CONFIG, "drop_no_config", "BR not configured")                                \
	X(DROP_ECN, "drop_ecn", "CE-marked tunnel packet carrying a Not-ECT packet (RFC 6040 s4.2)") \
	X(PTB_RELAYED, "ptb_relayed", "ICMPv6 Packet Too Big about a packet to a CE: relayed to its IPv4 sender as fragmentation needed") \
	X(TO_REASM, "to_reasm", "fragment left to the TC reassembly (outer IPv6 fragment, or an IPv4 fragment before its first)") \
	X(FRAG_HELD, "frag_held", "fragment held at TC until its datagram is complete") \
	X(DROP_FRAG_OVERLAP, "drop_frag_overlap", "overlapping fragments (RFC 5722): the datagram is abandoned") \
	X(DROP_FRAG_DUP, "drop_frag_dup", "a fragment received twice") \
	X(DROP_FRAG_LIMIT, "drop_frag_limit", "fragment beyond the reassembly limits (size, count) or malformed") \
	/* events, not verdicts */ \
	X(REASM_DONE, "reasm_done", "datagrams put back together at TC") \
	X(REASM_TIMEOUT, "reasm_timeout", "reassemblies abandoned: not complete within 10 s")

#define MAPE_BR_CTR_ENUM(id, name, help) MAPE_BR_##id,
enum mape_br_counter { MAPE_BR_COUNTERS(MAPE_BR_CTR_ENUM) MAPE_BR_CTR_MAX };
#undef MAPE_BR_CTR_ENUM

#endif
