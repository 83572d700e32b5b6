// SPDX-License-Identifier: MIT
/*
 * metrics.c - Prometheus text exposition of a running instance, served by
 * `mapectl daemon --metrics ADDR:PORT` with libmicrohttpd (its own thread).
 * Everything is read from the pinned maps at each scrape, as `stats`,
 * `status` and `forward list` read them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <microhttpd.h>
#include "metrics.h"
#include "fwd.h"
#include "pin.h"
#include "attach.h"

#define M_CTR_NAME(id, name, help) name,
static const char *const ctr_names[MAPE_CTR_MAX] = { MAPE_COUNTERS(M_CTR_NAME) };
#undef M_CTR_NAME
static const char *const pnames[MAPE_P_NUM] = { "tcp", "udp", "icmp" };

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && b->len + n < b->cap) {
			b->len += n;
			return;
		}
		char *q = realloc(b->p, b->cap * 2 + n + 4096);

		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = b->cap * 2 + n + 4096;
	}
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int count_proto(const void *key, const void *value, void *arg)
{
	const struct mape_out_key *k = key;
	__u32 *per = arg;

	(void)value;
	per[k->proto == IPPROTO_TCP ? MAPE_P_TCP : k->proto == IPPROTO_UDP ? MAPE_P_UDP :
									   MAPE_P_ICMP]++;
	return 0;
}

static int host_line(const void *key, const void *value, void *arg)
{
	const struct mape_host *h = value;
	char ip[16];

	if (h->sessions) {
		mape_fmt_ip4(ntohl(*(const __be32 *)key), ip, sizeof(ip));
		put(arg, "mape_host_sessions{host=\"%s\"} %u\n", ip, h->sessions);
	}
	return 0;
}

/* Sessions per protocol, and per LAN host (mape_hosts). */
static void sessions(struct buf *b, const char *dir, const struct mape_config *cfg)
{
	char err[MAPE_ERRLEN];
	__u32 per[MAPE_P_NUM] = { 0 };
	struct mape_host h;
	int fd = mape_pin_open(dir, "mape_out", err);

	if (fd >= 0) {
		mape_map_walk(fd, sizeof(struct mape_out_key), NULL, count_proto, per);
		close(fd);
	}
	head(b, "mape_sessions", "gauge", "NAPT sessions, per protocol");
	for (int p = 0; p < MAPE_P_NUM; p++)
		put(b, "mape_sessions{proto=\"%s\"} %u\n", pnames[p], per[p]);
	head(b, "mape_sessions_max", "gauge", "size of the session table (--max-sessions)");
	put(b, "mape_sessions_max %u\n", cfg->max_sessions);
	head(b, "mape_host_sessions", "gauge", "sessions a LAN host holds (hosts with any)");
	fd = mape_pin_open(dir, "mape_hosts", err);
	if (fd < 0)
		return;
	mape_map_walk(fd, sizeof(__be32), &h, host_line, b);
	close(fd);
}

/* Ports of the set in use, shared and forwarded, per protocol. */
static void ports(struct buf *b, const char *dir, const struct mape_config *cfg,
		  const struct mape_fwd_set *fw)
{
	char err[MAPE_ERRLEN];
	__u32 count = mape_ps_count(&cfg->ps), used[MAPE_P_NUM] = { 0 }, shared[MAPE_P_NUM] = { 0 };
	__u32 fwd[MAPE_P_NUM];
	struct mape_port v;
	int fd = mape_pin_open(dir, "mape_ports", err);

	for (int p = 0; fd >= 0 && p < MAPE_P_NUM; p++)
		for (__u32 i = 0; i < count; i++) {
			__u32 key = (__u32)p * 65536 + mape_ps_port(&cfg->ps, i);

			if (bpf_map_lookup_elem(fd, &key, &v) || !v.sessions)
				continue;
			used[p]++;
			shared[p] += !!v.shared;
		}
	if (fd >= 0)
		close(fd);
	mape_fwd_reserved(fw, fwd);
	head(b, "mape_ports_total", "gauge", "ports in our port set");
	put(b, "mape_ports_total %u\n", count);
	head(b, "mape_ports_used", "gauge", "ports of the set with sessions, per protocol");
	for (int p = 0; p < MAPE_P_NUM; p++)
		put(b, "mape_ports_used{proto=\"%s\"} %u\n", pnames[p], used[p]);
	head(b, "mape_ports_shared", "gauge", "ports several LAN endpoints share (RFC 7857)");
	for (int p = 0; p < MAPE_P_NUM; p++)
		put(b, "mape_ports_shared{proto=\"%s\"} %u\n", pnames[p], shared[p]);
	head(b, "mape_ports_forwarded", "gauge", "ports reserved by enabled forwards");
	for (int p = 0; p < MAPE_P_NUM; p++)
		put(b, "mape_ports_forwarded{proto=\"%s\"} %u\n", pnames[p], fwd[p]);
}

