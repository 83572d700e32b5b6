// SPDX-License-Identifier: MIT
/*
 * cmd_show.c - `mapectl status`, `stats` and `sessions`: read-only views of
 * a running instance through its pinned maps (--pin-dir). Everything is
 * read first; output starts only when nothing can fail any more.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "cmd.h"
#include "opts.h"
#include "pin.h"
#include "fwd.h"
#include "attach.h"

enum { SHOW_PIN_DIR = 0x200, SHOW_JSON, SHOW_ALL, SHOW_PROTO };

/* The options of status, stats and sessions alike. */
static const struct mape_opt show_common_opts[] = {
	{ "pin-dir", SHOW_PIN_DIR, "DIR", "pinned maps of the instance (default " MAPE_PIN_DIR ")" },
	{ "json", SHOW_JSON, NULL, "one JSON object" },
	MAPE_OPT_END,
};

static const char *const proto_names[MAPE_P_NUM] = { "tcp", "udp", "icmp" };
static const char *const proto_upper[MAPE_P_NUM] = { "TCP", "UDP", "ICMP" };

struct show_args {
	const char *pin_dir;
	int json;
	int all;		/* stats: zero counters too */
	int proto;		/* sessions: IPPROTO_* filter, 0 = all */
};

/*
 * Options common to the three commands. Returns 0 to go on, or 1 with
 * *rc set to the exit code (--help, a usage or a value error).
 */
static int show_parse(int argc, char **argv, const struct mape_opt *const *optv,
		      const char *usage, struct show_args *a, int *rc)
{
	int c;

	a->pin_dir = MAPE_PIN_DIR;
	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", optv)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			mape_opts_help(stdout, optv);
			*rc = 0;
			return 1;
		case SHOW_PIN_DIR:
			a->pin_dir = optarg;
			break;
		case SHOW_JSON:
			a->json = 1;
			break;
		case SHOW_ALL:
			a->all = 1;
			break;
		case SHOW_PROTO:
			if (!strcmp(optarg, "tcp")) {
				a->proto = IPPROTO_TCP;
			} else if (!strcmp(optarg, "udp")) {
				a->proto = IPPROTO_UDP;
			} else if (!strcmp(optarg, "icmp")) {
				a->proto = IPPROTO_ICMP;
			} else {
				*rc = mape_errorf("bad --proto '%s': want tcp, udp or icmp",
						  optarg);
				return 1;
			}
			break;
		default:
			*rc = mape_usage_error(argc, argv);
			return 1;
		}
	}
	if (optind < argc) {
		*rc = mape_errorf("unexpected argument '%s'", argv[optind]);
		return 1;
	}
	return 0;
}

/*
 * Open a pinned map and check that its key and value sizes are the ones
 * this mapectl was built with: the kernel writes value_size bytes (per CPU)
 * into our buffers, so a mismatch must stop us.
 */
static int map_open(const char *dir, const char *name, __u32 key_size, __u32 value_size,
		    __u32 *max_entries, char *err)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	int fd, ret;

	fd = mape_pin_open(dir, name, err);
	if (fd < 0)
		return fd;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		ret = -errno;
		snprintf(err, MAPE_ERRLEN, "cannot inspect %s/%s: %s", dir, name, strerror(errno));
		goto fail;
	}
	if (info.key_size != key_size || info.value_size != value_size) {
		ret = -EPROTO;
		snprintf(err, MAPE_ERRLEN, "%s/%s has key/value size %u/%u, expected %u/%u: "
			 "mapectl and the loaded data path differ", dir, name, info.key_size,
			 info.value_size, key_size, value_size);
		goto fail;
	}
	if (max_entries)
		*max_entries = info.max_entries;
	return fd;
fail:
	close(fd);
	return ret;
}

static int proto_idx(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return MAPE_P_TCP;
	case IPPROTO_UDP:
		return MAPE_P_UDP;
	case IPPROTO_ICMP:
		return MAPE_P_ICMP;
	}
	return -1;
}

