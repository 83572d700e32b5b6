/* SPDX-License-Identifier: MIT */
/*
 * fwd.h - port forwarding (static NAPT inside the port set): the rules,
 * their state file, their checks against a port set, and their copy in
 * the data path's maps (mape_fwd, mape_fwd_rev, mape_fwd_src).
 *
 * The state file (one per pin directory, under /var/lib/mape or
 * $MAPE_STATE_DIR) is the truth: `mapectl forward` changes it and the
 * maps together, `mapectl up` writes the maps from it, so forwards outlive
 * re-runs of up, down and reboots. A rule whose ports are not all in the
 * current port set is kept, disabled, and is not in the maps.
 */
#ifndef MAPE_FWD_H
#define MAPE_FWD_H

#include <stddef.h>
#include <json-c/json.h>
#include "mape.h"
#include "mape_types.h"

#define MAPE_FWD_TCP 0x1
#define MAPE_FWD_UDP 0x2
#define MAPE_FWD_MAX_FROM 64	/* --from prefixes of one rule */
#define MAPE_FWD_MAX_RULES 1024
#define MAPE_FWD_COMMENT 128

struct mape_fwd_rule {
	unsigned int protos;	/* MAPE_FWD_TCP | MAPE_FWD_UDP */
	__u16 ext, ext_last;	/* external ports, inclusive */
	__u32 host;		/* LAN server, host order */
	__u16 port;		/* its port for ext (ext + i -> port + i) */
	unsigned int n_from;
	__u32 from[MAPE_FWD_MAX_FROM];	/* source prefixes, host order */
	__u8 from_len[MAPE_FWD_MAX_FROM];
	char comment[MAPE_FWD_COMMENT];
	int enabled;		/* all its ports are in the current set */
	int origin;		/* MAPE_FWD_CLI, ... */
	long long expires;	/* a mapping's end (Unix seconds); 0: a forward (no end) */
	__u8 nonce[12];		/* PCP: the mapping nonce of its client */
};

#define MAPE_FWD_CLI 0		/* mapectl forward add */
#define MAPE_FWD_CONFIG 1	/* the [forwards] of the configuration file (up --config) */
/* port mappings asked for by LAN hosts (mapectl daemon, pmap.h): a forward
 * with a lifetime, dropped when it ends or when its ports leave the set */
#define MAPE_FWD_UPNP 2
#define MAPE_FWD_NATPMP 3
#define MAPE_FWD_PCP 4
#define MAPE_FWD_ORIGINS 5
#define MAPE_FWD_DYNAMIC(o) ((o) >= MAPE_FWD_UPNP)

/* "cli", "config", "upnp", "natpmp", "pcp" */
const char *mape_fwd_origin_name(int origin);

struct mape_fwd_set {
	struct mape_fwd_rule *v;
	size_t n;
};

void mape_fwd_set_free(struct mape_fwd_set *set);
int mape_fwd_set_add(struct mape_fwd_set *set, const struct mape_fwd_rule *r, char *err);

/* The state file of the instance pinned at pin_dir. */
void mape_fwd_state_path(const char *pin_dir, char *out, size_t len);
/* Read it (a missing file is an empty set); errors name the file. */
int mape_fwd_load(const char *path, struct mape_fwd_set *set, char *err);
/* Replace it atomically (written beside, then renamed). */
int mape_fwd_save(const char *path, const struct mape_fwd_set *set, char *err);
/* An exclusive lock over the state file while a command changes it; fd or -errno. */
int mape_fwd_lock(const char *path, char *err);

/* Parsers of the command line's words (one-line errors naming the value). */
int mape_fwd_parse_proto(const char *s, unsigned int *protos, char *err);
int mape_fwd_parse_ports(const char *s, __u16 *ext, __u16 *last, char *err);
int mape_fwd_parse_target(const char *s, __u32 *host, int *port, char *err);
int mape_fwd_parse_from(const char *s, __u32 *addr, __u8 *len, char *err);

/* Is every external port of r in ps? 0, or -EINVAL with err naming the
 * first port outside and the nearest ports inside. */
int mape_fwd_check_set(const struct mape_fwd_rule *r, const struct mape_portset *ps, char *err);
/* Can r join set (no port forwarded twice, no server port published
 * twice, a LAN host that can be one)? our_ipv4: host order, 0 unknown. */
int mape_fwd_check_new(const struct mape_fwd_set *set, const struct mape_fwd_rule *r,
		       __u32 our_ipv4, char *err);
/* Do the maps have room for the enabled rules of set plus r? */
int mape_fwd_check_room(const struct mape_fwd_set *set, const struct mape_fwd_rule *r, char *err);
/* Recompute every rule's enabled flag for ps; the number that changed. */
int mape_fwd_refresh(struct mape_fwd_set *set, const struct mape_portset *ps);
/* Remove the port mappings (MAPE_FWD_DYNAMIC) that ended by now, whose
 * ports left ps (when ps is given), or all of them (all); the number
 * removed. A forward of the command line or the file is never removed. */
int mape_fwd_drop_mappings(struct mape_fwd_set *set, const struct mape_portset *ps,
			   long long now, int all);

/* Ports the enabled rules of set reserve, per enum mape_proto_idx. */
void mape_fwd_reserved(const struct mape_fwd_set *set, __u32 out[MAPE_P_NUM]);

/* "tcp 5000-5009 -> 192.168.1.10:80-89" */
void mape_fwd_describe(const struct mape_fwd_rule *r, char *buf, size_t len);

/* The maps of a running instance. */
struct mape_fwd_maps {
	int fwd, rev, src;
};

int mape_fwd_maps_open(const char *pin_dir, struct mape_fwd_maps *m, char *err);
void mape_fwd_maps_close(struct mape_fwd_maps *m);
/* Make the maps hold exactly the enabled rules of set: new entries first,
 * then the stale ones removed, so that a rule kept is never missing. */
int mape_fwd_sync(const struct mape_fwd_maps *m, const struct mape_fwd_set *set, char *err);

/* Sessions of a running instance on a rule's ports: its own (to its
 * server) and others (dynamic ones made before the forward). */
struct mape_fwd_use {
	__u32 sessions, others;
};

int mape_fwd_usage(const char *pin_dir, const struct mape_fwd_set *set, struct mape_fwd_use *use,
		   char *err);

/* One rule as the JSON object of `forward list --json` (use may be NULL;
 * now: the time its remaining lifetime is counted from). */
json_object *mape_fwd_json(const struct mape_fwd_rule *r, const struct mape_fwd_use *use,
			   long long now);

/* Make the running instance's maps hold set, and write set to the state
 * file path; when a step fails, the maps are put back to old. up: the
 * instance is up (else only the file is written). */
int mape_fwd_commit(const char *pin_dir, int up, const char *path, const struct mape_fwd_set *set,
		    const struct mape_fwd_set *old, char *err);

#endif
