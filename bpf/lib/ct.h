/* SPDX-License-Identifier: MIT */
/*
 * ct.h - the kernel's conntrack, read and kept alive from the data path
 * (nf_conntrack's kfuncs, all in Linux 6.1: lookup, release, timeout).
 *
 * The firewall decides: a session is taken over by XDP (MAPE_SESS_FAST)
 * only once conntrack has seen its flow established both ways, as an
 * nftables flowtable entry is made for an established flow. While XDP
 * carries it, the kernel sees none of its packets, so XDP refreshes the
 * conntrack entry's timeout now and then; an entry that is gone gives the
 * flow back to the kernel. Conntrack's lookup kfuncs serve TCP and UDP
 * only: ICMP echo sessions are XDP's from their first reply.
 */
#ifndef MAPE_BPF_CT_H
#define MAPE_BPF_CT_H

#include "maps.h"

struct nf_conn;
struct bpf_ct_opts;

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *ctx, struct bpf_sock_tuple *tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts,
					 __u32 opts__sz) __ksym;
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *ctx, struct bpf_sock_tuple *tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts,
					 __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;
extern int bpf_ct_change_timeout(struct nf_conn *ct, __u32 timeout) __ksym;

/* struct bpf_ct_opts as Linux 6.1 takes it: 12 bytes (later kernels take
 * these 12 too). Our own name: a kernel whose BTF has no conntrack (a
 * module not loaded at build time) still builds the object. */
struct mape_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

/* The fields read, relocated by CO-RE against the kernel's or the module's BTF. */
struct nf_conn___mape {
	unsigned long status;
	union {
		struct {
			__u8 state;
		} tcp;
	} proto;
} __attribute__((preserve_access_index));

#define MAPE_IPS_SEEN_REPLY 0x2		/* IPS_SEEN_REPLY */
#define MAPE_TCP_CONNTRACK_ESTABLISHED 3
#define CT_REFRESH_NS (5 * NSEC_PER_SEC)	/* how often XDP refreshes an entry */

/*
 * Is the LAN-side flow k (original direction: LAN host -> remote) in
 * conntrack and established both ways (a reply seen; TCP: the handshake
 * done)? If so and timeout_ms, its timeout is set to timeout_ms.
 */
static __always_inline int ct_established(void *ctx, const int xdp, const struct mape_out_key *k,
					  __u32 timeout_ms)
{
	struct bpf_sock_tuple t = {};
	struct mape_ct_opts o = { .netns_id = -1, .l4proto = k->proto };
	struct nf_conn___mape *ct;
	int est;

	t.ipv4.saddr = k->int_addr;
	t.ipv4.daddr = k->rem_addr;
	t.ipv4.sport = k->int_port;
	t.ipv4.dport = k->rem_port;
	if (xdp)
		ct = (void *)bpf_xdp_ct_lookup(ctx, &t, sizeof(t.ipv4), (void *)&o, sizeof(o));
	else
		ct = (void *)bpf_skb_ct_lookup(ctx, &t, sizeof(t.ipv4), (void *)&o, sizeof(o));
	if (!ct)
		return 0;
	est = (ct->status & MAPE_IPS_SEEN_REPLY) &&
	      (k->proto != IPPROTO_TCP || ct->proto.tcp.state == MAPE_TCP_CONNTRACK_ESTABLISHED);
	if (est && timeout_ms)
		bpf_ct_change_timeout((void *)ct, timeout_ms);
	bpf_ct_release((void *)ct);
	return est;
}

/* Subprograms, one per context type: the lookup buffers stay off the walks' frames. */
static __noinline int ct_established_xdp(struct xdp_md *ctx, const struct mape_out_key *k,
					 __u32 timeout_ms)
{
	return ct_established(ctx, CTX_XDP, k, timeout_ms);
}

static __noinline int ct_established_skb(struct __sk_buff *ctx, const struct mape_out_key *k,
					 __u32 timeout_ms)
{
	return ct_established(ctx, CTX_TC, k, timeout_ms);
}

/*
 * May XDP carry this packet of session s (key k)? Yes once conntrack saw
 * the flow established (the session is marked, conntrack's timeout set to
 * ours); then every CT_REFRESH_NS conntrack's timeout is refreshed, and a
 * flow whose entry is gone goes back to the kernel (which decides anew).
 * ICMP echo sessions need no conntrack. A closing TCP session stays with
 * the kernel, which must see its end. now: the caller's coarse clock (one
 * read per packet serves the session's timestamps too).
 */
static __always_inline int sess_fast(void *ctx, const int xdp, struct mape_session *s,
				     const struct mape_out_key *k, __u64 now)
{
	int est;

	if (k->proto == IPPROTO_ICMP)
		return 1;
	if (k->proto == IPPROTO_TCP &&
	    (s->state != MAPE_TCP_EST ||
	     (s->flags & (MAPE_SESS_FIN_OUT | MAPE_SESS_FIN_IN | MAPE_SESS_RST)))) {
		if (s->flags & MAPE_SESS_FAST)	/* a FIN or RST: the kernel sees the end */
			s->flags &= ~MAPE_SESS_FAST;
		return 0;
	}
	if ((s->flags & MAPE_SESS_FAST) && now - s->ct_ns < CT_REFRESH_NS)
		return 1;
	est = xdp ? ct_established_xdp(ctx, k, s->timeout * 1000) :
		    ct_established_skb(ctx, k, s->timeout * 1000);
	if (est) {
		if (!(s->flags & MAPE_SESS_FAST)) {
			s->flags |= MAPE_SESS_FAST;
			count(MAPE_CTR_EV_OFFLOADED, 0);
		}
		s->ct_ns = now;
		return 1;
	}
	if (s->flags & MAPE_SESS_FAST) {
		s->flags &= ~MAPE_SESS_FAST;
		count(MAPE_CTR_EV_CT_LOST, 0);
	}
	return 0;
}

#endif