static void fmt_be32(__be32 addr, char *buf, size_t len)
{
	mape_fmt_ip4(ntohl(addr), buf, len);
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED |
					      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* ---- port-set usage (status, sessions) ---- */

struct port_usage {
	__u32 used, shared, total;
	__u32 n_blocks, block_size;
	__u32 *blocks;		/* ports in use per block */
};

static void usage_free(struct port_usage *u)
{
	for (int p = 0; p < MAPE_P_NUM; p++) {
		free(u[p].blocks);
		u[p].blocks = NULL;
	}
}

/* For each protocol: which ports of our set mape_ports marks as in use. */
static int read_port_usage(const char *dir, const struct mape_config *cfg,
			   struct port_usage *u, char *err)
{
	const struct mape_portset *ps = &cfg->ps;
	__u32 count = mape_ps_count(ps), n_blocks = mape_ps_blocks(ps), m = mape_ps_m(ps);
	int fd, ret = 0;

	memset(u, 0, sizeof(*u) * MAPE_P_NUM);
	fd = map_open(dir, "mape_ports", sizeof(__u32), sizeof(struct mape_port), NULL, err);
	if (fd < 0)
		return fd;
	for (int p = 0; p < MAPE_P_NUM; p++) {
		u[p].total = count;
		u[p].n_blocks = n_blocks;
		u[p].block_size = count / n_blocks;
		u[p].blocks = calloc(n_blocks, sizeof(*u[p].blocks));
		if (!u[p].blocks) {
			ret = -ENOMEM;
			snprintf(err, MAPE_ERRLEN, "out of memory");
			goto out;
		}
		for (__u32 i = 0; i < count; i++) {
			__u32 key = (__u32)p * 65536 + mape_ps_port(ps, i);
			__u32 b = n_blocks > 1 ? i >> m : 0;
			struct mape_port v;

			if (bpf_map_lookup_elem(fd, &key, &v)) {
				ret = -errno;
				snprintf(err, MAPE_ERRLEN, "cannot read %s/mape_ports[%u]: %s", dir,
					 key, strerror(errno));
				goto out;
			}
			if (!v.sessions)
				continue;
			u[p].used++;
			if (v.shared)
				u[p].shared++;
			if (b < n_blocks)
				u[p].blocks[b]++;
		}
	}
out:
	close(fd);
	if (ret)
		usage_free(u);
	return ret;
}

/* ---- status ---- */

struct xdp_att {
	int attached;
	const char *mode;
	char prog[BPF_OBJ_NAME_LEN + 16];
};

struct iface {
	__u32 ifindex;
	int has_name;
	int via_kernel;		/* native XDP does not redirect into it (no_xdp_xmit) */
	char name[IF_NAMESIZE];
	struct xdp_att xdp;
};

struct status {
	struct iface wan, tun, tun_peer, lans[MAPE_MAX_LANS];
	int has_tc;		/* query_tc(): 1 a program, 0 none, <0 errno */
	char tc_prog[BPF_OBJ_NAME_LEN + 16];
	int has_tc_wan;		/* the same for the WAN's ingress (the reassembly) */
	char tc_wan_prog[BPF_OBJ_NAME_LEN + 16];
	struct mape_fwd_set fwds;	/* port forwarding (the state file) */
	struct mape_fwd_use *fwd_use;
	__u32 forwarded[MAPE_P_NUM];	/* ports forwarded, per protocol */
	__u32 fmrs;
	__u32 sessions, per_proto[MAPE_P_NUM];
	struct port_usage usage[MAPE_P_NUM];
	struct {
		__u8 peer[16];
		__u32 mtu;		/* IPv6 path MTU */
		__u64 age;		/* seconds since learned */
	} pmtu[32];			/* path MTUs learned (the first 32) */
	__u32 n_pmtu;
};

/* Name of a loaded program by id; "id N" when it cannot be opened. */
static void prog_name(__u32 id, char *buf, size_t len)
{
	struct bpf_prog_info info = { 0 };
	__u32 info_len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	snprintf(buf, len, "id %u", id);
	if (fd < 0)
		return;
	if (!bpf_obj_get_info_by_fd(fd, &info, &info_len) && info.name[0])
		snprintf(buf, len, "%s", info.name);
	close(fd);
}

static void query_xdp(struct iface *ifc)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	const char *mode = NULL;
	__u32 id;

	memset(&ifc->xdp, 0, sizeof(ifc->xdp));
	if (bpf_xdp_query(ifc->ifindex, 0, &q))
		return;
	id = q.prog_id;
	switch (q.attach_mode) {
	case XDP_ATTACHED_DRV:
		mode = "native";
		break;
	case XDP_ATTACHED_SKB:
		mode = "generic";
		break;
	case XDP_ATTACHED_HW:
		mode = "offload";
		break;
	case XDP_ATTACHED_MULTI:	/* several modes at once: name the first */
		if (q.drv_prog_id) {
			id = q.drv_prog_id;
			mode = "native";
		} else if (q.skb_prog_id) {
			id = q.skb_prog_id;
			mode = "generic";
		} else {
			id = q.hw_prog_id;
			mode = "offload";
		}
		break;
	}
	if (!id || !mode)
		return;
	ifc->xdp.attached = 1;
	ifc->xdp.mode = mode;
	prog_name(id, ifc->xdp.prog, sizeof(ifc->xdp.prog));
}

static void query_iface(struct iface *ifc, __u32 ifindex)
{
	memset(ifc, 0, sizeof(*ifc));
	ifc->ifindex = ifindex;
	if (!ifindex)
		return;
	ifc->has_name = if_indextoname(ifindex, ifc->name) != NULL;
	query_xdp(ifc);
}

/*
 * The tunnel's TC egress program (clsact, handle 1, priority 1): 1 with its
 * name in buf, 0 when there is none (no filter, or no clsact qdisc at all),
 * else a negative errno. libbpf would print the kernel's extack message for
 * the expected "none" answers: its printer is off during the query.
 */
static int query_tc(__u32 ifindex, int ingress, char *buf, size_t len)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
	libbpf_print_fn_t old;
	int ret;

	if (!ifindex)
		return 0;
	old = libbpf_set_print(NULL);
	ret = bpf_tc_query(&hook, &opts);
	libbpf_set_print(old);
	if (ret == -ENOENT || ret == -EINVAL || (!ret && !opts.prog_id))
		return 0;
	if (ret)
		return ret;
	prog_name(opts.prog_id, buf, len);
	return 1;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Walk a pinned map by name (mape_map_walk): its sizes checked first, the
 * values read when lookup is set.
 */
