// SPDX-License-Identifier: MIT
/* test_pmap.c - port mappings: their place in the forwards' state file
 * (user/fwd.c) and the NAT-PMP/PCP wire format (user/pcp.c) for requests
 * that need no running instance. The mappings themselves, with a running
 * instance and real clients, are tested in tests/lab/test_port_mapping.py. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "pcp.h"
#include "test.h"

static const struct mape_portset vps = { .psid = 0x12, .len = 8, .offset = 4 };

static struct mape_fwd_rule mapping(int origin, __u16 ext, long long expires)
{
	struct mape_fwd_rule r = { .protos = MAPE_FWD_UDP, .ext = ext, .ext_last = ext,
				   .host = 0xc0a8010a, .port = 5000, .enabled = 1,
				   .origin = origin, .expires = expires };
	return r;
}

TEST(pmap_state_file_and_drop)
{
	char dir[] = "/tmp/mape-pmap-XXXXXX", path[600], err[MAPE_ERRLEN];
	struct mape_fwd_set set = { 0 }, back = { 0 };
	struct mape_fwd_rule fw = mapping(MAPE_FWD_CLI, 4384, 0);
	struct mape_fwd_rule pcp = mapping(MAPE_FWD_PCP, 4385, 2000);
	struct mape_fwd_rule up = mapping(MAPE_FWD_UPNP, 4386, 1000);
	struct mape_fwd_rule out = mapping(MAPE_FWD_NATPMP, 4400, 3000);	/* not in vps */

	for (int i = 0; i < 12; i++)
		pcp.nonce[i] = 0xa0 + i;
	fw.port = 80;
	up.port = 5001;
	out.port = 5002;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/forwards.json", dir);
	CHECK_EQ(mape_fwd_set_add(&set, &fw, err), 0);
	CHECK_EQ(mape_fwd_set_add(&set, &pcp, err), 0);
	CHECK_EQ(mape_fwd_set_add(&set, &up, err), 0);
	CHECK_EQ(mape_fwd_set_add(&set, &out, err), 0);
	CHECK_EQ(mape_fwd_save(path, &set, err), 0);
	CHECK_EQ(mape_fwd_load(path, &back, err), 0);
	CHECK_EQ(back.n, 4);
	CHECK_EQ(back.v[1].origin, MAPE_FWD_PCP);
	CHECK_EQ(back.v[1].expires, 2000);
	CHECK(!memcmp(back.v[1].nonce, pcp.nonce, 12));
	CHECK_EQ(back.v[2].origin, MAPE_FWD_UPNP);
	CHECK_EQ(back.v[0].expires, 0);
	CHECK_STR(mape_fwd_origin_name(back.v[3].origin), "natpmp");
	/* ended at 1500: upnp goes; out of the set: natpmp goes; the forward stays */
	CHECK_EQ(mape_fwd_drop_mappings(&back, &vps, 1500, 0), 2);
	CHECK_EQ(back.n, 2);
	CHECK_EQ(back.v[0].origin, MAPE_FWD_CLI);
	CHECK_EQ(back.v[1].origin, MAPE_FWD_PCP);
	CHECK_EQ(mape_fwd_drop_mappings(&back, NULL, 1500, 1), 1);
	CHECK_EQ(back.n, 1);
	CHECK_EQ(back.v[0].origin, MAPE_FWD_CLI);
	mape_fwd_set_free(&back);
	/* a mapping without its end is refused, a forward with one too */
	{
		FILE *f = fopen(path, "w");

		fputs("[{\"proto\":\"udp\",\"ext_port\":4385,\"ext_last\":4385,\"host\":"
		      "\"192.168.1.10\",\"port\":5000,\"origin\":\"upnp\"}]", f);
		fclose(f);
		CHECK_EQ(mape_fwd_load(path, &back, err), -EINVAL);
		CHECK_HAS(err, "expires");
		f = fopen(path, "w");
		fputs("[{\"proto\":\"udp\",\"ext_port\":4385,\"ext_last\":4385,\"host\":"
		      "\"192.168.1.10\",\"port\":5000,\"origin\":\"natpnp\",\"expires\":5}]", f);
		fclose(f);
		CHECK_EQ(mape_fwd_load(path, &back, err), -EINVAL);
		CHECK_HAS(err, "origin");
	}
	mape_fwd_set_free(&back);
	mape_fwd_set_free(&set);
	unlink(path);
	rmdir(dir);
}

