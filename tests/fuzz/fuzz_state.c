// SPDX-License-Identifier: MIT
/* fuzz_state.c - the forwards' state file (/var/lib/mape/forwards*.json),
 * which up reads at every start: a damaged file must be refused with one
 * line, never crash up. What loads is checked, described and written back. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz.h"
#include "fwd.h"

static const struct mape_portset vps = { .psid = 0x12, .len = 8, .offset = 4 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mape_fwd_set set = { 0 };
	char path[64], err[MAPE_ERRLEN], d[96];
	int fd = memfd_create("forwards.json", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (!mape_fwd_load(path, &set, err)) {
			mape_fwd_refresh(&set, &vps);
			mape_fwd_drop_mappings(&set, &vps, 1000, 0);
			for (size_t i = 0; i < set.n; i++) {
				json_object *o = mape_fwd_json(&set.v[i], NULL, 1000);

				json_object_put(o);
				mape_fwd_describe(&set.v[i], d, sizeof(d));
			}
		}
		mape_fwd_set_free(&set);
	}
	close(fd);
	return 0;
}
