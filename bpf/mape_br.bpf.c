// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * mape_br.bpf.c - a stateless MAP-E Border Relay (RFC 7597 s7, s8), for
 * labs, CI and ISP test beds.
 *
 *   mape_br6   XDP on the IPv6 side: packets to the BR address with next
 *              header 4 are checked (the outer source must be the CE address
 *              the covering rule derives from the inner source address and
 *              port, s8.1), decapsulated and forwarded as IPv4
 *   mape_br4   XDP on the IPv4 side: destinations inside a rule's IPv4
 *              prefix are encapsulated to the CE that owns address + port
 *   mape_brt   TC egress on mapebr0, where the kernel routes the rules'
 *              IPv4 prefixes: the same encapsulation for kernel-routed and
 *              locally generated packets (ICMP errors of the BR itself)
 *   mape_brp   XDP_PASS on mapebr0 (veth accepts redirected frames)
 *
 * Fragments: the first fragment's CE is cached by (src, dst, id, proto);
 * later fragments follow it, or are dropped (counted) when it is unknown.
 */
#define MAPE_ROLE_BR	/* lib/maps.h: the BR's maps, counters and configuration */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/xlate.h"
#include "lib/ip6.h"
#include "lib/fwd.h"
#include "lib/partial.h"
#include "lib/pmtu.h"
#include "lib/reasm.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TC_PULL_LEN 160

/*
 * The CE address serving IPv4 address `a` at port `port` (a port of the
 * CE's side of the flow). Returns 0, or a negative BR counter.
 */
static __always_inline int br_ce_addr(const struct mape_br_config *cfg, __be32 a, __be16 port,
				      __u8 *ce)
{
	struct mape_fmr_key k = { .prefixlen = 32, .addr = a };
	struct mape_rule *r = bpf_map_lookup_elem(&mape_br_rules, &k);
	struct mape_portset ps;

	if (!r)
		return -MAPE_BR_DROP_NO_RULE;
	ps = mape_rule_portset(r, mape_port_psid(r, bpf_ntohs(port)));
	/* every port belongs to some PSID; only A = 0 (well-known) is nobody's */
	if (mape_ps_index(&ps, bpf_ntohs(port)) < 0)
		return -MAPE_BR_DROP_PORT;
	mape_peer_addr(ce, r, bpf_ntohl(a), bpf_ntohs(port), cfg->iid);
	return 0;
}

/* The CE-side port of an IPv4 packet going to (to_ce) or coming from a CE. */
static __always_inline __be16 ce_port(const struct pkt4 *p, int to_ce)
{
	if (p->icmp_err)	/* the quoted packet went the other way */
		return to_ce ? p->esport : p->edport;
	return to_ce ? p->dport : p->sport;
}

/* CE address for a packet towards the CEs, fragments included. */
static __always_inline int br_dest(const struct mape_br_config *cfg, const struct pkt4 *p,
				   __u8 *ce)
{
	struct mape_frag_key fk;
	struct mape_br_frag_val fv, *fc;
	int rc;

	frag_key_of(&fk, p, 0, NULL);
	if (p->frag == FRAG_LATER) {
		fc = bpf_map_lookup_elem(&mape_br_frag, &fk);
		if (!fc || !frag_fresh(fc->ns))
			return -MAPE_BR_DROP_FRAG;
		ip6_cpy(ce, fc->ce);
		return 0;
	}
	rc = br_ce_addr(cfg, p->daddr, ce_port(p, 1), ce);
	if (!rc && p->frag == FRAG_FIRST) {
		ip6_cpy(fv.ce, ce);
		fv.ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&mape_br_frag, &fk, &fv, BPF_ANY);
	}
	return rc;
}

/* ------------------------------------------------------------ IPv6 side */

/*
 * Forward the IPv4 packet at ETH_HLEN towards the internet: redirected to
 * the FIB's next hop (verdict fast), or into the kernel as if received on
 * mapebr0 (verdict slow) when it must decide (TTL, neighbour, a veth that
 * cannot take XDP frames).
 */
