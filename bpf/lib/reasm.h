/* SPDX-License-Identifier: MIT */
/*
 * reasm.h - putting fragmented datagrams back together, at TC (the CE's
 * mape_defrag on the WAN's ingress, the BR's mape_brd on its IPv6 side),
 * for what XDP cannot do with a frame alone:
 *
 *   V6  an outer IPv6 packet to our address that came in fragments (a
 *       BR, CE or path that fragments: RFC 2473 s7, RFC 7597 s8.3.1);
 *   V4  an inner IPv4 datagram one of whose later fragments came before
 *       its first (RFC 4787 REQ-14): no decision is known for it yet.
 *
 * The XDP program passes such fragments up (in_reasm). Each is copied into
 * its datagram's entry in the program's map (mape_reasm, mape_br_reasm),
 * keyed by the outer source (the BR, an FMR CE; at the BR, the CE) and the
 * identification (V4: the inner addresses and protocol too), and dropped
 * (in_frag_held). The program's own code names the results (enum reasm_res)
 * in its counters. The fragment that completes the datagram
 * becomes the whole packet (an IPv6 tunnel packet without the fragment
 * header, or one holding the reassembled IPv4 datagram), which the WAN walk
 * then takes like any tunnel packet, the kernel's way (it may be bigger
 * than any MTU on the LAN side: the kernel fragments it again, and its
 * conntrack and firewall see it whole).
 *
 * RFC 5722: overlapping fragments abandon the datagram (drop_frag_overlap),
 * a fragment received twice is dropped alone (drop_frag_dup, RFC 8200 s4.5).
 * Bounded: MAPE_REASM_ENTRIES datagrams (LRU), MAPE_REASM_PER_SRC of them
 * per sender (the outer source; for IPv4, with the inner source: a quota
 * that starts again when the sender began none for 10 s), MAPE_REASM_FRAGS
 * fragments of at most MAPE_REASM_FRAG_MAX bytes and MAPE_REASM_MAX bytes
 * in all per datagram (drop_frag_limit), MAPE_REASM_TIMEOUT_NS from its first fragment
 * (reasm_timeout, when a fragment finds it stale). Fragments of one
 * datagram handled on two CPUs at once may race; a lost update leaves the
 * datagram incomplete, and it times out.
 */
#ifndef MAPE_BPF_REASM_H
#define MAPE_BPF_REASM_H

#include "common.h"
#include "parse.h"
#include "ip6.h"
#include "icmp4.h"

/* A program's counters for the results that end a frame (held or dropped). */
struct reasm_counters {
	__u32 held, dup, overlap, limit, trunc, broken;
};

/* What became of a frame (reasm_core). */
enum reasm_res {
	REASM_NOT_OURS,		/* passed: not a fragment of ours */
	REASM_HELD,		/* held until its datagram is complete */
	REASM_DONE,		/* completed it: the skb is the whole packet */
	REASM_DUP,		/* received before: dropped */
	REASM_OVERLAP,		/* overlaps another: the datagram is abandoned */
	REASM_LIMIT,		/* beyond the limits, or malformed */
	REASM_TRUNC,		/* shorter than its headers say */
	REASM_BROKEN,		/* the skb could not be rebuilt */
};

static __always_inline __u32 reasm_counter(int res, const struct reasm_counters *c)
{
	return res == REASM_HELD    ? c->held :
	       res == REASM_DUP     ? c->dup :
	       res == REASM_OVERLAP ? c->overlap :
	       res == REASM_TRUNC   ? c->trunc :
	       res == REASM_BROKEN  ? c->broken :
				      c->limit;
}

static __always_inline void reasm_key_v4(struct mape_reasm_key *k, const __u8 *peer,
					 const struct pkt4 *p)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->peer, peer, 16);
	k->src = p->saddr;
	k->dst = p->daddr;
	k->id = p->id;
	k->proto = p->proto;
	k->kind = MAPE_REASM_V4;
}

/* XDP: is the datagram of fragment p (from peer) being reassembled? */
static __always_inline int reasm_pending(void *map, const __u8 *peer, const struct pkt4 *p)
{
	struct mape_reasm_key k;

	reasm_key_v4(&k, peer, p);
	return bpf_map_lookup_elem(map, &k) != NULL;
}

/* The sender's count of datagrams in reassembly (srcmap), by delta. 0, or
 * -1 when a new one would pass MAPE_REASM_PER_SRC. */
static __always_inline int reasm_quota(void *srcmap, const struct mape_reasm_key *k, __u64 now,
				       int delta)
{
	struct mape_reasm_src_key sk = {};
	struct mape_reasm_src *q, fresh = { .n = 1 };

	__builtin_memcpy(sk.peer, k->peer, 16);
	sk.src = k->src;
	q = bpf_map_lookup_elem(srcmap, &sk);
	if (!q) {
		if (delta > 0) {
			fresh.ns = now;
			bpf_map_update_elem(srcmap, &sk, &fresh, BPF_ANY);
		}
		return 0;
	}
	if (now - q->ns > MAPE_REASM_TIMEOUT_NS)
		q->n = 0;	/* nothing begun for a while: what it counted is gone */
	if (delta < 0) {
		if (q->n)
			q->n--;
		return 0;
	}
	if (q->n >= MAPE_REASM_PER_SRC)
		return -1;
	q->n++;
	q->ns = now;
	return 0;
}