static int map_walk(const char *dir, const char *name, __u32 key_size, __u32 value_size,
		    int lookup, mape_walk_cb cb, void *arg, char *err)
{
	void *val = NULL;
	int fd, ret;

	fd = map_open(dir, name, key_size, value_size, NULL, err);
	if (fd < 0)
		return fd;
	if (lookup && !(val = malloc(value_size))) {
		close(fd);
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	ret = mape_map_walk(fd, key_size, val, cb, arg);
	if (ret < 0)
		snprintf(err, MAPE_ERRLEN, "cannot walk %s/%s: %s", dir, name, strerror(-ret));
	free(val);
	close(fd);
	return ret;
}

static int count_one(const void *key, const void *value, void *arg)
{
	(void)key;
	(void)value;
	(*(__u32 *)arg)++;
	return 0;
}

/* Number of keys of a map (any type with get_next_key). */
static int count_keys(const char *dir, const char *name, __u32 key_size, __u32 value_size,
		      __u32 *n, char *err)
{
	*n = 0;
	return map_walk(dir, name, key_size, value_size, 0, count_one, n, err);
}

static int count_session(const void *key, const void *value, void *arg)
{
	const struct mape_out_key *k = key;
	struct status *st = arg;
	int p = proto_idx(k->proto);

	(void)value;
	st->sessions++;
	if (p >= 0)
		st->per_proto[p]++;
	return 0;
}

/* Sessions per protocol from the keys of mape_out (no value needed). */
static int count_sessions(const char *dir, struct status *st, char *err)
{
	return map_walk(dir, "mape_out", sizeof(struct mape_out_key), sizeof(struct mape_session),
			0, count_session, st, err);
}

/* A path MTU learned from Packet Too Big and still in force (pmtu.h). */
static int pmtu_one(const void *key, const void *value, void *arg)
{
	const struct mape_pmtu_key *k = key;
	const struct mape_pmtu *v = value;
	struct status *st = arg;
	__u64 now = now_ns();

	if (st->n_pmtu >= sizeof(st->pmtu) / sizeof(st->pmtu[0]) || now - v->ns > MAPE_PMTU_AGE_NS)
		return 0;
	memcpy(st->pmtu[st->n_pmtu].peer, k->peer, 16);
	st->pmtu[st->n_pmtu].mtu = v->mtu;
	st->pmtu[st->n_pmtu].age = now > v->ns ? (now - v->ns) / 1000000000ULL : 0;
	st->n_pmtu++;
	return 0;
}

/* The forwards of the instance, their sessions, the ports they hold. */
static int read_forwards(const char *dir, struct status *st, char *err)
{
	char path[512];
	int ret;

	mape_fwd_state_path(dir, path, sizeof(path));
	ret = mape_fwd_load(path, &st->fwds, err);
	if (ret || !st->fwds.n)
		return ret;
	st->fwd_use = calloc(st->fwds.n, sizeof(*st->fwd_use));
	if (!st->fwd_use) {
		snprintf(err, MAPE_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	mape_fwd_reserved(&st->fwds, st->forwarded);
	return mape_fwd_usage(dir, &st->fwds, st->fwd_use, err);
}

static void status_free(struct status *st)
{
	usage_free(st->usage);
	mape_fwd_set_free(&st->fwds);
	free(st->fwd_use);
	free(st);
}

static int read_status(const char *dir, const struct mape_config *cfg, struct status *st,
		       char *err)
{
	int ret;

	memset(st, 0, sizeof(*st));
	ret = count_keys(dir, "mape_fmr", sizeof(struct mape_fmr_key), sizeof(struct mape_rule),
			 &st->fmrs, err);
	if (!ret)
		ret = count_sessions(dir, st, err);
	if (!ret)
		ret = read_port_usage(dir, cfg, st->usage, err);
	if (!ret)
		ret = read_forwards(dir, st, err);
	if (!ret)
		ret = map_walk(dir, "mape_pmtu", sizeof(struct mape_pmtu_key),
			       sizeof(struct mape_pmtu), 1, pmtu_one, st, err);
	if (ret)
		return ret;
	query_iface(&st->wan, cfg->wan_ifindex);
	st->wan.via_kernel = !!(cfg->no_xdp_xmit & MAPE_NOXMIT_WAN);
	query_iface(&st->tun, cfg->tun_ifindex);
	query_iface(&st->tun_peer, cfg->tun_peer_ifindex);
	for (int i = 0; i < cfg->n_lans && i < MAPE_MAX_LANS; i++) {
		query_iface(&st->lans[i], cfg->lan_ifindex[i]);
		st->lans[i].via_kernel = !!(cfg->no_xdp_xmit & (1u << i));
	}
	st->has_tc = query_tc(cfg->tun_ifindex, 0, st->tc_prog, sizeof(st->tc_prog));
	st->has_tc_wan = query_tc(cfg->wan_ifindex, 1, st->tc_wan_prog, sizeof(st->tc_wan_prog));
	return 0;
}

static int all_zero(const __u8 *a, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (a[i])
			return 0;
	return 1;
}

static json_object *iface_json(const struct iface *ifc)
{
	json_object *o, *x = NULL;

	if (!ifc->ifindex)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "name", ifc->has_name ? json_object_new_string(ifc->name) : NULL);
	json_object_object_add(o, "ifindex", json_object_new_int64(ifc->ifindex));
	if (ifc->xdp.attached) {
		x = json_object_new_object();
		json_object_object_add(x, "prog", json_object_new_string(ifc->xdp.prog));
		json_object_object_add(x, "mode", json_object_new_string(ifc->xdp.mode));
	}
	json_object_object_add(o, "xdp", x);
	/* false: a veth whose peer cannot take XDP frames, reached via the kernel */
	json_object_object_add(o, "xdp_redirect", json_object_new_boolean(!ifc->via_kernel));
	return o;
}

static void status_json(const struct mape_config *cfg, const struct status *st,
			const char *ip4, const char *ce, const char *br)
{
	json_object *o = json_object_new_object(), *to = json_object_new_object();
	json_object *ifs = json_object_new_object(), *lans = json_object_new_array();
	json_object *sess = json_object_new_object(), *pu = json_object_new_object();
	json_object *tun, *fw;

	json_object_object_add(o, "ipv4", json_object_new_string(ip4));
	json_object_object_add(o, "psid", json_object_new_int(cfg->ps.psid));
	json_object_object_add(o, "psid_len", json_object_new_int(cfg->ps.len));
	json_object_object_add(o, "psid_offset", json_object_new_int(cfg->ps.offset));
	json_object_object_add(o, "port_count", json_object_new_int64(mape_ps_count(&cfg->ps)));
	json_object_object_add(o, "ce_ipv6", json_object_new_string(ce));
	json_object_object_add(o, "br", br ? json_object_new_string(br) : NULL);
	json_object_object_add(o, "iid", json_object_new_string(mape_iid_name(cfg->iid)));
	json_object_object_add(o, "mtu", json_object_new_int(cfg->mtu));
	json_object_object_add(o, "filtering", json_object_new_string(
				       cfg->filtering == MAPE_FILTER_ENDPOINT ? "endpoint" :
										"address"));
	json_object_object_add(to, "tcp_est", json_object_new_int64(cfg->to_tcp_est));
	json_object_object_add(to, "tcp_trans", json_object_new_int64(cfg->to_tcp_trans));
	json_object_object_add(to, "udp", json_object_new_int64(cfg->to_udp));
	json_object_object_add(to, "icmp", json_object_new_int64(cfg->to_icmp));
	json_object_object_add(o, "timeouts", to);

	tun = iface_json(&st->wan);
	if (tun)
		json_object_object_add(tun, "tc_ingress", st->has_tc_wan > 0 ?
				       json_object_new_string(st->tc_wan_prog) : NULL);
	json_object_object_add(ifs, "wan", tun);
	tun = iface_json(&st->tun);
	if (tun)
		json_object_object_add(tun, "tc_egress",
				       st->has_tc > 0 ? json_object_new_string(st->tc_prog) : NULL);
	json_object_object_add(ifs, "tun", tun);
	json_object_object_add(ifs, "tun_peer", iface_json(&st->tun_peer));
	for (int i = 0; i < cfg->n_lans && i < MAPE_MAX_LANS; i++)
		json_object_array_add(lans, iface_json(&st->lans[i]));
	json_object_object_add(ifs, "lans", lans);
	json_object_object_add(o, "interfaces", ifs);

	json_object_object_add(o, "fmrs", json_object_new_int64(st->fmrs));
	json_object_object_add(sess, "total", json_object_new_int64(st->sessions));
	for (int p = 0; p < MAPE_P_NUM; p++)
		json_object_object_add(sess, proto_names[p],
				       json_object_new_int64(st->per_proto[p]));
	json_object_object_add(sess, "max", json_object_new_int64(cfg->max_sessions));
	json_object_object_add(sess, "max_per_host", json_object_new_int64(cfg->max_per_host));
	json_object_object_add(sess, "max_ports_per_host",
			       json_object_new_int64(cfg->max_ports_host));
	json_object_object_add(o, "sessions", sess);

	for (int p = 0; p < MAPE_P_NUM; p++) {
		const struct port_usage *u = &st->usage[p];
		json_object *e = json_object_new_object(), *b = json_object_new_array();

		json_object_object_add(e, "used", json_object_new_int64(u->used));
		json_object_object_add(e, "shared", json_object_new_int64(u->shared));
		json_object_object_add(e, "forwarded", json_object_new_int64(st->forwarded[p]));
		json_object_object_add(e, "total", json_object_new_int64(u->total));
		for (__u32 i = 0; i < u->n_blocks; i++)
			json_object_array_add(b, json_object_new_int64(u->blocks[i]));
		json_object_object_add(e, "blocks", b);
		json_object_object_add(pu, proto_names[p], e);
	}
	json_object_object_add(o, "port_usage", pu);
	fw = json_object_new_array();
	for (size_t i = 0; i < st->fwds.n; i++)
		json_object_array_add(fw, mape_fwd_json(&st->fwds.v[i], &st->fwd_use[i], time(NULL)));
	json_object_object_add(o, "forwards", fw);
	fw = json_object_new_array();
	for (__u32 i = 0; i < st->n_pmtu; i++) {
		json_object *e = json_object_new_object();
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, st->pmtu[i].peer, a, sizeof(a));
		json_object_object_add(e, "peer", json_object_new_string(a));
		json_object_object_add(e, "mtu", json_object_new_int64(st->pmtu[i].mtu));
		json_object_object_add(e, "ipv4_mtu", json_object_new_int64(st->pmtu[i].mtu - 40));
		json_object_object_add(e, "age", json_object_new_int64((int64_t)st->pmtu[i].age));
		json_object_array_add(fw, e);
	}
	json_object_object_add(o, "path_mtu", fw);
	print_json(o);
}

static void print_iface(const char *label, const struct iface *ifc, const char *tc,
			const char *hook)
{
	printf("%-13s", label);
	if (!ifc->ifindex) {
		printf("none\n");
		return;
	}
	printf("%s (ifindex %u), XDP ", ifc->has_name ? ifc->name : "?", ifc->ifindex);
	if (ifc->xdp.attached)
		printf("%s (%s)", ifc->xdp.prog, ifc->xdp.mode);
	else
		printf("none");
	if (tc)
		printf(", TC %s %s", hook, tc);
	if (ifc->via_kernel)
		printf(", reached via the kernel (veth peer without GRO/XDP)");
	putchar('\n');
}

/* "blocks: 3/16 1/16 0/16 ...", wrapped at 100 columns; a summary beyond 64 blocks. */
static void print_blocks(const struct port_usage *u)
{
	const int indent = 9;
	int col = indent + 7;

	printf("%*sblocks:", indent, "");
	if (u->n_blocks > 64) {
		__u32 busy = 0;

		for (__u32 i = 0; i < u->n_blocks; i++)
			busy += u->blocks[i] != 0;
		printf(" %u of %u with ports in use (--json lists each)\n", busy, u->n_blocks);
		return;
	}
	for (__u32 i = 0; i < u->n_blocks; i++) {
		char b[24];
		int len = snprintf(b, sizeof(b), "%u/%u", u->blocks[i], u->block_size);

		if (col + 1 + len > 100) {
			printf("\n%*s", indent + 7, "");
			col = indent + 7;
		}
		printf(" %s", b);
		col += 1 + len;
	}
	putchar('\n');
}

static void status_text(const struct mape_config *cfg, const struct status *st,
			const char *ip4, const char *ce, const char *br)
{
	__u32 count = mape_ps_count(&cfg->ps), blocks = mape_ps_blocks(&cfg->ps);
	char tc[80];

	printf("IPv4:        %s\n", ip4);
	printf("PSID:        %u (0x%x), length %u, offset %u\n", cfg->ps.psid, cfg->ps.psid,
	       cfg->ps.len, cfg->ps.offset);
	if (blocks > 1)
		printf("ports:       %u (%u blocks of %u)\n", count, blocks, count / blocks);
	else
		printf("ports:       %u\n", count);
	printf("CE IPv6:     %s (%s interface identifier)\n", ce, mape_iid_name(cfg->iid));
	printf("BR:          %s\n", br ? br : "none");
	printf("tunnel MTU:  %u\n", cfg->mtu);
	for (__u32 i = 0; i < st->n_pmtu; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, st->pmtu[i].peer, a, sizeof(a));
		printf("path MTU:    %u to %s (IPv4 %u; learned from Packet Too Big %llus ago)\n",
		       st->pmtu[i].mtu, a, st->pmtu[i].mtu - 40, (unsigned long long)st->pmtu[i].age);
	}
	printf("filtering:   %s\n", cfg->filtering == MAPE_FILTER_ENDPOINT ?
				    "endpoint-independent" : "address-dependent");
	printf("timeouts:    TCP established %us, TCP transitory %us, UDP %us, ICMP %us\n",
	       cfg->to_tcp_est, cfg->to_tcp_trans, cfg->to_udp, cfg->to_icmp);
	snprintf(tc, sizeof(tc), "%s", st->has_tc_wan > 0 ? st->tc_wan_prog : "none");
	print_iface("WAN:", &st->wan, tc, "ingress");
	if (st->has_tc < 0)
		snprintf(tc, sizeof(tc), "? (%s)", strerror(-st->has_tc));
	else
		snprintf(tc, sizeof(tc), "%s", st->has_tc ? st->tc_prog : "none");
	print_iface("tunnel:", &st->tun, tc, "egress");
	print_iface("tunnel peer:", &st->tun_peer, NULL, NULL);
	if (!cfg->n_lans)
		printf("LAN:         none\n");
	for (int i = 0; i < cfg->n_lans && i < MAPE_MAX_LANS; i++)
		print_iface("LAN:", &st->lans[i], NULL, NULL);
	printf("FMRs:        %u\n", st->fmrs);
	printf("sessions:    %u (TCP %u, UDP %u, ICMP %u)\n", st->sessions,
	       st->per_proto[MAPE_P_TCP], st->per_proto[MAPE_P_UDP], st->per_proto[MAPE_P_ICMP]);
	printf("limits:      %u sessions, per LAN host %u sessions and %u ports alone%s\n",
	       cfg->max_sessions, cfg->max_per_host, cfg->max_ports_host,
	       cfg->max_per_host && cfg->max_ports_host ? "" : " (0: no limit)");
	printf("port usage:\n");
	for (int p = 0; p < MAPE_P_NUM; p++) {
		const struct port_usage *u = &st->usage[p];

		printf("  %-6s %u/%u in use, %u shared", proto_upper[p], u->used, u->total,
		       u->shared);
		if (st->forwarded[p])
			printf(", %u forwarded (reserved)", st->forwarded[p]);
		putchar('\n');
		if (u->n_blocks > 1)
			print_blocks(u);
	}
	if (!st->fwds.n)
		return;
	printf("forwards:\n");
	for (size_t i = 0; i < st->fwds.n; i++) {
		const struct mape_fwd_rule *r = &st->fwds.v[i];
		char d[96];

		mape_fwd_describe(r, d, sizeof(d));
		printf("  %s, %u session%s%s", d, st->fwd_use[i].sessions,
		       st->fwd_use[i].sessions == 1 ? "" : "s",
		       r->n_from ? ", filtered (--from)" : "");
		if (st->fwd_use[i].others)
			printf(", %u earlier dynamic session%s on its ports", st->fwd_use[i].others,
			       st->fwd_use[i].others == 1 ? "" : "s");
		if (MAPE_FWD_DYNAMIC(r->origin))
			printf(", %s mapping, %llds left", mape_fwd_origin_name(r->origin),
			       r->expires > (long long)time(NULL) ? r->expires - time(NULL) : 0);
		printf("%s\n", r->enabled ? "" : ", DISABLED: ports not in the current port set");
	}
}