static __always_inline int br4_out(struct xdp_md *ctx, const struct mape_br_config *cfg,
				   struct pkt4 *p, __u32 fast, __u32 slow, __u32 *v)
{
	struct bpf_fib_lookup f4;
	int rc;

	rc = fib4(ctx, &f4, p->saddr, p->daddr, cfg->tun_ifindex, p->tot_len);
	/* a v4 veth whose peer would drop XDP frames: the kernel forwards */
	if ((cfg->no_xdp_xmit & MAPE_BR_NOXMIT_V4) && f4.ifindex == cfg->v4_ifindex)
		rc = -1;
	if (p->ttl > 1 && rc == BPF_FIB_LKUP_RET_SUCCESS && f4.ifindex != cfg->tun_ifindex) {
		if (ttl_dec(ctx, CTX_XDP, p) ||
		    put_eth(ctx, CTX_XDP, f4.dmac, f4.smac, ETH_P_IP)) {
			*v = MAPE_BR_DROP_ENCAP;
			return XDP_DROP;
		}
		*v = fast;
		return bpf_redirect(f4.ifindex, 0);
	}
	/* the kernel finishes it, as if received on mapebr0 */
	if (put_eth(ctx, CTX_XDP, cfg->tun_mac, cfg->tun_peer_mac, ETH_P_IP)) {
		*v = MAPE_BR_DROP_ENCAP;
		return XDP_DROP;
	}
	*v = slow;
	return bpf_redirect(cfg->tun_peer_ifindex, 0);
}

#define BR_REASM 100	/* br6_walk: leave the frame to mape_brd (reasm.h) */

/*
 * The IPv6 side's walk, for XDP (mape_br6) and for TC (mape_brd: a packet
 * put back together, which the kernel forwards: it may exceed the IPv4
 * side's MTU). XDP leaves to the reassembly an outer IPv6 fragment, and an
 * IPv4 fragment whose first fragment it has not seen from that CE, or
 * whose datagram is being reassembled.
 */
