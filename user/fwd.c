// SPDX-License-Identifier: MIT
/* fwd.c - port forwarding rules: state file, checks, maps (see fwd.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "fwd.h"
#include "pin.h"
#include "attach.h"
#include "route.h"

#define STATE_MAX_FILE (4 << 20)

void mape_fwd_set_free(struct mape_fwd_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

int mape_fwd_set_add(struct mape_fwd_set *set, const struct mape_fwd_rule *r, char *err)
{
	struct mape_fwd_rule *v;

	if (set->n >= MAPE_FWD_MAX_RULES) {
		snprintf(err, MAPE_ERRLEN, "too many forwards (at most %d)", MAPE_FWD_MAX_RULES);
		return -ENOSPC;
	}
	v = realloc(set->v, (set->n + 1) * sizeof(*v));
	if (!v) {
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	v[set->n++] = *r;
	set->v = v;
	return 0;
}

void mape_fwd_state_path(const char *pin_dir, char *out, size_t len)
{
	mape_state_path(pin_dir, "forwards", out, len);
}

/* ---- parsers ---- */

int mape_fwd_parse_proto(const char *s, unsigned int *protos, char *err)
{
	if (!strcmp(s, "tcp"))
		*protos = MAPE_FWD_TCP;
	else if (!strcmp(s, "udp"))
		*protos = MAPE_FWD_UDP;
	else if (!strcmp(s, "both"))
		*protos = MAPE_FWD_TCP | MAPE_FWD_UDP;
	else {
		snprintf(err, MAPE_ERRLEN, "bad protocol '%s': want tcp, udp or both", s);
		return -EINVAL;
	}
	return 0;
}

/* A port 1..65535, all of s. */
static int port_of(const char *s, const char *end, unsigned long *v)
{
	char *e;

	if (s == end || *s < '0' || *s > '9' || end - s > 5)
		return -1;
	*v = strtoul(s, &e, 10);
	return e == end && *v >= 1 && *v <= 65535 ? 0 : -1;
}

int mape_fwd_parse_ports(const char *s, __u16 *ext, __u16 *last, char *err)
{
	const char *dash = strchr(s, '-');
	unsigned long a, b;

	if (port_of(s, dash ? dash : s + strlen(s), &a) ||
	    (dash && port_of(dash + 1, dash + 1 + strlen(dash + 1), &b))) {
		snprintf(err, MAPE_ERRLEN, "bad external port '%s': want PORT or FIRST-LAST "
			 "(1-65535)", s);
		return -EINVAL;
	}
	if (!dash)
		b = a;
	if (b < a) {
		snprintf(err, MAPE_ERRLEN, "bad external port range '%s': the last port is below "
			 "the first", s);
		return -EINVAL;
	}
	*ext = a;
	*last = b;
	return 0;
}

