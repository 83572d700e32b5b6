/* SPDX-License-Identifier: MIT */
/*
 * mape_map.h - MAP-E (RFC 7597) arithmetic, header-only, shared by the BPF
 * programs, mapectl and the host unit tests: one truth for the math.
 *
 * Contract: no libc, no loops, no division; every function is pure and
 * works on the types below. Addresses: IPv6 as 16 bytes in network order,
 * IPv4 as __u32 in *host* order (named ipv4), ports in host order.
 *
 * Notation of RFC 7597 section 5: rule IPv6 prefix length n (ip6_len), rule
 * IPv4 prefix length r (ip4_len), EA-bits length o (ea_len), p = 32 - r
 * IPv4 suffix bits, q = o - p PSID bits carried in the EA bits, PSID offset
 * a, PSID length k, m = 16 - a - k contiguous port bits.
 */
#ifndef MAPE_MAP_H
#define MAPE_MAP_H

#ifndef __bpf__
#include <linux/types.h>
#endif

#ifndef MAPE_INLINE
#define MAPE_INLINE static inline __attribute__((always_inline))
#endif

#define MAPE_RULE_FMR 0x01	/* rule is a forwarding (mesh) rule */
#define MAPE_RULE_HAS_BR 0x02	/* br[] is set */

enum mape_iid {
	MAPE_IID_RFC7597 = 0,	/* 16 zero | IPv4 | PSID            (RFC 7597 s6) */
	MAPE_IID_DRAFT03 = 1,	/* 8 zero | IPv4 | PSID | 8 zero     (draft-03)    */
};

/* One mapping rule (BMR or FMR). Also a BPF map value: keep it padded. */
struct mape_rule {
	__u8 ip6[16];		/* rule IPv6 prefix, host bits zero */
	__u8 br[16];		/* BR address when flags & MAPE_RULE_HAS_BR */
	__u32 ipv4;		/* rule IPv4 prefix, host order, host bits zero */
	__u16 psid;		/* explicit PSID (right-aligned) when EA carries none */
	__u8 ip6_len;		/* n */
	__u8 ip4_len;		/* r */
	__u8 ea_len;		/* o, 0..48 */
	__u8 psid_offset;	/* a */
	__u8 psid_len;		/* k */
	__u8 flags;		/* MAPE_RULE_* */
};

/* A port set: the PSID of a sharing CE, as used by the data path. */
struct mape_portset {
	__u16 psid;		/* right-aligned */
	__u8 offset;		/* a */
	__u8 len;		/* k */
};

/* Load the first 64 bits of an IPv6 address as a host-order integer. */
MAPE_INLINE __u64 mape_hi64(const __u8 *a)
{
	return ((__u64)a[0] << 56) | ((__u64)a[1] << 48) | ((__u64)a[2] << 40) |
	       ((__u64)a[3] << 32) | ((__u64)a[4] << 24) | ((__u64)a[5] << 16) |
	       ((__u64)a[6] << 8) | (__u64)a[7];
}

MAPE_INLINE void mape_put_hi64(__u8 *a, __u64 v)
{
	a[0] = v >> 56; a[1] = v >> 48; a[2] = v >> 40; a[3] = v >> 32;
	a[4] = v >> 24; a[5] = v >> 16; a[6] = v >> 8; a[7] = v;
}

/* Mask keeping the top len bits of a 64-bit value; len 0..64. */
MAPE_INLINE __u64 mape_mask64(unsigned int len)
{
	return len == 0 ? 0 : len >= 64 ? ~0ULL : ~0ULL << (64 - len);
}

/* Mask keeping the top len bits of an IPv4 address; len 0..32. */
MAPE_INLINE __u32 mape_mask32(unsigned int len)
{
	return len == 0 ? 0 : len >= 32 ? ~0U : ~0U << (32 - len);
}

/* p: IPv4 suffix bits taken from the EA bits (never more than o). */
MAPE_INLINE unsigned int mape_rule_p(const struct mape_rule *r)
{
	unsigned int p = 32 - r->ip4_len;

	return r->ea_len < p ? r->ea_len : p;
}

