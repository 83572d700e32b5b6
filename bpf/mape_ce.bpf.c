// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * mape_ce.bpf.c - the MAP-E CE data path (entry points only; the logic is
 * in lib/). See docs/design.md for the packet walk of each program.
 *
 *   mape_lan   XDP on each LAN: established flows, translated and
 *              encapsulated, redirected to the WAN (fast path)
 *   mape_wan   XDP on the WAN: s8.1 checks, decapsulation, reverse NAPT,
 *              redirect to the LAN, or into the tunnel interface (slow path)
 *   mape_tun   TC egress on the tunnel interface: NAPT with session
 *              creation, encapsulation, redirect_neigh to the WAN
 *   mape_pass  XDP_PASS on the tunnel interface, so that veth accepts the
 *              frames mape_wan redirects into it
 *
 * Every program ends in one verdict counter (enum mape_counter).
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/nat.h"
#include "lib/xlate.h"
#include "lib/encap.h"
#include "lib/fwd.h"
#include "lib/icmp.h"
#include "lib/nh.h"
#include "lib/walk.h"
#include "lib/frag.h"
#include "lib/ct.h"
#include "lib/partial.h"
#include "lib/pmtu.h"
#include "lib/reasm.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define TC_PULL_LEN 160	/* headers TC parses: eth + IPv4 + ICMP + IPv4 + 8, options */

/* Refresh a session for an outbound packet (RFC 4787 REQ-6: outbound refreshes).
 * The coarse clock (same CLOCK_MONOTONIC, tick resolution) is cheaper per
 * packet and plenty for timeouts counted in seconds; it changes once per
 * tick, so the stamp is written only then. */
static __always_inline void sess_out_touch(const struct mape_config *cfg, struct mape_session *s,
					   const struct pkt4 *p, __u64 now)
{
	if (s->last_ns != now)
		s->last_ns = now;
	s->pkts_out++;
	if (p->proto == IPPROTO_TCP)
		nat_tcp_state(cfg, s, p->tcp_flags, 1);
}

/* ---------------------------------------------------------------- LAN XDP */

static __noinline int lan_own_ipv4(struct xdp_md *ctx, const struct mape_config *cfg,
				   struct pkt4 *p, __u32 *v);

/* Will the kernel route this LAN packet into the tunnel? Only decides a
 * counter; a subprogram so that its FIB buffer stays off lan_est's frame. */
static __noinline int lan_to_tunnel(struct xdp_md *ctx, const struct mape_config *cfg,
				    const struct pkt4 *p)
{
	struct bpf_fib_lookup f;
	int rc = fib4(ctx, &f, p->saddr, p->daddr, ctx->ingress_ifindex, 0);

	return (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH) &&
	       f.ifindex == cfg->tun_ifindex;
}

/*
 * A TCP/UDP checksum left to offload, before a translation whose packet
 * is redirected: completed now (native XDP: counted), or, in generic mode,
 * 1: the skb stays partial (counted); the caller either leaves the packet
 * to the kernel or ends with l4_partial_finish. -1: malformed.
 */
static __always_inline int csum_settle(struct xdp_md *ctx, const struct mape_config *cfg,
				       const struct pkt4 *p)
{
	int rc = l4_partial_settle(ctx, p, cfg->xdp_skb);

	if (rc > 0)
		count(rc == 2 ? MAPE_CTR_EV_CSUM_COMPLETED : MAPE_CTR_EV_CSUM_PARTIAL, 0);
	return rc == 2 ? 0 : rc;
}

/*
 * A LAN packet the kernel routes into the tunnel, of an established
 * session: translate, encapsulate, redirect. A subprogram of its own so
 * that its buffers are not on the stack of the session-creating paths.
 */
static __noinline int lan_est(struct xdp_md *ctx, const struct mape_config *cfg,
			      struct pkt4 *pp, __u32 *v)
{
	struct mape_nh_key nk __attribute__((aligned(8)));
	struct mape_out_key k;
	struct mape_session *s;
	struct mape_nh *nh;
	struct pkt4 p = *pp;
	__u64 now;
	int rc;

	/*
	 * A session means the kernel routed this flow into the tunnel when it
	 * began (sessions are made there only), as a flowtable entry does; so
	 * the established case needs no route lookup. Without one, the FIB
	 * tells for the counters whether the kernel will route it to us.
	 */
	out_key_pkt(&k, &p);
	s = (p.frag || p.icmp_err) ? NULL : sess_get(cfg, &k);
	if (!s) {
		if (lan_to_tunnel(ctx, cfg, &p))
			*v = MAPE_CTR_OUT_TO_KERNEL;
		return XDP_PASS;
	}
	*v = MAPE_CTR_OUT_TO_KERNEL;
	/* Rare or stateful cases belong to the slow path. */
	if (p.proto == IPPROTO_TCP && (p.tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST)))
		return XDP_PASS;
	if (p.ttl <= 1) {
		count(MAPE_CTR_EV_TO_KERNEL_TTL, 0);
		return XDP_PASS;
	}
	if (p.tot_len > cfg->mtu) {
		count(MAPE_CTR_EV_TO_KERNEL_MTU, 0);
		return XDP_PASS;
	}
	/* the firewall decides: XDP takes what conntrack saw established */
	now = bpf_ktime_get_coarse_ns();
	if (!sess_fast(ctx, CTX_XDP, s, &k, now)) {
		count(MAPE_CTR_EV_TO_KERNEL_CT, 0);
		return XDP_PASS;
	}
	/* an FMR peer is chosen by the port on the wire: for echo, our identifier */
	outer_dst(cfg, p.daddr, p.proto == IPPROTO_ICMP ? s->ext_port : p.dport, nk.addr);
	/* a learned path MTU is never below 1280 - 40: smaller packets need no look */
	if (p.tot_len > MAPE_PMTU_MIN - IPV6_HLEN &&
	    p.tot_len > pmtu_of(&mape_pmtu, nk.addr, cfg->mtu)) {
		count(MAPE_CTR_EV_TO_KERNEL_MTU, 0);	/* mape_tun tells the host */
		return XDP_PASS;
	}
	nh = nh_get(ctx, cfg, &nk, 1, 0, now, &rc);
	if (!nh) {
		count(MAPE_CTR_EV_TO_KERNEL_NEIGH, 0);
		return XDP_PASS;
	}
	if (!xmit_ok(cfg, nh->ifindex)) {
		count(MAPE_CTR_EV_TO_KERNEL_XMIT, 0);
		return XDP_PASS;
	}
	/* generic mode: a partial checksum goes the kernel's way, which knows it */
	rc = csum_settle(ctx, cfg, &p);
	if (rc > 0)
		return XDP_PASS;
	/* From here on the packet is ours: failures are counted drops. */
	*v = MAPE_CTR_DROP_ENCAP;
	if (rc < 0 ||
	    xlate_plain(ctx, CTX_XDP, &p, 0, p.saddr, cfg->ipv4, p.sport, s->ext_port) ||
	    frag_id_fix(ctx, CTX_XDP, &p, &cfg->ps, cfg->port_count) || ttl_dec(ctx, CTX_XDP, &p))
		return XDP_DROP;
	sess_out_touch(cfg, s, &p, now);
	if (xdp_encap6(ctx, p.tot_len, p.tos, cfg->ce_addr, nk.addr) ||
	    put_eth(ctx, CTX_XDP, nh->dmac, nh->smac, ETH_P_IPV6))
		return XDP_DROP;
	*v = MAPE_CTR_OUT_FAST;
	return bpf_redirect(nh->ifindex, 0);
}