int mape_fwd_parse_target(const char *s, __u32 *host, int *port, char *err)
{
	const char *colon = strchr(s, ':');
	char addr[32];
	unsigned long p;
	struct in_addr in;

	if ((colon ? (size_t)(colon - s) : strlen(s)) >= sizeof(addr))
		goto bad;
	snprintf(addr, sizeof(addr), "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
	if (inet_pton(AF_INET, addr, &in) != 1)
		goto bad;
	if (colon && port_of(colon + 1, colon + 1 + strlen(colon + 1), &p))
		goto bad;
	*host = ntohl(in.s_addr);
	*port = colon ? (int)p : -1;
	return 0;
bad:
	snprintf(err, MAPE_ERRLEN, "bad host '%s': want a LAN host's IPv4 address, optionally "
		 "with :PORT (1-65535)", s);
	return -EINVAL;
}

int mape_fwd_parse_from(const char *s, __u32 *addr, __u8 *len, char *err)
{
	unsigned int l = 32;
	__u32 a;
	char e2[MAPE_ERRLEN];

	if (strchr(s, '/') ? mape_parse_prefix4(s, &a, &l, e2) : mape_parse_ip4(s, &a, e2)) {
		snprintf(err, MAPE_ERRLEN, "bad --from '%s': want an IPv4 address or CIDR "
			 "(203.0.113.0/24)", s);
		return -EINVAL;
	}
	*addr = l ? a & (0xffffffffu << (32 - l)) : 0;
	*len = l;
	return 0;
}

/* ---- descriptions ---- */

static const char *proto_word(unsigned int protos)
{
	return protos == MAPE_FWD_TCP ? "tcp" : protos == MAPE_FWD_UDP ? "udp" : "both";
}

static void fmt_ports(char *buf, size_t len, unsigned int a, unsigned int b)
{
	if (a == b)
		snprintf(buf, len, "%u", a);
	else
		snprintf(buf, len, "%u-%u", a, b);
}

void mape_fwd_describe(const struct mape_fwd_rule *r, char *buf, size_t len)
{
	char ip[16], ext[16], to[16];

	mape_fmt_ip4(r->host, ip, sizeof(ip));
	fmt_ports(ext, sizeof(ext), r->ext, r->ext_last);
	fmt_ports(to, sizeof(to), r->port, r->port + (r->ext_last - r->ext));
	snprintf(buf, len, "%s %s -> %s:%s", proto_word(r->protos), ext, ip, to);
}

/* ---- checks ---- */

int mape_fwd_check_set(const struct mape_fwd_rule *r, const struct mape_portset *ps, char *err)
{
	__u32 count = mape_ps_count(ps), below = 0, above = 0, lo, hi;
	unsigned int p, bad = 0;

	for (p = r->ext; p <= r->ext_last; p++)
		if (mape_ps_index(ps, p) < 0) {
			bad = p;
			break;
		}
	if (!bad)
		return 0;
	if (bad != r->ext) {
		/* the run of the set the range starts in */
		for (lo = r->ext; lo > 1 && mape_ps_index(ps, lo - 1) >= 0; lo--)
			;
		for (hi = r->ext; hi < 65535 && mape_ps_index(ps, hi + 1) >= 0; hi++)
			;
		snprintf(err, MAPE_ERRLEN, "ports %u-%u are not all in this line's port set: %u is "
			 "not (the set's run here is %u-%u); a range spanning blocks must be "
			 "forwarded port by port, one forward per block", r->ext, r->ext_last, bad,
			 lo, hi);
		return -EINVAL;
	}
	for (__u32 i = 0; i < count; i++) {
		__u32 q = mape_ps_port(ps, i);

		if (q < bad && q > below)
			below = q;
		if (q > bad && (!above || q < above))
			above = q;
	}
	if (below && above)
		snprintf(err, MAPE_ERRLEN, "port %u is not in this line's port set: the nearest "
			 "ports in it are %u and %u", bad, below, above);
	else if (below || above)
		snprintf(err, MAPE_ERRLEN, "port %u is not in this line's port set: the nearest "
			 "port in it is %u", bad, below ? below : above);
	else
		snprintf(err, MAPE_ERRLEN, "port %u is not in this line's port set (it is empty)",
			 bad);
	return -EINVAL;
}

static int overlap(unsigned int a, unsigned int b, unsigned int c, unsigned int d)
{
	return a <= d && c <= b;
}

int mape_fwd_check_new(const struct mape_fwd_set *set, const struct mape_fwd_rule *r,
		       __u32 our_ipv4, char *err)
{
	unsigned int n = r->ext_last - r->ext;
	char ip[16], d[96];

	mape_fmt_ip4(r->host, ip, sizeof(ip));
	if (!r->host || (r->host >> 24) == 127 || (r->host >> 28) >= 14 ||
	    (our_ipv4 && r->host == our_ipv4)) {
		snprintf(err, MAPE_ERRLEN, "bad host '%s': not a LAN host (%s)", ip,
			 r->host == our_ipv4 ? "it is this line's own IPv4 address" :
			 "unspecified, loopback, multicast or broadcast");
		return -EINVAL;
	}
	if ((unsigned int)r->port + n > 65535) {
		snprintf(err, MAPE_ERRLEN, "bad host port %u: the range of %u ports would end "
			 "beyond 65535", r->port, n + 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < set->n; i++) {
		const struct mape_fwd_rule *o = &set->v[i];
		unsigned int on = o->ext_last - o->ext, common = o->protos & r->protos;
		char pw[8];

		if (!common)
			continue;
		snprintf(pw, sizeof(pw), "%s", proto_word(common));
		mape_fwd_describe(o, d, sizeof(d));
		if (overlap(r->ext, r->ext_last, o->ext, o->ext_last)) {
			unsigned int p = r->ext > o->ext ? r->ext : o->ext;

			snprintf(err, MAPE_ERRLEN, "%s %u is already forwarded (%s%s): mapectl "
				 "forward del it first", pw, p, d, o->enabled ? "" : ", disabled");
			return -EEXIST;
		}
		if (o->host == r->host && overlap(r->port, r->port + n, o->port, o->port + on)) {
			snprintf(err, MAPE_ERRLEN, "%s:%u/%s is already published (%s): a server "
				 "port is forwarded from one external port only", ip,
				 r->port > o->port ? r->port : o->port, pw, d);
			return -EEXIST;
		}
	}
	return 0;
}

int mape_fwd_check_room(const struct mape_fwd_set *set, const struct mape_fwd_rule *r, char *err)
{
	unsigned long ports = 0, srcs = 0;

	for (size_t i = 0; i <= set->n; i++) {
		const struct mape_fwd_rule *o = i < set->n ? &set->v[i] : r;
		unsigned int np = !!(o->protos & MAPE_FWD_TCP) + !!(o->protos & MAPE_FWD_UDP);

		if (!o->enabled && o != r)
			continue;
		ports += (unsigned long)(o->ext_last - o->ext + 1) * np;
		srcs += (unsigned long)o->n_from * np;
	}
	if (ports > MAPE_MAX_FWDS || srcs > MAPE_MAX_FWD_SRCS) {
		snprintf(err, MAPE_ERRLEN, "too many forwarded %s: %lu with this one, at most %d "
			 "(each protocol counts)", ports > MAPE_MAX_FWDS ? "ports" : "--from prefixes",
			 ports > MAPE_MAX_FWDS ? ports : srcs,
			 ports > MAPE_MAX_FWDS ? MAPE_MAX_FWDS : MAPE_MAX_FWD_SRCS);
		return -ENOSPC;
	}
	return 0;
}

static const char *const origin_names[MAPE_FWD_ORIGINS] = {
	[MAPE_FWD_CLI] = "cli", [MAPE_FWD_CONFIG] = "config", [MAPE_FWD_UPNP] = "upnp",
	[MAPE_FWD_NATPMP] = "natpmp", [MAPE_FWD_PCP] = "pcp",
};

const char *mape_fwd_origin_name(int origin)
{
	return origin >= 0 && origin < MAPE_FWD_ORIGINS ? origin_names[origin] : "?";
}

int mape_fwd_drop_mappings(struct mape_fwd_set *set, const struct mape_portset *ps,
			   long long now, int all)
{
	char err[MAPE_ERRLEN];
	size_t n = 0;
	int gone = 0;

	for (size_t i = 0; i < set->n; i++) {
		const struct mape_fwd_rule *r = &set->v[i];
		int drop = MAPE_FWD_DYNAMIC(r->origin) &&
			   (all || r->expires <= now || (ps && mape_fwd_check_set(r, ps, err)));

		if (drop)
			gone++;
		else
			set->v[n++] = *r;
	}
	set->n = n;
	return gone;
}

void mape_fwd_reserved(const struct mape_fwd_set *set, __u32 out[MAPE_P_NUM])
{
	memset(out, 0, MAPE_P_NUM * sizeof(*out));
	for (size_t i = 0; i < set->n; i++) {
		const struct mape_fwd_rule *r = &set->v[i];

		if (!r->enabled)
			continue;
		if (r->protos & MAPE_FWD_TCP)
			out[MAPE_P_TCP] += r->ext_last - r->ext + 1;
		if (r->protos & MAPE_FWD_UDP)
			out[MAPE_P_UDP] += r->ext_last - r->ext + 1;
	}
}

int mape_fwd_refresh(struct mape_fwd_set *set, const struct mape_portset *ps)
{
	char err[MAPE_ERRLEN];
	int changed = 0;

	for (size_t i = 0; i < set->n; i++) {
		int en = mape_fwd_check_set(&set->v[i], ps, err) == 0;

		changed += en != set->v[i].enabled;
		set->v[i].enabled = en;
	}
	return changed;
}

/* ---- JSON (state file and forward list --json) ---- */

json_object *mape_fwd_json(const struct mape_fwd_rule *r, const struct mape_fwd_use *use,
			   long long now)
{
	json_object *o = json_object_new_object(), *from = json_object_new_array();
	char ip[16], cidr[24];

	mape_fmt_ip4(r->host, ip, sizeof(ip));
	json_object_object_add(o, "proto", json_object_new_string(proto_word(r->protos)));
	json_object_object_add(o, "ext_port", json_object_new_int(r->ext));
	json_object_object_add(o, "ext_last", json_object_new_int(r->ext_last));
	json_object_object_add(o, "host", json_object_new_string(ip));
	json_object_object_add(o, "port", json_object_new_int(r->port));
	json_object_object_add(o, "port_last",
			       json_object_new_int(r->port + (r->ext_last - r->ext)));
	for (unsigned int i = 0; i < r->n_from; i++) {
		mape_fmt_ip4(r->from[i], ip, sizeof(ip));
		snprintf(cidr, sizeof(cidr), "%s/%u", ip, r->from_len[i]);
		json_object_array_add(from, json_object_new_string(cidr));
	}
	json_object_object_add(o, "from", from);
	json_object_object_add(o, "comment", json_object_new_string(r->comment));
	json_object_object_add(o, "enabled", json_object_new_boolean(r->enabled));
	json_object_object_add(o, "origin", json_object_new_string(mape_fwd_origin_name(r->origin)));
	if (r->expires) {
		char hex[2 * sizeof(r->nonce) + 1];

		json_object_object_add(o, "expires", json_object_new_int64(r->expires));
		if (now)
			json_object_object_add(o, "lifetime", json_object_new_int64(
				r->expires > now ? r->expires - now : 0));
		for (size_t i = 0; i < sizeof(r->nonce); i++)
			snprintf(hex + 2 * i, 3, "%02x", r->nonce[i]);
		if (r->origin == MAPE_FWD_PCP)
			json_object_object_add(o, "nonce", json_object_new_string(hex));
	}
	if (use) {
		json_object_object_add(o, "sessions", json_object_new_int64(use->sessions));
		json_object_object_add(o, "other_sessions", json_object_new_int64(use->others));
	}
	return o;
}

/* One rule of the state file; errors say "<file>: forward N: ...". */
static int rule_of_json(json_object *o, struct mape_fwd_rule *r, char *err)
{
	struct json_object_iterator it, end;
	int have = 0, port;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, MAPE_ERRLEN, "not an object");
		return -EINVAL;
	}
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *k = json_object_iter_peek_name(&it);
		json_object *v = json_object_iter_peek_value(&it);
		const char *s = json_object_get_string(v);

		if (!strcmp(k, "proto")) {
			if (!json_object_is_type(v, json_type_string) ||
			    mape_fwd_parse_proto(s, &r->protos, err))
				goto bad;
			have |= 1;
		} else if (!strcmp(k, "ext_port") || !strcmp(k, "ext_last") || !strcmp(k, "port")) {
			int64_t n = json_object_get_int64(v);

			if (!json_object_is_type(v, json_type_int) || n < 1 || n > 65535)
				goto bad;
			if (!strcmp(k, "ext_port"))
				r->ext = n, have |= 2;
			else if (!strcmp(k, "ext_last"))
				r->ext_last = n, have |= 4;
			else
				r->port = n, have |= 8;
		} else if (!strcmp(k, "host")) {
			if (!json_object_is_type(v, json_type_string) ||
			    mape_fwd_parse_target(s, &r->host, &port, err) || port >= 0)
				goto bad;
			have |= 16;
		} else if (!strcmp(k, "from")) {
			size_t n = json_object_is_type(v, json_type_array) ?
					   json_object_array_length(v) : (size_t)-1;

			if (n > MAPE_FWD_MAX_FROM)
				goto bad;
			for (size_t i = 0; i < n; i++) {
				json_object *e = json_object_array_get_idx(v, i);

				if (!json_object_is_type(e, json_type_string) ||
				    mape_fwd_parse_from(json_object_get_string(e), &r->from[i],
							&r->from_len[i], err))
					goto bad;
			}
			r->n_from = n;
		} else if (!strcmp(k, "comment")) {
			if (!json_object_is_type(v, json_type_string) ||
			    strlen(s) >= MAPE_FWD_COMMENT)
				goto bad;
			snprintf(r->comment, sizeof(r->comment), "%s", s);
		} else if (!strcmp(k, "enabled")) {
			if (!json_object_is_type(v, json_type_boolean))
				goto bad;
			r->enabled = json_object_get_boolean(v);
		} else if (!strcmp(k, "origin")) {
			int o = 0;

			while (o < MAPE_FWD_ORIGINS && json_object_is_type(v, json_type_string) &&
			       strcmp(s, origin_names[o]))
				o++;
			if (o == MAPE_FWD_ORIGINS)
				goto bad;
			r->origin = o;
		} else if (!strcmp(k, "expires")) {
			if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
				goto bad;
			r->expires = json_object_get_int64(v);
		} else if (!strcmp(k, "nonce")) {
			if (!json_object_is_type(v, json_type_string) ||
			    strlen(s) != 2 * sizeof(r->nonce))
				goto bad;
			for (size_t i = 0; i < sizeof(r->nonce); i++) {
				unsigned int b;

				if (sscanf(s + 2 * i, "%2x", &b) != 1)
					goto bad;
				r->nonce[i] = b;
			}
		} else if (strcmp(k, "port_last") && strcmp(k, "sessions") &&
			   strcmp(k, "other_sessions") && strcmp(k, "lifetime")) {
			snprintf(err, MAPE_ERRLEN, "unknown key '%s'", k);
			return -EINVAL;
		}
		continue;
bad:
		snprintf(err, MAPE_ERRLEN, "bad value of '%s'", k);
		return -EINVAL;
	}
	if (MAPE_FWD_DYNAMIC(r->origin) != (r->expires != 0)) {
		snprintf(err, MAPE_ERRLEN, "a port mapping needs 'expires', a forward has none");
		return -EINVAL;
	}
	if ((have & 31) != 31) {
		snprintf(err, MAPE_ERRLEN, "missing one of proto, ext_port, ext_last, host, port");
		return -EINVAL;
	}
	if (r->ext_last < r->ext || (unsigned int)r->port + (r->ext_last - r->ext) > 65535) {
		snprintf(err, MAPE_ERRLEN, "bad port range");
		return -EINVAL;
	}
	return 0;
}