static __always_inline int br6_walk(void *ctx, const int xdp, __u32 *v)
{
	const int PASS = xdp ? XDP_PASS : TC_ACT_OK, DROP = xdp ? XDP_DROP : TC_ACT_SHOT;
	struct mape_br_config *cfg = get_cfg();
	struct mape_frag_key fk;
	struct mape_br_frag_val fv, *fc = NULL;
	struct pkt4 p;
	__u8 osrc[16] __attribute__((aligned(8)));
	__u8 want[16] __attribute__((aligned(8)));
	__u8 ecn;
	int rc;

	*v = MAPE_BR_PASS_NOT_OURS;
	if (!cfg)
		return PASS;
	rc = tunnel_outer(ctx, xdp, cfg->br_addr, osrc);
	if (rc <= 0) {
		if (rc == 0)
			return PASS;
		if (rc == OUTER_FRAG && xdp)
			return BR_REASM;
		*v = rc == OUTER_TRUNCATED ? MAPE_BR_DROP_TRUNCATED :
		     rc == OUTER_BAD_HDR   ? MAPE_BR_DROP_BAD_HDR :
					     MAPE_BR_DROP_EXT_HDR;
		return DROP;
	}
	ecn = OUTER_ECN(rc);
	/* the inner packet lies within the outer payload; nothing after it travels on */
	rc = parse_ipv4(ctx, xdp, OUTER_L3(rc), OUTER_END(rc), &p);
	if (rc < 0) {
		*v = parse_ctr(rc);
		return DROP;
	}
	/* s8.1: the sender must be the CE of the inner source address and
	 * port; for a later fragment, the CE whose first fragment came */
	frag_key_of(&fk, &p, 1, osrc);
	if (xdp && p.frag) {
		if (reasm_pending(&mape_br_reasm, osrc, &p))
			return BR_REASM;
		if (p.frag == FRAG_LATER) {
			fc = bpf_map_lookup_elem(&mape_br_frag, &fk);
			if (!fc || !frag_fresh(fc->ns))
				return BR_REASM;
		}
	}
	if (xdp ? xdp_trim(ctx, p.l3, p.tot_len) : tc_trim(ctx, p.l3 + p.tot_len)) {
		*v = MAPE_BR_DROP_ENCAP;
		return DROP;
	}
	rc = ecn_decap(ctx, xdp, &p, ecn);
	if (rc) {
		*v = rc == -1 ? MAPE_BR_DROP_ECN : MAPE_BR_DROP_ENCAP;
		return DROP;
	}
	if (p.frag == FRAG_LATER) {
		if (!xdp)
			fc = bpf_map_lookup_elem(&mape_br_frag, &fk);
		if (!fc || !frag_fresh(fc->ns)) {
			*v = MAPE_BR_DROP_FRAG;
			return DROP;
		}
		ip6_cpy(want, fc->ce);
	} else {
		rc = br_ce_addr(cfg, p.saddr, ce_port(&p, 0), want);
		if (rc < 0) {
			*v = -rc;
			return DROP;
		}
		if (p.frag == FRAG_FIRST) {
			ip6_cpy(fv.ce, want);
			fv.ns = bpf_ktime_get_ns();
			bpf_map_update_elem(&mape_br_frag, &fk, &fv, BPF_ANY);
		}
	}
	if (!ip6_eq(osrc, want)) {
		*v = MAPE_BR_DROP_SPOOFED;
		return DROP;
	}
	/* every way on is a redirect: a checksum left to offload (a CE on
	 * this machine) is completed (native); generic XDP keeps the skb's
	 * CHECKSUM_PARTIAL, which the device completes (partial.h) */
	if (xdp && !cfg->xdp_skb && l4_partial_settle(ctx, &p, 0) < 0) {
		*v = MAPE_BR_DROP_TRUNCATED;
		return DROP;
	}
	if (!xdp) {
		/* into the kernel, as if received on mapebr0: mapebr0's ingress
		 * takes a packet of any size */
		if (bpf_skb_adjust_room(ctx, -(int)(p.l3 - ETH_HLEN), BPF_ADJ_ROOM_MAC, 0) ||
		    put_eth(ctx, CTX_TC, cfg->tun_mac, cfg->tun_peer_mac, ETH_P_IP)) {
			*v = MAPE_BR_DROP_ENCAP;
			return DROP;
		}
		*v = MAPE_BR_DECAP_SLOW;
		return bpf_redirect(cfg->tun_ifindex, BPF_F_INGRESS);
	}
	if (bpf_xdp_adjust_head(ctx, (int)(p.l3 - ETH_HLEN))) {
		*v = MAPE_BR_DROP_ENCAP;
		return DROP;
	}
	p.l3 = ETH_HLEN;
	return br4_out(ctx, cfg, &p, MAPE_BR_DECAP_FAST, MAPE_BR_DECAP_SLOW, v);
}

/* Subprograms, as br6_ptb: the entries' frames stay small (walk.h). */
static __noinline int br6(struct xdp_md *ctx, __u32 *v)
{
	int act = br6_walk(ctx, CTX_XDP, v);

	if (act == BR_REASM) {
		*v = MAPE_BR_TO_REASM;
		act = XDP_PASS;
	}
	return act;
}

static __noinline int br6_tc(struct __sk_buff *skb, __u32 *v)
{
	bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
	return br6_walk(skb, CTX_TC, v);
}

/*
 * An ICMPv6 Packet Too Big about a packet we encapsulated to a CE (pmtu.h):
 * its quote must be from our address to the CE that the rules give for
 * the quoted IPv4 destination and port. It becomes the ICMPv4
 * "fragmentation needed" (MTU - 40) from 192.0.0.8 to the IPv4 sender,
 * forwarded like a decapsulated packet. The BR keeps no state: it relays
 * every one and learns nothing. 1 when so, 0 when not ours, -1 when the
 * frame broke on the way.
 */