/* Parse a LAN frame's IPv4 packet and cut the Ethernet padding of a
 * minimum-size frame off (not the packet's). A subprogram: the parse's
 * registers stay off mape_lan's frame. */
static __noinline int lan_parse(struct xdp_md *ctx, struct pkt4 *p)
{
	if (parse_ipv4(ctx, CTX_XDP, ETH_HLEN, ctx_len(ctx, CTX_XDP), p))
		return -1;
	return xdp_trim(ctx, ETH_HLEN, p->tot_len) ? -1 : 0;
}

static __always_inline int lan_fast(struct xdp_md *ctx, __u32 *v)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	struct ethhdr *eth = data;
	struct mape_config *cfg;
	struct pkt4 p;

	*v = MAPE_CTR_PASS_NOT_OURS;
	if (!PKT_OK(eth, ETH_HLEN, end) || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	cfg = get_cfg();
	if (!cfg)
		return XDP_PASS;
	if (lan_parse(ctx, &p))
		return XDP_PASS;	/* the kernel judges malformed packets */
	/* Our own IPv4: the kernel would deliver it locally, but its ports
	 * belong to our LAN hosts (hairpin) or to CEs sharing the address. */
	if (p.daddr == cfg->ipv4 && !p.frag && !p.icmp_err && p.proto != IPPROTO_ICMP)
		return lan_own_ipv4(ctx, cfg, &p, v);
	return lan_est(ctx, cfg, &p, v);
}

SEC("xdp")
int mape_lan(struct xdp_md *ctx)
{
	__u32 len = xdp_len(ctx), v;
	int act = lan_fast(ctx, &v);

	count(v, len);
	return act;
}

/* ---------------------------------------------------------------- WAN XDP */

/*
 * Deliver a decapsulated, translated IPv4 packet (at ETH_HLEN) to int_addr:
 * mape_wan's ACT_DELIVER (walk.h), so its FIB lookup never stacks on
 * wan_in's frame. Reads what it needs from the packet itself.
 */
static __noinline int wan_deliver(struct xdp_md *ctx, __be32 int_addr, int slow, __u32 *v)
{
	void *data = ctx_data(ctx, CTX_XDP), *end = ctx_end(ctx, CTX_XDP);
	struct mape_nh_key nk __attribute__((aligned(8)));
	struct iphdr *ip = data + ETH_HLEN;
	struct mape_config *cfg = get_cfg();
	struct pkt4 p = { .l3 = ETH_HLEN };
	struct mape_nh *nh;
	int rc;

	*v = MAPE_CTR_DROP_ENCAP;
	if (!cfg || !PKT_OK(ip, sizeof(*ip), end))
		return XDP_DROP;
	p.ttl = ip->ttl;
	p.proto = ip->protocol;
	p.saddr = ip->saddr;
	if (slow)	/* the kernel decides (wan_in counted why) */
		goto slow;
	if (int_addr == cfg->ipv4) {
		count(MAPE_CTR_EV_TO_KERNEL_LOCAL, 0);
		goto slow;
	}
	if (p.ttl <= 1) {
		count(MAPE_CTR_EV_TO_KERNEL_TTL, 0);
		goto slow;
	}
	/* the LAN side is assumed to take the tunnel MTU (it is ≤ WAN − 40) */
	nh_key4(&nk, int_addr);
	nh = nh_get(ctx, cfg, &nk, 0, p.saddr, bpf_ktime_get_coarse_ns(), &rc);
	if (!nh) {
		count(rc == BPF_FIB_LKUP_RET_NO_NEIGH ? MAPE_CTR_EV_TO_KERNEL_NEIGH :
							MAPE_CTR_EV_TO_KERNEL_LOCAL, 0);
		goto slow;
	}
	if (!xmit_ok(cfg, nh->ifindex)) {
		count(MAPE_CTR_EV_TO_KERNEL_XMIT, 0);
		goto slow;
	}
	if (ttl_dec(ctx, CTX_XDP, &p) || put_eth(ctx, CTX_XDP, nh->dmac, nh->smac, ETH_P_IP)) {
		*v = MAPE_CTR_DROP_ENCAP;
		return XDP_DROP;
	}
	*v = MAPE_CTR_IN_FAST;
	return bpf_redirect(nh->ifindex, 0);
slow:
	/* Enter the kernel as if received on the tunnel interface. */
	if (put_eth(ctx, CTX_XDP, cfg->tun_mac, cfg->tun_peer_mac, ETH_P_IP)) {
		*v = MAPE_CTR_DROP_ENCAP;
		return XDP_DROP;
	}
	*v = MAPE_CTR_IN_SLOW;
	return bpf_redirect(cfg->tun_peer_ifindex, 0);
}

