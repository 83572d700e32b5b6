/* SPDX-License-Identifier: MIT */
/*
 * pmtu.h - path MTU discovery across the tunnel, shared by CE and BR.
 *
 * An ICMPv6 Packet Too Big about one of our tunnel packets (its quote is
 * an IPv6 header from our address with next header 4, then the IPv4
 * packet we encapsulated) tells two things: the IPv6 path towards that
 * peer is narrower than our tunnel MTU (RFC 8201), which is recorded per
 * peer in the program's mape_pmtu map and lowers the tunnel MTU towards
 * it for MAPE_PMTU_AGE_NS; and the IPv4 sender must be told (RFC 1191):
 * the frame is turned in place into ICMPv4 "fragmentation needed" (type 3
 * code 4, MTU - 40) quoting the IPv4 packet's header and 8 bytes, which
 * the caller then delivers like any ICMP error it receives.
 *
 * Its source is 192.0.0.8 (RFC 7600), the address for errors translated
 * from IPv6 routers that have no IPv4 address; our own IPv4 would be a
 * martian source to the router's kernel on the slow path.
 */
#ifndef MAPE_BPF_PMTU_H
#define MAPE_BPF_PMTU_H

#include "common.h"
#include "ip6.h"
#include "icmp4.h"

#define PTB_Q6 (ETH_HLEN + IPV6_HLEN + 8)	/* the quoted IPv6 header */
#define PTB_Q4 (PTB_Q6 + IPV6_HLEN)		/* the quoted IPv4 packet */
#define PTB_QLEN 28				/* relayed: its 20-byte header and 8 bytes */
#define ICMPV6_PTB 2

struct ptb {
	__u8 peer[16];		/* where the packet too big was going */
	__u32 mtu;		/* the IPv6 path MTU, at least MAPE_PMTU_MIN */
	__be32 saddr, daddr;	/* of the quoted IPv4 packet */
	__be16 sport, dport;	/* its ports, or its echo identifier in both */
	__u8 proto;
};

/* A frame that may be an ICMPv6 Packet Too Big: looked at before anything
 * else is read (the configuration), as every IPv6 packet that is not a
 * tunnel packet of ours comes by. */
static __always_inline int ptb_candidate(struct xdp_md *ctx)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	struct ipv6hdr *ip6 = data + ETH_HLEN;
	__u8 *icmp6 = data + ETH_HLEN + IPV6_HLEN;

	return PKT_OK(data, ETH_HLEN + IPV6_HLEN + 1, end) &&
	       ((struct ethhdr *)data)->h_proto == bpf_htons(ETH_P_IPV6) &&
	       ip6->nexthdr == NEXTHDR_ICMP6 && icmp6[0] == ICMPV6_PTB;
}

/*
 * 1 when the frame is an ICMPv6 Packet Too Big to `us` quoting a tunnel
 * packet from `us` (IPv6 without extension headers, then IPv4 with a
 * 20-byte header and at least 8 bytes of TCP, UDP or ICMP echo); t filled.
 * 0 otherwise: it is not ours to handle. A subprogram: packet pointers
 * stay in it.
 */
