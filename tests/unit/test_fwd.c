// SPDX-License-Identifier: MIT
/* test_fwd.c - port forwarding rules (user/fwd.c): parsers, checks against a
 * port set, the state file. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "fwd.h"
#include "test.h"

/* v6プラス-shaped: offset 4, PSID length 8, PSID 0x12: 15 blocks of 16,
 * the first 4384-4399 (1 << 12 | 0x12 << 4), then every 4096. */
static const struct mape_portset vps = { .psid = 0x12, .len = 8, .offset = 4 };

static struct mape_fwd_rule rule(unsigned int protos, __u16 ext, __u16 last, __u32 host,
				 __u16 port)
{
	struct mape_fwd_rule r = { .protos = protos, .ext = ext, .ext_last = last, .host = host,
				   .port = port, .enabled = 1 };
	return r;
}

TEST(fwd_parse_words)
{
	char err[MAPE_ERRLEN];
	unsigned int p;
	__u16 a, b;
	__u32 h, addr;
	__u8 len;
	int port;

	CHECK_EQ(mape_fwd_parse_proto("both", &p, err), 0);
	CHECK_EQ(p, MAPE_FWD_TCP | MAPE_FWD_UDP);
	CHECK_EQ(mape_fwd_parse_proto("sctp", &p, err), -EINVAL);
	CHECK_HAS(err, "'sctp'");
	CHECK_EQ(mape_fwd_parse_ports("4384-4399", &a, &b, err), 0);
	CHECK_EQ(a, 4384);
	CHECK_EQ(b, 4399);
	CHECK_EQ(mape_fwd_parse_ports("4384", &a, &b, err), 0);
	CHECK_EQ(b, 4384);
	{
		static const char *const bads[] = { "0", "65536", "-5", "5-", "12a", "4399-4384",
						     "", "1-2-3", "+5" };

		for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
			CHECK_EQ(mape_fwd_parse_ports(bads[i], &a, &b, err), -EINVAL);
			CHECK_HAS(err, bads[i]);
		}
	}
	CHECK_EQ(mape_fwd_parse_target("192.168.1.10:8080", &h, &port, err), 0);
	CHECK_EQ(h, 0xc0a8010a);
	CHECK_EQ(port, 8080);
	CHECK_EQ(mape_fwd_parse_target("192.168.1.10", &h, &port, err), 0);
	CHECK_EQ(port, -1);
	CHECK_EQ(mape_fwd_parse_target("192.168.1.300", &h, &port, err), -EINVAL);
	CHECK_HAS(err, "'192.168.1.300'");
	CHECK_EQ(mape_fwd_parse_target("192.168.1.10:", &h, &port, err), -EINVAL);
	CHECK_EQ(mape_fwd_parse_target("host.lan:80", &h, &port, err), -EINVAL);
	CHECK_EQ(mape_fwd_parse_from("203.0.113.77/24", &addr, &len, err), 0);
	CHECK_EQ(addr, 0xcb007100);	/* host bits cleared */
	CHECK_EQ(len, 24);
	CHECK_EQ(mape_fwd_parse_from("203.0.113.77", &addr, &len, err), 0);
	CHECK_EQ(len, 32);
	CHECK_EQ(mape_fwd_parse_from("0.0.0.0/0", &addr, &len, err), 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(mape_fwd_parse_from("203.0.113.0/33", &addr, &len, err), -EINVAL);
	CHECK_HAS(err, "203.0.113.0/33");
}