#define WAN_LOCAL 1	/* no session, but the router itself may answer (echo request) */
#define WAN_CREATE 2	/* the filtering admits a new flow: *k names the port's owner */
#define WAN_FORWARD 3	/* a new flow to a forwarded port: *k names its server */

/*
 * Find the session of an inbound packet, or tell whether the filtering
 * policy admits a new flow. Returns 0 (found; *k filled), WAN_LOCAL,
 * WAN_CREATE (*k filled with the owner: the packet goes to the kernel, and
 * the owner's answer makes the session), WAN_FORWARD (the same, to the
 * server of a forwarded port, once its --from filter admits the source),
 * or a negative drop counter.
 */
static __always_inline int wan_session(const struct mape_config *cfg, const struct pkt4 *p,
				       __u8 proto, __be16 port, __be32 rem, __be16 rport,
				       struct mape_out_key *k)
{
	struct mape_in_key ik;
	struct mape_in_val *iv;
	struct mape_adf_key ak = { .rem_addr = rem, .ext_port = port, .proto = proto };
	struct mape_port *pt;
	struct mape_fwd *f;
	__u32 slot;

	/* a request is the router's to answer, whoever holds the identifier */
	if (proto == IPPROTO_ICMP && !p->icmp_err && p->icmp_type == ICMP_ECHO)
		return WAN_LOCAL;
	in_key_of(&ik, proto, port, rem, rport);
	iv = bpf_map_lookup_elem(&mape_in, &ik);
	if (iv) {
		out_key_of(k, proto, iv->int_addr, iv->int_port, rem, rport);
		return 0;
	}
	if (p->icmp_err)
		return -MAPE_CTR_DROP_ICMP_ERR;
	if (proto == IPPROTO_ICMP)
		return -MAPE_CTR_DROP_NO_SESSION;
	/* inbound, only a SYN or UDP may make a session (RFC 7857 s2.1) */
	f = fwd_of(proto, port);
	if (f) {	/* static NAPT: the filter first, before any state */
		if (!fwd_admits(f, rem))
			return -MAPE_CTR_DROP_FWD_FILTERED;
		if (!sess_may_create(proto, p->tcp_flags) || (p->tcp_flags & TCP_ACK))
			return -MAPE_CTR_DROP_NO_SESSION;
		out_key_of(k, proto, f->int_addr, f->int_port, rem, rport);
		return WAN_FORWARD;
	}
	/* RFC 4787 s5: the port's one owner, if it talked to this address (ADF)
	 * or to anyone (EIF). Overlapped ports only accept exact matches. */
	slot = port_slot(proto, port);
	pt = bpf_map_lookup_elem(&mape_ports, &slot);
	if (!pt || !pt->sessions || pt->shared)
		return -MAPE_CTR_DROP_NO_SESSION;
	if (cfg->filtering != MAPE_FILTER_ENDPOINT && !bpf_map_lookup_elem(&mape_adf, &ak))
		return -MAPE_CTR_DROP_FILTERED;
	if (!sess_may_create(proto, p->tcp_flags) || (p->tcp_flags & TCP_ACK))
		return -MAPE_CTR_DROP_NO_SESSION;
	out_key_of(k, proto, pt->int_addr, pt->int_port, rem, rport);
	return WAN_CREATE;
}

/*
 * A LAN packet to our own IPv4 address (TCP/UDP; echo requests are the
 * router's). Its source gets a session as for any outbound packet. A port
 * of our set is hairpinned (RFC 4787 REQ-9): the packet is translated as if
 * it had left and come back, and delivered to the LAN host owning the port
 * (subject to the same filtering as inbound packets). Any other port is
 * served by a CE sharing our address: encapsulated to the FMR peer or the
 * BR. Runs in XDP only, since the kernel would take these packets itself;
 * without a resolved IPv6 next hop the encapsulated packet is handed to the
 * kernel's IPv6 forwarding.
 */
/* Hairpin delivery of a translated packet to the LAN host int_addr; slow:
 * through the kernel (its firewall decides a new flow). */
static __noinline int lan_hairpin_out(struct xdp_md *ctx, struct pkt4 *p, __be32 int_addr,
				      int slow, __u32 *v)
{
	struct mape_config *cfg = get_cfg();
	struct bpf_fib_lookup f;
	int rc;

	*v = MAPE_CTR_DROP_ENCAP;
	if (!cfg)
		return XDP_DROP;
	rc = slow ? 0 : fib4(ctx, &f, cfg->ipv4, int_addr, ctx->ingress_ifindex, 0);
	if (!slow && (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH) &&
	    f.ifindex == cfg->tun_ifindex) {
		/* the "LAN host" is routed into the tunnel (a session made from
		 * a spoofed source): an IPv4 packet must not enter it unencapsulated */
		*v = MAPE_CTR_DROP_MARTIAN;
		return XDP_DROP;
	}
	*v = MAPE_CTR_HAIRPIN;
	if (!slow && rc == BPF_FIB_LKUP_RET_SUCCESS && !xmit_ok(cfg, f.ifindex)) {
		count(MAPE_CTR_EV_TO_KERNEL_XMIT, 0);
		slow = 1;
	}
	if (slow || rc != BPF_FIB_LKUP_RET_SUCCESS || p->ttl <= 1) {
		/* The kernel forwards it to the host: it enters as if received on
		 * the tunnel (from our own IPv4: accept_local is set there). */
		if (put_eth(ctx, CTX_XDP, cfg->tun_mac, cfg->tun_peer_mac, ETH_P_IP)) {
			*v = MAPE_CTR_DROP_ENCAP;
			return XDP_DROP;
		}
		return bpf_redirect(cfg->tun_peer_ifindex, 0);
	}
	if (ttl_dec(ctx, CTX_XDP, p) || put_eth(ctx, CTX_XDP, f.dmac, f.smac, ETH_P_IP)) {
		*v = MAPE_CTR_DROP_ENCAP;
		return XDP_DROP;
	}
	return bpf_redirect(f.ifindex, 0);
}

