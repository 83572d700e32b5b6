/* SPDX-License-Identifier: MIT */
/*
 * pcp.h - the NAT-PMP (RFC 6886) and PCP (RFC 6887) server of `mapectl
 * daemon`: UDP port 5351 on each LAN interface (bound to the interface,
 * never the WAN or the tunnel), one socket per LAN, both protocols on it
 * (told apart by the version octet: 0 NAT-PMP, 2 PCP).
 */
#ifndef MAPE_PCP_H
#define MAPE_PCP_H

#include <stddef.h>
#include "pmap.h"

#define MAPE_PCP_PORT 5351
#define MAPE_PCP_CLIENT_PORT 5350	/* announcements go to 224.0.0.1 there */
#define MAPE_PCP_MAX_IFS 8

struct mape_pcp {
	struct mape_pmap *pm;
	int n;
	int fd[MAPE_PCP_MAX_IFS];
	unsigned int ifindex[MAPE_PCP_MAX_IFS];
	int announce_left;		/* announcements still to send */
	long long announce_next;	/* when (CLOCK_MONOTONIC ms) */
	unsigned int announce_gap;	/* ms, doubling */
};

/* Listen on the interfaces (names in errors); 0 or -errno. */
int mape_pcp_open(struct mape_pcp *s, struct mape_pmap *pm, const unsigned int *ifindex, int n,
		  char *err);
void mape_pcp_close(struct mape_pcp *s);
/* Answer the datagrams waiting on s->fd[i]. */
void mape_pcp_input(struct mape_pcp *s, int i);
/* Start announcing the external address and the epoch (start, a new
 * address or epoch): NAT-PMP's address response and PCP's ANNOUNCE, to
 * 224.0.0.1:5350 on each LAN, a few times at doubling intervals. */
void mape_pcp_announce(struct mape_pcp *s);
/* Send what is due; the ms until the next one, or -1. */
int mape_pcp_tick(struct mape_pcp *s);

/* One request (NAT-PMP or PCP) from src (host order), answered into out;
 * the answer's length, 0 for none. Exposed for the unit tests. */
size_t mape_pcp_answer(struct mape_pmap *pm, __u32 src, const __u8 *in, size_t len, __u8 *out,
		       size_t cap);

#endif
