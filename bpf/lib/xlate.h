/* SPDX-License-Identifier: MIT */
/*
 * xlate.h - rewriting a parsed IPv4 packet for the NAPT, shared by XDP and
 * TC: source side (outbound), destination side (inbound), both for plain
 * packets and for ICMP errors whose embedded header is translated back
 * (RFC 5508 s4.2); TTL decrement; TCP MSS clamping.
 *
 * All offsets come from struct pkt4; rewrite_field() re-derives packet
 * pointers for every field, so the TC helpers' invalidation is harmless.
 * The embedded IPv4 header's checksum is fixed with its address; the two
 * changes cancel out in the ICMP checksum, so only port changes touch it.
 */
#ifndef MAPE_BPF_XLATE_H
#define MAPE_BPF_XLATE_H

#include "csum.h"
#include "parse.h"

/* Offset of the L4 checksum of a plain packet (CSUM_NONE: none/fragment). */
static __always_inline int l4_csum_off(const struct pkt4 *p)
{
	if (p->frag == FRAG_LATER)
		return CSUM_NONE;
	if (p->proto == IPPROTO_TCP)
		return p->l4 + 16;
	if (p->proto == IPPROTO_UDP)
		return p->l4 + 6;
	return p->l4 + 2;	/* ICMP: not pseudo-header covered */
}

static __always_inline int l4_kind(__u8 proto)
{
	return proto == IPPROTO_TCP ? L4_PSEUDO : proto == IPPROTO_UDP ? L4_PSEUDO | L4_UDP : 0;
}

/* Offset of the port/identifier field on side `dst` (0 source, 1 dest). */
static __always_inline __u32 port_off(__u32 l4, __u8 proto, int dst)
{
	if (proto == IPPROTO_ICMP)
		return l4 + 4;	/* echo identifier */
	return l4 + (dst ? 2 : 0);
}

/*
 * Rewrite one endpoint of a plain (non-error) packet: address at IPv4
 * offset 12 (source) or 16 (destination), and the port or echo id.
 */
static __always_inline int xlate_plain(void *ctx, const int xdp, const struct pkt4 *p, int dst,
				       __be32 old_a, __be32 new_a, __be16 old_p, __be16 new_p)
{
	int l4c = l4_csum_off(p), kind = l4_kind(p->proto);

	/* ICMP's checksum does not cover the IPv4 addresses */
	if (rewrite_field(ctx, xdp, p->l3 + (dst ? 16 : 12), 4, old_a, new_a, p->l3 + 10,
			  p->proto == IPPROTO_ICMP ? CSUM_NONE : l4c, kind))
		return -1;
	if (p->frag == FRAG_LATER)
		return 0;
	/* ports are not in the pseudo-header: for CHECKSUM_PARTIAL packets the
	 * helper must leave the field alone (the device adds them later) */
	return rewrite_field(ctx, xdp, port_off(p->l4, p->proto, dst), 2, old_p, new_p,
			     CSUM_NONE, l4c, kind & L4_UDP);
}

/* The 16 bits at off (as stored), or -1 beyond the packet. */
static __always_inline int load16(void *ctx, const int xdp, __u32 off, __u16 *v)
{
	if (xdp) {
		void *data = ctx_data(ctx, xdp), *end = ctx_end(ctx, xdp);
		__u16 *p;

		if (off > PKT_OFF_MAX)
			return -1;
		BARRIER_VAR(off);	/* keeps the mask (common.h) */
		p = data + (off & PKT_OFF_MAX);
		if (!PKT_OK(p, 2, end))
			return -1;
		*v = *p;
		return 0;
	}
	return bpf_skb_load_bytes(ctx, off, v, 2) ? -1 : 0;
}

/*
 * Offset of the quoted packet's own checksum in an ICMP error, when the
 * quote holds it (a router may quote only 8 bytes: RFC 792): UDP's (a
 * zero one stays zero), TCP's, an echo's. CSUM_NONE otherwise.
 */
static __always_inline int quoted_csum_off(const struct pkt4 *p)
{
	__u32 at = p->eproto == IPPROTO_TCP ? 16 : p->eproto == IPPROTO_UDP ? 6 : 2;

	if (p->e4 + at + 2 > p->l3 + p->tot_len)
		return CSUM_NONE;
	return p->e4 + at;
}

/*
 * ICMP error: rewrite the outer address on side `dst` (old_outer: its value,
 * which is not always the quoted one: the error may come from a router on
 * the way) and the embedded packet's opposite side (the error quotes a
 * packet going the other way). RFC 5508 s4.2: the quoted packet is made
 * whole again: its IPv4 header checksum, and its own TCP/UDP checksum
 * (address: pseudo-header; port) or echo checksum (identifier). The ICMP
 * checksum covers all of the quote: the quoted address and its header
 * checksum cancel out, the port and the quoted checksum's change do not.
 */