/* Encapsulate a translated packet to the CE sharing our address (or the BR). */
static __noinline int lan_share_out(struct xdp_md *ctx, const struct mape_config *cfg,
				    struct pkt4 *p, __u32 *v)
{
	struct bpf_fib_lookup f;
	__u8 dst6[16] __attribute__((aligned(8)));
	int rc;

	*v = MAPE_CTR_DROP_ENCAP;
	outer_dst(cfg, p->daddr, p->dport, dst6);
	if (xdp_encap6(ctx, p->tot_len, p->tos, cfg->ce_addr, dst6))
		return XDP_DROP;
	rc = fib6_out(ctx, &f, cfg->ce_addr, dst6, cfg->wan_ifindex, p->tot_len + IPV6_HLEN);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS && !xmit_ok(cfg, f.ifindex))
		rc = -1;	/* the WAN veth's peer would drop XDP frames */
	if (rc != BPF_FIB_LKUP_RET_SUCCESS) {
		/* the kernel's IPv6 forwarding resolves the next hop: the
		 * packet enters it on the tunnel interface */
		*v = MAPE_CTR_OUT_TO_KERNEL;
		count(rc < 0 ? MAPE_CTR_EV_TO_KERNEL_XMIT : MAPE_CTR_EV_TO_KERNEL_NEIGH, 0);
		if (put_eth(ctx, CTX_XDP, cfg->tun_mac, cfg->tun_peer_mac, ETH_P_IPV6))
			return XDP_DROP;
		return bpf_redirect(cfg->tun_peer_ifindex, 0);
	}
	if (put_eth(ctx, CTX_XDP, f.dmac, f.smac, ETH_P_IPV6))
		return XDP_DROP;
	*v = MAPE_CTR_OUT_FAST;
	return bpf_redirect(f.ifindex, 0);
}

static __noinline int lan_own_ipv4(struct xdp_md *ctx, const struct mape_config *cfg,
				   struct pkt4 *p, __u32 *v)
{
	struct mape_out_key k;	/* our session, then the hairpin target's */
	struct mape_session *s;
	__be16 ext;
	int rc, slow, partial;

	out_key_pkt(&k, p);
	s = sess_get(cfg, &k);
	if (!s) {
		rc = sess_may_create(p->proto, p->tcp_flags) ?
			     nat_create(cfg, &k, 0, sess_state0(p->proto, p->tcp_flags),
					sess_flags0(p->proto, p->tcp_flags)) :
			     -MAPE_CTR_DROP_NOT_SYN;
		s = rc < 0 ? NULL : sess_get(cfg, &k);
		if (!s) {
			*v = rc < 0 ? -rc : MAPE_CTR_DROP_TABLE_FULL;
			return XDP_DROP;
		}
	}
	ext = s->ext_port;
	sess_out_touch(cfg, s, p, bpf_ktime_get_coarse_ns());
	*v = MAPE_CTR_DROP_ENCAP;
	if (mape_ps_index(&cfg->ps, bpf_ntohs(p->dport)) >= 0) {
		/* a new flow to the port's owner enters the kernel, whose firewall
		 * decides, and makes no session there: the owner's answer does */
		rc = wan_session(cfg, p, p->proto, p->dport, cfg->ipv4, ext, &k);
		slow = rc >= WAN_CREATE;
		if (slow) {
			count(rc == WAN_FORWARD ? MAPE_CTR_EV_TO_KERNEL_FWD :
						  MAPE_CTR_EV_TO_KERNEL_NEW, 0);
			rc = 0;
		}
		if (rc) {
			*v = rc < 0 ? -rc : MAPE_CTR_DROP_NO_SESSION;
			return XDP_DROP;
		}
		partial = csum_settle(ctx, cfg, p);
		if (partial < 0 ||
		    xlate_plain(ctx, CTX_XDP, p, 0, p->saddr, cfg->ipv4, p->sport, ext) ||
		    xlate_plain(ctx, CTX_XDP, p, 1, cfg->ipv4, k.int_addr, p->dport, k.int_port) ||
		    (partial && l4_partial_finish(ctx, p)))
			return XDP_DROP;
		return lan_hairpin_out(ctx, p, k.int_addr, slow, v);
	}
	/* What a router does on the way, since no kernel sees these packets:
	 * TTL, path MTU (RFC 1191: no black hole), MSS. */
	if (p->ttl <= 1) {
		*v = MAPE_CTR_DROP_TTL;
		return xdp_icmp_error(ctx, ICMP_TIME_EXCEEDED, 0, 0);
	}
	if (p->tot_len > cfg->mtu) {
		*v = MAPE_CTR_DROP_MTU;
		return p->df ? xdp_icmp_error(ctx, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, cfg->mtu) :
			       XDP_DROP;
	}
	partial = csum_settle(ctx, cfg, p);
	if (partial < 0)
		return XDP_DROP;
	if (p->proto == IPPROTO_TCP && (p->tcp_flags & TCP_SYN) &&
	    mss_clamp(ctx, CTX_XDP, p, cfg->mtu - 40) > 0)
		count(MAPE_CTR_EV_MSS_CLAMP, 0);
	if (xlate_plain(ctx, CTX_XDP, p, 0, p->saddr, cfg->ipv4, p->sport, ext) ||
	    (partial && l4_partial_finish(ctx, p)) ||
	    frag_id_fix(ctx, CTX_XDP, p, &cfg->ps, cfg->port_count) || ttl_dec(ctx, CTX_XDP, p))
		return XDP_DROP;
	return lan_share_out(ctx, cfg, p, v);
}

/*
 * The WAN walk, for XDP (mape_wan) and for TC (mape_reasm: a datagram put
 * back together, which always takes the kernel's way). XDP leaves to the
 * TC reassembly (ACT_REASM) an outer IPv6 fragment, and an IPv4 fragment
 * whose first fragment it has not seen or which is being reassembled.
 * Instantiated per flavour as a subprogram: a new inbound session and the
 * delivery are asked of the entry (walk.h), so that neither stacks on
 * this frame.
 */
