// SPDX-License-Identifier: MIT
/* fuzz_pcp.c - NAT-PMP and PCP requests as a LAN host sends them to the
 * daemon (UDP 5351): any datagram must get a well-formed answer or none.
 * No instance runs here, so requests that parse end in "not up"; the
 * mappings themselves are tested in the lab (test_port_mapping.py). */
#include <stdio.h>
#include <unistd.h>
#include "fuzz.h"
#include "pcp.h"

static struct mape_pmap pm;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static __u8 out[1200];
	size_t n;

	if (!ready) {
		static char dir[] = "/tmp/mape-fuzz-pcp-XXXXXX";

		if (!mkdtemp(dir))
			abort();
		setenv("MAPE_STATE_DIR", dir, 1);
		mape_pmap_init(&pm, "/sys/fs/bpf/mape-fuzz-none", 4, 3600);
		ready = 1;
	}
	/* the source: the first 4 bytes when there are more, else a LAN host */
	__u32 src = 0xc0a8010a;

	if (size > 4) {
		src = (__u32)data[0] << 24 | data[1] << 16 | data[2] << 8 | data[3];
		data += 4;
		size -= 4;
	}
	n = mape_pcp_answer(&pm, src, data, size, out, sizeof(out));
	/* an answer is a NAT-PMP one (8, 12 or 16 bytes) or a PCP one (a
	 * multiple of 4, 24..1100, the R bit set) */
	if (n && !(out[0] == 0 && (n == 8 || n == 12 || n == 16) && (out[1] & 0x80)) &&
	    !(out[0] == 2 && n >= 24 && n <= 1100 && !(n & 3) && (out[1] & 0x80))) {
		fprintf(stderr, "malformed answer: %zu bytes, version %u, opcode %#x\n", n, out[0],
			out[1]);
		abort();
	}
	return 0;
}
