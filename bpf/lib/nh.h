/* SPDX-License-Identifier: MIT */
/*
 * nh.h - the fast paths' next-hop cache (mape_nh). A FIB lookup costs more
 * than the rest of an established packet's work; its answer (egress
 * interface and MACs) is reused for MAPE_NH_TTL_NS, then asked again, so
 * route and neighbour changes take effect within that time. Only complete
 * answers are cached: everything else still goes to the kernel.
 * The cache is keyed by destination only (no source-based policy routing).
 */
#ifndef MAPE_BPF_NH_H
#define MAPE_BPF_NH_H

#include "maps.h"
#include "fwd.h"

/*
 * Ask the FIB for k's next hop and cache it: IPv6 (v6 = 1) from our CE
 * address out of the WAN, or IPv4 (the key's last 4 bytes) as if received
 * on the tunnel from src4. Returns 0, or the FIB's non-success code (-1 for
 * "routed back into the tunnel"). A subprogram: its lookup buffer stays off
 * the callers' stacks.
 */
static __noinline int nh_fill(void *ctx, const struct mape_config *cfg, struct mape_nh_key *k,
			      int v6, __be32 src4)
{
	struct bpf_fib_lookup f;
	struct mape_nh n = {};
	int rc;

	if (v6)
		rc = fib6_out(ctx, &f, cfg->ce_addr, k->addr, cfg->wan_ifindex, 0);
	else
		rc = fib4(ctx, &f, src4, *(__be32 *)&k->addr[12], cfg->tun_ifindex, 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc;
	if (!v6 && f.ifindex == cfg->tun_ifindex)
		return -1;
	n.ns = bpf_ktime_get_coarse_ns();
	n.ifindex = f.ifindex;
	__builtin_memcpy(n.dmac, f.dmac, ETH_ALEN);
	__builtin_memcpy(n.smac, f.smac, ETH_ALEN);
	bpf_map_update_elem(&mape_nh, k, &n, BPF_ANY);
	return 0;
}

/* The next hop of k, from the cache while fresh; NULL with *rc set if none. */
static __always_inline struct mape_nh *nh_get(void *ctx, const struct mape_config *cfg,
					      struct mape_nh_key *k, int v6, __be32 src4, int *rc)
{
	struct mape_nh *n = bpf_map_lookup_elem(&mape_nh, k);

	*rc = 0;
	if (n && bpf_ktime_get_coarse_ns() - n->ns < MAPE_NH_TTL_NS)
		return n;
	*rc = nh_fill(ctx, cfg, k, v6, src4);
	return *rc ? NULL : bpf_map_lookup_elem(&mape_nh, k);
}

static __always_inline void nh_key4(struct mape_nh_key *k, __be32 a)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	*(__be32 *)&k->addr[12] = a;
}

#endif