static __always_inline int wan_walk(void *ctx, const int xdp, struct walk *w, __u32 *v)
{
	const int PASS = xdp ? XDP_PASS : TC_ACT_OK, DROP = xdp ? XDP_DROP : TC_ACT_SHOT;
	struct mape_config *cfg;
	struct mape_out_key k;
	struct mape_session *s;
	struct mape_frag_val *fc;
	struct pkt4 p;
	__u8 osrc[16] __attribute__((aligned(8)));
	__u32 l3, end;
	__be32 rem, int_addr;
	__be16 port, rport, int_port;
	__u8 proto, ecn;
	__u64 now;
	int rc, partial = 0;

	*v = MAPE_CTR_PASS_NOT_OURS;
	cfg = get_cfg();
	if (!cfg)
		return PASS;
	if (w->ptb) {	/* a Packet Too Big made an ICMPv4 error at ETH_HLEN (pmtu.h) */
		l3 = ETH_HLEN;
		end = ctx_len(ctx, xdp);
		ecn = 0;
	} else {
		rc = tunnel_outer(ctx, xdp, cfg->ce_addr, osrc);
		if (rc <= 0) {
			if (rc == 0)
				return PASS;
			if (rc == OUTER_FRAG && xdp)
				return ACT_REASM;
			*v = rc == OUTER_TRUNCATED ? MAPE_CTR_DROP_TRUNCATED :
			     rc == OUTER_BAD_HDR   ? MAPE_CTR_DROP_BAD_HDR :
						     MAPE_CTR_DROP_EXT_HDR;
			return DROP;
		}
		l3 = OUTER_L3(rc);
		end = OUTER_END(rc);
		ecn = OUTER_ECN(rc);
	}
	/* the inner packet lies within the outer payload; nothing after it travels on */
	rc = parse_ipv4(ctx, xdp, l3, end, &p);
	if (rc < 0) {
		*v = parse_ctr(rc);
		return DROP;
	}
	/* a fragment of a datagram being put back together at TC, or a later
	 * fragment before its first (the cache is keyed by the outer source:
	 * the first fragment's sender decides for its own datagram only) */
	fc = NULL;
	if (xdp && p.frag && !w->ptb) {
		if (reasm_pending(&mape_reasm, osrc, &p))
			return ACT_REASM;
		if (p.frag == FRAG_LATER) {
			fc = frag_find(&p, 1, osrc);
			if (!fc)
				return ACT_REASM;
		}
	}
	if (xdp ? xdp_trim(ctx, p.l3, p.tot_len) : tc_trim(ctx, p.l3 + p.tot_len)) {
		*v = MAPE_CTR_DROP_ENCAP;
		return DROP;
	}
	rc = ecn_decap(ctx, xdp, &p, ecn);
	if (rc) {
		*v = rc == -1 ? MAPE_CTR_DROP_ECN : MAPE_CTR_DROP_ENCAP;
		return DROP;
	}
	/* RFC 7597 s8.1: our address, a port of our set, a legitimate sender */
	if (p.daddr != cfg->ipv4) {
		*v = MAPE_CTR_DROP_NOT_OURS;
		return DROP;
	}
	if (ip4_martian_src(p.saddr)) {	/* not to be forwarded (RFC 1812 s5.3.7) */
		*v = MAPE_CTR_DROP_MARTIAN;
		return DROP;
	}
	if (p.frag == FRAG_LATER) {
		if (!xdp)
			fc = frag_find(&p, 1, osrc);
		if (!fc) {
			*v = MAPE_CTR_DROP_FRAG;
			return DROP;
		}
		int_addr = fc->addr;
		w->slow = fc->slow;	/* all fragments take the first one's way */
		goto decap;
	}
	if (p.icmp_err) {
		/* the quoted packet went out from us: its source is ours */
		if (p.esaddr != cfg->ipv4) {
			*v = MAPE_CTR_DROP_NOT_OURS;
			return DROP;
		}
		proto = p.eproto;
		port = p.esport;
		rem = p.edaddr;
		rport = proto == IPPROTO_ICMP ? 0 : p.edport;
	} else {
		proto = p.proto;
		port = p.dport;
		rem = p.saddr;
		rport = proto == IPPROTO_ICMP ? 0 : p.sport;
	}
	if (mape_ps_index(&cfg->ps, bpf_ntohs(port)) < 0) {
		*v = MAPE_CTR_DROP_PORT;
		return DROP;
	}
	/* a relayed Packet Too Big was checked against its quote (wan_ptb) */
	if (!w->ptb && !outer_src_ok(cfg, osrc, p.icmp_err ? rem : p.saddr,
				     p.icmp_err ? p.edport : p.sport)) {
		*v = MAPE_CTR_DROP_SPOOFED;
		return DROP;
	}
	rc = wan_session(cfg, &p, proto, port, rem, rport, &k);
	if (rc < 0) {
		*v = -rc;
		return DROP;
	}
	if (rc == WAN_LOCAL) {
		int_addr = cfg->ipv4;	/* echo request to us: the kernel answers */
		goto decap;
	}
	/*
	 * The firewall decides: a packet that may start a flow from outside
	 * (the filtering admits it) enters the kernel translated, as if
	 * received on the tunnel, and makes no session; if the ruleset lets it
	 * through and the host answers, the answer makes it at mape_tun. A
	 * session's packets are XDP's once conntrack saw it established.
	 */
	s = NULL;
	if (rc >= WAN_CREATE) {
		count(rc == WAN_FORWARD ? MAPE_CTR_EV_TO_KERNEL_FWD : MAPE_CTR_EV_TO_KERNEL_NEW, 0);
	} else {
		s = sess_get(cfg, &k);
		if (!s) {
			*v = MAPE_CTR_DROP_NO_SESSION;
			return DROP;
		}
	}
	int_addr = k.int_addr;
	int_port = k.int_port;
	now = bpf_ktime_get_coarse_ns();
	if (s && !p.icmp_err) {	/* an ICMP error never refreshes (RFC 5508) */
		s->pkts_in++;
		if (proto == IPPROTO_TCP) {
			if (s->last_ns != now)
				s->last_ns = now;
			nat_tcp_state(cfg, s, p.tcp_flags, 0);
		}
	}
	/* a reassembled datagram is the kernel's to forward (and fragment) */
	w->slow = !xdp || !s || !sess_fast(ctx, xdp, s, &k, now);
	if (s && w->slow && xdp)
		count(MAPE_CTR_EV_TO_KERNEL_CT, 0);
	if (p.frag == FRAG_FIRST)
		frag_note(&p, 1, int_addr, osrc, w->slow);
	if (proto == IPPROTO_TCP && !p.icmp_err && (p.tcp_flags & TCP_SYN) &&
	    mss_clamp(ctx, xdp, &p, cfg->mtu - 40) > 0)
		count(MAPE_CTR_EV_MSS_CLAMP, 0);
	/* every way on from here is a redirect (csum_settle) */
	if (xdp)
		partial = csum_settle(ctx, cfg, &p);
	rc = p.icmp_err ? xlate_icmp_err(ctx, xdp, &p, 1, cfg->ipv4, cfg->ipv4, int_addr, port,
					 int_port) :
			  xlate_plain(ctx, xdp, &p, 1, cfg->ipv4, int_addr, port, int_port);
	if (rc || partial < 0 || (xdp && partial && l4_partial_finish(ctx, &p))) {
		*v = MAPE_CTR_DROP_ENCAP;
		return DROP;
	}
	goto strip;
decap:
	if (p.frag == FRAG_LATER &&
	    rewrite_field(ctx, xdp, p.l3 + 16, 4, p.daddr, int_addr, p.l3 + 10, CSUM_NONE, 0)) {
		*v = MAPE_CTR_DROP_ENCAP;
		return DROP;
	}
strip:
	/* Drop the outer header: the IPv4 header moves to ETH_HLEN. */
	if (xdp ? bpf_xdp_adjust_head(ctx, (int)(l3 - ETH_HLEN)) :
		  bpf_skb_adjust_room(ctx, -(int)(l3 - ETH_HLEN), BPF_ADJ_ROOM_MAC, 0)) {
		*v = MAPE_CTR_DROP_ENCAP;
		return DROP;
	}
	w->addr = int_addr;
	return ACT_DELIVER;
}