static __noinline int br_ptb(struct xdp_md *ctx)
{
	struct mape_br_config *cfg;
	struct ptb t = {};
	__u8 want[16] __attribute__((aligned(8)));

	if (!ptb_candidate(ctx))
		return 0;
	cfg = get_cfg();
	if (!cfg || !ptb_parse(ctx, cfg->br_addr, &t) || t.mtu >= (__u32)cfg->mtu + IPV6_HLEN)
		return 0;
	if (br_ce_addr(cfg, t.daddr, t.dport, want) || !ip6_eq(want, t.peer))
		return 0;
	return ptb_to_icmp4(ctx, bpf_htonl(MAPE_DUMMY_IPV4), t.saddr,
			    (__u16)(t.mtu - IPV6_HLEN)) ? -1 : 1;
}

static __noinline int br6_ptb(struct xdp_md *ctx, __u32 *v)
{
	struct mape_br_config *cfg = get_cfg();
	struct pkt4 p;

	*v = MAPE_BR_DROP_ENCAP;
	if (!cfg || parse_ipv4(ctx, CTX_XDP, ETH_HLEN, xdp_len(ctx), &p) < 0)
		return XDP_DROP;
	return br4_out(ctx, cfg, &p, MAPE_BR_PTB_RELAYED, MAPE_BR_PTB_RELAYED, v);
}

SEC("xdp")
int mape_br6(struct xdp_md *ctx)
{
	__u32 len = xdp_len(ctx), v;
	int act = br6(ctx, &v), ptb;

	/* not a tunnel packet: a Packet Too Big about one is relayed (pmtu.h);
	 * tunnel packets, the hot path, never pay for this */
	if (act == XDP_PASS && v == MAPE_BR_PASS_NOT_OURS && (ptb = br_ptb(ctx))) {
		v = MAPE_BR_DROP_ENCAP;
		act = ptb > 0 ? br6_ptb(ctx, &v) : XDP_DROP;
	}
	count(v, len);
	return act;
}

/*
 * TC on the IPv6 side's ingress: the fragments mape_br6 left here
 * (reasm.h); a datagram put back together takes the walk into the kernel.
 */
static __noinline int br_reasm_in(struct __sk_buff *skb, __u32 *v)
{
	struct mape_br_config *cfg = get_cfg();
	__u8 timed_out = 0;
	int res;

	*v = MAPE_BR_PASS_NOT_OURS;
	if (!cfg)
		return TC_ACT_OK;
	res = reasm_core(skb, cfg->br_addr, &mape_br_reasm, &mape_br_reasm0, &mape_br_reasm_src,
			 &timed_out);
	if (timed_out)
		count(MAPE_BR_REASM_TIMEOUT, 0);
	if (res == REASM_NOT_OURS)
		return TC_ACT_OK;
	if (res == REASM_DONE) {
		count(MAPE_BR_REASM_DONE, 0);
		return BR_REASM;
	}
	*v = reasm_counter(res, &(const struct reasm_counters){
		.held = MAPE_BR_FRAG_HELD, .dup = MAPE_BR_DROP_FRAG_DUP,
		.overlap = MAPE_BR_DROP_FRAG_OVERLAP, .limit = MAPE_BR_DROP_FRAG_LIMIT,
		.trunc = MAPE_BR_DROP_TRUNCATED, .broken = MAPE_BR_DROP_ENCAP });
	return TC_ACT_SHOT;
}

SEC("tc")
int mape_brd(struct __sk_buff *skb)
{
	__u32 len = skb->len, v;
	int act = br_reasm_in(skb, &v);

	if (act == BR_REASM) {
		act = br6_tc(skb, &v);
		if (act == TC_ACT_OK) {	/* whole, yet no tunnel packet */
			v = MAPE_BR_DROP_EXT_HDR;
			act = TC_ACT_SHOT;
		}
	} else if (act == TC_ACT_OK)
		return act;	/* not ours: mape_br6 counted it */
	count(v, len);
	return act;
}

/* ------------------------------------------------------------ IPv4 side */

