/* SPDX-License-Identifier: MIT */
/*
 * csum.h - checksum updates after rewriting a field, one API for both
 * program types. XDP updates the packet's checksum fields incrementally
 * (RFC 1624: HC' = ~(~HC + ~m + m')); TC uses bpf_l3/l4_csum_replace, which
 * also honour CHECKSUM_PARTIAL skbs (local and veth traffic).
 *
 * Offsets are from the start of the packet. The TC helpers invalidate all
 * packet pointers; XDP writes do not.
 */
#ifndef MAPE_BPF_CSUM_H
#define MAPE_BPF_CSUM_H

#include "common.h"

#define CSUM_NONE -1	/* no checksum field to fix */

/* Kinds of L4 checksum: pseudo-header covered (TCP/UDP) or not (ICMP). */
#define L4_PSEUDO 0x1
#define L4_UDP 0x2	/* zero means "no checksum": keep it zero */

static __always_inline __u16 csum_fold32(__u32 c)
{
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	return (__u16)c;
}

/* Incremental update of a 16-bit one's complement checksum for a 32-bit
 * field that changes from `from` to `to` (both as stored, network order). */
static __always_inline __u16 csum_upd4(__u16 check, __be32 from, __be32 to)
{
	__u32 s = (__u16)~check;

	s += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	s += (to & 0xffff) + (to >> 16);
	return ~csum_fold32(s);
}

static __always_inline __u16 csum_upd2(__u16 check, __be16 from, __be16 to)
{
	__u32 s = (__u16)~check;

	s += (__u16)~from + to;
	return ~csum_fold32(s);
}

/* XDP: fix the 16-bit checksum at csum_off for a 4- or 2-byte change. */
static __always_inline int xdp_csum_fix(void *ctx, int csum_off, __u32 size, __u32 from, __u32 to,
					int udp)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	__u16 *c;

	if (csum_off < 0)
		return 0;
	if (csum_off > PKT_OFF_MAX)
		return -1;
	c = data + (csum_off & PKT_OFF_MAX);
	if (!PKT_OK(c, 2, end))
		return -1;
	if (udp && *c == 0)
		return 0;
	*c = size == 4 ? csum_upd4(*c, from, to) : csum_upd2(*c, (__be16)from, (__be16)to);
	if (udp && *c == 0)
		*c = 0xffff;
	return 0;
}

/* Fix the checksum at csum_off for a 16-bit word of the data it covers that
 * changed from `from` to `to` (written already). */
static __always_inline int csum_fix16(void *ctx, const int xdp, int csum_off, __u16 from, __u16 to)
{
	if (from == to)
		return 0;
	if (xdp)
		return xdp_csum_fix(ctx, csum_off, 2, from, to, 0);
	return bpf_l3_csum_replace(ctx, csum_off, from, to, 2) ? -1 : 0;
}

/*
 * Write a 4-byte (size 4) or 2-byte (size 2) field at off and fix the IPv4
 * header checksum (ip_csum_off) and the L4 checksum (l4_csum_off, with
 * L4_* kind). Returns 0, or -1 when the packet is too short.
 */
static __always_inline int rewrite_field(void *ctx, const int xdp, __u32 off, __u32 size,
					 __u32 from, __u32 to, int ip_csum_off, int l4_csum_off,
					 int l4_kind)
{
	if (from == to)
		return 0;
	if (xdp) {
		void *data = ctx_data(ctx, xdp), *end = ctx_end(ctx, xdp);
		void *p;

		if (off > PKT_OFF_MAX)
			return -1;
		p = data + (off & PKT_OFF_MAX);

		if (size == 4) {
			if (!PKT_OK(p, 4, end))
				return -1;
			*(__u32 *)p = to;
		} else {
			if (!PKT_OK(p, 2, end))
				return -1;
			*(__u16 *)p = (__u16)to;
		}
		if (xdp_csum_fix(ctx, ip_csum_off, size, from, to, 0))
			return -1;
		/* a pseudo-header field counts in the L4 sum only as pseudo */
		return xdp_csum_fix(ctx, l4_csum_off, size, from, to, l4_kind & L4_UDP);
	} else {
		struct __sk_buff *skb = ctx;
		__u64 fl = size;

		if (bpf_skb_store_bytes(skb, off, &to, size, 0))
			return -1;
		if (ip_csum_off >= 0 && bpf_l3_csum_replace(skb, ip_csum_off, from, to, size))
			return -1;
		if (l4_csum_off >= 0) {
			if (l4_kind & L4_PSEUDO)
				fl |= BPF_F_PSEUDO_HDR;
			if (l4_kind & L4_UDP)
				fl |= BPF_F_MARK_MANGLED_0;
			if (bpf_l4_csum_replace(skb, l4_csum_off, from, to, fl))
				return -1;
		}
		return 0;
	}
}

#endif