static __noinline int wan_in(struct xdp_md *ctx, struct walk *w, __u32 *v)
{
	return wan_walk(ctx, CTX_XDP, w, v);
}

static __noinline int wan_in_tc(struct __sk_buff *skb, struct walk *w, __u32 *v)
{
	/* outer IPv6, a destination-options header, an ICMP error's two IPv4 headers */
	bpf_skb_pull_data(skb, skb->len < 256 ? skb->len : 256);
	return wan_walk(skb, CTX_TC, w, v);
}

/*
 * An ICMPv6 Packet Too Big about one of our tunnel packets (pmtu.h): the
 * quote must be a packet we sent, from our IPv4 and to the peer our rule
 * gives for its destination, of a session that exists (so that a forged
 * one must guess a live flow). The path MTU to that peer is learned, and
 * the frame becomes the ICMPv4 "fragmentation needed" for the quoted
 * packet, which wan_in then translates back like any ICMP error (the
 * session must exist) and delivers. 1 when so, 0 when not ours, -1 when
 * the frame broke on the way.
 */
static __noinline int wan_ptb(struct xdp_md *ctx)
{
	struct mape_config *cfg;
	struct mape_in_key ik;
	struct ptb t = {};
	__u8 want[16] __attribute__((aligned(8)));

	if (!ptb_candidate(ctx))
		return 0;
	cfg = get_cfg();
	if (!cfg || !ptb_parse(ctx, cfg->ce_addr, &t) || t.saddr != cfg->ipv4)
		return 0;
	outer_dst(cfg, t.daddr, t.dport, want);
	if (!ip6_eq(want, t.peer) || t.mtu >= (__u32)cfg->mtu + IPV6_HLEN)
		return 0;
	in_key_of(&ik, t.proto, t.sport, t.daddr, t.proto == IPPROTO_ICMP ? 0 : t.dport);
	if (!bpf_map_lookup_elem(&mape_in, &ik))
		return 0;
	pmtu_learn(&mape_pmtu, &t);
	count(MAPE_CTR_EV_PMTU_LEARNED, 0);
	return ptb_to_icmp4(ctx, bpf_htonl(MAPE_DUMMY_IPV4), cfg->ipv4,
			    (__u16)(t.mtu - IPV6_HLEN)) ? -1 : 1;
}

SEC("xdp")
int mape_wan(struct xdp_md *ctx)
{
	struct walk w = {};
	__u32 len = xdp_len(ctx), v;
	int act = wan_in(ctx, &w, &v), ptb;

	/* not a tunnel packet: it may be a Packet Too Big about one, which
	 * becomes an ICMPv4 error for the walk (pmtu.h); tunnel packets, the
	 * hot path, never pay for this */
	if (act == XDP_PASS && v == MAPE_CTR_PASS_NOT_OURS && (ptb = wan_ptb(ctx))) {
		w.ptb = 1;
		act = ptb < 0 ? XDP_DROP : wan_in(ctx, &w, &v);
		if (ptb < 0)
			v = MAPE_CTR_DROP_ENCAP;
	}
	if (act == ACT_REASM) {	/* the TC program on the WAN's ingress (reasm.h) */
		v = MAPE_CTR_IN_REASM;
		act = XDP_PASS;
	}

	if (act == ACT_DELIVER)
		act = wan_deliver(ctx, w.addr, w.slow, &v);
	count(v, len);
	return act;
}

/*
 * Delivery of a datagram put back together at TC: into the kernel as if
 * received on the tunnel interface, by a redirect into mape0's ingress,
 * which takes a packet of any size (a datagram may exceed every MTU: the
 * kernel fragments it for the LAN).
 */
