/* SPDX-License-Identifier: MIT */
/*
 * nh.h - the fast paths' next-hop cache (mape_nh). A FIB lookup costs more
 * than the rest of an established packet's work; its answer (egress
 * interface and MACs) is reused for MAPE_NH_TTL_NS, then asked again, so
 * route and neighbour changes take effect within that time. Only complete
 * answers are cached: everything else still goes to the kernel. The cache
 * is a direct-mapped per-CPU array, not a hash table: the profile showed
 * the hash lookup as a third of an established packet's program time.
 * The cache is keyed by destination only (no source-based policy routing).
 */
#ifndef MAPE_BPF_NH_H
#define MAPE_BPF_NH_H

#include "maps.h"
#include "fwd.h"

/* The cache slot of an address: a multiplicative hash of its four words. */
static __always_inline __u32 nh_slot_of(const struct mape_nh_key *k)
{
	const __u32 *w = (const __u32 *)k->addr;

	return ((w[0] ^ w[1] ^ w[2] ^ w[3]) * 0x9e3779b1u) >> (32 - MAPE_NH_SLOT_BITS);
}

static __always_inline int nh_key_eq(const struct mape_nh_key *a, const struct mape_nh_key *b)
{
	const __u32 *x = (const __u32 *)a->addr, *y = (const __u32 *)b->addr;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]));
}

/*
 * Ask the FIB for the next hop of slot e's address (this CPU's slot, its
 * answer cleared by the caller) and keep it there: IPv6 (v6 = 1) from our
 * CE address out of the WAN, or IPv4 (the address's last 4 bytes) as if
 * received on the tunnel from src4. Returns 0, or the FIB's
 * non-success code (-1 for "routed back into the tunnel"). A subprogram:
 * its lookup buffer stays off the callers' stacks.
 */
static __noinline int nh_fill(void *ctx, const struct mape_config *cfg, struct mape_nh_slot *e,
			      int v6, __be32 src4)
{
	const struct mape_nh_key *k = &e->key;
	struct bpf_fib_lookup f;
	int rc;

	if (v6)
		rc = fib6_out(ctx, &f, cfg->ce_addr, k->addr, cfg->wan_ifindex, 0);
	else
		rc = fib4(ctx, &f, src4, *(__be32 *)&k->addr[12], cfg->tun_ifindex, 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc;
	if (!v6 && f.ifindex == cfg->tun_ifindex)
		return -1;
	e->nh.ns = bpf_ktime_get_coarse_ns();
	e->nh.ifindex = f.ifindex;
	__builtin_memcpy(e->nh.dmac, f.dmac, ETH_ALEN);
	__builtin_memcpy(e->nh.smac, f.smac, ETH_ALEN);
	return 0;
}

/*
 * The next hop of k, from this CPU's cache while fresh (now: the caller's
 * coarse clock); NULL with *rc set if none. The slot is per CPU, so a
 * reader never sees another CPU's half-written entry.
 */
static __always_inline struct mape_nh *nh_get(void *ctx, const struct mape_config *cfg,
					      const struct mape_nh_key *k, int v6, __be32 src4,
					      __u64 now, int *rc)
{
	__u32 i = nh_slot_of(k);
	struct mape_nh_slot *e = bpf_map_lookup_elem(&mape_nh, &i);

	*rc = -1;
	if (!e)
		return NULL;
	*rc = 0;
	if (e->nh.ns && now - e->nh.ns < MAPE_NH_TTL_NS && nh_key_eq(&e->key, k))
		return &e->nh;
	e->nh.ns = 0;	/* no answer until the FIB gives this address one */
	e->key = *k;
	*rc = nh_fill(ctx, cfg, e, v6, src4);
	return *rc ? NULL : &e->nh;
}

static __always_inline void nh_key4(struct mape_nh_key *k, __be32 a)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	*(__be32 *)&k->addr[12] = a;
}

#endif