static const char status_usage[] =
	"usage: mapectl status [--pin-dir DIR] [--json]\n"
	"\n"
	"Configuration of the running instance, its attachments and the use of its port set.\n"
	"\n";

int cmd_status(int argc, char **argv)
{
	static const struct mape_opt *const optv[] = { show_common_opts, mape_help_opts, NULL };
	struct show_args a = { 0 };
	struct mape_config cfg;
	struct status *st;
	char err[MAPE_ERRLEN], ip4[32], ce[64], br[64];
	int rc, ret;

	if (show_parse(argc, argv, optv, status_usage, &a, &rc))
		return rc;
	ret = mape_read_cfg(a.pin_dir, &cfg, err);
	if (ret)
		return mape_errorf("%s", err);
	st = calloc(1, sizeof(*st));
	if (!st)
		return mape_errorf("out of memory");
	ret = read_status(a.pin_dir, &cfg, st, err);
	if (ret) {
		status_free(st);
		return mape_errorf("%s", err);
	}

	fmt_be32(cfg.ipv4, ip4, sizeof(ip4));
	if (cfg.ipv4_len && cfg.ipv4_len < 32)
		snprintf(ip4 + strlen(ip4), sizeof(ip4) - strlen(ip4), "/%u", cfg.ipv4_len);
	mape_fmt_ip6(cfg.ce_addr, ce, sizeof(ce));
	mape_fmt_ip6(cfg.br_addr, br, sizeof(br));
	if (a.json)
		status_json(&cfg, st, ip4, ce, all_zero(cfg.br_addr, 16) ? NULL : br);
	else
		status_text(&cfg, st, ip4, ce, all_zero(cfg.br_addr, 16) ? NULL : br);
	status_free(st);
	return 0;
}