static void forwards(struct buf *b, const char *dir, const struct mape_fwd_set *fw)
{
	struct mape_fwd_use *use = calloc(fw->n + 1, sizeof(*use));
	char err[MAPE_ERRLEN], ip[16];

	if (!use)
		return;
	if (fw->n)
		mape_fwd_usage(dir, fw, use, err);
	head(b, "mape_forward_sessions", "gauge", "live sessions of a forward (mapectl forward)");
	for (size_t i = 0; i < fw->n; i++) {
		const struct mape_fwd_rule *r = &fw->v[i];

		mape_fmt_ip4(r->host, ip, sizeof(ip));
		put(b, "mape_forward_sessions{proto=\"%s\",ext_port=\"%u\",host=\"%s\",port=\"%u\","
		    "enabled=\"%s\"} %u\n", r->protos == MAPE_FWD_TCP ? "tcp" :
		    r->protos == MAPE_FWD_UDP ? "udp" : "both", r->ext, ip, r->port,
		    r->enabled ? "true" : "false", use[i].sessions);
	}
	free(use);
}

char *mape_metrics_text(const char *dir, size_t *len)
{
	struct buf b = { 0 };
	struct mape_ctr sum[MAPE_CTR_MAX];
	struct mape_config cfg;
	struct mape_fwd_set fw = { 0 };
	char err[MAPE_ERRLEN], ip4[16], path[512];
	int up = mape_read_cfg(dir, &cfg, err) == 0;

	head(&b, "mape_up", "gauge", "1 when the instance is configured");
	put(&b, "mape_up %d\n", up);
	if (up && !mape_read_counters(dir, "mape_stats", MAPE_CTR_MAX, sum, err)) {
		mape_fmt_ip4(ntohl(cfg.ipv4), ip4, sizeof(ip4));
		head(&b, "mape_info", "gauge", "the configuration in force");
		put(&b, "mape_info{ipv4=\"%s\",psid=\"%u\",psid_len=\"%u\",psid_offset=\"%u\","
		    "version=\"%s\"} 1\n", ip4, cfg.ps.psid, cfg.ps.len, cfg.ps.offset, MAPE_VERSION);
		head(&b, "mape_packets_total", "counter",
		     "packets per counter of mapectl stats (verdicts and events)");
		for (int c = 0; c < MAPE_CTR_MAX; c++)
			put(&b, "mape_packets_total{counter=\"%s\"} %llu\n", ctr_names[c],
			    (unsigned long long)sum[c].packets);
		head(&b, "mape_bytes_total", "counter", "bytes per counter of mapectl stats");
		for (int c = 0; c < MAPE_CTR_MAX; c++)
			put(&b, "mape_bytes_total{counter=\"%s\"} %llu\n", ctr_names[c],
			    (unsigned long long)sum[c].bytes);
		mape_fwd_state_path(dir, path, sizeof(path));
		mape_fwd_load(path, &fw, err);
		sessions(&b, dir, &cfg);
		ports(&b, dir, &cfg, &fw);
		forwards(&b, dir, &fw);
		mape_fwd_set_free(&fw);
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---- the HTTP server ---- */

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **state)
{
	const char *dir = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t len = 0;
	char *text;
	static const char nf[] = "not found: the metrics are at /metrics\n";

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		r = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
						    MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(c, MHD_HTTP_NOT_FOUND, r);
		MHD_destroy_response(r);
		return ret;
	}
	text = mape_metrics_text(dir, &len);
	if (!text)
		return MHD_NO;
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int mape_metrics_parse(const char *s, struct sockaddr_storage *ss, socklen_t *sl, char *err)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	unsigned long port;
	char e2[MAPE_ERRLEN];
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!colon || mape_parse_uint("port", colon + 1, 65535, &port, e2) || !port)
		goto bad;
	hl = colon - s;
	if (hl >= sizeof(host))
		goto bad;
	memcpy(host, s, hl);
	host[hl] = 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (void *)ss;

		host[hl - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			goto bad;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*sl = sizeof(*a6);
		return 0;
	} else {
		struct sockaddr_in *a4 = (void *)ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			goto bad;
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*sl = sizeof(*a4);
		return 0;
	}
bad:
	snprintf(err, MAPE_ERRLEN, "bad --metrics '%s': want ADDR:PORT (127.0.0.1:9142, "
		 "[::1]:9142)", s);
	return -EINVAL;
}

void *mape_metrics_start(const char *dir, const struct sockaddr_storage *ss, char *err)
{
	const struct sockaddr_in *a4 = (const void *)ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;

	if (ss->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, ntohs(a4->sin_port), NULL, NULL, answer, (void *)dir,
			     MHD_OPTION_SOCK_ADDR, ss, MHD_OPTION_CONNECTION_LIMIT, 16,
			     MHD_OPTION_CONNECTION_TIMEOUT, 10, MHD_OPTION_END);
	if (!d)
		snprintf(err, MAPE_ERRLEN, "cannot serve metrics (libmicrohttpd): the address is "
			 "in use or not ours");
	return d;
}

void mape_metrics_stop(void *d)
{
	if (d)
		MHD_stop_daemon(d);
}