int mape_fwd_load(const char *path, struct mape_fwd_set *set, char *err)
{
	json_object *root = NULL;
	struct json_tokener *tok = NULL;
	char *buf = NULL, e2[MAPE_ERRLEN];
	size_t n = 0;
	FILE *f;
	int ret = 0;

	memset(set, 0, sizeof(*set));
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, MAPE_ERRLEN, "cannot read %s: %s", path, strerror(errno));
		return -errno;
	}
	buf = malloc(STATE_MAX_FILE + 1);
	if (buf)
		n = fread(buf, 1, STATE_MAX_FILE + 1, f);
	fclose(f);
	if (buf && n <= STATE_MAX_FILE)
		buf[n] = 0;
	if (!buf || n > STATE_MAX_FILE) {
		free(buf);
		snprintf(err, MAPE_ERRLEN, "%s: %s", path, buf ? "too big" : "out of memory");
		return -EINVAL;
	}
	if (strspn(buf, " \t\r\n") >= n)
		goto out;	/* an empty file: no forwards */
	tok = json_tokener_new();
	if (tok)
		root = json_tokener_parse_ex(tok, buf, (int)n);
	if (!tok || !root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_array)) {
		snprintf(err, MAPE_ERRLEN, "%s: not a JSON list of forwards%s%s (fix or remove it)",
			 path, tok && json_tokener_get_error(tok) ? ": " : "",
			 tok && json_tokener_get_error(tok) ?
				 json_tokener_error_desc(json_tokener_get_error(tok)) : "");
		ret = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(root); i++) {
		struct mape_fwd_rule r;

		ret = rule_of_json(json_object_array_get_idx(root, i), &r, e2);
		if (!ret)
			ret = mape_fwd_check_new(set, &r, 0, e2);
		if (!ret)
			ret = mape_fwd_set_add(set, &r, e2);
		if (ret) {
			snprintf(err, MAPE_ERRLEN, "%s: forward %zu: %s (fix or remove it)", path,
				 i + 1, e2);
			mape_fwd_set_free(set);
			goto out;
		}
	}