/* ---- stats ---- */

#define SHOW_CTR_NAME(id, name, help) name,
#define SHOW_CTR_HELP(id, name, help) help,
static const char *const ctr_names[MAPE_CTR_MAX] = { MAPE_COUNTERS(SHOW_CTR_NAME) };
static const char *const ctr_help[MAPE_CTR_MAX] = { MAPE_COUNTERS(SHOW_CTR_HELP) };
#undef SHOW_CTR_NAME
#undef SHOW_CTR_HELP

static const char stats_usage[] =
	"usage: mapectl stats [--pin-dir DIR] [--json] [--all]\n"
	"\n"
	"Packet counters of the data path, summed over CPUs: every packet ends in one\n"
	"verdict counter; events are counted besides.\n"
	"\n";

int cmd_stats(int argc, char **argv)
{
	static const struct mape_opt opts[] = {
		{ "all", SHOW_ALL, NULL, "list counters that are zero too (--json always does)" },
		MAPE_OPT_END,
	};
	static const struct mape_opt *const optv[] = { show_common_opts, opts, mape_help_opts, NULL };
	struct mape_ctr sum[MAPE_CTR_MAX];
	struct show_args a = { 0 };
	struct mape_config cfg;
	char err[MAPE_ERRLEN];
	int rc, shown = 0;

	if (show_parse(argc, argv, optv, stats_usage, &a, &rc))
		return rc;
	if (mape_read_cfg(a.pin_dir, &cfg, err) || mape_read_counters(a.pin_dir, "mape_stats", MAPE_CTR_MAX, sum, err))
		return mape_errorf("%s", err);

	if (a.json) {
		json_object *o = json_object_new_object(), *ctrs = json_object_new_object();

		for (int c = 0; c < MAPE_CTR_MAX; c++) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "packets",
					       json_object_new_uint64(sum[c].packets));
			json_object_object_add(e, "bytes", json_object_new_uint64(sum[c].bytes));
			json_object_object_add(ctrs, ctr_names[c], e);
		}
		json_object_object_add(o, "counters", ctrs);
		print_json(o);
		return 0;
	}
	for (int c = 0; c < MAPE_CTR_MAX; c++) {
		if (!a.all && !sum[c].packets && !sum[c].bytes)
			continue;
		printf("%-22s %12llu %15llu  %s\n", ctr_names[c],
		       (unsigned long long)sum[c].packets, (unsigned long long)sum[c].bytes,
		       ctr_help[c]);
		shown++;
	}
	if (!shown)
		printf("all counters are zero (--all lists them)\n");
	return 0;
}

