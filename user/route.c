// SPDX-License-Identifier: MIT
/* route.c - up's IPv4 default route and the routes it replaced (see route.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <json-c/json.h>
#include "route.h"
#include "netcfg.h"
#include "mape_types.h"

#define STATE_DIR "/var/lib/mape"
#define MAX_SAVED 8

void mape_state_path(const char *pin_dir, const char *what, char *out, size_t len)
{
	const char *dir = getenv("MAPE_STATE_DIR"), *p = pin_dir;
	size_t n = strlen(MAPE_PIN_DIR), i;
	char name[256];

	if (!dir || !*dir)
		dir = STATE_DIR;
	if (!strncmp(pin_dir, MAPE_PIN_DIR, n) && (!pin_dir[n] || !strcmp(pin_dir + n, "/"))) {
		snprintf(out, len, "%s/%s.json", dir, what);
		return;
	}
	if (!strncmp(p, "/sys/fs/bpf/", 12))
		p += 12;
	while (*p == '/')
		p++;
	for (i = 0; *p && i + 1 < sizeof(name); p++)
		if (*p != '/' || p[1])
			name[i++] = *p == '/' ? '_' : *p;
	name[i] = 0;
	snprintf(out, len, "%s/%s-%s.json", dir, what, name);
}

int mape_route_parse(const char *s, struct mape_route_opts *r, char *err)
{
	unsigned long t;
	char e2[MAPE_ERRLEN];

	r->table = RT_TABLE_MAIN;
	if (!strcmp(s, "default")) {
		r->mode = MAPE_ROUTE_DEFAULT;
	} else if (!strcmp(s, "none")) {
		r->mode = MAPE_ROUTE_NONE;
	} else if ((!strncmp(s, "table ", 6) || !strncmp(s, "table=", 6)) &&
		   !mape_parse_uint("table", s + 6, 0xfffffffful, &t, e2) && t &&
		   t != RT_TABLE_LOCAL && t != RT_TABLE_UNSPEC) {
		r->mode = MAPE_ROUTE_TABLE;
		r->table = t;
	} else {
		snprintf(err, MAPE_ERRLEN, "bad --route '%s': want default, 'table N' (1..2^32-1, "
			 "not 255) or none", s);
		return -EINVAL;
	}
	return 0;
}

struct saved_route {
	__u32 gw, oif, metric, table;
	__u8 proto, onlink;
	char dev[IF_NAMESIZE];
};

struct defaults {
	__u32 table, metric;
	struct saved_route *out;
	int n, max;
};

static int one_default(struct nlmsghdr *nh, void *ctx)
{
	struct defaults *d = ctx;
	struct rtmsg *rt = NLMSG_DATA(nh);
	int alen = RTM_PAYLOAD(nh);
	struct saved_route s = { .table = rt->rtm_table };

	if (rt->rtm_dst_len || rt->rtm_type != RTN_UNICAST)
		return 0;
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type == RTA_TABLE)
			s.table = *(__u32 *)RTA_DATA(a);
		else if (a->rta_type == RTA_PRIORITY)
			s.metric = *(__u32 *)RTA_DATA(a);
		else if (a->rta_type == RTA_GATEWAY)
			memcpy(&s.gw, RTA_DATA(a), 4);
		else if (a->rta_type == RTA_OIF)
			s.oif = *(__u32 *)RTA_DATA(a);
	}
	if (s.table != d->table || s.metric != d->metric || !s.oif || d->n >= d->max)
		return 0;
	s.proto = rt->rtm_protocol;
	s.onlink = !!(rt->rtm_flags & RTNH_F_ONLINK);
	if (if_indextoname(s.oif, s.dev))
		d->out[d->n++] = s;
	return 0;
}

/* IPv4 default routes of (table, metric) from the kernel. */
static int dump_defaults(__u32 table, __u32 metric, struct saved_route *out, int max, char *err)
{
	struct defaults d = { .table = table, .metric = metric, .out = out, .max = max };
	int ret = mape_nl_dump(RTM_GETROUTE, AF_INET, one_default, &d);

	if (ret) {
		snprintf(err, MAPE_ERRLEN, "cannot list routes (netlink): %s", strerror(-ret));
		return ret;
	}
	return d.n;
}

