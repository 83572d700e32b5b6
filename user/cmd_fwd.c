// SPDX-License-Identifier: MIT
/*
 * cmd_fwd.c - `mapectl forward add|del|list`: static NAPT of ports of our
 * set to LAN servers, with a source filter in front (see fwd.h).
 *
 * A change is checked whole first (the port set, the rules already
 * there), then written to the running data path, then to the state file;
 * when a step fails, the data path is put back as it was: nothing is half
 * applied.
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
#include "cmd.h"
#include "opts.h"
#include "fwd.h"
#include "pin.h"

enum { FWD_PIN_DIR = 0x300, FWD_FROM, FWD_COMMENT, FWD_JSON };

static const struct mape_opt fwd_opts[] = {
	{ "from", FWD_FROM, "CIDR",
	  "admit only these sources (repeat; default: any); others are\n"
	  "dropped in the data path, counted as drop_fwd_filtered" },
	{ "comment", FWD_COMMENT, "TEXT", "a note kept with the forward" },
	{ "json", FWD_JSON, NULL, "list: a JSON list" },
	{ "pin-dir", FWD_PIN_DIR, "DIR", "the instance (default " MAPE_PIN_DIR ")" },
	MAPE_OPT_END,
};

static const struct mape_opt *const fwd_optv[] = { fwd_opts, mape_help_opts, NULL };

static void fwd_usage(void)
{
	fputs("usage: mapectl forward add PROTO EXT[-EXT_LAST] HOST[:PORT] [--from CIDR]...\n"
	      "                           [--comment TEXT] [--pin-dir DIR]\n"
	      "       mapectl forward del PROTO EXT [--pin-dir DIR]\n"
	      "       mapectl forward list [--json] [--pin-dir DIR]\n"
	      "\n"
	      "Publish a LAN server on ports of this line's port set (static NAPT).\n"
	      "\n"
	      "  PROTO             tcp, udp or both\n"
	      "  EXT[-EXT_LAST]    external port(s), all in the port set (mapectl status shows\n"
	      "                    it); a range maps port by port to PORT, PORT+1, ...\n"
	      "  HOST[:PORT]       the LAN server; PORT defaults to EXT\n", stdout);
	mape_opts_help(stdout, fwd_optv);
	fputs("\n"
	      "The router's firewall still decides: accept the forward in its forward chain,\n"
	      "e.g. iifname \"mape0\" ip daddr HOST tcp dport PORT accept. Forwards are kept in\n"
	      "/var/lib/mape (or $MAPE_STATE_DIR) and re-applied by mapectl up; those whose\n"
	      "ports leave the port set are kept disabled until the ports come back.\n", stdout);
}

struct fwd_args {
	const char *pin_dir, *comment;
	int json, n_from;
	char *from[MAPE_FWD_MAX_FROM];
	int npos;
	char **pos;		/* action and its words */
};

/* The running instance's configuration: 1 up, 0 not up, <0 error. */
static int instance(const char *pin_dir, struct mape_config *cfg, char *err)
{
	int ret = mape_read_cfg(pin_dir, cfg, err);

	return ret == -ENOENT ? 0 : ret ? ret : 1;
}