out:
	json_object_put(root);
	if (tok)
		json_tokener_free(tok);
	free(buf);
	return ret;
}

/* mkdir -p of path's directory */
static int make_parent(const char *path)
{
	char d[512];

	snprintf(d, sizeof(d), "%s", path);
	for (char *p = d + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(d, 0755) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	return 0;
}

int mape_fwd_save(const char *path, const struct mape_fwd_set *set, char *err)
{
	json_object *root = json_object_new_array();
	char tmp[600];
	const char *text;
	FILE *f;
	int ret = make_parent(path);

	for (size_t i = 0; i < set->n; i++)
		json_object_array_add(root, mape_fwd_json(&set->v[i], NULL, 0));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = ret ? NULL : fopen(tmp, "we");
	if (!f || fprintf(f, "%s\n", text) < 0 || fflush(f) || fsync(fileno(f))) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot write %s: %s", tmp, strerror(errno));
		if (f)
			fclose(f);
		unlink(tmp);
		json_object_put(root);
		return ret ? ret : -EIO;
	}
	json_object_put(root);
	if (fclose(f) || rename(tmp, path)) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot replace %s: %s", path, strerror(errno));
		unlink(tmp);
		return ret;
	}
	return 0;
}

int mape_fwd_lock(const char *path, char *err)
{
	char lock[600];
	int fd;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	if (make_parent(lock) || (fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, MAPE_ERRLEN, "cannot open %s: %s", lock, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX)) {
		snprintf(err, MAPE_ERRLEN, "cannot lock %s: %s", lock, strerror(errno));
		close(fd);
		return -errno;
	}
	return fd;
}