TEST(fwd_port_set_checks)
{
	char err[MAPE_ERRLEN];
	struct mape_fwd_rule r = rule(MAPE_FWD_TCP, 4384, 4399, 0xc0a8010a, 80);

	CHECK_EQ(mape_fwd_check_set(&r, &vps, err), 0);	/* one whole block */
	r.ext = r.ext_last = 80;	/* below the first block */
	CHECK_EQ(mape_fwd_check_set(&r, &vps, err), -EINVAL);
	CHECK_HAS(err, "port 80 is not");
	CHECK_HAS(err, "nearest port in it is 4384");
	r.ext = r.ext_last = 5000;	/* between two blocks */
	CHECK_EQ(mape_fwd_check_set(&r, &vps, err), -EINVAL);
	CHECK_HAS(err, "4399 and 8480");
	r.ext = 4390;
	r.ext_last = 4400;	/* runs off its block */
	CHECK_EQ(mape_fwd_check_set(&r, &vps, err), -EINVAL);
	CHECK_HAS(err, "4400 is not");
	CHECK_HAS(err, "4384-4399");
	CHECK_HAS(err, "port by port");
	r.ext = r.ext_last = 65535;	/* above the last block (61728-61743) */
	CHECK_EQ(mape_fwd_check_set(&r, &vps, err), -EINVAL);
	CHECK_HAS(err, "nearest port in it is 61743");
}

TEST(fwd_conflicts)
{
	struct mape_fwd_set set = { 0 };
	struct mape_fwd_rule a = rule(MAPE_FWD_TCP, 4384, 4387, 0xc0a8010a, 80), b;
	char err[MAPE_ERRLEN];

	CHECK_EQ(mape_fwd_set_add(&set, &a, err), 0);
	b = rule(MAPE_FWD_UDP, 4384, 4384, 0xc0a8010b, 53);	/* other protocol: fine */
	CHECK_EQ(mape_fwd_check_new(&set, &b, 0, err), 0);
	b = rule(MAPE_FWD_TCP | MAPE_FWD_UDP, 4387, 4390, 0xc0a8010b, 53);
	CHECK_EQ(mape_fwd_check_new(&set, &b, 0, err), -EEXIST);
	CHECK_HAS(err, "tcp 4387 is already forwarded");
	b = rule(MAPE_FWD_TCP, 4390, 4390, 0xc0a8010a, 83);	/* h:83 is 4387's */
	CHECK_EQ(mape_fwd_check_new(&set, &b, 0, err), -EEXIST);
	CHECK_HAS(err, "192.168.1.10:83/tcp is already published");
	b = rule(MAPE_FWD_TCP, 4390, 4390, 0xc0000212, 80);
	CHECK_EQ(mape_fwd_check_new(&set, &b, 0xc0000212, err), -EINVAL);
	CHECK_HAS(err, "own IPv4");
	b = rule(MAPE_FWD_TCP, 4390, 4391, 0xc0a8010c, 65535);
	CHECK_EQ(mape_fwd_check_new(&set, &b, 0, err), -EINVAL);
	CHECK_HAS(err, "beyond 65535");
	{
		static const __u32 bads[] = { 0, 0x7f000001, 0xe0000001, 0xffffffff };

		for (size_t i = 0; i < 4; i++) {
			b = rule(MAPE_FWD_TCP, 4390, 4390, bads[i], 80);
			CHECK_EQ(mape_fwd_check_new(&set, &b, 0, err), -EINVAL);
		}
	}
	mape_fwd_set_free(&set);
}