static int fwd_add(const struct fwd_args *a, struct mape_fwd_set *set, const char *path, char *err)
{
	struct mape_fwd_set old = *set;
	struct mape_fwd_use *use;
	struct mape_config cfg;
	struct mape_fwd_rule r = { 0 };
	char d[96], ip[16], tun[IF_NAMESIZE] = "mape0";
	int port, up, ret;

	if (a->npos != 4) {
		snprintf(err, MAPE_ERRLEN, a->npos < 4 ? "forward add: missing %s (mapectl forward "
			 "--help)" : "forward add: unexpected argument '%s'",
			 a->npos < 4 ? (a->npos == 1 ? "PROTO" : a->npos == 2 ? "EXT" : "HOST") :
				       a->pos[4]);
		return -EINVAL;
	}
	if (mape_fwd_parse_proto(a->pos[1], &r.protos, err) ||
	    mape_fwd_parse_ports(a->pos[2], &r.ext, &r.ext_last, err) ||
	    mape_fwd_parse_target(a->pos[3], &r.host, &port, err))
		return -EINVAL;
	r.port = port < 0 ? r.ext : port;
	for (int i = 0; i < a->n_from; i++)
		if (mape_fwd_parse_from(a->from[i], &r.from[i], &r.from_len[i], err))
			return -EINVAL;
	r.n_from = a->n_from;
	if (a->comment && strlen(a->comment) >= MAPE_FWD_COMMENT) {
		snprintf(err, MAPE_ERRLEN, "bad --comment: longer than %d bytes",
			 MAPE_FWD_COMMENT - 1);
		return -EINVAL;
	}
	snprintf(r.comment, sizeof(r.comment), "%s", a->comment ? a->comment : "");
	up = instance(a->pin_dir, &cfg, err);
	if (up < 0)
		return up;
	if (!up) {
		snprintf(err, MAPE_ERRLEN, "not up (no instance in %s): a forward is checked "
			 "against the line's port set, so run mapectl up first", a->pin_dir);
		return -ENOENT;
	}
	ret = mape_fwd_check_new(set, &r, ntohl(cfg.ipv4), err);
	if (!ret)
		ret = mape_fwd_check_set(&r, &cfg.ps, err);
	r.enabled = 1;
	if (!ret)
		ret = mape_fwd_check_room(set, &r, err);
	if (ret)
		return ret;
	/* the new set: a copy of the old one plus r */
	set->v = NULL;
	set->n = 0;
	for (size_t i = 0; !ret && i < old.n; i++)
		ret = mape_fwd_set_add(set, &old.v[i], err);
	if (!ret)
		ret = mape_fwd_set_add(set, &r, err);
	if (!ret)
		ret = mape_fwd_commit(a->pin_dir, 1, path, set, &old, err);
	mape_fwd_set_free(&old);
	if (ret)
		return ret;
	mape_fwd_describe(&r, d, sizeof(d));
	printf("forward %s added\n", d);
	/* dynamic sessions made before keep their port until they end */
	use = calloc(set->n, sizeof(*use));
	if (use && !mape_fwd_usage(a->pin_dir, set, use, err) && use[set->n - 1].others)
		printf("note: %u session%s made before the forward use%s its ports: they keep them "
		       "until they end\n", use[set->n - 1].others,
		       use[set->n - 1].others == 1 ? "" : "s", use[set->n - 1].others == 1 ? "s" : "");
	free(use);
	if_indextoname(cfg.tun_ifindex, tun);
	mape_fmt_ip4(r.host, ip, sizeof(ip));
	if (r.ext_last > r.ext)
		snprintf(d, sizeof(d), "%u-%u", r.port, r.port + (r.ext_last - r.ext));
	else
		snprintf(d, sizeof(d), "%u", r.port);
	printf("the firewall decides: its forward chain must accept it, e.g.\n"
	       "  iifname \"%s\" ip daddr %s %s dport %s accept\n", tun, ip,
	       r.protos == MAPE_FWD_UDP ? "udp" : r.protos == MAPE_FWD_TCP ? "tcp" : "meta l4proto "
	       "{ tcp, udp } th", d);
	return 0;
}