static __noinline int reasm_deliver(struct __sk_buff *skb, __u32 *v)
{
	struct mape_config *cfg = get_cfg();

	*v = MAPE_CTR_DROP_ENCAP;
	if (!cfg || put_eth(skb, CTX_TC, cfg->tun_mac, cfg->tun_peer_mac, ETH_P_IP))
		return TC_ACT_SHOT;
	*v = MAPE_CTR_IN_SLOW;
	return bpf_redirect(cfg->tun_ifindex, BPF_F_INGRESS);
}

#define DEFRAG_WALK 100	/* reasm_in: a whole packet, for the walk */

/* The reassembly's result as a counter (reasm.h): a TC verdict, or
 * DEFRAG_WALK. A subprogram: its frame is a sibling of the walk's. */
static __noinline int reasm_in(struct __sk_buff *skb, __u32 *v)
{
	struct mape_config *cfg = get_cfg();
	__u8 timed_out = 0;
	int res;

	*v = MAPE_CTR_PASS_NOT_OURS;
	if (!cfg)
		return TC_ACT_OK;
	res = reasm_core(skb, cfg->ce_addr, &mape_reasm, &mape_reasm0, &mape_reasm_src, &timed_out);
	if (timed_out)
		count(MAPE_CTR_EV_REASM_TIMEOUT, 0);
	if (res == REASM_NOT_OURS)
		return TC_ACT_OK;
	if (res == REASM_DONE) {
		count(MAPE_CTR_EV_REASM_DONE, 0);
		return DEFRAG_WALK;
	}
	*v = reasm_counter(res, &(const struct reasm_counters){
		.held = MAPE_CTR_IN_FRAG_HELD, .dup = MAPE_CTR_DROP_FRAG_DUP,
		.overlap = MAPE_CTR_DROP_FRAG_OVERLAP, .limit = MAPE_CTR_DROP_FRAG_LIMIT,
		.trunc = MAPE_CTR_DROP_TRUNCATED, .broken = MAPE_CTR_DROP_ENCAP });
	return TC_ACT_SHOT;
}

/* TC on the WAN's ingress: the fragments mape_wan left here (reasm.h). */
SEC("tc")
int mape_defrag(struct __sk_buff *skb)
{
	struct walk w = {};
	__u32 len = skb->len, v;
	int act = reasm_in(skb, &v);

	if (act == DEFRAG_WALK) {
		act = wan_in_tc(skb, &w, &v);
		if (act == ACT_DELIVER)
			act = reasm_deliver(skb, &v);
		if (act == TC_ACT_OK) {	/* whole, yet no tunnel packet */
			v = MAPE_CTR_DROP_EXT_HDR;
			act = TC_ACT_SHOT;
		}
	} else if (act == TC_ACT_OK) {
		return act;	/* not ours: mape_wan counted it */
	}
	count(v, len);
	return act;
}

/* ---------------------------------------------------------------- tunnel TC */

/* The length of the IPv4 packets an skb leaves as: its own, or for a GSO
 * super-packet (the router's own TCP, UDP_SEGMENT) that of each segment. */
static __always_inline __u32 tc_wire_len(struct __sk_buff *skb, const struct pkt4 *p)
{
	__u32 hdrs = p->l4 - p->l3;
	__u8 doff = 0;

	if (!skb->gso_size)
		return p->tot_len;
	if (p->proto == IPPROTO_TCP && !bpf_skb_load_bytes(skb, p->l4 + 12, &doff, 1))
		hdrs += (doff >> 4) * 4;
	else if (p->proto == IPPROTO_UDP)
		hdrs += 8;
	return hdrs + skb->gso_size;
}

/*
 * The tunnel walk. A subprogram: a new session, and the ICMP error when
 * none can be had, are asked of the entry (walk.h) before the packet is
 * changed, so that neither stacks on this frame.
 */
