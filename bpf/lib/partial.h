/* SPDX-License-Identifier: MIT */
/*
 * partial.h - TCP/UDP checksums left to offload, seen from XDP.
 *
 * A sender with TX checksum offload (a veth peer: containers, VMs,
 * namespaces; the router's own sockets) hands over CHECKSUM_PARTIAL
 * packets: the L4 checksum field holds only the pseudo-header sum, and the
 * device completes it. XDP does not see the skb's ip_summed, so such a
 * packet is recognised by that value:
 *
 * - native XDP: the frame leaves as an xdp_frame and nobody completes it
 *   later, so it is completed here, from a sum over the L4 segment; a
 *   packet whose complete checksum merely equals its pseudo-header sum
 *   (1 in 65536) is recognised by that sum and left alone;
 * - generic (skb) XDP: the skb stays CHECKSUM_PARTIAL through the
 *   redirect and the device completes it from csum_start, so the field
 *   must stay a pseudo-header sum: after the translation it is rewritten
 *   as the new header's (l4_partial_finish). Without the skb's flag, a
 *   complete checksum equal to its pseudo-header sum (1 in 65536) is taken
 *   for a partial one here; see docs/design.md.
 */
#ifndef MAPE_BPF_PARTIAL_H
#define MAPE_BPF_PARTIAL_H

#include "parse.h"
#include "csum.h"
#include "xlate.h"

#define L4SUM_CHUNK 512	/* bpf_csum_diff's limit per call */

/* Per-CPU buffer for summing an L4 segment (the CE's and the BR's own). */
struct mape_l4buf {
	__u8 bytes[L4SUM_CHUNK + 4];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mape_l4buf);
} mape_l4buf SEC(".maps");

/* Offset of the TCP/UDP checksum of a whole (unfragmented) datagram, or -1:
 * only those can have been left to offload. */
static __always_inline int l4_pseudo_csum_off(const struct pkt4 *p)
{
	if (p->frag != FRAG_NONE || p->icmp_err || !(l4_kind(p->proto) & L4_PSEUDO))
		return -1;
	return l4_csum_off(p);
}

/* The folded pseudo-header sum (RFC 793/768) of the packet as it is now. */
static __always_inline int l4_pseudo_sum(struct xdp_md *ctx, const struct pkt4 *p, __u16 *out)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	__u32 *ip, s, off = p->l3;

	if (off > PKT_OFF_MAX)
		return -1;
	BARRIER_VAR(off);
	ip = data + (off & PKT_OFF_MAX);
	if (!PKT_OK(ip, 20, end))
		return -1;
	s = (ip[3] & 0xffff) + (ip[3] >> 16) + (ip[4] & 0xffff) + (ip[4] >> 16);
	s += bpf_htons(p->proto) + bpf_htons(p->tot_len - (p->l4 - p->l3));
	*out = csum_fold32(s);
	return 0;
}

static __always_inline __u16 *l4_csum_ptr(struct xdp_md *ctx, int off)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	__u16 *c;

	if (off < 0 || off > PKT_OFF_MAX)
		return NULL;
	BARRIER_VAR(off);
	c = data + (off & PKT_OFF_MAX);
	return PKT_OK(c, 2, end) ? c : NULL;
}

struct l4sum {
	struct xdp_md *ctx;
	__u32 start, end;	/* the L4 segment: [start, end) */
	__u32 sum;		/* unfolded, so far */
	int err;
};

/* One chunk: bytes [start + i * L4SUM_CHUNK, ...). The offset comes from the
 * index, so that the verifier sees the same state in every round. */
static long l4sum_step(__u32 i, struct l4sum *st)
{
	__u32 zero = 0, off = st->start + i * L4SUM_CHUNK, n;
	struct mape_l4buf *b = bpf_map_lookup_elem(&mape_l4buf, &zero);

	if (off >= st->end)
		return 1;
	if (!b) {
		st->err = 1;
		return 1;
	}
	n = st->end - off;
	if (n > L4SUM_CHUNK)
		n = L4SUM_CHUNK;
	/* 1..L4SUM_CHUNK, in a form every verifier sees (n is 1..512 here) */
	BARRIER_VAR(n);
	n = ((n - 1) & (L4SUM_CHUNK - 1)) + 1;
	/* the bytes after the last one up to a multiple of 4 count as zeros */
	*(__u32 *)&b->bytes[n & (L4SUM_CHUNK - 4)] = 0;
	*(__u32 *)&b->bytes[L4SUM_CHUNK] = 0;
	if (bpf_xdp_load_bytes(st->ctx, off, b->bytes, n)) {
		st->err = 1;
		return 1;
	}
	st->sum = bpf_csum_diff(NULL, 0, (__be32 *)b->bytes, (n + 3) & ~3U, st->sum);
	return 0;
}

/* The unfolded one's complement sum of the L4 segment, as it is. */
static __always_inline int l4_segment_sum(struct xdp_md *ctx, const struct pkt4 *p, __u32 *sum)
{
	struct l4sum st = { .ctx = ctx, .start = p->l4, .end = p->l3 + p->tot_len };

	bpf_loop(65536 / L4SUM_CHUNK, l4sum_step, &st, 0);
	*sum = st.sum;
	return st.err ? -1 : 0;
}

/*
 * Before a translation: complete the checksum of a CHECKSUM_PARTIAL packet
 * (native mode). Returns 0 (nothing to do), 1 (generic mode, partial: end
 * with l4_partial_finish), 2 (completed here) or -1 (malformed).
 */
static __noinline int l4_partial_settle(struct xdp_md *ctx, const struct pkt4 *p, __u32 generic)
{
	int off = l4_pseudo_csum_off(p);
	__u16 pseudo, *c, check;
	__u32 s;

	if (off < 0)
		return 0;
	c = l4_csum_ptr(ctx, off);
	if (!c || l4_pseudo_sum(ctx, p, &pseudo))
		return -1;
	check = *c;
	if (check != pseudo || (p->proto == IPPROTO_UDP && check == 0))
		return 0;	/* a complete checksum (or none) */
	if (generic)
		return 1;
	if (l4_segment_sum(ctx, p, &s))
		return -1;
	if (csum_fold32(s + pseudo) == 0xffff)
		return 0;	/* complete, and equal to the pseudo sum by chance */
	check = ~csum_fold32(s);	/* s holds the pseudo sum in the field */
	if (p->proto == IPPROTO_UDP && check == 0)
		check = 0xffff;
	c = l4_csum_ptr(ctx, off);
	if (!c)
		return -1;
	*c = check;
	return 2;
}

/* After the translation of a partial packet in generic mode: the field is
 * the new header's pseudo-header sum again. p: offsets (unchanged). */
static __always_inline int l4_partial_finish(struct xdp_md *ctx, const struct pkt4 *p)
{
	__u16 pseudo, *c;

	if (l4_pseudo_sum(ctx, p, &pseudo))
		return -1;
	c = l4_csum_ptr(ctx, l4_pseudo_csum_off(p));
	if (!c)
		return -1;
	*c = pseudo;
	return 0;
}

#endif