/* ---- sessions ---- */

struct sess {
	struct mape_out_key key;
	struct mape_session val;
};

static int sess_cmp(const void *pa, const void *pb)
{
	const struct sess *a = pa, *b = pb;
	int ia = proto_idx(a->key.proto), ib = proto_idx(b->key.proto);
	__u16 ea = ntohs(a->val.ext_port), eb = ntohs(b->val.ext_port);

	/* unknown protocols (none expected) last, by number */
	if (ia < 0)
		ia = MAPE_P_NUM + a->key.proto;
	if (ib < 0)
		ib = MAPE_P_NUM + b->key.proto;
	if (ia != ib)
		return ia < ib ? -1 : 1;
	if (ea != eb)
		return ea < eb ? -1 : 1;
	/* then the whole key: equal keys are the duplicates of a restarted walk */
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

/* Every entry of mape_out (of one protocol when proto != 0), sorted. */
/* read_sessions' accumulator (a map_walk callback's). */
struct sess_acc {
	struct sess *v;
	size_t n, cap;
	int proto;
};

static int sess_add(const void *key, const void *value, void *arg)
{
	const struct mape_out_key *k = key;
	struct sess_acc *a = arg;

	if (a->proto && k->proto != a->proto)
		return 0;
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		struct sess *nv = realloc(a->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = ncap;
	}
	a->v[a->n].key = *k;
	memcpy(&a->v[a->n].val, value, sizeof(a->v[a->n].val));
	a->n++;
	return 0;
}

static int read_sessions(const char *dir, int proto, struct sess **out, size_t *n_out,
			 char *err)
{
	struct sess_acc acc = { .proto = proto };
	struct sess *v;
	size_t n;
	int ret;

	ret = map_walk(dir, "mape_out", sizeof(struct mape_out_key), sizeof(struct mape_session),
		       1, sess_add, &acc, err);
	if (ret) {
		free(acc.v);
		return ret;
	}
	v = acc.v;
	n = acc.n;
	if (n) {
		size_t j = 1;

		qsort(v, n, sizeof(*v), sess_cmp);
		/* drop duplicates (a walk restarts when its cursor entry is deleted) */
		for (size_t i = 1; i < n; i++)
			if (memcmp(&v[i].key, &v[j - 1].key, sizeof(v[i].key)))
				v[j++] = v[i];
		n = j;
	}
	*out = v;
	*n_out = n;
	return 0;
}

static const char *proto_name(__u8 proto, char *buf, size_t len)
{
	int p = proto_idx(proto);

	if (p >= 0)
		return proto_names[p];
	snprintf(buf, len, "%u", proto);
	return buf;
}

static const char *state_name(const struct sess *s)
{
	if (s->key.proto != IPPROTO_TCP)
		return NULL;
	switch (s->val.state) {
	case MAPE_TCP_SYN_SENT:
		return "syn_sent";
	case MAPE_TCP_EST:
		return "established";
	case MAPE_TCP_CLOSING:
		return "closing";
	}
	return NULL;
}

/* Times of a session in seconds, from the bpf_ktime_get_ns() clock. */
struct sess_times {
	__u64 age, idle, left;
};

static struct sess_times sess_times(const struct sess *s, __u64 now)
{
	__u64 last = s->val.last_ns ? s->val.last_ns : s->val.created_ns;
	struct sess_times t;

	t.age = now > s->val.created_ns ? (now - s->val.created_ns) / 1000000000ULL : 0;
	t.idle = now > last ? (now - last) / 1000000000ULL : 0;
	t.left = s->val.timeout > t.idle ? s->val.timeout - t.idle : 0;
	return t;
}

/* The FLAGS column: in (opened from outside), fast (carried by XDP: conntrack
 * saw it established), no-timer (waiting for its expiry timer), ending (of a
 * previous IPv4/port set). */
static void sess_flags(const struct sess *s, __u32 epoch, char *buf, size_t len)
{
	static const struct {
		__u8 flag;
		const char *name;
	} names[] = { { MAPE_SESS_INBOUND, "in" }, { MAPE_SESS_FAST, "fast" },
		      { MAPE_SESS_NO_TIMER, "no-timer" } };
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s->val.flags & names[i].flag)
			at += snprintf(buf + at, at < len ? len - at : 0, "%s%s", at ? "," : "",
				       names[i].name);
	if (s->val.epoch != epoch)
		snprintf(buf + at, at < len ? len - at : 0, "%sending", at ? "," : "");
}

