/* SPDX-License-Identifier: MIT */
/*
 * parse.h - IPv4 packet parsing into offsets and a NAPT tuple, shared by
 * XDP and TC. Works on packet pointers it takes from ctx itself, so it can
 * be called again after a helper invalidated them. Returns 0 or a
 * negative enum mape_parse_err, which names the reason in no program's
 * terms: parse_ctr() (maps.h) gives the role's counter for it.
 *
 * For ICMP errors (RFC 5508) the embedded packet is parsed as well: the
 * tuple then describes the embedded packet, as seen from its sender.
 */
#ifndef MAPE_BPF_PARSE_H
#define MAPE_BPF_PARSE_H

#include "common.h"
#include "csum.h"

#define FRAG_NONE 0
#define FRAG_FIRST 1	/* MF set, offset 0: carries the L4 header */
#define FRAG_LATER 2	/* offset > 0: no L4 header */

struct pkt4 {
	__u32 l3;		/* offset of the IPv4 header */
	__u32 l4;		/* offset of the L4 header */
	__be32 saddr, daddr;
	__be16 sport, dport;	/* ports, or the ICMP echo identifier in both */
	__be16 id;		/* IPv4 identification */
	__u16 tot_len;
	__u8 proto;
	__u8 ttl;
	__u8 frag;		/* FRAG_* */
	__u8 tcp_flags;		/* TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10) */
	__u8 icmp_type;
	__u8 icmp_err;		/* 1: ICMP error, e* fields describe the embedded packet */
	__u8 eproto;
	__u8 df;			/* don't-fragment set */
	__u8 tos;		/* DSCP and ECN (RFC 3168: ECN in the low 2 bits) */
	__u32 e3, e4;		/* offsets of the embedded IPv4 and L4 headers */
	__be32 esaddr, edaddr;
	__be16 esport, edport;
};

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static __always_inline int icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB;
}

static __always_inline int icmp_is_echo(__u8 type)
{
	return type == ICMP_ECHO || type == ICMP_ECHOREPLY;
}

/*
 * The IPv4 header checksum (RFC 1812 s5.2.2: a router discards a packet
 * whose header checksum is wrong). XDP only: on the TC path the kernel has
 * checked it. 16-bit loads, so that no architecture needs unaligned access.
 */
static __noinline int ip4_csum_ok(struct xdp_md *ctx, __u32 l3)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *ip = data + (l3 & 0xff);
	__s64 sum = -1;

	if (!PKT_OK(ip, 20, end))
		return 0;
	/* the usual header without options: ten 16-bit words summed here, no
	 * helper call (the fast path's cheapest check) */
	if ((ip[0] & 0xf) == 5) {
		const __u16 *w = (const __u16 *)ip;
		__u32 s = (__u32)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] + w[8] + w[9];

		return csum_fold32(s) == 0xffff;
	}
	/* one constant size per header length: the verifier knows each access */
	switch ((ip[0] & 0xf) * 4) {
#define IP4_CSUM_CASE(n) \
	case n: \
		if (PKT_OK(ip, n, end)) \
			sum = bpf_csum_diff(NULL, 0, (void *)ip, n, 0); \
		break;
	IP4_CSUM_CASE(20) IP4_CSUM_CASE(24) IP4_CSUM_CASE(28) IP4_CSUM_CASE(32)
	IP4_CSUM_CASE(36) IP4_CSUM_CASE(40) IP4_CSUM_CASE(44) IP4_CSUM_CASE(48)
	IP4_CSUM_CASE(52) IP4_CSUM_CASE(56) IP4_CSUM_CASE(60)
#undef IP4_CSUM_CASE
	}
	return sum >= 0 && csum_fold32((__u32)sum) == 0xffff;
}

/* The embedded packet of an ICMP error: IPv4 header + 8 bytes. */
static __always_inline int parse_embedded(void *ctx, const int xdp, struct pkt4 *p)
{
	void *data = ctx_data(ctx, xdp), *end = ctx_end(ctx, xdp);
	struct iphdr *ip;
	__u32 ihl;
	__u8 *l4;

	p->e3 = p->l4 + 8;
	ip = data + (p->e3 & 0x3ff);
	if (!PKT_OK(ip, sizeof(*ip), end))
		return -MAPE_PARSE_TRUNCATED;
	ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < 20)
		return -MAPE_PARSE_BAD_HDR;
	p->e4 = p->e3 + ihl;
	l4 = data + (p->e4 & 0x3ff);
	if (!PKT_OK(l4, 8, end) || p->e4 + 8 > p->l3 + p->tot_len)
		return -MAPE_PARSE_TRUNCATED;
	p->eproto = ip->protocol;
	p->esaddr = ip->saddr;
	p->edaddr = ip->daddr;
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		p->esport = *(__be16 *)l4;
		p->edport = *(__be16 *)(l4 + 2);
	} else if (ip->protocol == IPPROTO_ICMP && icmp_is_echo(l4[0])) {
		p->esport = p->edport = *(__be16 *)(l4 + 4);
	} else {
		return -MAPE_PARSE_PROTO;
	}
	return 0;
}

