// SPDX-License-Identifier: MIT
/* test_conf.c - the configuration file (user/conf.c): keys, sections,
 * forwards, errors with file and line, and how the command line overrides. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include "conf.h"
#include "test.h"

static const struct option known[] = {
	{ "wan", required_argument, NULL, 1 },
	{ "lan", required_argument, NULL, 2 },
	{ "mtu", required_argument, NULL, 3 },
	{ "preset", required_argument, NULL, 4 },
	{ "rule", required_argument, NULL, 5 },
	{ "dhcpv6-hex", required_argument, NULL, 6 },
	{ "prefix", required_argument, NULL, 7 },
	{ "flag", no_argument, NULL, 8 },
	{ "config", required_argument, NULL, 9 },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static char path[64];

static int load(const char *text, struct mape_conf *c, char *err)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/mape-unit-conf-%d.conf", (int)getpid());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	err[0] = 0;
	return mape_conf_load(path, known, c, err);
}

/* The merged command line as one string, words separated by spaces. */
static void joined(char **v, int n, char *out, size_t len)
{
	out[0] = 0;
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", v[i]);
}

TEST(conf_keys_and_merge)
{
	struct mape_conf c;
	char err[MAPE_ERRLEN], buf[512];
	char *cli[] = { "up", "--mtu", "1400", "--lan", "eth9", NULL };
	char **m;
	int n;

	CHECK_EQ(load("# a comment\n"
		      "wan = eth0\n"
		      "lan = lan1\n"
		      "lan = lan2   ; inline comment\n"
		      "\n"
		      "[mape]\n"
		      "mtu = 1460\n"
		      "preset = auto\n"
		      "flag = yes\n", &c, err), 0);
	CHECK_EQ(c.argc, 12);
	m = mape_conf_merge(&c, 5, cli, &n);
	joined(m, n, buf, sizeof(buf));
	/* lan and mtu: the command line's replace the file's */
	CHECK_STR(buf, "up --wan eth0 --preset auto --flag --mtu 1400 --lan eth9");
	free(m);
	/* a rule source on the command line replaces the file's */
	{
		char *cli2[] = { "up", "--dhcpv6-hex", "005e", NULL };

		m = mape_conf_merge(&c, 3, cli2, &n);
		joined(m, n, buf, sizeof(buf));
		CHECK_STR(buf, "up --wan eth0 --lan lan1 --lan lan2 --mtu 1460 --flag --dhcpv6-hex 005e");
		free(m);
	}
	mape_conf_free(&c);
	unlink(path);
}

TEST(conf_errors_name_file_and_line)
{
	struct mape_conf c;
	char err[MAPE_ERRLEN], want[128];

	CHECK_EQ(load("wan = eth0\n\n# x\nfrob = 1\n", &c, err), -EINVAL);
	snprintf(want, sizeof(want), "%s:4: unknown key 'frob'", path);
	CHECK_HAS(err, want);
	CHECK_EQ(load("wan = eth0\n[nope]\nlan = x\n", &c, err), -EINVAL);
	CHECK_HAS(err, ":3: unknown section [nope]");
	CHECK_EQ(load("wan\n", &c, err), -EINVAL);
	CHECK_HAS(err, ":1: not 'key = value'");
	CHECK_EQ(load("flag = maybe\n", &c, err), -EINVAL);
	CHECK_HAS(err, "want yes or no");
	CHECK_EQ(load("config = /x\n", &c, err), -EINVAL);
	CHECK_HAS(err, "unknown key 'config'");
	CHECK_EQ(load("mtu =\n", &c, err), -EINVAL);
	CHECK_HAS(err, "without a value");
	CHECK_EQ(mape_conf_load("/nonexistent/mape.conf", known, &c, err), -ENOENT);
	CHECK_HAS(err, "cannot read /nonexistent/mape.conf");
	unlink(path);
}

