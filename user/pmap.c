// SPDX-License-Identifier: MIT
/*
 * pmap.c - port mappings of LAN hosts: the common part of the UPnP IGD,
 * NAT-PMP and PCP servers (see pmap.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "pmap.h"
#include "pin.h"
#include "netcfg.h"

static void say(struct mape_pmap *p, const struct mape_fwd_rule *r, const char *what,
		long long now)
{
	char d[96], line[256];

	if (!p->log)
		return;
	mape_fwd_describe(r, d, sizeof(d));
	if (now)
		snprintf(line, sizeof(line), "%s: %s %s for %llds (\"%s\")",
			 mape_fwd_origin_name(r->origin), what, d, r->expires - now, r->comment);
	else
		snprintf(line, sizeof(line), "%s: %s %s", mape_fwd_origin_name(r->origin), what, d);
	p->log(line);
}

/* Tell what a committed change removed (old rules not in new). */
static void say_gone(struct mape_pmap *p, const struct mape_fwd_set *old,
		     const struct mape_fwd_set *now, const char *why)
{
	for (size_t i = 0; i < old->n; i++) {
		int kept = 0;

		for (size_t j = 0; j < now->n && !kept; j++)
			kept = old->v[i].ext == now->v[j].ext && old->v[i].protos == now->v[j].protos &&
			       old->v[i].host == now->v[j].host;
		if (!kept && MAPE_FWD_DYNAMIC(old->v[i].origin))
			say(p, &old->v[i], why, 0);
	}
}

static long long mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void mape_pmap_init(struct mape_pmap *p, const char *pin_dir, unsigned int per_host,
		    unsigned int max_lifetime)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->pin_dir, sizeof(p->pin_dir), "%s", pin_dir);
	p->per_host = per_host;
	p->max_lifetime = max_lifetime;
	pthread_mutex_init(&p->mu, NULL);
	p->epoch_start = mono_s();
}

unsigned int mape_pmap_epoch(struct mape_pmap *p)
{
	return (unsigned int)(mono_s() - p->epoch_start);
}

/* ---- one change: the state file locked, read, changed, written with the maps ---- */

struct txn {
	int lock, up;
	char path[512];
	struct mape_fwd_set set, old;
	struct mape_config cfg;
	long long now;
};

static int copy_set(struct mape_fwd_set *to, const struct mape_fwd_set *from, char *err)
{
	memset(to, 0, sizeof(*to));
	for (size_t i = 0; i < from->n; i++)
		if (mape_fwd_set_add(to, &from->v[i], err))
			return -ENOMEM;
	return 0;
}

static int begin(struct mape_pmap *p, struct txn *t, char *err)
{
	int ret;

	memset(t, 0, sizeof(*t));
	mape_fwd_state_path(p->pin_dir, t->path, sizeof(t->path));
	t->lock = mape_fwd_lock(t->path, err);
	if (t->lock < 0)
		return t->lock;
	ret = mape_read_cfg(p->pin_dir, &t->cfg, err);
	t->up = ret == 0;
	if (ret && ret != -ENOENT)
		goto fail;
	ret = mape_fwd_load(t->path, &t->set, err);
	if (!ret)
		ret = copy_set(&t->old, &t->set, err);
	if (ret)
		goto fail;
	t->now = time(NULL);
	return 0;
fail:
	close(t->lock);
	mape_fwd_set_free(&t->set);
	mape_fwd_set_free(&t->old);
	return ret;
}