/* q: PSID bits carried in the EA bits. */
MAPE_INLINE unsigned int mape_rule_q(const struct mape_rule *r)
{
	return r->ea_len - mape_rule_p(r);
}

/* Length of the IPv4 prefix a CE gets: 32 for an (optionally shared) address. */
MAPE_INLINE unsigned int mape_rule_ce_ip4_len(const struct mape_rule *r)
{
	return r->ip4_len + mape_rule_p(r);
}

/* Does the first n bits of an IPv6 address (or prefix) match the rule? */
MAPE_INLINE int mape_rule_match6(const struct mape_rule *r, const __u8 *addr)
{
	unsigned int n = r->ip6_len;
	__u64 m_hi = mape_mask64(n > 64 ? 64 : n);
	__u64 m_lo = mape_mask64(n > 64 ? n - 64 : 0);

	return ((mape_hi64(addr) ^ mape_hi64(r->ip6)) & m_hi) == 0 &&
	       ((mape_hi64(addr + 8) ^ mape_hi64(r->ip6 + 8)) & m_lo) == 0;
}

/* Is an IPv4 address (host order) inside the rule's IPv4 prefix? */
MAPE_INLINE int mape_rule_match4(const struct mape_rule *r, __u32 ipv4)
{
	return ((ipv4 ^ r->ipv4) & mape_mask32(r->ip4_len)) == 0;
}

/* EA bits of an end-user prefix: o bits right after the rule prefix.
 * Requires n + o <= 64 (validated by the rule parser). */
MAPE_INLINE __u64 mape_ea_bits(const struct mape_rule *r, const __u8 *prefix)
{
	__u64 hi = mape_hi64(prefix);

	if (r->ea_len == 0)
		return 0;
	if (r->ip6_len)
		hi <<= r->ip6_len;
	return hi >> (64 - r->ea_len);
}

/* IPv4 address (host order) of a CE from its EA bits. */
MAPE_INLINE __u32 mape_ea_ipv4(const struct mape_rule *r, __u64 ea)
{
	unsigned int p = mape_rule_p(r), q = mape_rule_q(r);
	__u64 suffix = ea >> q;

	if (p == 0)
		return r->ipv4;
	/* With o < 32 - r the CE gets a prefix: left-align the suffix. */
	return r->ipv4 | (__u32)(suffix << (32 - r->ip4_len - p));
}

/* PSID (right-aligned) of a CE from its EA bits; the explicit PSID when
 * the EA bits carry none (EA length 0, or o <= p with psid_len set). */
MAPE_INLINE __u16 mape_ea_psid(const struct mape_rule *r, __u64 ea)
{
	unsigned int q = mape_rule_q(r);

	if (q == 0)
		return r->psid;
	return (__u16)(ea & ((1ULL << q) - 1));
}

MAPE_INLINE struct mape_portset mape_rule_portset(const struct mape_rule *r, __u16 psid)
{
	struct mape_portset ps = { .psid = psid, .offset = r->psid_offset, .len = r->psid_len };

	return ps;
}

/* m: contiguous bits of the port set (2^m ports per block). */
MAPE_INLINE unsigned int mape_ps_m(const struct mape_portset *ps)
{
	return 16 - ps->offset - ps->len;
}

/* Number of ports in a set. k = 0 means the whole port space 1..65535;
 * otherwise (2^a - 1) * 2^m, or 2^m with a = 0 (less port 0 for PSID 0). */
MAPE_INLINE __u32 mape_ps_count(const struct mape_portset *ps)
{
	__u32 m = mape_ps_m(ps);

	if (ps->len == 0)
		return 65535;
	if (ps->offset == 0)
		return (1U << m) - (ps->psid == 0 ? 1 : 0);
	return ((1U << ps->offset) - 1) << m;
}

/* Number of blocks (values of A) in a set; 1 when there is no offset. */
MAPE_INLINE __u32 mape_ps_blocks(const struct mape_portset *ps)
{
	if (ps->len == 0 || ps->offset == 0)
		return 1;
	return (1U << ps->offset) - 1;
}