TEST(conf_where_points_at_the_line)
{
	struct mape_conf c;
	char err[MAPE_ERRLEN], want[128];
	char *cli[] = { "up", NULL };
	char *cli_mtu[] = { "up", "--mtu", "9", NULL };

	CHECK_EQ(load("wan = eth0\nmtu = 5\n", &c, err), 0);
	snprintf(err, sizeof(err), "bad --mtu '5': must be 576..65495");
	mape_conf_where(&c, 1, cli, err);
	snprintf(want, sizeof(want), "%s:2: bad --mtu '5'", path);
	CHECK_HAS(err, want);
	/* the command line's own value: no file position */
	snprintf(err, sizeof(err), "bad --mtu '9': must be 576..65495");
	mape_conf_where(&c, 3, cli_mtu, err);
	CHECK_STR(err, "bad --mtu '9': must be 576..65495");
	/* --wan does not match --wanx */
	snprintf(err, sizeof(err), "bad --wanx");
	mape_conf_where(&c, 1, cli, err);
	CHECK_STR(err, "bad --wanx");
	mape_conf_free(&c);
	unlink(path);
}

/* A flag set to "no" adds nothing, and must not move the lines of the
 * options before it (nor write before the table when it comes first:
 * found by the fuzz target conf, a heap overflow under ASan). */
TEST(conf_flag_off_keeps_the_lines)
{
	struct mape_conf c;
	char err[MAPE_ERRLEN], want[128];
	char *cli[] = { "up", NULL };

	CHECK_EQ(load("mtu = 5\nflag = no\n", &c, err), 0);
	CHECK_EQ(c.argc, 2);
	snprintf(err, sizeof(err), "bad --mtu '5': must be 576..65495");
	mape_conf_where(&c, 1, cli, err);
	snprintf(want, sizeof(want), "%s:1: bad --mtu '5'", path);
	CHECK_HAS(err, want);
	mape_conf_free(&c);
	CHECK_EQ(load("flag = no\nflag = yes\nmtu = 5\n", &c, err), 0);
	CHECK_EQ(c.argc, 4);
	snprintf(err, sizeof(err), "bad --mtu '5': must be 576..65495");
	mape_conf_where(&c, 1, cli, err);
	snprintf(want, sizeof(want), "%s:3: bad --mtu '5'", path);
	CHECK_HAS(err, want);
	mape_conf_free(&c);
	unlink(path);
}

TEST(conf_forwards)
{
	struct mape_conf c;
	char err[MAPE_ERRLEN];

	CHECK_EQ(load("wan = eth0\n[forwards]\n"
		      "web = tcp 4112 192.168.1.10:80\n"
		      "dns = udp 4113-4114 192.168.1.11 from 203.0.113.0/24,198.51.100.7\n", &c, err), 0);
	CHECK_EQ(c.fwds.n, 2);
	if (c.fwds.n == 2) {
		CHECK_STR(c.fwds.v[0].comment, "web");
		CHECK_EQ(c.fwds.v[0].origin, MAPE_FWD_CONFIG);
		CHECK_EQ(c.fwds.v[0].port, 80);
		CHECK_EQ(c.fwds.v[1].ext_last, 4114);
		CHECK_EQ(c.fwds.v[1].port, 4113);
		CHECK_EQ(c.fwds.v[1].n_from, 2);
		CHECK_EQ(c.fwds.v[1].from_len[1], 32);
	}
	mape_conf_free(&c);
	CHECK_EQ(load("[forwards]\nweb = tcp 4112 192.168.1.10:80\nweb2 = both 4112 192.168.1.12\n",
		      &c, err), -EINVAL);
	CHECK_HAS(err, ":3: tcp 4112 is already forwarded");
	CHECK_EQ(load("[forwards]\nx = tcp 4112\n", &c, err), -EINVAL);
	CHECK_HAS(err, ":2: forward x: want PROTO");
	CHECK_EQ(load("[forwards]\nx = tcp 4112 10.0.0.1 from 1.2.3.4/40\n", &c, err), -EINVAL);
	CHECK_HAS(err, "1.2.3.4/40");
	unlink(path);
}

TEST(conf_strip_and_arg)
{
	char *a[] = { "up", "--config", "/etc/x.conf", "--wan", "e", "--config=/y", NULL };
	char **v;
	int n;

	CHECK_STR(mape_conf_arg(6, a), "/y");
	v = mape_conf_strip(6, a, &n);
	CHECK_EQ(n, 3);
	CHECK_STR(v[1], "--wan");
	free(v);
}