/*
 * Parse the IPv4 packet at offset l3; pkt_len is the whole packet's length
 * (TC may have only the headers linear, so data_end is not the end).
 */
static __always_inline int parse_ipv4(void *ctx, const int xdp, __u32 l3, __u32 pkt_len,
				      struct pkt4 *p)
{
	void *data = ctx_data(ctx, xdp), *end = ctx_end(ctx, xdp);
	struct iphdr *ip = data + (l3 & 0xff);
	__u32 ihl, frag;
	__u8 *l4;

	__builtin_memset(p, 0, sizeof(*p));
	p->l3 = l3 & 0xff;
	if (!PKT_OK(ip, sizeof(*ip), end))
		return -MAPE_PARSE_TRUNCATED;
	ihl = ip->ihl * 4;
	if (ip->version != 4 || ihl < 20)
		return -MAPE_PARSE_BAD_HDR;
	p->tot_len = bpf_ntohs(ip->tot_len);
	if (p->tot_len < ihl)
		return -MAPE_PARSE_BAD_HDR;
	if (xdp && !ip4_csum_ok(ctx, l3))
		return -MAPE_PARSE_BAD_HDR;
	if (p->l3 + p->tot_len > pkt_len)
		return -MAPE_PARSE_TRUNCATED;
	p->l4 = p->l3 + ihl;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	p->tos = ip->tos;
	p->id = ip->id;
	frag = bpf_ntohs(ip->frag_off);
	p->df = !!(frag & IP_DF);
	if (frag & IP_OFFSET) {
		p->frag = FRAG_LATER;
		return 0;
	}
	if (frag & IP_MF)
		p->frag = FRAG_FIRST;
	l4 = data + (p->l4 & 0x1ff);
	/* the L4 header within the packet, not in what follows it (padding) */
	if (p->l4 + (p->proto == IPPROTO_TCP ? 20 : 8) > p->l3 + p->tot_len)
		return -MAPE_PARSE_TRUNCATED;
	switch (p->proto) {
	case IPPROTO_TCP:
		if (!PKT_OK(l4, 20, end))
			return -MAPE_PARSE_TRUNCATED;
		p->sport = *(__be16 *)l4;
		p->dport = *(__be16 *)(l4 + 2);
		p->tcp_flags = l4[13];
		return 0;
	case IPPROTO_UDP:
		if (!PKT_OK(l4, 8, end))
			return -MAPE_PARSE_TRUNCATED;
		p->sport = *(__be16 *)l4;
		p->dport = *(__be16 *)(l4 + 2);
		return 0;
	case IPPROTO_ICMP:
		if (!PKT_OK(l4, 8, end))
			return -MAPE_PARSE_TRUNCATED;
		p->icmp_type = l4[0];
		if (icmp_is_echo(l4[0])) {
			p->sport = p->dport = *(__be16 *)(l4 + 4);
			return 0;
		}
		if (icmp_is_error(l4[0])) {
			if (p->frag)
				return -MAPE_PARSE_PROTO;
			p->icmp_err = 1;
			return parse_embedded(ctx, xdp, p);
		}
		return -MAPE_PARSE_PROTO;
	}
	return -MAPE_PARSE_PROTO;
}

/*
 * A source address no host may use, which a router does not forward
 * (RFC 1812 s5.3.7, as Linux's martian check): 0/8, 127/8, multicast
 * 224/4, and 240/4 with the limited broadcast 255.255.255.255.
 */
static __always_inline int ip4_martian_src(__be32 a)
{
	__u8 top = bpf_ntohl(a) >> 24;

	return top == 0 || top == 127 || top >= 224;
}

/* A first-fragment decision recorded at ns is still to be followed. */
static __always_inline int frag_fresh(__u64 ns)
{
	return bpf_ktime_get_ns() - ns <= MAPE_FRAG_AGE_NS;
}

/* Key of the first-fragment cache for a packet (dir 0 out, 1 in: then the
 * outer source `peer`). */
static __always_inline void frag_key_of(struct mape_frag_key *fk, const struct pkt4 *p, __u8 dir,
					const __u8 *peer)
{
	__builtin_memset(fk, 0, sizeof(*fk));
	if (peer)
		__builtin_memcpy(fk->peer, peer, 16);
	fk->src = p->saddr;
	fk->dst = p->daddr;
	fk->id = p->id;
	fk->proto = p->proto;
	fk->dir = dir;
}

#endif