struct route_state {
	int have;
	enum mape_route_mode mode;
	__u32 table, metric;
	int n;
	struct saved_route saved[MAX_SAVED];
};

static void load_state(const char *path, struct route_state *st)
{
	json_object *o = json_object_from_file(path), *v, *l;

	memset(st, 0, sizeof(*st));
	if (!o)
		return;
	st->have = 1;
	if (json_object_object_get_ex(o, "mode", &v))
		st->mode = !strcmp(json_object_get_string(v), "none") ? MAPE_ROUTE_NONE :
			   !strcmp(json_object_get_string(v), "table") ? MAPE_ROUTE_TABLE :
									MAPE_ROUTE_DEFAULT;
	if (json_object_object_get_ex(o, "table", &v))
		st->table = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "metric", &v))
		st->metric = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "saved", &l) && json_object_is_type(l, json_type_array))
		for (size_t i = 0; i < json_object_array_length(l) && st->n < MAX_SAVED; i++) {
			json_object *e = json_object_array_get_idx(l, i);
			struct saved_route *s = &st->saved[st->n];
			const char *gw = NULL, *dev = NULL;

			memset(s, 0, sizeof(*s));
			if (json_object_object_get_ex(e, "gateway", &v))
				gw = json_object_get_string(v);
			if (json_object_object_get_ex(e, "dev", &v))
				dev = json_object_get_string(v);
			if (!dev || strlen(dev) >= IF_NAMESIZE || (gw && inet_pton(AF_INET, gw, &s->gw) != 1))
				continue;
			strcpy(s->dev, dev);
			if (json_object_object_get_ex(e, "metric", &v))
				s->metric = json_object_get_int64(v);
			if (json_object_object_get_ex(e, "table", &v))
				s->table = json_object_get_int64(v);
			if (json_object_object_get_ex(e, "proto", &v))
				s->proto = json_object_get_int(v);
			if (json_object_object_get_ex(e, "onlink", &v))
				s->onlink = json_object_get_boolean(v);
			st->n++;
		}
	json_object_put(o);
}

