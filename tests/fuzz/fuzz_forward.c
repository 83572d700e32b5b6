// SPDX-License-Identifier: MIT
/* fuzz_forward.c - forward specs: the words of `mapectl forward add PROTO
 * EXT[-LAST] HOST[:PORT] --from CIDR` and a [forwards] line of the
 * configuration file, then the checks `forward add` makes against a port
 * set and the rules already there. Input: the words, space-separated. */
#include <stdio.h>
#include <unistd.h>
#include "fuzz.h"
#include "conf.h"
#include "fwd.h"

static const struct mape_portset vps = { .psid = 0x12, .len = 8, .offset = 4 };

/* What the checks accept, the state file holds: written and read back. */
static void round_trip(const struct mape_fwd_set *set)
{
	struct mape_fwd_set back = { 0 };
	char path[64], err[MAPE_ERRLEN];

	snprintf(path, sizeof(path), "/tmp/mape-fuzz-forwards-%d.json", (int)getpid());
	if (mape_fwd_save(path, set, err))
		return;
	if (mape_fwd_load(path, &back, err) || back.n != set->n) {
		fprintf(stderr, "a forward the checks accepted does not load back: %s\n", err);
		abort();
	}
	mape_fwd_set_free(&back);
	unlink(path);
}

static void checks(struct mape_fwd_set *set, struct mape_fwd_rule *r)
{
	char err[MAPE_ERRLEN], d[96];
	__u32 reserved[MAPE_P_NUM];

	mape_fwd_describe(r, d, sizeof(d));
	mape_fwd_check_set(r, &vps, err);
	if (!mape_fwd_check_new(set, r, 0xc0000212, err) && !mape_fwd_check_room(set, r, err) &&
	    !mape_fwd_set_add(set, r, err))
		round_trip(set);
	mape_fwd_refresh(set, &vps);
	mape_fwd_reserved(set, reserved);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), *w[8] = { 0 }, *save = NULL, err[MAPE_ERRLEN];
	struct mape_fwd_set set = { 0 };
	struct mape_fwd_rule r;
	int n = 0, port;

	if (!s)
		return 0;
	/* the file's spelling, whole */
	memset(&r, 0, sizeof(r));
	if (!mape_conf_forward("fuzz", s, &r, err))
		checks(&set, &r);
	/* the command line's words */
	for (char *t = strtok_r(s, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save))
		w[n++] = t;
	memset(&r, 0, sizeof(r));
	if (n >= 3 && !mape_fwd_parse_proto(w[0], &r.protos, err) &&
	    !mape_fwd_parse_ports(w[1], &r.ext, &r.ext_last, err) &&
	    !mape_fwd_parse_target(w[2], &r.host, &port, err)) {
		r.port = port < 0 ? r.ext : port;
		for (int i = 3; i < n && r.n_from < MAPE_FWD_MAX_FROM; i++)
			if (!mape_fwd_parse_from(w[i], &r.from[r.n_from], &r.from_len[r.n_from], err))
				r.n_from++;
		r.enabled = 1;
		checks(&set, &r);
	}
	mape_fwd_set_free(&set);
	free(s);
	return 0;
}