/* The entry of key k in map, a fresh one (from the zeroed value in zmap)
 * when there is none or it is stale (*timed_out set). NULL: no room, or
 * the sender has its share (srcmap). */
static __always_inline struct mape_reasm *reasm_entry(void *map, void *zmap, void *srcmap,
						      const struct mape_reasm_key *k, __u64 now,
						      __u8 tclass, __u8 *timed_out)
{
	struct mape_reasm *e = bpf_map_lookup_elem(map, k), *zero;
	__u32 z = 0;

	if (e && now - e->ns > MAPE_REASM_TIMEOUT_NS) {
		*timed_out = 1;
		bpf_map_delete_elem(map, k);
		reasm_quota(srcmap, k, now, -1);
		e = NULL;
	}
	if (e)
		return e;
	if (reasm_quota(srcmap, k, now, 1))
		return NULL;
	zero = bpf_map_lookup_elem(zmap, &z);
	if (!zero)
		return NULL;
	bpf_map_update_elem(map, k, zero, BPF_NOEXIST);
	e = bpf_map_lookup_elem(map, k);
	if (e && !e->n) {
		e->ns = now;
		e->tclass = tclass;
	}
	return e;
}

/*
 * Take one fragment: payload of len bytes at skb offset doff, fragment
 * offset off, more fragments to come or not. V4's first fragment: its
 * header (hlen bytes at hoff) is kept. V6's: the next header. Returns 0
 * when held or dropped (*res says which), 1 when the datagram is complete.
 */
static __always_inline int reasm_take(struct __sk_buff *skb, struct mape_reasm *e, __u8 kind,
				      __u32 off, __u32 len, int more, __u32 doff, __u32 hoff,
				      __u32 hlen, __u8 nexthdr, int *res)
{
	__u32 n = e->n, end = off + len, o, l, maxend = 0;

	*res = REASM_OVERLAP;
	if (e->dead)
		return 0;
	*res = REASM_LIMIT;
	if (!len || len >= MAPE_REASM_FRAG_MAX || end > MAPE_REASM_MAX || (more && (len & 7)))
		return 0;
	for (__u32 i = 0; i < MAPE_REASM_FRAGS; i++) {
		if (i >= n)
			break;
		o = e->off[i];
		l = e->len[i];
		if (o == off && l == len) {
			*res = REASM_DUP;
			return 0;
		}
		if (off < o + l && o < end) {
			e->dead = 1;
			*res = REASM_OVERLAP;
			return 0;
		}
		if (o + l > maxend)
			maxend = o + l;
	}
	if (n >= MAPE_REASM_FRAGS)
		return 0;
	/* the last fragment fixes the length; nothing may lie beyond it */
	if ((e->total && (!more || end >= e->total)) || (!more && maxend > end)) {
		e->dead = 1;
		*res = REASM_OVERLAP;
		return 0;
	}
	off &= MAPE_REASM_MAX - 1;
	l = ((len - 1) & (MAPE_REASM_FRAG_MAX - 1)) + 1;
	if (bpf_skb_load_bytes(skb, doff, e->data + off, l))
		return 0;
	if (kind == MAPE_REASM_V4 && !off) {
		l = ((hlen - 1) & 63) + 1;
		if (bpf_skb_load_bytes(skb, hoff, e->hdr, l))
			return 0;
		e->hlen = hlen;
	}
	if (kind == MAPE_REASM_V6 && !off)
		e->nexthdr = nexthdr;
	e->off[n & (MAPE_REASM_FRAGS - 1)] = off;
	e->len[n & (MAPE_REASM_FRAGS - 1)] = len;
	e->n = n + 1;
	e->have += len;
	if (!more)
		e->total = end;
	*res = REASM_HELD;
	if (!e->total || e->have < e->total || (kind == MAPE_REASM_V4 && !e->hlen))
		return 0;
	return 1;
}

/*
 * Make the skb the whole packet from a complete entry: Ethernet (kept),
 * an IPv6 header (V6: the fragment's, with the next header of the
 * fragmentable part; V4: a fresh one from peer to us), then the payload
 * (V4: the first fragment's IPv4 header, whole again, before it).
 */
