/* SPDX-License-Identifier: MIT */
/*
 * fwd.h - forwarding helpers shared by the CE and BR programs: FIB lookups
 * (IPv4 as a router would forward; IPv6 towards the tunnel peer) and the
 * Ethernet header of a redirected frame; the tunnel's encapsulation and
 * the ECN of decapsulation (RFC 6040).
 */
#ifndef MAPE_BPF_FWD_H
#define MAPE_BPF_FWD_H

#include "common.h"
#include "csum.h"
#include "parse.h"
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
/*
 * Cut what follows the IPv4 packet at l3 (tot_len bytes) off an XDP frame:
 * Ethernet padding of a minimum-size frame, or bytes after a tunnel's
 * payload, are not part of it and must not travel on.
 */
static __always_inline int xdp_trim(struct xdp_md *ctx, __u32 l3, __u32 tot_len)
{
	__u32 len = ctx_len(ctx, CTX_XDP), want = l3 + tot_len;

	return len > want ? bpf_xdp_adjust_tail(ctx, (int)want - (int)len) : 0;
}

/* TC: cut what follows the packet's end (Ethernet padding, bytes after
 * the IPv4 packet), as xdp_trim does in XDP. */
static __always_inline int tc_trim(struct __sk_buff *skb, __u32 want)
{
	return skb->len > want ? bpf_skb_change_tail(skb, want, 0) : 0;
}

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

/*
 * XDP: prepend the MAP-E outer header (src -> dst, next header 4) to the
 * IPv4 packet at ETH_HLEN (its TOS byte: tos); the caller writes the
 * Ethernet header after. Invalidates all packet pointers.
 */
static __always_inline int xdp_encap6(struct xdp_md *ctx, __u16 payload_len, __u8 tos,
				      const __u8 *src, const __u8 *dst)
{
	struct ipv6hdr *ip6;

	if (bpf_xdp_adjust_head(ctx, -IPV6_HLEN))
		return -1;
	ip6 = ctx_data(ctx, CTX_XDP) + ETH_HLEN;
	if (!PKT_OK(ip6, IPV6_HLEN, ctx_end(ctx, CTX_XDP)))
		return -1;
	put_ip6hdr(ip6, payload_len, tos, src, dst);
	return 0;
}

/*
 * TC: the same for an skb, Ethernet type included. Bytes after the IPv4
 * packet (tot_len) are cut first, as xdp_trim does for XDP. bpf_skb_adjust_room with
 * ENCAP_L3_IPV6 makes skb->protocol IPv6 and marks GSO packets IPXIP6, so
 * they are segmented after encapsulation. FIXED_GSO keeps the segment
 * size: the sender sized its segments for the tunnel interface, whose MTU
 * is the tunnel's (TCP: full MSS, not 40 bytes less), and UDP GSO (whose
 * gso_size is the datagram size) is refused by the kernel without it.
 * Invalidates pointers.
 */
static __always_inline int tc_encap6(struct __sk_buff *skb, __u16 tot_len, __u8 tos,
				     const __u8 *src, const __u8 *dst)
{
	struct ipv6hdr h6 __attribute__((aligned(8)));
	__u16 eth_p6 = bpf_htons(ETH_P_IPV6);

	if (tc_trim(skb, ETH_HLEN + (__u32)tot_len))
		return -1;
	if (bpf_skb_adjust_room(skb, IPV6_HLEN, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 | BPF_F_ADJ_ROOM_FIXED_GSO))
		return -1;
	put_ip6hdr(&h6, (__u16)(skb->len - ETH_HLEN - IPV6_HLEN), tos, src, dst);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h6, sizeof(h6), 0) ||
	    bpf_skb_store_bytes(skb, 12, &eth_p6, 2, 0))
		return -1;
	return 0;
}

/*
 * Decapsulation's ECN (RFC 6040 s4.2, normal mode): the outer field
 * (outer_ecn) combined into the inner packet p. A CE outer marks an ECT
 * inner packet CE; ECT(1) outer turns ECT(0) into ECT(1); otherwise the
 * inner field stands. Returns -1 for a CE outer with a Not-ECT inner
 * packet (to be dropped: its sender cannot be told), 0 otherwise, -2 when
 * the rewrite failed.
 */
#define ECN_NOT_ECT 0
#define ECN_ECT1 1
#define ECN_ECT0 2
#define ECN_CE 3

static __always_inline int ecn_decap(void *ctx, const int xdp, struct pkt4 *p, __u8 outer_ecn)
{
	__u8 in = p->tos & 3, out = in;
	__u8 vihl = 0x40 | (__u8)((p->l4 - p->l3) >> 2);

	if (outer_ecn == ECN_CE) {
		if (in == ECN_NOT_ECT)
			return -1;
		out = ECN_CE;
	} else if (outer_ecn == ECN_ECT1 && in == ECN_ECT0) {
		out = ECN_ECT1;
	}
	if (out == in)
		return 0;
	if (rewrite_field(ctx, xdp, p->l3, 2, bpf_htons((__u16)vihl << 8 | p->tos),
			  bpf_htons((__u16)vihl << 8 | (p->tos & 0xfc) | out), p->l3 + 10, CSUM_NONE,
			  0))
		return -2;
	p->tos = (p->tos & 0xfc) | out;
	return 0;
}

#endif