/* ---- maps ---- */

int mape_fwd_maps_open(const char *pin_dir, struct mape_fwd_maps *m, char *err)
{
	m->fwd = mape_pin_open(pin_dir, "mape_fwd", err);
	m->rev = m->fwd < 0 ? -1 : mape_pin_open(pin_dir, "mape_fwd_rev", err);
	m->src = m->rev < 0 ? -1 : mape_pin_open(pin_dir, "mape_fwd_src", err);
	if (m->src < 0) {
		int ret = m->fwd < 0 ? m->fwd : m->rev < 0 ? m->rev : m->src;

		mape_fwd_maps_close(m);
		return ret;
	}
	return 0;
}

void mape_fwd_maps_close(struct mape_fwd_maps *m)
{
	if (m->fwd >= 0)
		close(m->fwd);
	if (m->rev >= 0)
		close(m->rev);
	if (m->src >= 0)
		close(m->src);
	m->fwd = m->rev = m->src = -1;
}

static const __u8 protos_of[2] = { IPPROTO_TCP, IPPROTO_UDP };


/* The filter key of rule r for one protocol: unique, since two rules of a
 * protocol never share a port (0 for a rule without --from). */
static __u32 filter_id(const struct mape_fwd_rule *r, __u8 proto)
{
	return r->n_from ? (__u32)proto << 16 | r->ext : 0;
}