static void sessions_json(const struct sess *v, size_t n, __u64 now, __u32 epoch)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();
	char ia[16], ra[16], pb[8];

	for (size_t i = 0; i < n; i++) {
		const struct sess *s = &v[i];
		struct sess_times t = sess_times(s, now);
		const char *state = state_name(s);
		const char *pn = proto_name(s->key.proto, pb, sizeof(pb));
		json_object *e = json_object_new_object();

		fmt_be32(s->key.int_addr, ia, sizeof(ia));
		fmt_be32(s->key.rem_addr, ra, sizeof(ra));
		json_object_object_add(e, "proto", json_object_new_string(pn));
		json_object_object_add(e, "int_addr", json_object_new_string(ia));
		json_object_object_add(e, "int_port", json_object_new_int(ntohs(s->key.int_port)));
		json_object_object_add(e, "ext_port", json_object_new_int(ntohs(s->val.ext_port)));
		json_object_object_add(e, "rem_addr", json_object_new_string(ra));
		json_object_object_add(e, "rem_port", json_object_new_int(ntohs(s->key.rem_port)));
		json_object_object_add(e, "state", state ? json_object_new_string(state) : NULL);
		json_object_object_add(e, "inbound",
				       json_object_new_boolean(s->val.flags & MAPE_SESS_INBOUND));
		json_object_object_add(e, "fast",
				       json_object_new_boolean(s->val.flags & MAPE_SESS_FAST));
		json_object_object_add(e, "no_timer",
				       json_object_new_boolean(s->val.flags & MAPE_SESS_NO_TIMER));
		json_object_object_add(e, "ending", json_object_new_boolean(s->val.epoch != epoch));
		json_object_object_add(e, "age", json_object_new_uint64(t.age));
		json_object_object_add(e, "idle", json_object_new_uint64(t.idle));
		json_object_object_add(e, "timeout", json_object_new_int64(s->val.timeout));
		json_object_object_add(e, "expires_in", json_object_new_uint64(t.left));
		json_object_object_add(e, "pkts_out", json_object_new_uint64(s->val.pkts_out));
		json_object_object_add(e, "pkts_in", json_object_new_uint64(s->val.pkts_in));
		json_object_array_add(arr, e);
	}
	json_object_object_add(o, "sessions", arr);
	print_json(o);
}

