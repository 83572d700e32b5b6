/* SPDX-License-Identifier: MIT */
/*
 * encap.h - the MAP-E tunnel: choosing the outer destination (FMR peer or
 * BR, RFC 7597 s7), the outer header (next header 4, hop limit 64, no
 * extension headers), and the s8.1 check of a decapsulated packet's outer
 * source. Pure functions of addresses; no packet pointers kept.
 */
#ifndef MAPE_BPF_ENCAP_H
#define MAPE_BPF_ENCAP_H

#include "maps.h"
#include "ip6.h"

/* Forwarding rule covering an IPv4 address, or NULL. */
static __always_inline struct mape_rule *fmr_lookup(__be32 addr)
{
	struct mape_fmr_key k = { .prefixlen = 32, .addr = addr };

	return bpf_map_lookup_elem(&mape_fmr, &k);
}

/* Outer destination for IPv4 destination daddr:dport (FMR mesh or BR). */
static __always_inline void outer_dst(const struct mape_config *cfg, __be32 daddr, __be16 dport,
				      __u8 *out)
{
	struct mape_rule *r = fmr_lookup(daddr);

	if (r)
		mape_peer_addr(out, r, bpf_ntohl(daddr), bpf_ntohs(dport), cfg->iid);
	else
		ip6_cpy(out, cfg->br_addr);
}

/*
 * RFC 7597 s8.1: the outer source must be the BR, or the CE address that
 * the FMR covering the inner source derives from its address and port.
 */
static __always_inline int outer_src_ok(const struct mape_config *cfg, const __u8 *osrc,
					__be32 isrc, __be16 isport)
{
	struct mape_rule *r;
	__u8 want[16] __attribute__((aligned(8)));

	if (ip6_eq(osrc, cfg->br_addr))
		return 1;
	r = fmr_lookup(isrc);
	if (!r)
		return 0;
	mape_peer_addr(want, r, bpf_ntohl(isrc), bpf_ntohs(isport), cfg->iid);
	return ip6_eq(osrc, want);
}

#endif
