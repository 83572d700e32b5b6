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

static __always_inline void put_ip6hdr(struct ipv6hdr *h, __u16 payload_len, const __u8 *src,
				       const __u8 *dst)
{
	*(__be32 *)h = bpf_htonl(0x60000000);	/* version 6, class 0, flow 0 */
	h->payload_len = bpf_htons(payload_len);
	h->nexthdr = NEXTHDR_IPIP;
	h->hop_limit = MAPE_HOP_LIMIT;
	ip6_cpy((__u8 *)&h->saddr, src);
	ip6_cpy((__u8 *)&h->daddr, dst);
}

#endif