/* Index (0..count-1) -> port, O(1). The caller keeps idx < count. */
MAPE_INLINE __u16 mape_ps_port(const struct mape_portset *ps, __u32 idx)
{
	__u32 m = mape_ps_m(ps);

	if (ps->len == 0)
		return (__u16)(idx + 1);
	if (ps->offset == 0)
		return (__u16)(((__u32)ps->psid << m) | (idx + (ps->psid == 0 ? 1 : 0)));
	/* RFC 7597 s5.1: port = A << (16 - a) | PSID << m | j, A >= 1 */
	return (__u16)((((idx >> m) + 1) << (16 - ps->offset)) | ((__u32)ps->psid << m) |
		       (idx & ((1U << m) - 1)));
}

/* Port -> index, or -1 when the port is outside the set. O(1). */
MAPE_INLINE int mape_ps_index(const struct mape_portset *ps, __u16 port)
{
	__u32 m = mape_ps_m(ps);
	__u32 j = port & ((1U << m) - 1);
	__u32 a_val;

	if (ps->len == 0)
		return port == 0 ? -1 : (int)port - 1;
	if (((port >> m) & ((1U << ps->len) - 1)) != ps->psid)
		return -1;
	if (ps->offset == 0) {
		if (ps->psid == 0) {
			if (j == 0)
				return -1;
			return (int)j - 1;
		}
		return (int)j;
	}
	a_val = (__u32)port >> (16 - ps->offset);
	if (a_val == 0)
		return -1;
	return (int)(((a_val - 1) << m) | j);
}

/* PSID that a port belongs to under a rule (used by BR and FMR lookups). */
MAPE_INLINE __u16 mape_port_psid(const struct mape_rule *r, __u16 port)
{
	if (r->psid_len == 0)
		return 0;
	return (port >> (16 - r->psid_offset - r->psid_len)) & ((1U << r->psid_len) - 1);
}

/* Interface identifier (bytes 8..15 of the CE address), RFC 7597 s6 or
 * draft-ietf-softwire-map-03. ipv4 host order, psid right-aligned. */
MAPE_INLINE void mape_put_iid(__u8 *iid8, __u32 ipv4, __u16 psid, int layout)
{
	/* draft-03: 0 (8) | IPv4 (32) | PSID (16) | 0 (8); RFC: 0 (16) | IPv4 | PSID */
	mape_put_hi64(iid8, layout == MAPE_IID_DRAFT03 ?
			    ((__u64)ipv4 << 24) | ((__u64)psid << 8) :
			    ((__u64)ipv4 << 16) | psid);
}

/*
 * CE IPv6 address from the end-user prefix (length plen <= 64): the prefix,
 * zero bits from plen to 64 (subnet-ID zero), then the IID. For an RA-only
 * /64 the whole /64 is kept, subnet bits included.
 */
MAPE_INLINE void mape_ce_addr(__u8 *out, const __u8 *prefix, unsigned int plen,
			      __u32 ipv4, __u16 psid, int layout)
{
	mape_put_hi64(out, mape_hi64(prefix) & mape_mask64(plen));
	mape_put_iid(out + 8, ipv4, psid, layout);
}

/*
 * Reverse direction (BR, FMR, decap check): the CE address that serves
 * IPv4 address ipv4 (host order) and port under rule r. The end-user prefix
 * is the rule prefix followed by the EA bits (length n + o).
 */
MAPE_INLINE void mape_peer_addr(__u8 *out, const struct mape_rule *r, __u32 ipv4,
				__u16 port, int layout)
{
	unsigned int p = mape_rule_p(r), q = mape_rule_q(r);
	unsigned int ce4 = r->ip4_len + p;
	__u32 suffix = 0, ce_ip = ipv4 & mape_mask32(ce4);
	__u16 psid = q ? mape_port_psid(r, port) : r->psid;
	__u64 ea, hi;

	if (p)
		suffix = (ce_ip >> (32 - ce4)) & (__u32)((1ULL << p) - 1);
	ea = ((__u64)suffix << q) | (q ? psid : 0);
	hi = mape_hi64(r->ip6) & mape_mask64(r->ip6_len);
	if (r->ea_len)
		hi |= ea << (64 - r->ip6_len - r->ea_len);
	mape_put_hi64(out, hi);
	mape_put_iid(out + 8, ce_ip, q ? psid : r->psid, layout);
}

#endif /* MAPE_MAP_H */
