/* SPDX-License-Identifier: MIT */
/*
 * fwd.h - forwarding helpers shared by the CE and BR programs: FIB lookups
 * (IPv4 as a router would forward; IPv6 towards the tunnel peer) and the
 * Ethernet header of a redirected frame.
 */
#ifndef MAPE_BPF_FWD_H
#define MAPE_BPF_FWD_H

#include "common.h"
#include "ip6.h"

static __always_inline int fib4(void *ctx, struct bpf_fib_lookup *f, __be32 src, __be32 dst,
				__u32 ifindex, __u16 tot_len)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->family = AF_INET;
	f->ipv4_src = src;
	f->ipv4_dst = dst;
	f->ifindex = ifindex;
	f->tot_len = tot_len;
	return bpf_fib_lookup(ctx, f, sizeof(*f), 0);
}

static __always_inline int fib6_out(void *ctx, struct bpf_fib_lookup *f, const __u8 *src,
				    const __u8 *dst, __u32 ifindex, __u16 tot_len)
{
	__builtin_memset(f, 0, sizeof(*f));
	f->family = AF_INET6;
	ip6_cpy((__u8 *)f->ipv6_src, src);
	ip6_cpy((__u8 *)f->ipv6_dst, dst);
	f->ifindex = ifindex;
	f->tot_len = tot_len;
	return bpf_fib_lookup(ctx, f, sizeof(*f), BPF_FIB_LOOKUP_OUTPUT);
}

/* Packet length; a subprogram so clang cannot spill the 32-bit data
 * pointer load to the stack (the verifier refuses 4-byte pointer spills). */
static __noinline __u32 xdp_len(struct xdp_md *ctx)
{
	return ctx_len(ctx, CTX_XDP);
}

/* Set the Ethernet header at the packet start. */
static __always_inline int put_eth(void *ctx, const int xdp, const __u8 *dmac, const __u8 *smac,
				   __u16 proto)
{
	void *data = ctx_data(ctx, xdp), *end = ctx_end(ctx, xdp);
	struct ethhdr *eth = data;

	if (!PKT_OK(eth, ETH_HLEN, end))
		return -1;
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = bpf_htons(proto);
	return 0;
}

#endif