static void sessions_text(const struct sess *v, size_t n, __u64 now, __u32 epoch,
			  const struct port_usage *u)
{
	char ia[24], ra[24], pb[8];

	printf("%-5s %-21s %5s %-21s %-11s %-7s %7s %6s %6s %10s %10s\n", "PROTO", "INTERNAL",
	       "EXT", "REMOTE", "STATE", "FLAGS", "AGE", "IDLE", "LEFT", "PKTS_OUT", "PKTS_IN");
	for (size_t i = 0; i < n; i++) {
		const struct sess *s = &v[i];
		struct sess_times t = sess_times(s, now);
		const char *state = state_name(s);
		char fl[32];

		sess_flags(s, epoch, fl, sizeof(fl));
		fmt_be32(s->key.int_addr, ia, sizeof(ia));
		snprintf(ia + strlen(ia), sizeof(ia) - strlen(ia), ":%u", ntohs(s->key.int_port));
		fmt_be32(s->key.rem_addr, ra, sizeof(ra));
		if (s->key.proto != IPPROTO_ICMP)
			snprintf(ra + strlen(ra), sizeof(ra) - strlen(ra), ":%u",
				 ntohs(s->key.rem_port));
		printf("%-5s %-21s %5u %-21s %-11s %-7s %7llu %6llu %6llu %10llu %10llu\n",
		       proto_name(s->key.proto, pb, sizeof(pb)), ia, ntohs(s->val.ext_port), ra,
		       state ? state : "-", *fl ? fl : "-",
		       (unsigned long long)t.age, (unsigned long long)t.idle,
		       (unsigned long long)t.left, (unsigned long long)s->val.pkts_out,
		       (unsigned long long)s->val.pkts_in);
	}
	printf("%zu session%s, ports in use: TCP %u/%u, UDP %u/%u, ICMP %u/%u\n", n,
	       n == 1 ? "" : "s", u[MAPE_P_TCP].used, u[MAPE_P_TCP].total, u[MAPE_P_UDP].used,
	       u[MAPE_P_UDP].total, u[MAPE_P_ICMP].used, u[MAPE_P_ICMP].total);
}

static const char sessions_usage[] =
	"usage: mapectl sessions [--pin-dir DIR] [--json] [--proto tcp|udp|icmp]\n"
	"\n"
	"NAPT sessions, by protocol and external port: internal and remote endpoints,\n"
	"TCP state, age, idle time and time left before expiry (seconds), packets.\n"
	"\n";

int cmd_sessions(int argc, char **argv)
{
	static const struct mape_opt opts[] = {
		{ "proto", SHOW_PROTO, "P", "only sessions of protocol P (tcp, udp or icmp)" },
		MAPE_OPT_END,
	};
	static const struct mape_opt *const optv[] = { show_common_opts, opts, mape_help_opts, NULL };
	struct port_usage usage[MAPE_P_NUM];
	struct show_args a = { 0 };
	struct mape_config cfg;
	struct sess *v = NULL;
	char err[MAPE_ERRLEN];
	size_t n = 0;
	int rc, ret;

	if (show_parse(argc, argv, optv, sessions_usage, &a, &rc))
		return rc;
	ret = mape_read_cfg(a.pin_dir, &cfg, err);
	if (!ret)
		ret = read_sessions(a.pin_dir, a.proto, &v, &n, err);
	if (ret)
		return mape_errorf("%s", err);
	if (!a.json) {
		ret = read_port_usage(a.pin_dir, &cfg, usage, err);
		if (ret) {
			free(v);
			return mape_errorf("%s", err);
		}
		sessions_text(v, n, now_ns(), cfg.epoch, usage);
		usage_free(usage);
	} else {
		sessions_json(v, n, now_ns(), cfg.epoch);
	}
	free(v);
	return 0;
}