static __noinline int ptb_parse(struct xdp_md *ctx, const __u8 *us, struct ptb *t)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = data + ETH_HLEN, *q6 = data + PTB_Q6;
	struct iphdr *q4 = data + PTB_Q4;
	__u8 *icmp6 = data + ETH_HLEN + IPV6_HLEN, *l4 = data + PTB_Q4 + 20;
	__u32 mtu;

	if (!PKT_OK(data, PTB_Q4 + PTB_QLEN, end) || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return 0;
	if (ip6->nexthdr != NEXTHDR_ICMP6 || !ip6_eq((__u8 *)&ip6->daddr, us) ||
	    icmp6[0] != ICMPV6_PTB || icmp6[1] != 0 ||
	    IPV6_HLEN + bpf_ntohs(ip6->payload_len) < PTB_Q4 + PTB_QLEN - ETH_HLEN)
		return 0;
	if (q6->version != 6 || q6->nexthdr != NEXTHDR_IPIP || !ip6_eq((__u8 *)&q6->saddr, us) ||
	    *(__u8 *)q4 != 0x45)
		return 0;
	t->proto = q4->protocol;
	t->saddr = q4->saddr;
	t->daddr = q4->daddr;
	if (t->proto == IPPROTO_TCP || t->proto == IPPROTO_UDP) {
		t->sport = *(__be16 *)l4;
		t->dport = *(__be16 *)(l4 + 2);
	} else if (t->proto == IPPROTO_ICMP && (l4[0] == ICMP_ECHO || l4[0] == ICMP_ECHOREPLY)) {
		t->sport = t->dport = *(__be16 *)(l4 + 4);
	} else {
		return 0;
	}
	mtu = bpf_ntohl(*(__be32 *)(icmp6 + 4));
	t->mtu = mtu < MAPE_PMTU_MIN ? MAPE_PMTU_MIN : mtu;	/* RFC 8201 s4 */
	ip6_cpy(t->peer, (__u8 *)&q6->daddr);
	return 1;
}

/* Record a path MTU towards t->peer (map: the program's mape_pmtu). */
static __always_inline void pmtu_learn(void *map, const struct ptb *t)
{
	struct mape_pmtu_key k;
	struct mape_pmtu v = { .mtu = t->mtu };

	ip6_cpy(k.peer, t->peer);
	v.ns = bpf_ktime_get_coarse_ns();
	bpf_map_update_elem(map, &k, &v, BPF_ANY);
}

/* The IPv4 MTU towards an outer destination: the tunnel's (mtu4), or
 * less when a narrower path to that peer was learned and is still fresh. */
static __always_inline __u32 pmtu_of(void *map, const __u8 *peer, __u32 mtu4)
{
	struct mape_pmtu_key k;
	struct mape_pmtu *m;

	ip6_cpy(k.peer, peer);
	m = bpf_map_lookup_elem(map, &k);
	if (!m || bpf_ktime_get_coarse_ns() - m->ns > MAPE_PMTU_AGE_NS)
		return mtu4;
	return m->mtu - IPV6_HLEN < mtu4 ? m->mtu - IPV6_HLEN : mtu4;
}

/*
 * Turn the Packet Too Big frame (ptb_parse said 1) into an IPv4 ICMP
 * "fragmentation needed" from saddr to daddr with next-hop MTU mtu4,
 * quoting the tunnelled packet's header and 8 bytes, at ETH_HLEN (the
 * Ethernet header keeps the frame's addresses). 0, or -1 when the frame
 * could not be resized. Invalidates all packet pointers.
 */
static __noinline int ptb_to_icmp4(struct xdp_md *ctx, __be32 saddr, __be32 daddr, __u16 mtu4)
{
	struct icmp_errmsg e = {};
	__u16 eth_ip = bpf_htons(ETH_P_IP);
	__u32 len = xdp_len(ctx);

	if (bpf_xdp_load_bytes(ctx, PTB_Q4, e.msg + 8, PTB_QLEN))
		return -1;
	icmp_err_fill(&e, saddr, daddr, PTB_QLEN, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu4);
	/* the quote stays where it is: what precedes it becomes Ethernet + IPv4 + ICMP */
	if (bpf_xdp_adjust_tail(ctx, (int)(PTB_Q4 + PTB_QLEN) - (int)len) ||
	    bpf_xdp_adjust_head(ctx, PTB_Q4 - 28 - ETH_HLEN))
		return -1;
	if (bpf_xdp_store_bytes(ctx, 12, &eth_ip, 2) ||
	    bpf_xdp_store_bytes(ctx, ETH_HLEN, &e.ip, sizeof(e.ip)) ||
	    bpf_xdp_store_bytes(ctx, ETH_HLEN + 20, e.msg, 8))
		return -1;
	return 0;
}

#endif
