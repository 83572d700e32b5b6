/* SPDX-License-Identifier: MIT */
/*
 * pmap.h - port mappings asked for by LAN hosts (UPnP IGD, NAT-PMP, PCP),
 * served by `mapectl daemon`.
 *
 * A mapping is a forward (fwd.h) with an origin and an end: it lives in the
 * same state file and the same maps, so the data path, `forward list`,
 * `status` and the checks treat both alike. What this adds: the free port
 * search inside the port set, the limits (mappings per host, the lifetime
 * cap), expiry, and the epoch that PCP and NAT-PMP clients watch.
 *
 * Every change is one transaction: the state file locked and read, the
 * change checked whole, the maps and the file written together, or
 * nothing. The protocol servers run in several threads (libupnp's and the
 * daemon's own), so a mutex orders them.
 */
#ifndef MAPE_PMAP_H
#define MAPE_PMAP_H

#include <pthread.h>
#include "fwd.h"

#define MAPE_PMAP_PER_HOST 16		/* default mappings per LAN host */
#define MAPE_PMAP_MAX_LIFETIME 86400	/* default lifetime cap, seconds */

struct mape_pmap {
	char pin_dir[256];
	unsigned int per_host;		/* mappings per LAN host */
	unsigned int max_lifetime;	/* seconds */
	pthread_mutex_t mu;
	long long next_end;		/* the first mapping's end (Unix s), 0 none */
	long long epoch_start;		/* CLOCK_MONOTONIC seconds at the epoch's start */
	void (*log)(const char *line);	/* each mapping made, renewed or removed; or NULL */
	char nft_set[128];		/* "FAMILY TABLE SET" kept equal to the mappings, or "" */
};

void mape_pmap_init(struct mape_pmap *p, const char *pin_dir, unsigned int per_host,
		    unsigned int max_lifetime);
/* Check "FAMILY TABLE SET" (--port-mapping-nft-set): the set of the
 * router's ruleset that the daemon keeps equal to the mappings' LAN
 * endpoints (ipv4_addr . inet_proto . inet_service). */
int mape_pmap_nft_spec(const char *spec, char *err);

/* Seconds since the start of the epoch (PCP, NAT-PMP). */
unsigned int mape_pmap_epoch(struct mape_pmap *p);
/* A new epoch: all mappings dropped (start, or a port set that moved). */
int mape_pmap_reset(struct mape_pmap *p, char *err);

/* Results of mape_pmap_map; each protocol turns them into its own codes. */
enum mape_pmap_res {
	MAPE_PMAP_OK = 0,
	MAPE_PMAP_NOT_UP,	/* no instance, or no port set */
	MAPE_PMAP_NOT_IN_SET,	/* exact port asked for, outside the set */
	MAPE_PMAP_TAKEN,	/* exact port asked for, used by another forward/mapping */
	MAPE_PMAP_QUOTA,	/* the host has per_host mappings */
	MAPE_PMAP_NO_PORT,	/* no free port in the set */
	MAPE_PMAP_NOT_OWNER,	/* the internal port is a static forward, or another client's */
	MAPE_PMAP_BAD,		/* not a LAN host (our address, multicast...) */
	MAPE_PMAP_FAILED,	/* the maps or the state file could not be written */
};

struct mape_pmap_req {
	int origin;		/* MAPE_FWD_UPNP, _NATPMP, _PCP */
	unsigned int proto;	/* MAPE_FWD_TCP or MAPE_FWD_UDP */
	__u32 host;		/* the LAN host (host order): the requester itself */
	__u16 port;		/* its port */
	__u16 want;		/* the external port it would like, 0 any */
	int exact;		/* want or nothing (UPnP AddPortMapping, PCP PREFER_FAILURE) */
	unsigned int lifetime;	/* seconds asked for (0: the cap) */
	__u32 remote;		/* UPnP NewRemoteHost (host order), 0 any */
	const char *comment;
	const __u8 *nonce;	/* PCP: 12 bytes, else NULL */
};

/* Make or renew a mapping; *ext and *lifetime get what was granted. A
 * mapping of the same host, port and protocol is renewed (and keeps its
 * external port) whatever the protocol that made it. */
enum mape_pmap_res mape_pmap_map(struct mape_pmap *p, const struct mape_pmap_req *q, __u16 *ext,
				 unsigned int *lifetime, char *err);

/* Remove host's mappings of proto on its port (0: all its ports of proto;
 * proto 0: both), or those on the external ports ext..ext_last (ext != 0).
 * Only mappings, never a forward; nonce (PCP) must match when given. The
 * number removed, or -1 when some matched but none was host's (or its
 * nonce differs), -2 when the change could not be written. */
int mape_pmap_unmap(struct mape_pmap *p, unsigned int proto, __u32 host, __u16 port, __u16 ext,
		    __u16 ext_last, const __u8 *nonce, char *err);

/* Drop the mappings that ended; the number dropped. Cheap when none did. */
int mape_pmap_expire(struct mape_pmap *p, char *err);

/* A copy of the current rules (forwards and mappings) for the UPnP
 * listing; and our external address (host order, 0 when not up). */
int mape_pmap_snapshot(struct mape_pmap *p, struct mape_fwd_set *out, __u32 *ipv4, char *err);

/* Our external address (host order), 0 when not up. */
__u32 mape_pmap_ipv4(struct mape_pmap *p);

#endif
