/* SPDX-License-Identifier: MIT */
/*
 * maps.h - every map of the data path, in one place, for both roles: the
 * CE's (mape_ce.bpf.c) and, with MAPE_ROLE_BR defined before the includes,
 * the BR's (mape_br.bpf.c). Names are mape_* (<= 15 characters); mapectl
 * pins them under --pin-dir (default /sys/fs/bpf/mape, BR /sys/fs/bpf/mape-br)
 * and fills the configuration and rules.
 *
 * Each role gets the same three names, so shared code needs no role:
 *   count(ctr, bytes)   add a packet to one of the role's counters
 *   get_cfg()           the role's active configuration, or NULL
 *   parse_ctr(err)      the role's drop counter of a parse error (parse.h)
 */
#ifndef MAPE_BPF_MAPS_H
#define MAPE_BPF_MAPS_H

#include "common.h"

/*
 * A role's reassembly maps (reasm.h): NAME, datagrams being put back
 * together at TC; NAME##0, a zeroed value to start one from (its 10 KiB
 * are off any stack); NAME##_src, the datagrams each sender has in
 * progress (its quota). LRU lists per CPU: the common LRU refills a CPU's
 * free list with up to 128 entries at a time, evicting live ones, which
 * for a map this small meant datagrams lost while it was nearly empty
 * (seen on 6.1). Each CPU evicts only what it inserted, beyond its share
 * of MAPE_REASM_ENTRIES.
 */
#define MAPE_REASM_MAPS(NAME)                                                  \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);                           \
		__uint(map_flags, BPF_F_NO_COMMON_LRU);                        \
		__uint(max_entries, MAPE_REASM_ENTRIES);                       \
		__type(key, struct mape_reasm_key);                            \
		__type(value, struct mape_reasm);                              \
	} NAME SEC(".maps");                                                   \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                       \
		__uint(max_entries, 1);                                        \
		__type(key, __u32);                                            \
		__type(value, struct mape_reasm);                              \
	} NAME##0 SEC(".maps");                                                \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);                           \
		__uint(max_entries, MAPE_REASM_SRC_ENTRIES);                   \
		__type(key, struct mape_reasm_src_key);                        \
		__type(value, struct mape_reasm_src);                          \
	} NAME##_src SEC(".maps")

#ifndef MAPE_ROLE_BR

/* The configuration, written by `mapectl up`: two entries, the active
 * one chosen by mape_cfg_sel (see struct mape_cfg_sel). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct mape_config);
} mape_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mape_cfg_sel);
} mape_cfg_sel SEC(".maps");

/* Forwarding rules (mesh): IPv4 destination prefix -> rule. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAPE_MAX_FMRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mape_fmr_key);
	__type(value, struct mape_rule);
} mape_fmr SEC(".maps");

/* Sessions by LAN-side tuple: state and expiry timer. Not LRU: a live
 * session is never evicted; a full table refuses new sessions. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAPE_MAX_SESSIONS);
	__type(key, struct mape_out_key);
	__type(value, struct mape_session);
} mape_out SEC(".maps");

/* Sessions by WAN-side tuple -> LAN endpoint. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAPE_MAX_SESSIONS);
	__type(key, struct mape_in_key);
	__type(value, struct mape_in_val);
} mape_in SEC(".maps");

/* Endpoint-independent mappings: LAN endpoint -> external port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAPE_MAX_SESSIONS);
	__type(key, struct mape_bind_key);
	__type(value, struct mape_bind);
} mape_bind SEC(".maps");

/* Per (protocol, port) usage: index = proto_idx * 65536 + port. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAPE_P_NUM * 65536);
	__type(key, __u32);
	__type(value, struct mape_port);
} mape_ports SEC(".maps");

/* Ports in use per protocol (index enum mape_proto_idx): when all are, the
 * free-port scan is skipped and allocation goes straight to overlapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAPE_P_NUM);
	__type(key, __u32);
	__type(value, __u32);
} mape_pused SEC(".maps");

/* Fair sharing: sessions per LAN host (--max-sessions-per-host). Entries
 * stay (a host that comes back finds its count at 0); when the map is full,
 * a new host's sessions are not counted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __be32);
	__type(value, struct mape_host);
} mape_hosts SEC(".maps");

/* Address-dependent filtering: remote addresses each port has talked to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAPE_MAX_SESSIONS);
	__type(key, struct mape_adf_key);
	__type(value, __u32);
} mape_adf SEC(".maps");

/* Port forwarding (`mapectl forward`): forwarded port -> LAN server. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAPE_MAX_FWDS);
	__type(key, struct mape_fwd_key);
	__type(value, struct mape_fwd);
} mape_fwd SEC(".maps");

/* ... and the server's endpoint -> the forwarded port it sends from. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAPE_MAX_FWDS);
	__type(key, struct mape_bind_key);
	__type(value, struct mape_fwd_rev);
} mape_fwd_rev SEC(".maps");

/* Sources each filtered forward admits (--from). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAPE_MAX_FWD_SRCS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mape_fwd_src_key);
	__type(value, __u32);
} mape_fwd_src SEC(".maps");

/* The NAT session log: events for mapectl daemon --session-log. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MAPE_EVENTS_BYTES);
} mape_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mape_evlog);
} mape_evlog SEC(".maps");

/* First-fragment decisions for the following fragments (a cache: LRU). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAPE_FRAG_ENTRIES);
	__type(key, struct mape_frag_key);
	__type(value, struct mape_frag_val);
} mape_frag SEC(".maps");

/* The CE's reassembly maps (MAPE_REASM_MAPS above). */
MAPE_REASM_MAPS(mape_reasm);