/* Is this map entry one of the enabled rules'? */
static int want_fwd(const struct mape_fwd_set *set, const struct mape_fwd_key *k)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct mape_fwd_rule *r = &set->v[i];
		unsigned int p = ntohs(k->ext_port);

		if (r->enabled && p >= r->ext && p <= r->ext_last &&
		    (r->protos & (k->proto == IPPROTO_TCP ? MAPE_FWD_TCP : MAPE_FWD_UDP)))
			return 1;
	}
	return 0;
}

static int want_rev(const struct mape_fwd_set *set, const struct mape_bind_key *k)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct mape_fwd_rule *r = &set->v[i];
		unsigned int p = ntohs(k->int_port);

		if (r->enabled && ntohl(k->int_addr) == r->host && p >= r->port &&
		    p <= (unsigned int)r->port + (r->ext_last - r->ext) &&
		    (r->protos & (k->proto == IPPROTO_TCP ? MAPE_FWD_TCP : MAPE_FWD_UDP)))
			return 1;
	}
	return 0;
}

static int want_src(const struct mape_fwd_set *set, const struct mape_fwd_src_key *k)
{
	for (size_t i = 0; i < set->n; i++)
		for (int pi = 0; pi < 2; pi++) {
			const struct mape_fwd_rule *r = &set->v[i];

			if (!r->enabled || !(r->protos & (1u << pi)) ||
			    filter_id(r, protos_of[pi]) != k->filter)
				continue;
			for (unsigned int j = 0; j < r->n_from; j++)
				if (k->prefixlen == 32u + r->from_len[j] &&
				    ntohl(k->addr) == r->from[j])
					return 1;
		}
	return 0;
}