int mape_pmap_nft_spec(const char *spec, char *err)
{
	char fam[16], tbl[64], set[64], extra;

	if (strlen(spec) >= 128 || sscanf(spec, "%15s %63s %63s %c", fam, tbl, set, &extra) != 3 ||
	    (strcmp(fam, "ip") && strcmp(fam, "inet")) ||
	    strspn(tbl, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		    strlen(tbl) ||
	    strspn(set, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		    strlen(set)) {
		snprintf(err, MAPE_ERRLEN, "bad --port-mapping-nft-set '%s': want FAMILY TABLE SET "
			 "(FAMILY ip or inet), e.g. 'inet filter mape_mapped'", spec);
		return -EINVAL;
	}
	return 0;
}

/* Make the ruleset's set hold the LAN endpoints of set's mappings: one nft
 * transaction (flush, add). Failures are logged: the mapping stands, and
 * the ruleset decides without it. */
static void nft_sync(struct mape_pmap *p, const struct mape_fwd_set *set)
{
	size_t cap = 256 + set->n * 2 * 48, n;
	char *cmd = malloc(cap), err[MAPE_ERRLEN], ip[16], line[MAPE_ERRLEN + 64];
	int first = 1;

	if (!p->nft_set[0] || !cmd)
		goto out;
	n = snprintf(cmd, cap, "flush set %s", p->nft_set);
	for (size_t i = 0; i < set->n; i++) {
		const struct mape_fwd_rule *r = &set->v[i];

		if (!MAPE_FWD_DYNAMIC(r->origin) || !r->enabled)
			continue;
		mape_fmt_ip4(r->host, ip, sizeof(ip));
		for (unsigned int b = MAPE_FWD_TCP; b <= MAPE_FWD_UDP; b <<= 1) {
			if (!(r->protos & b))
				continue;
			if (first)
				n += snprintf(cmd + n, cap - n, "; add element %s { ", p->nft_set);
			n += snprintf(cmd + n, cap - n, "%s%s . %s . %u", first ? "" : ", ", ip,
				      b == MAPE_FWD_TCP ? "tcp" : "udp", r->port);
			first = 0;
		}
	}
	if (!first)
		snprintf(cmd + n, cap - n, " }");
	if (mape_nft(cmd, 0, err) && p->log) {
		snprintf(line, sizeof(line), "nft set %s not updated: %s", p->nft_set, err);
		p->log(line);
	}
out:
	free(cmd);
}

static void next_end(struct mape_pmap *p, const struct mape_fwd_set *set)
{
	long long first = 0;

	for (size_t i = 0; i < set->n; i++)
		if (MAPE_FWD_DYNAMIC(set->v[i].origin) && (!first || set->v[i].expires < first))
			first = set->v[i].expires;
	p->next_end = first;
}

static int commit(struct mape_pmap *p, struct txn *t, char *err)
{
	int ret = mape_fwd_commit(p->pin_dir, t->up, t->path, &t->set, &t->old, err);

	next_end(p, ret ? &t->old : &t->set);
	if (!ret)
		nft_sync(p, &t->set);
	return ret;
}

static void end(struct txn *t)
{
	close(t->lock);
	mape_fwd_set_free(&t->set);
	mape_fwd_set_free(&t->old);
}

/* ---- the changes ---- */

int mape_pmap_reset(struct mape_pmap *p, char *err)
{
	struct txn t;
	int ret;

	pthread_mutex_lock(&p->mu);
	p->epoch_start = mono_s();
	ret = begin(p, &t, err);
	if (!ret) {
		ret = mape_fwd_drop_mappings(&t.set, NULL, t.now, 1);
		ret = ret ? commit(p, &t, err) : (nft_sync(p, &t.set), 0);
		if (!ret)
			say_gone(p, &t.old, &t.set, "removed (new epoch)");
		next_end(p, &t.set);
		end(&t);
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

/* Is port of proto used by any rule (enabled or not)? */
static int taken(const struct mape_fwd_set *set, unsigned int proto, unsigned int port)
{
	for (size_t i = 0; i < set->n; i++)
		if ((set->v[i].protos & proto) && port >= set->v[i].ext && port <= set->v[i].ext_last)
			return 1;
	return 0;
}

/* The rule that publishes host:port of proto (a forward's range included). */
static struct mape_fwd_rule *published(struct mape_fwd_set *set, unsigned int proto, __u32 host,
				       unsigned int port)
{
	for (size_t i = 0; i < set->n; i++) {
		struct mape_fwd_rule *r = &set->v[i];

		if ((r->protos & proto) && r->host == host && port >= r->port &&
		    port <= r->port + (unsigned int)(r->ext_last - r->ext))
			return r;
	}
	return NULL;
}

/* A free port of the set: from the one nearest above start, round the set. */
static __u16 free_port(const struct mape_fwd_set *set, const struct mape_portset *ps,
		       unsigned int proto, unsigned int start)
{
	__u32 count = mape_ps_count(ps), first = 0;

	for (__u32 i = 0; i < count; i++)
		if (mape_ps_port(ps, i) >= start) {
			first = i;
			break;
		}
	for (__u32 k = 0; k < count; k++) {
		__u16 port = mape_ps_port(ps, (first + k) % count);

		if (port && !taken(set, proto, port))
			return port;
	}
	return 0;
}

static unsigned int host_count(const struct mape_fwd_set *set, __u32 host)
{
	unsigned int n = 0;

	for (size_t i = 0; i < set->n; i++)
		n += MAPE_FWD_DYNAMIC(set->v[i].origin) && set->v[i].host == host;
	return n;
}

static enum mape_pmap_res map_locked(struct mape_pmap *p, struct txn *t,
				     const struct mape_pmap_req *q, __u16 *ext,
				     unsigned int *lifetime, char *err)
{
	unsigned int life = q->lifetime && q->lifetime < p->max_lifetime ? q->lifetime :
									  p->max_lifetime;
	struct mape_fwd_rule *have, r = { 0 };
	__u16 port = 0;

	if (!t->up || !t->cfg.port_count) {
		snprintf(err, MAPE_ERRLEN, "not up");
		return MAPE_PMAP_NOT_UP;
	}
	mape_fwd_drop_mappings(&t->set, &t->cfg.ps, t->now, 0);
	have = published(&t->set, q->proto, q->host, q->port);
	if (have) {
		/* a renewal (or a second ask for the same server port) */
		if (!MAPE_FWD_DYNAMIC(have->origin) ||
		    (q->nonce && have->origin == MAPE_FWD_PCP &&
		     memcmp(q->nonce, have->nonce, sizeof(have->nonce)))) {
			snprintf(err, MAPE_ERRLEN, "port %u is published by %s", q->port,
				 MAPE_FWD_DYNAMIC(have->origin) ? "another client's mapping" :
								  "a forward");
			return MAPE_PMAP_NOT_OWNER;
		}
		if (q->exact && q->want && q->want != have->ext) {
			snprintf(err, MAPE_ERRLEN, "port %u is mapped on %u already", q->port,
				 have->ext);
			return MAPE_PMAP_TAKEN;
		}
		have->expires = t->now + life;
		if (q->comment)
			snprintf(have->comment, sizeof(have->comment), "%s", q->comment);
		have->n_from = q->remote != 0;
		have->from[0] = q->remote;
		have->from_len[0] = 32;
		*ext = have->ext;
		*lifetime = life;
		if (commit(p, t, err))
			return MAPE_PMAP_FAILED;
		say(p, have, "renewed", t->now);
		return MAPE_PMAP_OK;
	}
	if (host_count(&t->set, q->host) >= p->per_host) {
		snprintf(err, MAPE_ERRLEN, "the host has %u mappings, the most allowed", p->per_host);
		return MAPE_PMAP_QUOTA;
	}
	if (q->want && mape_ps_index(&t->cfg.ps, q->want) >= 0 &&
	    !taken(&t->set, q->proto, q->want))
		port = q->want;
	if (!port && q->exact) {
		int out = mape_ps_index(&t->cfg.ps, q->want) < 0;

		snprintf(err, MAPE_ERRLEN, "port %u is %s", q->want,
			 out ? "not in this line's port set" : "taken");
		return out ? MAPE_PMAP_NOT_IN_SET : MAPE_PMAP_TAKEN;
	}
	if (!port)
		port = free_port(&t->set, &t->cfg.ps, q->proto, q->want ? q->want : q->port);
	if (!port) {
		snprintf(err, MAPE_ERRLEN, "no free port in the port set");
		return MAPE_PMAP_NO_PORT;
	}
	r.protos = q->proto;
	r.ext = r.ext_last = port;
	r.host = q->host;
	r.port = q->port;
	r.n_from = q->remote != 0;
	r.from[0] = q->remote;
	r.from_len[0] = 32;
	snprintf(r.comment, sizeof(r.comment), "%s", q->comment ? q->comment : "");
	r.enabled = 1;
	r.origin = q->origin;
	r.expires = t->now + life;
	if (q->nonce)
		memcpy(r.nonce, q->nonce, sizeof(r.nonce));
	if (mape_fwd_check_new(&t->set, &r, ntohl(t->cfg.ipv4), err))
		return MAPE_PMAP_BAD;
	if (mape_fwd_check_room(&t->set, &r, err))
		return MAPE_PMAP_NO_PORT;
	if (mape_fwd_set_add(&t->set, &r, err) || commit(p, t, err))
		return MAPE_PMAP_FAILED;
	*ext = port;
	*lifetime = life;
	say(p, &r, "mapped", t->now);
	return MAPE_PMAP_OK;
}

enum mape_pmap_res mape_pmap_map(struct mape_pmap *p, const struct mape_pmap_req *q, __u16 *ext,
				 unsigned int *lifetime, char *err)
{
	enum mape_pmap_res res;
	struct txn t;

	pthread_mutex_lock(&p->mu);
	if (begin(p, &t, err)) {
		pthread_mutex_unlock(&p->mu);
		return MAPE_PMAP_FAILED;
	}
	res = map_locked(p, &t, q, ext, lifetime, err);
	end(&t);
	pthread_mutex_unlock(&p->mu);
	return res;
}

int mape_pmap_unmap(struct mape_pmap *p, unsigned int proto, __u32 host, __u16 port, __u16 ext,
		    __u16 ext_last, const __u8 *nonce, char *err)
{
	struct txn t;
	size_t n = 0;
	int gone = 0, foreign = 0, ret;

	if (!proto)
		proto = MAPE_FWD_TCP | MAPE_FWD_UDP;
	pthread_mutex_lock(&p->mu);
	if (begin(p, &t, err)) {
		pthread_mutex_unlock(&p->mu);
		return -2;
	}
	for (size_t i = 0; i < t.set.n; i++) {
		struct mape_fwd_rule *r = &t.set.v[i];
		int match = (r->protos & proto) &&
			    (ext ? ext <= r->ext_last && r->ext <= ext_last :
				   r->host == host && (!port || r->port == port));
		int mine = MAPE_FWD_DYNAMIC(r->origin) && r->host == host &&
			   (!nonce || r->origin != MAPE_FWD_PCP ||
			    !memcmp(nonce, r->nonce, sizeof(r->nonce)));

		if (match && !mine && (ext || MAPE_FWD_DYNAMIC(r->origin)))
			foreign = 1;
		if (match && mine)
			gone++;
		else
			t.set.v[n++] = *r;
	}
	t.set.n = n;
	ret = 0;
	if (foreign && !gone) {
		snprintf(err, MAPE_ERRLEN, "not the host's mapping");
		ret = -1;
	} else if (gone) {
		ret = commit(p, &t, err) ? -2 : gone;
		if (ret > 0)
			say_gone(p, &t.old, &t.set, "removed");
	}
	end(&t);
	pthread_mutex_unlock(&p->mu);
	return ret;
}

int mape_pmap_expire(struct mape_pmap *p, char *err)
{
	struct txn t;
	int ret = 0;

	pthread_mutex_lock(&p->mu);
	if (p->next_end && p->next_end <= time(NULL) && !begin(p, &t, err)) {
		ret = mape_fwd_drop_mappings(&t.set, NULL, t.now, 0);
		if (ret && commit(p, &t, err))
			ret = -1;
		if (ret > 0)
			say_gone(p, &t.old, &t.set, "expired");
		next_end(p, ret >= 0 ? &t.set : &t.old);
		end(&t);
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

int mape_pmap_snapshot(struct mape_pmap *p, struct mape_fwd_set *out, __u32 *ipv4, char *err)
{
	struct txn t;
	int ret;

	pthread_mutex_lock(&p->mu);
	ret = begin(p, &t, err);
	if (!ret) {
		long long now = t.now;

		*ipv4 = t.up ? ntohl(t.cfg.ipv4) : 0;
		mape_fwd_drop_mappings(&t.set, NULL, now, 0);
		ret = copy_set(out, &t.set, err);
		end(&t);
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

__u32 mape_pmap_ipv4(struct mape_pmap *p)
{
	struct mape_config cfg;
	char err[MAPE_ERRLEN];

	return mape_read_cfg(p->pin_dir, &cfg, err) ? 0 : ntohl(cfg.ipv4);
}