/* ---- the wire: requests answered without an instance ---- */

static struct mape_pmap pm;
static __u8 ans[1200];

static size_t ask(const __u8 *req, size_t len, __u32 src)
{
	memset(ans, 0xee, sizeof(ans));
	return mape_pcp_answer(&pm, src, req, len, ans, sizeof(ans));
}

#define SRC 0xc0a8010au		/* 192.168.1.10 */

/* A PCP request header from SRC: version, opcode, lifetime. */
static size_t pcp_req(__u8 *b, int ver, int op, __u32 life, __u32 client)
{
	memset(b, 0, 24);
	b[0] = ver;
	b[1] = op;
	b[4] = life >> 24;
	b[5] = life >> 16;
	b[6] = life >> 8;
	b[7] = life;
	b[18] = b[19] = 0xff;
	b[20] = client >> 24;
	b[21] = client >> 16;
	b[22] = client >> 8;
	b[23] = client;
	return 24;
}

/* + a MAP part: proto, internal port, suggested port */
static size_t pcp_map(__u8 *b, int proto, unsigned int port, unsigned int want)
{
	size_t n = pcp_req(b, 2, 1, 600, SRC);

	memset(b + n, 0, 36);
	for (int i = 0; i < 12; i++)
		b[n + i] = i + 1;
	b[n + 12] = proto;
	b[n + 16] = port >> 8;
	b[n + 17] = port;
	b[n + 18] = want >> 8;
	b[n + 19] = want;
	return n + 36;
}

static size_t opt(__u8 *b, size_t n, int code, size_t len, __u32 addr)
{
	b[n] = code;
	b[n + 1] = 0;
	b[n + 2] = len >> 8;
	b[n + 3] = len;
	memset(b + n + 4, 0, len);
	if (len == 16) {
		b[n + 14] = b[n + 15] = 0xff;
		b[n + 16] = addr >> 24;
		b[n + 17] = addr >> 16;
		b[n + 18] = addr >> 8;
		b[n + 19] = addr;
	}
	return n + 4 + ((len + 3) & ~3u);
}