struct prune_arg {
	int fd;
	const struct mape_fwd_set *set;
	int (*want)(const struct mape_fwd_set *, const void *);
};

static int prune_one(const void *key, const void *value, void *arg)
{
	const struct prune_arg *a = arg;

	(void)value;
	if (!a->want(a->set, key) && bpf_map_delete_elem(a->fd, key) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Delete every key of fd that want() refuses. */
static int prune(int fd, size_t key_size, const struct mape_fwd_set *set,
		 int (*want)(const struct mape_fwd_set *, const void *), const char *what,
		 char *err)
{
	struct prune_arg a = { .fd = fd, .set = set, .want = want };
	int ret = mape_map_walk(fd, key_size, NULL, prune_one, &a);

	if (ret)
		snprintf(err, MAPE_ERRLEN, "cannot remove an old %s entry: %s", what,
			 strerror(-ret));
	return ret;
}

static int put(int fd, const void *k, const void *v, const char *what, char *err)
{
	if (!bpf_map_update_elem(fd, k, v, BPF_ANY))
		return 0;
	snprintf(err, MAPE_ERRLEN, "cannot store %s: %s%s", what, strerror(errno),
		 errno == E2BIG || errno == ENOMEM ? " (too many forwarded ports or --from)" : "");
	return -errno;
}

int mape_fwd_sync(const struct mape_fwd_maps *m, const struct mape_fwd_set *set, char *err)
{
	int ret = 0;

	/* 1. the filters, so that a forward never points at a missing one */
	for (size_t i = 0; !ret && i < set->n; i++)
		for (int pi = 0; !ret && pi < 2; pi++) {
			const struct mape_fwd_rule *r = &set->v[i];
			__u32 one = 1;

			if (!r->enabled || !(r->protos & (1u << pi)))
				continue;
			for (unsigned int j = 0; !ret && j < r->n_from; j++) {
				struct mape_fwd_src_key sk = {
					.prefixlen = 32u + r->from_len[j],
					.filter = filter_id(r, protos_of[pi]),
					.addr = htonl(r->from[j]),
				};

				ret = put(m->src, &sk, &one, "a --from prefix", err);
			}
		}
	/* 2. the forwards both ways */
	for (size_t i = 0; !ret && i < set->n; i++)
		for (int pi = 0; !ret && pi < 2; pi++) {
			const struct mape_fwd_rule *r = &set->v[i];

			if (!r->enabled || !(r->protos & (1u << pi)))
				continue;
			for (unsigned int p = r->ext; !ret && p <= r->ext_last; p++) {
				__u16 to = r->port + (p - r->ext);
				struct mape_fwd_key fk = { .ext_port = htons(p),
							   .proto = protos_of[pi] };
				struct mape_fwd fv = { .int_addr = htonl(r->host),
						       .int_port = htons(to),
						       .filter = filter_id(r, protos_of[pi]) };
				struct mape_bind_key rk = { .int_addr = htonl(r->host),
							    .int_port = htons(to),
							    .proto = protos_of[pi] };
				struct mape_fwd_rev rv = { .ext_port = htons(p) };

				ret = put(m->fwd, &fk, &fv, "a forward", err);
				if (!ret)
					ret = put(m->rev, &rk, &rv, "a forward", err);
			}
		}
	/* 3. what is no longer wanted: forwards first, then their filters */
	if (!ret)
		ret = prune(m->fwd, sizeof(struct mape_fwd_key), set,
			    (int (*)(const struct mape_fwd_set *, const void *))want_fwd,
			    "mape_fwd", err);
	if (!ret)
		ret = prune(m->rev, sizeof(struct mape_bind_key), set,
			    (int (*)(const struct mape_fwd_set *, const void *))want_rev,
			    "mape_fwd_rev", err);
	if (!ret)
		ret = prune(m->src, sizeof(struct mape_fwd_src_key), set,
			    (int (*)(const struct mape_fwd_set *, const void *))want_src,
			    "mape_fwd_src", err);
	return ret;
}

/* ---- usage ---- */

struct usage_arg {
	const struct mape_fwd_set *set;
	struct mape_fwd_use *use;
};

/* A session on a forward's ports: the forward's own, or an earlier one. */
static int usage_one(const void *key, const void *value, void *arg)
{
	const struct mape_out_key *k = key;
	const struct mape_session *s = value;
	const struct usage_arg *a = arg;

	for (size_t i = 0; i < a->set->n; i++) {
		const struct mape_fwd_rule *r = &a->set->v[i];
		unsigned int ext = ntohs(s->ext_port), ip = ntohs(k->int_port);
		unsigned int pb = k->proto == IPPROTO_TCP ? MAPE_FWD_TCP :
				  k->proto == IPPROTO_UDP ? MAPE_FWD_UDP : 0;

		if (!(r->protos & pb) || ext < r->ext || ext > r->ext_last)
			continue;
		if (ntohl(k->int_addr) == r->host && ip == r->port + (ext - r->ext))
			a->use[i].sessions++;
		else
			a->use[i].others++;
	}
	return 0;
}

int mape_fwd_usage(const char *pin_dir, const struct mape_fwd_set *set, struct mape_fwd_use *use,
		   char *err)
{
	struct usage_arg a = { .set = set, .use = use };
	struct mape_session s;
	int fd = mape_pin_open(pin_dir, "mape_out", err);

	memset(use, 0, set->n * sizeof(*use));
	if (fd < 0)
		return fd;
	mape_map_walk(fd, sizeof(struct mape_out_key), &s, usage_one, &a);
	close(fd);
	return 0;
}

/* ---- a change, whole ---- */

/* Make the data path hold set; on failure, put back old. */
static int apply(const char *pin_dir, const struct mape_fwd_set *set,
		 const struct mape_fwd_set *old, char *err)
{
	struct mape_fwd_maps m;
	char e2[MAPE_ERRLEN];
	int ret = mape_fwd_maps_open(pin_dir, &m, err);

	if (ret)
		return ret;
	ret = mape_fwd_sync(&m, set, err);
	if (ret)
		mape_fwd_sync(&m, old, e2);
	mape_fwd_maps_close(&m);
	return ret;
}

/* Data path then state file; the data path is put back if the file fails. */
int mape_fwd_commit(const char *pin_dir, int up, const char *path, const struct mape_fwd_set *set,
		    const struct mape_fwd_set *old, char *err)
{
	char e2[MAPE_ERRLEN];
	int ret = up ? apply(pin_dir, set, old, err) : 0;

	if (ret)
		return ret;
	ret = mape_fwd_save(path, set, err);
	if (ret && up)
		apply(pin_dir, old, set, e2);
	return ret;
}
