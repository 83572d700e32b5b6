/* SPDX-License-Identifier: MIT */
/*
 * frag.h - the CE's first-fragment cache (mape_frag): the first fragment
 * of a datagram records its decision (LAN address, outer peer); later
 * fragments, which carry no ports, follow it.
 */
#ifndef MAPE_BPF_FRAG_H
#define MAPE_BPF_FRAG_H

#include "maps.h"
#include "parse.h"
#include "ip6.h"

/* The decision of p's first fragment (dir 0 out, 1 in from peer), or NULL. */
static __always_inline struct mape_frag_val *frag_find(const struct pkt4 *p, __u8 dir,
						       const __u8 *peer)
{
	struct mape_frag_key fk;
	struct mape_frag_val *fc;

	frag_key_of(&fk, p, dir, peer);
	fc = bpf_map_lookup_elem(&mape_frag, &fk);
	return fc && frag_fresh(fc->ns) ? fc : NULL;
}

/* Record the decision of a first fragment. A subprogram: its key and value
 * stay off the walks' frames (walk.h). */
static __noinline void frag_note(const struct pkt4 *p, __u8 dir, __be32 addr, const __u8 *peer,
				 __u32 slow)
{
	struct mape_frag_key fk;
	struct mape_frag_val fv = { .addr = addr, .slow = slow };

	frag_key_of(&fk, p, dir, dir ? peer : NULL);
	fv.ns = bpf_ktime_get_ns();
	ip6_cpy(fv.peer, peer);
	bpf_map_update_elem(&mape_frag, &fk, &fv, BPF_ANY);
}

#endif