/* Path MTUs learned from ICMPv6 Packet Too Big, per tunnel peer (LRU, per
 * CPU lists: see MAPE_REASM_MAPS). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, MAPE_PMTU_ENTRIES);
	__type(key, struct mape_pmtu_key);
	__type(value, struct mape_pmtu);
} mape_pmtu SEC(".maps");

/* Next hops of the fast paths: a direct-mapped cache per CPU (nh.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAPE_NH_ENTRIES);
	__type(key, __u32);
	__type(value, struct mape_nh_slot);
} mape_nh SEC(".maps");

/* Counters, per CPU, indexed by enum mape_counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAPE_CTR_MAX);
	__type(key, __u32);
	__type(value, struct mape_ctr);
} mape_stats SEC(".maps");

/* Token bucket for the ICMP errors we originate (one entry). */
struct mape_rl {
	__u64 last_ns;
	__u64 tokens;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mape_rl);
} mape_icmp_rl SEC(".maps");

/* The janitor: one timer, armed (by `up`'s sweep program) once, started
 * when a session could not get its own timer; it sweeps mape_out. */
struct mape_janitor {
	struct bpf_timer timer;
	__u32 pending;		/* started and not run yet */
	/* the last sweep's findings (kept here, not on the stack: the
	 * verifier then need not walk the callback once per count) */
	__u32 found;		/* sessions of another epoch, made to end */
	__u32 unarmed;		/* sessions whose timer still could not be armed */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mape_janitor);
} mape_janitor SEC(".maps");

/* Per-CPU scratch for building a session value off the (512-byte) stack;
 * raw bytes, since per-CPU maps may not hold a bpf_timer. */
struct mape_sess_raw {
	__u8 bytes[sizeof(struct mape_session)];
} __attribute__((aligned(8)));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mape_sess_raw);
} mape_scratch SEC(".maps");

#define MAPE_STATS_MAP mape_stats
#define MAPE_DROP_TRUNCATED MAPE_CTR_DROP_TRUNCATED
#define MAPE_DROP_BAD_HDR MAPE_CTR_DROP_BAD_HDR
#define MAPE_DROP_PROTO MAPE_CTR_DROP_PROTO

/* May native XDP redirect into ifindex? Not into a LAN or WAN veth whose
 * peer would drop the frames (no GRO, no XDP there: see user/veth.c). */
static __always_inline int xmit_ok(const struct mape_config *cfg, __u32 ifindex)
{
	__u32 m = cfg->no_xdp_xmit;

	if (!m)
		return 1;
	if ((m & MAPE_NOXMIT_WAN) && ifindex == cfg->wan_ifindex)
		return 0;
	for (int i = 0; i < MAPE_MAX_LANS; i++)
		if ((m & (1u << i)) && cfg->lan_ifindex[i] == ifindex)
			return 0;
	return 1;
}

/* The active configuration, or NULL when the data path is not set up. */
static __always_inline struct mape_config *get_cfg(void)
{
	__u32 zero = 0, slot;
	struct mape_cfg_sel *sel = bpf_map_lookup_elem(&mape_cfg_sel, &zero);
	struct mape_config *cfg;

	if (!sel)
		return NULL;
	slot = sel->generation & 1;
	cfg = bpf_map_lookup_elem(&mape_cfg, &slot);

	return cfg && (cfg->flags & MAPE_CFG_ENABLED) ? cfg : NULL;
}

#else /* MAPE_ROLE_BR */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mape_br_config);
} mape_br_cfg SEC(".maps");

/* The domain's rules: IPv4 prefix -> rule (BMR and FMRs alike). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAPE_BR_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mape_fmr_key);
	__type(value, struct mape_rule);
} mape_br_rules SEC(".maps");

/* First fragments' CEs, by (CE, src, dst, id, proto): later fragments follow. */
struct mape_br_frag_val {
	__u8 ce[16];
	__u64 ns;		/* when the first fragment passed */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAPE_FRAG_ENTRIES);
	__type(key, struct mape_frag_key);
	__type(value, struct mape_br_frag_val);
} mape_br_frag SEC(".maps");

/* Datagrams being put back together at TC (reasm.h), per CE. */
MAPE_REASM_MAPS(mape_br_reasm);

/* Counters, per CPU, indexed by enum mape_br_counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAPE_BR_CTR_MAX);
	__type(key, __u32);
	__type(value, struct mape_ctr);
} mape_br_stats SEC(".maps");

static __always_inline struct mape_br_config *get_cfg(void)
{
	__u32 zero = 0;
	struct mape_br_config *cfg = bpf_map_lookup_elem(&mape_br_cfg, &zero);

	return cfg && (cfg->flags & MAPE_CFG_ENABLED) ? cfg : NULL;
}

#define MAPE_STATS_MAP mape_br_stats
#define MAPE_DROP_TRUNCATED MAPE_BR_DROP_TRUNCATED
#define MAPE_DROP_BAD_HDR MAPE_BR_DROP_BAD_HDR
#define MAPE_DROP_PROTO MAPE_BR_DROP_PROTO

#endif /* MAPE_ROLE_BR */

/* One of this role's counters: a packet of `bytes` more. */
static __always_inline void count(__u32 ctr, __u32 bytes)
{
	struct mape_ctr *c = bpf_map_lookup_elem(&MAPE_STATS_MAP, &ctr);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* The drop counter of a parse error (-MAPE_PARSE_*, parse.h), in this
 * role's counters. */
static __always_inline __u32 parse_ctr(int err)
{
	if (err == -MAPE_PARSE_TRUNCATED)
		return MAPE_DROP_TRUNCATED;
	if (err == -MAPE_PARSE_BAD_HDR)
		return MAPE_DROP_BAD_HDR;
	return MAPE_DROP_PROTO;
}

#endif