static int fwd_del(const struct fwd_args *a, struct mape_fwd_set *set, const char *path, char *err)
{
	struct mape_fwd_set next = { 0 }, cut = { 0 };
	struct mape_config cfg;
	unsigned int protos;
	__u16 ext, last;
	int up, ret = 0;

	if (a->npos != 3) {
		snprintf(err, MAPE_ERRLEN, a->npos < 3 ? "forward del: missing %s (mapectl forward "
			 "--help)" : "forward del: unexpected argument '%s'",
			 a->npos < 3 ? (a->npos == 1 ? "PROTO" : "EXT") : a->pos[3]);
		return -EINVAL;
	}
	if (mape_fwd_parse_proto(a->pos[1], &protos, err) ||
	    mape_fwd_parse_ports(a->pos[2], &ext, &last, err))
		return -EINVAL;
	if (last != ext) {
		snprintf(err, MAPE_ERRLEN, "bad external port '%s': forward del takes one port (a "
			 "forward's range goes with any of its ports)", a->pos[2]);
		return -EINVAL;
	}
	up = instance(a->pin_dir, &cfg, err);
	if (up < 0)
		return up;
	/* each rule with EXT loses the protocols named; one left without any goes */
	for (size_t i = 0; !ret && i < set->n; i++) {
		struct mape_fwd_rule r = set->v[i], gone = r;

		if (ext >= r.ext && ext <= r.ext_last && (r.protos & protos) &&
		    r.origin == MAPE_FWD_CONFIG) {
			snprintf(err, MAPE_ERRLEN, "forward '%s' (%s port %u) comes from the "
				 "[forwards] of the configuration file: remove it there, then run "
				 "up again", r.comment, a->pos[1], ext);
			ret = -EPERM;
			break;
		}
		if (ext >= r.ext && ext <= r.ext_last && (r.protos & protos)) {
			gone.protos &= protos;
			r.protos &= ~protos;
			ret = mape_fwd_set_add(&cut, &gone, err);
		}
		if (!ret && r.protos)
			ret = mape_fwd_set_add(&next, &r, err);
	}
	if (!ret && !cut.n) {
		snprintf(err, MAPE_ERRLEN, "no forward of %s port %u (mapectl forward list shows "
			 "them)", a->pos[1], ext);
		ret = -ENOENT;
	}
	if (!ret)
		ret = mape_fwd_commit(a->pin_dir, up, path, &next, set, err);
	for (size_t i = 0; !ret && i < cut.n; i++) {
		char d[96];

		mape_fwd_describe(&cut.v[i], d, sizeof(d));
		printf("forward %s removed\n", d);
	}
	mape_fwd_set_free(&next);
	mape_fwd_set_free(&cut);
	return ret;
}

static void list_text(const struct mape_fwd_set *set, const struct mape_fwd_use *use,
		      long long now)
{
	if (!set->n) {
		printf("no forwards\n");
		return;
	}
	printf("%-5s %-12s %-22s %-8s %-9s %s\n", "PROTO", "EXT", "HOST", "SESSIONS", "STATE",
	       "FROM / COMMENT");
	for (size_t i = 0; i < set->n; i++) {
		const struct mape_fwd_rule *r = &set->v[i];
		char ext[16], host[40], ip[16];

		mape_fmt_ip4(r->host, ip, sizeof(ip));
		if (r->ext == r->ext_last)
			snprintf(ext, sizeof(ext), "%u", r->ext);
		else
			snprintf(ext, sizeof(ext), "%u-%u", r->ext, r->ext_last);
		if (r->ext == r->ext_last)
			snprintf(host, sizeof(host), "%s:%u", ip, r->port);
		else
			snprintf(host, sizeof(host), "%s:%u-%u", ip, r->port,
				 r->port + (r->ext_last - r->ext));
		printf("%-5s %-12s %-22s %-8u %-9s ",
		       r->protos == MAPE_FWD_TCP ? "tcp" : r->protos == MAPE_FWD_UDP ? "udp" : "both",
		       ext, host, use ? use[i].sessions : 0, r->enabled ? "enabled" : "disabled");
		if (!r->n_from)
			printf("any");
		for (unsigned int j = 0; j < r->n_from; j++) {
			mape_fmt_ip4(r->from[j], ip, sizeof(ip));
			printf("%s%s/%u", j ? "," : "", ip, r->from_len[j]);
		}
		if (r->comment[0])
			printf(" \"%s\"", r->comment);
		if (r->origin == MAPE_FWD_CONFIG)
			printf(" (configuration file)");
		if (MAPE_FWD_DYNAMIC(r->origin))
			printf(" (%s, %llds left)", mape_fwd_origin_name(r->origin),
			       r->expires > now ? r->expires - now : 0);
		if (use && use[i].others)
			printf(" (+%u earlier dynamic session%s on its ports)", use[i].others,
			       use[i].others == 1 ? "" : "s");
		if (!r->enabled)
			printf(" (ports not in the current port set)");
		putchar('\n');
	}
}