static __always_inline int br4(struct xdp_md *ctx, __u32 *v)
{
	struct mape_br_config *cfg = get_cfg();
	struct bpf_fib_lookup f6;
	struct mape_fmr_key rk;
	struct pkt4 p;
	__u8 ce[16] __attribute__((aligned(8)));
	void *data, *end;
	int rc;

	*v = MAPE_BR_PASS_NOT_OURS;
	if (!cfg)
		return XDP_PASS;
	data = ctx_data(ctx, CTX_XDP);
	end = ctx_end(ctx, CTX_XDP);
	if (!PKT_OK(data, ETH_HLEN, end) ||
	    ((struct ethhdr *)data)->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (parse_ipv4(ctx, CTX_XDP, ETH_HLEN, xdp_len(ctx), &p))
		return XDP_PASS;	/* the kernel judges malformed packets */
	rk.prefixlen = 32;
	rk.addr = p.daddr;
	if (!bpf_map_lookup_elem(&mape_br_rules, &rk))
		return XDP_PASS;	/* not inside the domain */
	rc = br_dest(cfg, &p, ce);
	if (rc < 0) {
		*v = -rc;
		return XDP_DROP;
	}
	*v = MAPE_BR_TO_KERNEL;
	if (p.ttl <= 1 || p.tot_len > cfg->mtu)
		return XDP_PASS;	/* ICMP time exceeded / fragmenting: the kernel */
	rc = fib6_out(ctx, &f6, cfg->br_addr, ce, cfg->v6_ifindex, p.tot_len + IPV6_HLEN);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS ||
	    ((cfg->no_xdp_xmit & MAPE_BR_NOXMIT_V6) && f6.ifindex == cfg->v6_ifindex))
		return XDP_PASS;	/* routed into mapebr0: mape_brt encapsulates */
	*v = MAPE_BR_DROP_ENCAP;
	/* Ethernet padding is not the packet's: it must not travel in the tunnel */
	if (xdp_trim(ctx, ETH_HLEN, p.tot_len) ||
	    (!cfg->xdp_skb && l4_partial_settle(ctx, &p, 0) < 0) ||	/* as in br6 */
	    ttl_dec(ctx, CTX_XDP, &p) || xdp_encap6(ctx, p.tot_len, p.tos, cfg->br_addr, ce) ||
	    put_eth(ctx, CTX_XDP, f6.dmac, f6.smac, ETH_P_IPV6))
		return XDP_DROP;
	*v = MAPE_BR_ENCAP_FAST;
	return bpf_redirect(f6.ifindex, 0);
}

SEC("xdp")
int mape_br4(struct xdp_md *ctx)
{
	__u32 len = xdp_len(ctx), v;
	int act = br4(ctx, &v);

	count(v, len);
	return act;
}

/* ------------------------------------------------------------ mapebr0 TC */

static __always_inline int brt(struct __sk_buff *skb, __u32 *v)
{
	struct mape_br_config *cfg = get_cfg();
	__u8 ce[16] __attribute__((aligned(8)));
	struct pkt4 p;
	int rc;

	*v = MAPE_BR_PASS_NOT_OURS;
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (!cfg) {
		*v = MAPE_BR_DROP_NO_CONFIG;
		return TC_ACT_SHOT;
	}
	bpf_skb_pull_data(skb, skb->len < TC_PULL_LEN ? skb->len : TC_PULL_LEN);
	rc = parse_ipv4(skb, CTX_TC, ETH_HLEN, skb->len, &p);
	if (rc < 0) {
		*v = parse_ctr(rc);
		return TC_ACT_SHOT;
	}
	rc = br_dest(cfg, &p, ce);
	if (rc < 0) {
		*v = -rc;
		return TC_ACT_SHOT;
	}
	*v = MAPE_BR_DROP_ENCAP;
	if (tc_encap6(skb, p.tot_len, p.tos, cfg->br_addr, ce))
		return TC_ACT_SHOT;
	*v = MAPE_BR_ENCAP_SLOW;
	return bpf_redirect_neigh(cfg->v6_ifindex, NULL, 0, 0);
}

SEC("tc")
int mape_brt(struct __sk_buff *skb)
{
	__u32 len = skb->len, v;
	int act = brt(skb, &v);

	count(v, len);
	return act;
}

SEC("xdp")
int mape_brp(struct xdp_md *ctx)
{
	return XDP_PASS;
}
