/* SPDX-License-Identifier: MIT */
/*
 * walk.h - how a program's entry runs its packet walk, so that the stack
 * stays small by construction.
 *
 * Linux 6.1's verifier adds up the stack frames along every call chain of
 * a program, each rounded up to 32 bytes, against 512. The walks (parse,
 * checks, translation) have the largest frames; session creation
 * (nat_create, then bpf_loop's port_search_step), the ICMP error builder
 * and the FIB lookup of delivery have the deepest chains. So a walk never
 * calls those itself: it returns what it needs done to the program's entry,
 * whose frame is small, and the entry does it:
 *
 *   ACT_NEW_SESSION  before the packet is changed: create the session in
 *                    w->k (walk_serve), then run the walk again, which
 *                    finds it, or the reason there is none in w->rc;
 *   ACT_TELL_HOST    the packet is unchanged: answer it with ICMP type 3 to
 *                    w->addr, code w->code: 13 (no port could be had) or
 *                    4 with next-hop MTU w->mtu (too big for the path);
 *   ACT_DELIVER      the packet is a plain IPv4 packet at ETH_HLEN:
 *                    forward it to the LAN host w->addr;
 *   ACT_REASM        (mape_wan) a fragment for the TC reassembly: pass it.
 *
 * A program's stack is then its entry's frame plus the deepest of these
 * siblings, never their sum. tools/stack-check.py checks every program's
 * worst chain with 6.1's rounding at build time.
 */
#ifndef MAPE_BPF_WALK_H
#define MAPE_BPF_WALK_H

#include "nat.h"

#define ACT_NEW_SESSION (-64)
#define ACT_TELL_HOST	(-65)
#define ACT_DELIVER	(-66)
#define ACT_REASM	(-67)	/* mape_wan: leave the frame to the TC reassembly */

struct walk {
	struct mape_out_key k;	/* the session to create */
	__u32 ext;		/* its external port (network order); 0: pick one */
	int rc;			/* once served: 0, or a negative drop counter */
	__be32 addr;		/* ACT_TELL_HOST, ACT_DELIVER: the LAN host */
	__u8 state, flags;	/* of the new session */
	__u8 served;		/* the session request was served */
	__u8 slow;		/* ACT_DELIVER: through the kernel (as if received on the tunnel) */
	__u8 ptb;		/* mape_wan: the frame is a relayed Packet Too Big (pmtu.h) */
	__u8 code;		/* ACT_TELL_HOST: ICMP type 3 code (13, or 4 with mtu) */
	__u16 mtu;
};

static __always_inline int walk_new_session(struct walk *w, const struct mape_out_key *k,
					    __be16 ext, __u8 state, __u8 flags)
{
	w->k = *k;
	w->ext = ext;
	w->state = state;
	w->flags = flags;
	return ACT_NEW_SESSION;
}

static __always_inline void walk_serve(struct walk *w)
{
	struct mape_config *cfg = get_cfg();

	w->rc = cfg ? nat_create(cfg, &w->k, w->ext, w->state, w->flags) :
		      -MAPE_CTR_DROP_NO_CONFIG;
	w->served = 1;
}

#endif
