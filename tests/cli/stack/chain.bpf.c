// SPDX-License-Identifier: MIT
/* Fixture of tests/cli/test_stack_check.py: programs with known call
 * chains (a BPF-to-BPF call, a bpf_loop callback, a timer callback) and
 * frames made deliberately small or large (-DBIG). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef BIG
#define BIG 8
#endif

struct tv {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tv);
} tmap SEC(".maps");

static int timer_cb(void *map, __u32 *key, struct tv *v)
{
	volatile char buf[200];

	buf[(*key) & 127] = 1;
	return buf[3];
}

static long loop_cb(__u32 i, void *ctx)
{
	volatile char b[8];

	b[i & 7] = 1;
	return b[0];
}

static __attribute__((noinline)) int leaf(__u32 x)
{
	volatile char buf[100];

	buf[x & 63] = 1;
	buf[99] = 2;
	bpf_loop(4, loop_cb, 0, 0);
	return buf[x & 31];
}

SEC("xdp")
int chain(struct xdp_md *ctx)
{
	volatile char buf[40 + BIG];
	__u32 k = 0;
	struct tv *v = bpf_map_lookup_elem(&tmap, &k);

	if (v) {
		bpf_timer_init(&v->t, &tmap, 1);
		bpf_timer_set_callback(&v->t, timer_cb);
	}
	buf[ctx->rx_queue_index & 31] = 1;
	buf[sizeof(buf) - 1] = 2;
	return leaf(ctx->ingress_ifindex) + buf[ctx->rx_queue_index & 15];
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
