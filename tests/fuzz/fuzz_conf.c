// SPDX-License-Identifier: MIT
/* fuzz_conf.c - the configuration file (/etc/mape/mape.conf), options and
 * [forwards], read through a memfd as up and the daemon read a file, then
 * merged with a command line as they merge it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz.h"
#include "conf.h"

/* A few of up's options, of each kind (with a value, repeatable, a rule source). */
static const struct option known[] = {
	{ "wan", required_argument, NULL, 1 },	  { "lan", required_argument, NULL, 2 },
	{ "rule", required_argument, NULL, 3 },	  { "preset", required_argument, NULL, 4 },
	{ "prefix", required_argument, NULL, 5 }, { "mtu", required_argument, NULL, 6 },
	{ "route", required_argument, NULL, 7 },  { "xdp-skb", no_argument, NULL, 8 },
	{ 0 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MAPE_ERRLEN], path[64];
	char *argv[] = { "up", "--lan", "lan9", "--mtu", "1400", NULL };
	struct mape_conf c = { 0 };
	int fd = memfd_create("mape.conf", MFD_CLOEXEC), n;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (!mape_conf_load(path, known, &c, err)) {
			char **m = mape_conf_merge(&c, 5, argv, &n);

			if (m && n > 1)
				mape_conf_where(&c, n, m, err);
			free(m);
		}
		mape_conf_free(&c);
	}
	close(fd);
	return 0;
}