static __always_inline int reasm_build(struct __sk_buff *skb, struct mape_reasm *e, __u8 kind,
				       const __u8 *peer, const __u8 *us)
{
	struct ipv6hdr h6 __attribute__((aligned(8)));
	struct iphdr *ip = (struct iphdr *)e->hdr;
	__u32 total = e->total, hl = kind == MAPE_REASM_V4 ? e->hlen : 0;
	__u32 t = ((total - 1) & (MAPE_REASM_MAX - 1)) + 1;

	if (!total || total > MAPE_REASM_MAX || hl > 60)
		return -1;
	if (bpf_skb_change_tail(skb, ETH_HLEN + IPV6_HLEN + hl + total, 0))
		return -1;
	if (kind == MAPE_REASM_V6) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &h6, sizeof(h6)))
			return -1;
		h6.payload_len = bpf_htons(total);
		h6.nexthdr = e->nexthdr;
	} else {
		put_ip6hdr(&h6, (__u16)(hl + total), e->tclass, peer, us);
		ip->tot_len = bpf_htons(hl + total);
		ip->frag_off &= bpf_htons(IP_DF);
		ip->check = 0;
		ip->check = csum_buf(e->hdr, sizeof(e->hdr), 0);
		if (bpf_skb_store_bytes(skb, ETH_HLEN + IPV6_HLEN, e->hdr,
					((hl - 1) & 63) + 1, 0))
			return -1;
	}
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h6, sizeof(h6), 0) ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + IPV6_HLEN + (hl & 63), e->data, t, 0))
		return -1;
	/* whatever checksum state the fragment had is not this packet's */
	bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET);
	return 0;
}

/*
 * Take a frame at a TC ingress: a fragment the XDP program left here for
 * the tunnel endpoint `us` is held, or completes its datagram (REASM_DONE:
 * the skb is now the whole packet); anything else is REASM_NOT_OURS. map
 * and zmap: the program's reassembly map and its zeroed value;
 * *timed_out: a stale datagram was dropped on the way.
 */
static __always_inline int reasm_core(struct __sk_buff *skb, const __u8 *us, void *map,
				      void *zmap, void *srcmap, __u8 *timed_out)
{
	struct mape_reasm_key k;
	struct mape_reasm *e;
	struct pkt4 p;
	__u8 osrc[16] __attribute__((aligned(8)));
	__u8 fh[8], tclass, kind, nexthdr = 0;
	__u32 off, len, doff, hoff = 0, hlen = 0, pend;
	__u64 now;
	int rc, more, res;

	/* everything passes here (the router's native IPv6 too): look before
	 * pulling anything into the linear part */
	if (skb->protocol != bpf_htons(ETH_P_IPV6) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + 24, osrc, 16) || !ip6_eq(osrc, us))
		return REASM_NOT_OURS;
	bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
	rc = tunnel_outer(skb, CTX_TC, us, osrc);
	if (rc != OUTER_FRAG && rc <= 0)
		return REASM_NOT_OURS;	/* not ours, or the XDP program dropped it */
	if (bpf_skb_load_bytes(skb, ETH_HLEN, fh, 8))
		return REASM_NOT_OURS;
	tclass = (fh[0] << 4 | fh[1] >> 4) & 0xff;
	pend = ETH_HLEN + IPV6_HLEN + ((__u32)fh[4] << 8 | fh[5]);
	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memcpy(k.peer, osrc, 16);
	if (rc == OUTER_FRAG) {
		kind = MAPE_REASM_V6;
		if (pend > skb->len || pend < ETH_HLEN + IPV6_HLEN + 8 ||
		    bpf_skb_load_bytes(skb, ETH_HLEN + IPV6_HLEN, fh, 8))
			return REASM_TRUNC;
		nexthdr = fh[0];
		/* every fragment names the first header of the fragmentable part:
		 * only tunnel packets are ours (the kernel has the rest) */
		if (nexthdr != NEXTHDR_IPIP && nexthdr != NEXTHDR_DEST)
			return REASM_NOT_OURS;
		off = ((__u32)fh[2] << 8 | fh[3]) & 0xfff8;
		more = fh[3] & 1;
		__builtin_memcpy(&k.id, fh + 4, 4);
		k.kind = kind;
		doff = ETH_HLEN + IPV6_HLEN + 8;
		len = pend - doff;
	} else {
		/* an inner IPv4 fragment whose datagram's decision is not known */
		if (parse_ipv4(skb, CTX_TC, OUTER_L3(rc), OUTER_END(rc), &p) < 0 || !p.frag)
			return REASM_NOT_OURS;
		kind = MAPE_REASM_V4;
		reasm_key_v4(&k, osrc, &p);
		if (bpf_skb_load_bytes(skb, p.l3 + 6, fh, 2))
			return REASM_NOT_OURS;
		off = (((__u32)fh[0] << 8 | fh[1]) & IP_OFFSET) * 8;
		more = !!(fh[0] & (IP_MF >> 8));
		hoff = p.l3;
		hlen = p.l4 - p.l3;
		doff = p.l4;
		len = p.tot_len - hlen;
	}
	now = bpf_ktime_get_ns();
	e = reasm_entry(map, zmap, srcmap, &k, now, tclass, timed_out);
	if (!e)
		return REASM_LIMIT;
	if (!reasm_take(skb, e, kind, off, len, more, doff, hoff, hlen, nexthdr, &res))
		return res;
	rc = reasm_build(skb, e, kind, osrc, us);
	bpf_map_delete_elem(map, &k);
	reasm_quota(srcmap, &k, now, -1);
	return rc ? REASM_BROKEN : REASM_DONE;
}

#endif