TEST(fwd_state_file_round_trip)
{
	char dir[] = "/tmp/mape-unit-fwd-XXXXXX", path[600], err[MAPE_ERRLEN];
	struct mape_fwd_set set = { 0 }, got = { 0 };
	struct mape_fwd_rule a = rule(MAPE_FWD_TCP | MAPE_FWD_UDP, 4384, 4386, 0xc0a8010a, 8080);
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sub/forwards.json", dir);
	a.n_from = 2;
	a.from[0] = 0xcb007100;
	a.from_len[0] = 24;
	a.from[1] = 0xc6336407;
	a.from_len[1] = 32;
	snprintf(a.comment, sizeof(a.comment), "web \"quoted\" ウェブ");
	a.enabled = 0;
	CHECK_EQ(mape_fwd_set_add(&set, &a, err), 0);
	CHECK_EQ(mape_fwd_load(path, &got, err), 0);	/* missing: empty */
	CHECK_EQ(got.n, 0);
	CHECK_EQ(mape_fwd_save(path, &set, err), 0);
	CHECK_EQ(mape_fwd_load(path, &got, err), 0);
	CHECK_EQ(got.n, 1);
	if (got.n == 1) {
		CHECK_EQ(got.v[0].protos, a.protos);
		CHECK_EQ(got.v[0].ext, 4384);
		CHECK_EQ(got.v[0].ext_last, 4386);
		CHECK_EQ(got.v[0].host, 0xc0a8010a);
		CHECK_EQ(got.v[0].port, 8080);
		CHECK_EQ(got.v[0].n_from, 2);
		CHECK_EQ(got.v[0].from[1], 0xc6336407);
		CHECK_EQ(got.v[0].from_len[0], 24);
		CHECK_STR(got.v[0].comment, a.comment);
		CHECK_EQ(got.v[0].enabled, 0);
	}
	mape_fwd_set_free(&got);
	/* a damaged file is refused with its name, not taken as empty */
	f = fopen(path, "w");
	fputs("[{\"proto\": \"tcp\", \"ext_port\": 99999}]", f);
	fclose(f);
	CHECK_EQ(mape_fwd_load(path, &got, err), -EINVAL);
	CHECK_HAS(err, path);
	CHECK_HAS(err, "forward 1");
	f = fopen(path, "w");
	fputs(" \n", f);	/* empty: no forwards */
	fclose(f);
	CHECK_EQ(mape_fwd_load(path, &got, err), 0);
	CHECK_EQ(got.n, 0);
	f = fopen(path, "w");
	fputs("[{", f);
	fclose(f);
	CHECK_EQ(mape_fwd_load(path, &got, err), -EINVAL);
	CHECK_HAS(err, "not a JSON list");
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
	mape_fwd_set_free(&set);
}

TEST(fwd_state_path_per_pin_dir)
{
	char p[512];

	unsetenv("MAPE_STATE_DIR");
	mape_fwd_state_path("/sys/fs/bpf/mape", p, sizeof(p));
	CHECK_STR(p, "/var/lib/mape/forwards.json");
	mape_fwd_state_path("/sys/fs/bpf/mape/", p, sizeof(p));
	CHECK_STR(p, "/var/lib/mape/forwards.json");
	mape_fwd_state_path("/sys/fs/bpf/lab-ce1", p, sizeof(p));
	CHECK_STR(p, "/var/lib/mape/forwards-lab-ce1.json");
	mape_fwd_state_path("/sys/fs/bpf/a/b/", p, sizeof(p));
	CHECK_STR(p, "/var/lib/mape/forwards-a_b.json");
	setenv("MAPE_STATE_DIR", "/tmp/st", 1);
	mape_fwd_state_path("/sys/fs/bpf/mape", p, sizeof(p));
	CHECK_STR(p, "/tmp/st/forwards.json");
	unsetenv("MAPE_STATE_DIR");
}

TEST(fwd_room_in_the_maps)
{
	struct mape_fwd_set set = { 0 };
	struct mape_fwd_rule a = rule(MAPE_FWD_TCP | MAPE_FWD_UDP, 1000, 2999, 0xc0a8010a, 1000);
	struct mape_fwd_rule b = rule(MAPE_FWD_TCP, 3000, 3096, 0xc0a8010b, 3000);
	char err[MAPE_ERRLEN];

	CHECK_EQ(mape_fwd_set_add(&set, &a, err), 0);	/* 4000 entries */
	b.ext_last = 3095;	/* 96 more: exactly full */
	CHECK_EQ(mape_fwd_check_room(&set, &b, err), 0);
	b.ext_last = 3096;
	CHECK_EQ(mape_fwd_check_room(&set, &b, err), -ENOSPC);
	CHECK_HAS(err, "4097");
	set.v[0].enabled = 0;	/* a disabled forward is not in the maps */
	CHECK_EQ(mape_fwd_check_room(&set, &b, err), 0);
	mape_fwd_set_free(&set);
}