static __noinline int tun_out(struct __sk_buff *skb, struct walk *w, __u32 *v)
{
	struct mape_config *cfg;
	struct mape_out_key k;
	struct mape_session *s;
	struct mape_frag_val *fc;
	struct pkt4 p;
	__u8 dst6[16] __attribute__((aligned(8)));
	__be16 ext;
	__u64 now;
	__u32 mtu;
	int rc;

	*v = MAPE_CTR_PASS_NOT_OURS;
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	cfg = get_cfg();
	if (!cfg) {
		*v = MAPE_CTR_DROP_NO_CONFIG;
		return TC_ACT_SHOT;
	}
	bpf_skb_pull_data(skb, skb->len < TC_PULL_LEN ? skb->len : TC_PULL_LEN);
	rc = parse_ipv4(skb, CTX_TC, ETH_HLEN, skb->len, &p);
	if (rc < 0) {
		*v = parse_ctr(rc);
		return TC_ACT_SHOT;
	}
	if (p.frag == FRAG_LATER) {
		/* only the address changes; the route is the first fragment's */
		fc = frag_find(&p, 0, NULL);
		if (!fc) {
			*v = MAPE_CTR_DROP_FRAG;
			return TC_ACT_SHOT;
		}
		ip6_cpy(dst6, fc->peer);
		if (rewrite_field(skb, CTX_TC, p.l3 + 12, 4, p.saddr, cfg->ipv4, p.l3 + 10,
				  CSUM_NONE, 0) ||
		    frag_id_fix(skb, CTX_TC, &p, &cfg->ps, cfg->port_count))
			goto encap_fail;
		goto encap;
	}
	if (p.icmp_err) {
		/* an error about an inbound packet: the quoted one was sent to us */
		rc = p.eproto == IPPROTO_ICMP ? 0 : 1;
		out_key_of(&k, p.eproto, p.edaddr, p.edport, p.esaddr, rc ? p.esport : 0);
		s = sess_get(cfg, &k);
		/* from the host it quotes, or from the router itself (our IPv4:
		 * its kernel could not forward an inbound packet to the host) */
		if (!s || (p.saddr != p.edaddr && p.saddr != cfg->ipv4)) {
			*v = MAPE_CTR_DROP_ICMP_ERR;
			return TC_ACT_SHOT;
		}
		ext = s->ext_port;
		outer_dst(cfg, p.daddr, p.esport, dst6);
		if (xlate_icmp_err(skb, CTX_TC, &p, 0, p.saddr, p.edaddr, cfg->ipv4, p.edport, ext) ||
		    frag_id_fix(skb, CTX_TC, &p, &cfg->ps, cfg->port_count))
			goto encap_fail;
		goto encap;
	}
	if (p.proto == IPPROTO_ICMP && p.icmp_type == ICMP_ECHOREPLY && p.saddr == cfg->ipv4) {
		/* The router answering a ping from outside: stateless, with the
		 * pinger's identifier (RFC 792), routed by it like a port. */
		outer_dst(cfg, p.daddr, p.sport, dst6);
		if (p.frag == FRAG_FIRST)
			frag_note(&p, 0, cfg->ipv4, dst6, 0);
		if (frag_id_fix(skb, CTX_TC, &p, &cfg->ps, cfg->port_count))
			goto encap_fail;
		goto encap;
	}
	out_key_pkt(&k, &p);
	s = sess_get(cfg, &k);
	if (!s) {
		if (!sess_may_create(p.proto, p.tcp_flags)) {
			*v = MAPE_CTR_DROP_NOT_SYN;	/* RFC 7857 s2.1 */
			return TC_ACT_SHOT;
		}
		if (!w->served)
			return walk_new_session(w, &k, 0, sess_state0(p.proto, p.tcp_flags),
						sess_flags0(p.proto, p.tcp_flags));
		rc = w->rc;
		if (rc < 0) {
			*v = -rc;
			/* no mapping: tell the host (RFC 5508 s3, RFC 4787 REQ-8) */
			if (rc == -MAPE_CTR_DROP_EXHAUSTED || rc == -MAPE_CTR_DROP_TABLE_FULL ||
			    rc == -MAPE_CTR_DROP_HOST_LIMIT) {
				w->addr = p.saddr;
				w->code = ICMP_PKT_FILTERED;
				return ACT_TELL_HOST;
			}
			return TC_ACT_SHOT;
		}
		*v = MAPE_CTR_DROP_TABLE_FULL;	/* made, yet gone */
		return TC_ACT_SHOT;
	}
	ext = s->ext_port;
	outer_dst(cfg, p.daddr, p.proto == IPPROTO_ICMP ? ext : p.dport, dst6);
	/* a narrower path to this peer was learned (pmtu.h): RFC 1191 */
	mtu = pmtu_of(&mape_pmtu, dst6, cfg->mtu);
	if (tc_wire_len(skb, &p) > mtu && p.df) {
		*v = MAPE_CTR_DROP_MTU;
		w->addr = p.saddr;
		w->code = ICMP_FRAG_NEEDED;
		w->mtu = (__u16)mtu;
		return ACT_TELL_HOST;
	}
	now = bpf_ktime_get_coarse_ns();
	sess_out_touch(cfg, s, &p, now);
	sess_fast(skb, CTX_TC, s, &k, now);	/* XDP takes over once conntrack saw it established */
	if (p.frag == FRAG_FIRST) {
		frag_note(&p, 0, cfg->ipv4, dst6, 0);
	}
	if (p.proto == IPPROTO_TCP && (p.tcp_flags & TCP_SYN) &&
	    mss_clamp(skb, CTX_TC, &p, mtu - 40) > 0)
		count(MAPE_CTR_EV_MSS_CLAMP, 0);
	if (xlate_plain(skb, CTX_TC, &p, 0, p.saddr, cfg->ipv4, p.sport, ext) ||
	    frag_id_fix(skb, CTX_TC, &p, &cfg->ps, cfg->port_count))
		goto encap_fail;
encap:
	if (tc_encap6(skb, p.tot_len, p.tos, cfg->ce_addr, dst6))
		goto encap_fail;
	*v = MAPE_CTR_OUT_SLOW;
	return bpf_redirect_neigh(cfg->wan_ifindex, NULL, 0, 0);
encap_fail:
	*v = MAPE_CTR_DROP_ENCAP;
	return TC_ACT_SHOT;
}

SEC("tc")
int mape_tun(struct __sk_buff *skb)
{
	struct walk w = {};
	__u32 len = skb->len, v;
	int act = tun_out(skb, &w, &v);

	if (act == ACT_NEW_SESSION) {	/* nothing was changed yet: walk again */
		walk_serve(&w);
		act = tun_out(skb, &w, &v);
	}
	if (act == ACT_TELL_HOST)
		act = icmp_tell_host(skb, w.addr, w.code, w.mtu);
	count(v, len);
	return act;
}

SEC("xdp")
int mape_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/*
 * Run by `mapectl up` (BPF_PROG_TEST_RUN, never attached): it readies the
 * janitor's timer, and sweeps: every session of another epoch (our IPv4
 * or port set changed) is made to end now, and its timer callback
 * releases it, so userspace deletes nothing that carries a timer; a
 * session still waiting for its timer is armed. Written to the packet
 * (host order): the number of sessions of another epoch, and 1 when the
 * janitor is ready (its timer could be allocated).
 */
SEC("xdp")
int mape_sweep(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct mape_janitor *j;
	__u32 zero = 0;
	long rc;

	if (data + 2 * sizeof(__u32) > end || !get_cfg())
		return XDP_ABORTED;
	j = bpf_map_lookup_elem(&mape_janitor, &zero);
	if (!j)
		return XDP_ABORTED;
	rc = bpf_timer_init(&j->timer, &mape_janitor, CLOCK_MONOTONIC);
	if (!rc || rc == -EBUSY)
		rc = bpf_timer_set_callback(&j->timer, janitor_run);
	sweep_sessions(j);
	if (j->unarmed)
		janitor_kick();
	((__u32 *)data)[0] = j->found;
	((__u32 *)data)[1] = rc == 0;	/* the janitor is ready */
	return XDP_PASS;
}