static int fwd_list(const struct fwd_args *a, const struct mape_fwd_set *set, char *err)
{
	long long now = time(NULL);
	struct mape_fwd_use *use = NULL;
	struct mape_config cfg;
	int up;

	if (a->npos != 1) {
		snprintf(err, MAPE_ERRLEN, "forward list: unexpected argument '%s'", a->pos[1]);
		return -EINVAL;
	}
	up = instance(a->pin_dir, &cfg, err);
	if (up < 0)
		return up;
	if (up && set->n) {
		use = calloc(set->n, sizeof(*use));
		if (!use) {
			snprintf(err, MAPE_ERRLEN, "out of memory");
			return -ENOMEM;
		}
		if (mape_fwd_usage(a->pin_dir, set, use, err)) {
			free(use);
			return -EIO;
		}
	}
	if (a->json) {
		json_object *l = json_object_new_array();
		struct mape_fwd_use zero = { 0 };

		for (size_t i = 0; i < set->n; i++)
			json_object_array_add(l, mape_fwd_json(&set->v[i], use ? &use[i] : &zero,
								       now));
		puts(json_object_to_json_string_ext(l, JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(l);
	} else {
		list_text(set, use, now);
	}
	free(use);
	return 0;
}

static int parse_args(int argc, char **argv, struct fwd_args *a, char *err)
{
	int c;

	memset(a, 0, sizeof(*a));
	a->pin_dir = MAPE_PIN_DIR;
	optind = 1;
	while ((c = mape_getopt(argc, argv, "h", fwd_optv)) != -1) {
		switch (c) {
		case 'h':
			fwd_usage();
			return 1;
		case FWD_PIN_DIR:
			a->pin_dir = optarg;
			break;
		case FWD_FROM:
			if (a->n_from >= MAPE_FWD_MAX_FROM) {
				snprintf(err, MAPE_ERRLEN, "too many --from (at most %d per forward)",
					 MAPE_FWD_MAX_FROM);
				return -EINVAL;
			}
			a->from[a->n_from++] = optarg;
			break;
		case FWD_COMMENT:
			a->comment = optarg;
			break;
		case FWD_JSON:
			a->json = 1;
			break;
		default:
			return 2;
		}
	}
	a->pos = argv + optind;
	a->npos = argc - optind;
	if (!a->npos) {
		snprintf(err, MAPE_ERRLEN, "forward: missing add, del or list (mapectl forward "
			 "--help)");
		return -EINVAL;
	}
	if (strcmp(a->pos[0], "add") && (a->n_from || a->comment)) {
		snprintf(err, MAPE_ERRLEN, "--%s is an option of forward add only",
			 a->n_from ? "from" : "comment");
		return -EINVAL;
	}
	if (strcmp(a->pos[0], "list") && a->json) {
		snprintf(err, MAPE_ERRLEN, "--json is an option of forward list only");
		return -EINVAL;
	}
	return 0;
}

int cmd_forward(int argc, char **argv)
{
	struct mape_fwd_set set = { 0 };
	struct fwd_args a;
	char err[MAPE_ERRLEN], path[512];
	int ret, lock = -1;

	ret = parse_args(argc, argv, &a, err);
	if (ret == 2)
		return mape_usage_error(argc, argv);
	if (ret)
		return ret > 0 ? 0 : mape_errorf("%s", err);
	if (strcmp(a.pos[0], "add") && strcmp(a.pos[0], "del") && strcmp(a.pos[0], "list"))
		return mape_errorf("forward: unknown action '%s': want add, del or list",
				   a.pos[0]);
	mape_fwd_state_path(a.pin_dir, path, sizeof(path));
	if (strcmp(a.pos[0], "list")) {
		if (geteuid() != 0)
			return mape_errorf("mapectl forward %s needs root", a.pos[0]);
		lock = mape_fwd_lock(path, err);
		if (lock < 0)
			return mape_errorf("%s", err);
	}
	ret = mape_fwd_load(path, &set, err);
	if (!ret)
		ret = !strcmp(a.pos[0], "add") ? fwd_add(&a, &set, path, err) :
		      !strcmp(a.pos[0], "del") ? fwd_del(&a, &set, path, err) :
						 fwd_list(&a, &set, err);
	mape_fwd_set_free(&set);
	if (lock >= 0)
		close(lock);
	return ret ? mape_errorf("%s", err) : 0;
}
