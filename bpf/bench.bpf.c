// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * bench.bpf.c - programs for the benchmarks only (tools/bench/), never
 * attached by mapectl:
 *
 *   bench_floor  swap MACs and XDP_TX: the least an XDP program can do to a
 *                packet; the floor per-packet cost is measured against
 *   bench_fwd    bare XDP redirect forwarder (rewrite MACs, redirect to a
 *                fixed interface): the ceiling of a veth rig
 *   bench_gen    traffic generator for BPF_F_TEST_XDP_LIVE_FRAMES: varies the
 *                UDP source port over n_flows flows, then XDP_TX
 *   bench_sink   counts and drops what arrives
 */
#include "lib/common.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 fwd_ifindex = 0;
const volatile __u8 fwd_dmac[6] = {};
const volatile __u8 fwd_smac[6] = {};
const volatile __u32 n_flows = 1;
const volatile __u16 base_port = 10000;
/* Ethernet + IPv4 + UDP headers of the generated frame: rewritten on every
 * run, since live-frames pages come back from the devices they crossed
 * with whatever those programs wrote into them. */
#define GEN_HDR 42
const volatile __u8 gen_hdr[GEN_HDR] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);	/* 0: sink packets/bytes, 1: generator sequence */
	__type(key, __u32);
	__type(value, struct mape_ctr);
} bench_ctr SEC(".maps");

SEC("xdp")
int bench_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 tmp[ETH_ALEN];

	if (!PKT_OK(eth, ETH_HLEN, end))
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

SEC("xdp")
int bench_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if (!PKT_OK(eth, ETH_HLEN, end))
		return XDP_DROP;
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = fwd_dmac[i];
		eth->h_source[i] = fwd_smac[i];
	}
	return bpf_redirect(fwd_ifindex, 0);
}

SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + ETH_HLEN + sizeof(*ip);
	__u32 one = 1;
	struct mape_ctr *seq = bpf_map_lookup_elem(&bench_ctr, &one);

	if (!seq || !PKT_OK(udp, sizeof(*udp), end) || !PKT_OK(data, GEN_HDR, end))
		return XDP_DROP;
#pragma unroll
	for (int i = 0; i < GEN_HDR; i++)
		((__u8 *)data)[i] = gen_hdr[i];
	/* one flow per source port; UDP checksum 0 (none) keeps this cheap */
	udp->source = bpf_htons(base_port + (__u16)(seq->packets++ % n_flows));
	udp->check = 0;
	return XDP_TX;
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct mape_ctr *c = bpf_map_lookup_elem(&bench_ctr, &zero);

	if (c) {
		c->packets++;
		c->bytes += ctx->data_end - ctx->data;
	}
	return XDP_DROP;
}