static int save_state(const char *path, const struct route_state *st, char *err)
{
	json_object *o = json_object_new_object(), *l = json_object_new_array();
	char tmp[600], gw[16];
	int ret = 0;

	json_object_object_add(o, "mode", json_object_new_string(
		st->mode == MAPE_ROUTE_NONE ? "none" : st->mode == MAPE_ROUTE_TABLE ? "table" :
										   "default"));
	json_object_object_add(o, "table", json_object_new_int64(st->table));
	json_object_object_add(o, "metric", json_object_new_int64(st->metric));
	for (int i = 0; i < st->n; i++) {
		const struct saved_route *s = &st->saved[i];
		json_object *e = json_object_new_object();

		inet_ntop(AF_INET, &s->gw, gw, sizeof(gw));
		json_object_object_add(e, "gateway", s->gw ? json_object_new_string(gw) : NULL);
		json_object_object_add(e, "dev", json_object_new_string(s->dev));
		json_object_object_add(e, "metric", json_object_new_int64(s->metric));
		json_object_object_add(e, "table", json_object_new_int64(s->table));
		json_object_object_add(e, "proto", json_object_new_int(s->proto));
		json_object_object_add(e, "onlink", json_object_new_boolean(s->onlink));
		json_object_array_add(l, e);
	}
	json_object_object_add(o, "saved", l);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	{
		char d[600], *slash;

		snprintf(d, sizeof(d), "%s", path);
		slash = strrchr(d, '/');
		if (slash && slash != d) {
			*slash = 0;
			mkdir(d, 0755);
		}
	}
	if (json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PRETTY) || rename(tmp, path)) {
		ret = -EIO;
		snprintf(err, MAPE_ERRLEN, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	json_object_put(o);
	return ret;
}

/* `ip route ACTION default dev DEV [via GW] [onlink] table T [metric M] [proto P]` */
static int route_cmd(const char *action, const char *dev, __u32 gw, int onlink, __u32 table,
		     __u32 metric, __u8 proto, int quiet, char *err)
{
	char t[16], m[16], g[16], p[8];
	const char *argv[20];
	int n = 0;

	snprintf(t, sizeof(t), "%u", table);
	snprintf(m, sizeof(m), "%u", metric);
	snprintf(p, sizeof(p), "%u", proto ? proto : RTPROT_BOOT);
	inet_ntop(AF_INET, &gw, g, sizeof(g));
	argv[n++] = "-4";
	argv[n++] = "route";
	argv[n++] = action;
	argv[n++] = "default";
	if (gw) {
		argv[n++] = "via";
		argv[n++] = g;
	}
	argv[n++] = "dev";
	argv[n++] = dev;
	if (onlink)
		argv[n++] = "onlink";
	argv[n++] = "table";
	argv[n++] = t;
	argv[n++] = "metric";
	argv[n++] = m;
	if (strcmp(action, "del")) {
		argv[n++] = "proto";
		argv[n++] = p;
	}
	while (n < 19)
		argv[n++] = NULL;
	return mape_ip(err, quiet, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6],
		       argv[7], argv[8], argv[9], argv[10], argv[11], argv[12], argv[13], argv[14],
		       argv[15], argv[16], argv[17], NULL);
}

int mape_route_apply(const char *pin_dir, const char *tun, const struct mape_route_opts *r,
		     char *err)
{
	struct saved_route now[MAX_SAVED];
	struct route_state st;
	char path[512];
	__u32 tunidx = if_nametoindex(tun);
	int n, ret;

	mape_state_path(pin_dir, "routes", path, sizeof(path));
	load_state(path, &st);
	/* ours of a previous up with other options goes */
	if (st.have && st.mode != MAPE_ROUTE_NONE &&
	    (st.mode != r->mode || st.table != r->table || st.metric != r->metric))
		route_cmd("del", tun, 0, 0, st.table, st.metric, 0, 1, err);
	st.have = 1;
	st.mode = r->mode;
	st.table = r->table;
	st.metric = r->metric;
	if (r->mode != MAPE_ROUTE_NONE) {
		n = dump_defaults(r->table, r->metric, now, MAX_SAVED, err);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			int dup = now[i].oif == tunidx;

			for (int j = 0; j < st.n; j++)
				dup |= st.saved[j].table == now[i].table &&
				       st.saved[j].metric == now[i].metric;
			if (!dup && st.n < MAX_SAVED)
				st.saved[st.n++] = now[i];
		}
	}
	/* saved before it is replaced: a crash in between loses nothing */
	ret = save_state(path, &st, err);
	if (ret || r->mode == MAPE_ROUTE_NONE)
		return ret;
	return route_cmd("replace", tun, 0, 0, r->table, r->metric, RTPROT_STATIC, 0, err);
}

int mape_route_restore(const char *pin_dir, char *err)
{
	struct route_state st;
	char path[512], e2[MAPE_ERRLEN];
	int done = 0;

	mape_state_path(pin_dir, "routes", path, sizeof(path));
	load_state(path, &st);
	for (int i = 0; i < st.n; i++) {
		const struct saved_route *s = &st.saved[i];

		if (route_cmd("replace", s->dev, s->gw, s->onlink, s->table, s->metric, s->proto, 0,
			      e2))
			fprintf(stderr, "warning: the default route via %s before up could not be "
				"restored: %s\n", s->dev, e2);
		else
			done++;
	}
	if (st.have)
		unlink(path);
	(void)err;
	return done;
}
