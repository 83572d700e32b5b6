/* SPDX-License-Identifier: MIT */
/*
 * route.h - the IPv4 default route of `up` (--route default|table N|none,
 * --metric M), and the routes it replaced, which `down` puts back.
 *
 * `up` replaces the default route of (table, metric) with one into the
 * tunnel. A default route of that key that was there before and is not
 * ours (a PPPoE or DHCP uplink) is saved first in the instance's routes
 * file (state directory, like the forwards), once: `down` re-adds it.
 */
#ifndef MAPE_ROUTE_H
#define MAPE_ROUTE_H

#include "mape.h"

enum mape_route_mode { MAPE_ROUTE_DEFAULT, MAPE_ROUTE_TABLE, MAPE_ROUTE_NONE };

struct mape_route_opts {
	enum mape_route_mode mode;
	__u32 table;		/* MAPE_ROUTE_TABLE: its number; else 254 (main) */
	__u32 metric;		/* 0: none given */
};

/* "default", "table N", "none" (also "table=N"); one-line error. */
int mape_route_parse(const char *s, struct mape_route_opts *r, char *err);

/* The state file of pin_dir's instance named `what` ("forwards", "routes"):
 * STATE/<what>.json for the default pin directory, else
 * STATE/<what>-<pin dir below /sys/fs/bpf, '/' as '_'>.json. */
void mape_state_path(const char *pin_dir, const char *what, char *out, size_t len);

/* up: save the default route(s) this route would replace, then put ours
 * in; a route of a previous up with other options is removed. */
int mape_route_apply(const char *pin_dir, const char *tun, const struct mape_route_opts *r,
		     char *err);
/* down: re-add the saved routes (after the tunnel and its route are gone).
 * Returns how many were restored; warnings go to stderr. */
int mape_route_restore(const char *pin_dir, char *err);

#endif