TEST(pcp_and_natpmp_wire)
{
	char dir[] = "/tmp/mape-pcp-XXXXXX";
	__u8 req[1200];
	size_t n;

	CHECK(mkdtemp(dir) != NULL);
	setenv("MAPE_STATE_DIR", dir, 1);
	mape_pmap_init(&pm, "/sys/fs/bpf/mape-unit-test-none", 4, 3600);

	/* NAT-PMP: the address, not up: 12 bytes, result 3 (network failure) */
	req[0] = 0;
	req[1] = 0;
	CHECK_EQ(ask(req, 2, SRC), 12);
	CHECK_EQ(ans[1], 128);
	CHECK_EQ(ans[3], 3);
	/* an unknown opcode: result 5, 8 bytes */
	req[1] = 9;
	CHECK_EQ(ask(req, 2, SRC), 8);
	CHECK_EQ(ans[1], 128 + 9);
	CHECK_EQ(ans[3], 5);
	/* a TCP mapping, not up: 16 bytes, result 3, the internal port echoed */
	memset(req, 0, 12);
	req[1] = 2;
	req[4] = 0x1f, req[5] = 0x90;	/* 8080 */
	req[11] = 60;
	CHECK_EQ(ask(req, 12, SRC), 16);
	CHECK_EQ(ans[1], 130);
	CHECK_EQ(ans[3], 3);
	CHECK_EQ(ans[8] << 8 | ans[9], 8080);
	CHECK_EQ(ans[10] << 8 | ans[11], 0);
	/* a short one, and an answer (R bit): silence */
	CHECK_EQ(ask(req, 11, SRC), 0);
	req[1] = 128;
	CHECK_EQ(ask(req, 12, SRC), 0);

	/* PCP version 1: UNSUPP_VERSION (1), an answer with the R bit */
	n = pcp_req(req, 1, 1, 0, SRC);
	CHECK_EQ(ask(req, n, SRC), 24);
	CHECK_EQ(ans[0], 2);
	CHECK_EQ(ans[1], 0x81);
	CHECK_EQ(ans[3], 1);
	/* not a multiple of 4: MALFORMED_REQUEST (3) */
	n = pcp_req(req, 2, 0, 0, SRC);
	CHECK_EQ(ask(req, n + 2, SRC), 24);
	CHECK_EQ(ans[3], 3);
	/* the client field is not the sender: ADDRESS_MISMATCH (12) */
	n = pcp_req(req, 2, 0, 0, SRC + 1);
	CHECK_EQ(ask(req, n, SRC), 24);
	CHECK_EQ(ans[3], 12);
	/* PEER: UNSUPP_OPCODE (4) */
	n = pcp_req(req, 2, 2, 0, SRC);
	memset(req + n, 0, 56);
	CHECK_EQ(ask(req, n + 56, SRC), n + 56);
	CHECK_EQ(ans[1], 0x82);
	CHECK_EQ(ans[3], 4);
	/* ANNOUNCE: SUCCESS, the epoch */
	n = pcp_req(req, 2, 0, 0, SRC);
	CHECK_EQ(ask(req, n, SRC), 24);
	CHECK_EQ(ans[1], 0x80);
	CHECK_EQ(ans[3], 0);
	CHECK(ans[8] == 0 && ans[9] == 0);	/* a young epoch */
	/* MAP with FILTER: UNSUPP_OPTION (5) */
	n = pcp_map(req, 6, 8080, 0);
	n = opt(req, n, 3, 20, 0);
	CHECK_EQ(ask(req, n, SRC), n);
	CHECK_EQ(ans[3], 5);
	/* THIRD_PARTY naming another host: NOT_AUTHORIZED (2) */
	n = pcp_map(req, 6, 8080, 0);
	n = opt(req, n, 1, 16, SRC + 5);
	CHECK_EQ(ask(req, n, SRC), n);
	CHECK_EQ(ans[3], 2);
	/* an option cut short: MALFORMED_OPTION (6) */
	n = pcp_map(req, 6, 8080, 0);
	n = opt(req, n, 2, 0, 0);
	req[n - 1] = 8;			/* length 8, but nothing follows */
	CHECK_EQ(ask(req, n, SRC), n);
	CHECK_EQ(ans[3], 6);
	/* protocol 0 (all): UNSUPP_PROTOCOL (9) */
	n = pcp_map(req, 0, 8080, 0);
	CHECK_EQ(ask(req, n, SRC), n);
	CHECK_EQ(ans[3], 9);
	/* a valid MAP with an optional option to ignore, THIRD_PARTY naming
	 * the sender itself: the request goes through, and fails only for
	 * not being up: NETWORK_FAILURE (7), the nonce copied back */
	n = pcp_map(req, 17, 5000, 0);
	n = opt(req, n, 200, 4, 0);
	n = opt(req, n, 1, 16, SRC);
	CHECK_EQ(ask(req, n, SRC), n);
	CHECK_EQ(ans[1], 0x81);
	CHECK_EQ(ans[3], 7);
	CHECK(!memcmp(ans + 24, req + 24, 12));
	/* PCP answers (R bit) are never answered */
	req[1] |= 0x80;
	CHECK_EQ(ask(req, n, SRC), 0);

	unsetenv("MAPE_STATE_DIR");
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK_EQ(system(cmd), 0);
	}
}