static __always_inline int xlate_icmp_err(void *ctx, const int xdp, const struct pkt4 *p, int dst,
					  __be32 old_outer, __be32 old_a, __be32 new_a, __be16 old_p,
					  __be16 new_p)
{
	int qc = quoted_csum_off(p), qkind = p->eproto == IPPROTO_UDP ? L4_UDP : 0;
	__u16 c0 = 0, c1 = 0;

	if (qc >= 0 && load16(ctx, xdp, qc, &c0))
		qc = CSUM_NONE;
	if (old_outer != new_a &&
	    rewrite_field(ctx, xdp, p->l3 + (dst ? 16 : 12), 4, old_outer, new_a, p->l3 + 10,
			  CSUM_NONE, 0))
		return -1;
	/* an echo's checksum does not cover addresses */
	if (rewrite_field(ctx, xdp, p->e3 + (dst ? 12 : 16), 4, old_a, new_a, p->e3 + 10,
			  p->eproto == IPPROTO_ICMP ? CSUM_NONE : qc, qkind))
		return -1;
	if (rewrite_field(ctx, xdp, port_off(p->e4, p->eproto, !dst), 2, old_p, new_p, p->l4 + 2,
			  qc, qkind))
		return -1;
	if (qc < 0 || load16(ctx, xdp, qc, &c1))
		return 0;
	/* the quoted checksum is ICMP payload: an ordinary 16-bit change */
	return csum_fix16(ctx, xdp, p->l4 + 2, c0, c1);
}

/*
 * RFC 7597 s8.3.3: the IPv4 Identification of a packet that is or may be
 * fragmented (DF clear) is taken from our port set, so that CEs sharing our
 * address never reuse each other's IDs towards one destination (the BR and
 * remote hosts reassemble by source address and ID). A function of the
 * original ID: every fragment of a datagram gets the same new one.
 */
static __always_inline int frag_id_fix(void *ctx, const int xdp, const struct pkt4 *p,
				       const struct mape_portset *ps, __u32 count)
{
	__be16 id;

	if ((p->df && p->frag == FRAG_NONE) || !count)
		return 0;
	id = bpf_htons(mape_ps_port(ps, bpf_ntohs(p->id) % count));
	return rewrite_field(ctx, xdp, p->l3 + 4, 2, p->id, id, p->l3 + 10, CSUM_NONE, 0);
}

/* Decrement the TTL (forwarding in XDP; the kernel does it on the slow path). */
static __always_inline int ttl_dec(void *ctx, const int xdp, const struct pkt4 *p)
{
	__u16 old = bpf_htons(((__u16)p->ttl << 8) | p->proto);
	__u16 new = bpf_htons(((__u16)(p->ttl - 1) << 8) | p->proto);

	return rewrite_field(ctx, xdp, p->l3 + 8, 2, old, new, p->l3 + 10, CSUM_NONE, 0);
}

/*
 * Clamp the MSS option of a SYN to mss_max. Walks at most 10 options of
 * the (at most 40 byte) option space; bounded for the verifier.
 */
static __always_inline int mss_clamp(void *ctx, const int xdp, const struct pkt4 *p,
				     __u16 mss_max)
{
	void *data = ctx_data(ctx, xdp), *end = ctx_end(ctx, xdp);
	__u8 *th = data + (p->l4 & 0x1ff);
	__u32 doff, off = 20;
	__u16 mss;

	if (!PKT_OK(th, 20, end))
		return 0;
	doff = (th[12] >> 4) * 4;
#pragma unroll
	for (int i = 0; i < 10; i++) {
		__u8 *o = th + (off & 0x3f);

		if (off + 2 > doff || !PKT_OK(o, 2, end))
			return 0;
		if (o[0] == 0)		/* end of options */
			return 0;
		if (o[0] == 1) {	/* NOP */
			off++;
			continue;
		}
		if (o[0] == 2 && o[1] == 4) {
			if (off + 4 > doff || !PKT_OK(o, 4, end))
				return 0;
			mss = ((__u16)o[2] << 8) | o[3];
			/* at an odd offset the 16-bit checksum words straddle the
			 * field; senders put MSS first, so leave that case alone */
			if (mss <= mss_max || (off & 1))
				return 0;
			if (rewrite_field(ctx, xdp, p->l4 + off + 2, 2, bpf_htons(mss),
					  bpf_htons(mss_max), CSUM_NONE, p->l4 + 16, 0))
				return -1;
			return 1;
		}
		if (o[1] < 2)
			return 0;
		off += o[1];
	}
	return 0;
}

#endif
