/* SPDX-License-Identifier: MIT */
/*
 * ip6.h - IPv6 address helpers and the MAP-E outer header (next header 4,
 * hop limit 64, no extension headers: RFC 7597 s7; BRs drop the
 * encapsulation-limit option Linux ip6tnl adds by default).
 * Addresses are copied as two u64: callers keep stack copies 8-aligned.
 */
#ifndef MAPE_BPF_IP6_H
#define MAPE_BPF_IP6_H

#include "common.h"

#define MAPE_HOP_LIMIT 64

static __always_inline int ip6_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u64 *)a == *(const __u64 *)b &&
	       *(const __u64 *)(a + 8) == *(const __u64 *)(b + 8);
}

static __always_inline void ip6_cpy(__u8 *d, const __u8 *s)
{
	*(__u64 *)d = *(const __u64 *)s;
	*(__u64 *)(d + 8) = *(const __u64 *)(s + 8);
}

/* The outer header; its traffic class carries the inner packet's ECN field
 * (RFC 6040 s4.1, normal mode), DSCP 0, flow label 0. */
static __always_inline void put_ip6hdr(struct ipv6hdr *h, __u16 payload_len, __u8 inner_tos,
				       const __u8 *src, const __u8 *dst)
{
	*(__be32 *)h = bpf_htonl(0x60000000 | (__u32)(inner_tos & 3) << 20);
	h->payload_len = bpf_htons(payload_len);
	h->nexthdr = NEXTHDR_IPIP;
	h->hop_limit = MAPE_HOP_LIMIT;
	ip6_cpy((__u8 *)&h->saddr, src);
	ip6_cpy((__u8 *)&h->daddr, dst);
}

/* tunnel_outer() results besides "inner offset" and 0 (not ours) */
#define OUTER_TRUNCATED -1
#define OUTER_EXT_HDR -2
#define OUTER_BAD_HDR -3
#define OUTER_FRAG -4		/* an IPv6 fragment: for reassembly (reasm.h) */

/*
 * The outer header of a MAP-E packet on an XDP ingress: IPv6 (version 6)
 * to `dst` with next header 4, after at most one destination-options
 * header of at most 64 bytes (Linux ip6tnl adds an 8-byte
 * encapsulation-limit option). An IPv6 fragment header gives OUTER_FRAG:
 * the packet is reassembled at TC (reasm.h). The payload length must be non-zero and
 * present in the frame. Returns the inner IPv4 offset in the low byte, the
 * frame offset where the outer packet ends (OUTER_END) above it and the
 * outer ECN field (OUTER_ECN) in bits 26-27, 0 for
 * "not ours", or OUTER_*; copies the outer source to osrc. XDP or TC (whose
 * headers the caller pulled into the linear part). A subprogram, so packet
 * pointers stay in it.
 */
static __noinline int tunnel_outer(void *ctx, const int xdp, const __u8 *dst, __u8 *osrc)
{
	void *data = ctx_data(ctx, xdp), *end = ctx_end(ctx, xdp);
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	__u32 l3 = ETH_HLEN + IPV6_HLEN, pend;
	__u8 *opt, nh;

	if (!PKT_OK(eth, ETH_HLEN, end) || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return 0;
	if (!PKT_OK(ip6, IPV6_HLEN, end) || !ip6_eq((__u8 *)&ip6->daddr, dst))
		return 0;
	nh = ip6->nexthdr;
	ip6_cpy(osrc, (__u8 *)&ip6->saddr);
	if (ip6->version != 6 || !ip6->payload_len)
		return OUTER_BAD_HDR;
	pend = ETH_HLEN + IPV6_HLEN + bpf_ntohs(ip6->payload_len);
	if (pend > (xdp ? (__u32)(end - data) : ((struct __sk_buff *)ctx)->len))
		return OUTER_TRUNCATED;
	if (nh == NEXTHDR_DEST) {
		opt = data + l3;
		if (!PKT_OK(opt, 8, end))
			return OUTER_TRUNCATED;
		nh = opt[0];
		if (opt[1] > 7)
			return OUTER_EXT_HDR;
		l3 += ((__u32)opt[1] + 1) * 8;
	}
	if (nh == 44)
		return l3 == ETH_HLEN + IPV6_HLEN ? OUTER_FRAG : OUTER_EXT_HDR;
	if (nh != NEXTHDR_IPIP)
		return 0;
	if (l3 >= pend)
		return OUTER_TRUNCATED;
	return (int)(l3 | pend << 8 | (bpf_ntohl(*(__be32 *)ip6) >> 20 & 3) << 26);
}

#define OUTER_L3(rc) ((__u32)(rc) & 0xff)		/* the inner IPv4's offset */
#define OUTER_END(rc) ((__u32)(rc) >> 8 & 0x3ffff)	/* where the outer packet ends */
#define OUTER_ECN(rc) ((__u8)((__u32)(rc) >> 26 & 3))	/* the outer ECN field */

#endif
