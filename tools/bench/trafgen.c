// SPDX-License-Identifier: MIT
/*
 * trafgen - the benchmarks' packet source, sink and bare forwarder, built on
 * bpf/bench.bpf.c. All three run for a bounded time and stop by themselves.
 *
 *   trafgen gen  --dev IF --smac M --dmac M --src A --dst A [--dport N]
 *                [--flows N] [--base-port N] [--cpu N] [--size N] [--seconds S]
 *       BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (5.18+): the kernel
 *       transmits each frame bench_gen returns XDP_TX for, out of IF. UDP
 *       source ports base-port .. base-port + flows - 1 (default 10000).
 *       --cpu pins the generator (and so the veth queue it fills: veth picks
 *       the peer's receive queue by the sending CPU) to CPU N.
 *   trafgen sink --dev IF [--seconds S] [--warmup S] [--skb]
 *       attaches bench_sink to IF and reports the rate it counted, in all
 *       and per CPU.
 *   trafgen fwd  --in IF --out IF --smac M --dmac M [--seconds S] [--skb]
 *       attaches bench_fwd (redirect every frame to OUT) for S seconds.
 *
 * Output: one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.skel.h"

struct opts {
	const char *dev, *out, *src, *dst;
	unsigned char smac[6], dmac[6];
	unsigned int flows, size, dport, skb, base_port;
	int cpu;		/* gen: pin to this CPU; -1: not pinned */
	unsigned char hdr[42];	/* the generated frame's headers (bench_gen restores them) */
	double seconds, warmup;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int die(const char *what)
{
	fprintf(stderr, "trafgen: %s\n", what);
	return 1;
}

static int parse_mac(const char *s, unsigned char *mac)
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ? 0 : -1;
}

static __u16 csum16(const void *p, int len)
{
	const __u16 *w = p;
	__u32 s = 0;

	for (; len > 1; len -= 2)
		s += *w++;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

/* Ethernet + IPv4 + UDP frame of `size` bytes (without FCS). */
static int build_frame(const struct opts *o, unsigned char *f)
{
	unsigned char *ip = f + 14, *udp = ip + 20;
	struct in_addr s, d;

	if (o->size < 60 || o->size > 1514 || inet_pton(AF_INET, o->src, &s) != 1 ||
	    inet_pton(AF_INET, o->dst, &d) != 1)
		return -1;
	memset(f, 0, o->size);
	memcpy(f, o->dmac, 6);
	memcpy(f + 6, o->smac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	*(__u16 *)(ip + 2) = htons(o->size - 14);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	*(__u16 *)(ip + 10) = csum16(ip, 20);
	*(__u16 *)(udp + 0) = htons(10000);
	*(__u16 *)(udp + 2) = htons(o->dport);
	*(__u16 *)(udp + 4) = htons(o->size - 34);
	return 0;
}

static struct bench *open_bench(struct opts *o)
{
	struct bench *b = bench__open();

	if (!b)
		return NULL;
	b->rodata->n_flows = o->flows ? o->flows : 1;
	b->rodata->base_port = o->base_port;
	memcpy((void *)b->rodata->gen_hdr, o->hdr, sizeof(b->rodata->gen_hdr));
	memcpy((void *)b->rodata->fwd_dmac, o->dmac, 6);
	memcpy((void *)b->rodata->fwd_smac, o->smac, 6);
	if (o->out)
		b->rodata->fwd_ifindex = if_nametoindex(o->out);
	if (bench__load(b)) {
		bench__destroy(b);
		return NULL;
	}
	return b;
}

static int run_gen(struct opts *o)
{
	unsigned char frame[1514];
	struct xdp_md ctx = { .ingress_ifindex = if_nametoindex(o->dev) };
	struct bench *b;
	unsigned long long sent = 0;
	double t0, t;
	int fd;

	if (!ctx.ingress_ifindex || build_frame(o, frame))
		return die("bad --dev, --src, --dst or --size");
	if (o->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return die("bad --cpu");
	}
	ctx.data_end = o->size;	/* the kernel wants the frame's extent in ctx */
	memcpy(o->hdr, frame, sizeof(o->hdr));
	b = open_bench(o);
	if (!b)
		return die("cannot load bench.bpf.o");
	fd = bpf_program__fd(b->progs.bench_gen);
	t0 = now_s();
	do {
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = o->size,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1 << 18,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 64);

		if (bpf_prog_test_run_opts(fd, &run)) {
			fprintf(stderr, "trafgen: live-frames test run: %s\n", strerror(errno));
			bench__destroy(b);
			return die("(BPF_F_TEST_XDP_LIVE_FRAMES needs kernel 5.18+)");
		}
		sent += run.repeat;
		t = now_s() - t0;
	} while (t < o->seconds);
	printf("{\"sent\": %llu, \"seconds\": %.3f, \"pps\": %.0f}\n", sent, t, sent / t);
	bench__destroy(b);
	return 0;
}

/* Packets the sink counted, in all (returned) and per CPU (into per[]). */
static unsigned long long sink_count(int fd, int ncpu, unsigned long long *per)
{
	struct { __u64 packets, bytes; } v[ncpu];
	unsigned long long n = 0;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, v))
		return 0;
	for (int i = 0; i < ncpu; i++) {
		per[i] = v[i].packets;
		n += v[i].packets;
	}
	return n;
}

static int attach_for(struct opts *o, int sink)
{
	int ifindex = if_nametoindex(sink ? o->dev : o->dev);
	__u32 flags = o->skb ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long c0, c1, p0[ncpu], p1[ncpu];
	struct bench *b;
	double t0, t1;

	if (!ifindex || (!sink && (!o->out || !if_nametoindex(o->out))))
		return die("bad --dev/--in or --out");
	b = open_bench(o);
	if (!b)
		return die("cannot load bench.bpf.o");
	if (bpf_xdp_attach(ifindex, bpf_program__fd(sink ? b->progs.bench_sink :
							 b->progs.bench_fwd), flags, NULL)) {
		bench__destroy(b);
		return die("cannot attach XDP");
	}
	usleep(o->warmup * 1e6);
	c0 = sink_count(bpf_map__fd(b->maps.bench_ctr), ncpu, p0);
	t0 = now_s();
	usleep(o->seconds * 1e6);
	c1 = sink_count(bpf_map__fd(b->maps.bench_ctr), ncpu, p1);
	t1 = now_s();
	bpf_xdp_detach(ifindex, flags, NULL);
	if (sink) {
		printf("{\"received\": %llu, \"seconds\": %.3f, \"pps\": %.0f, \"per_cpu_pps\": [",
		       c1 - c0, t1 - t0, (c1 - c0) / (t1 - t0));
		for (int i = 0; i < ncpu; i++)
			printf("%s%.0f", i ? ", " : "", (p1[i] - p0[i]) / (t1 - t0));
		printf("]}\n");
	}
	else
		printf("{\"forwarder\": \"attached\", \"seconds\": %.3f}\n", t1 - t0);
	bench__destroy(b);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' }, { "in", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' }, { "smac", required_argument, NULL, 'm' },
		{ "dmac", required_argument, NULL, 'M' }, { "src", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'D' }, { "dport", required_argument, NULL, 'p' },
		{ "flows", required_argument, NULL, 'f' }, { "size", required_argument, NULL, 'z' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' }, { "skb", no_argument, NULL, 'k' },
		{ "base-port", required_argument, NULL, 'b' }, { "cpu", required_argument, NULL, 'c' },
		{ 0 },
	};
	struct opts o = { .flows = 1024, .size = 60, .dport = 9, .seconds = 2, .warmup = 0.5,
			  .base_port = 10000, .cpu = -1 };
	int c;

	if (argc < 2)
		return die("usage: trafgen gen|sink|fwd [options] (see the source header)");
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o.dev = optarg; break;
		case 'o': o.out = optarg; break;
		case 'm': if (parse_mac(optarg, o.smac)) return die("bad --smac"); break;
		case 'M': if (parse_mac(optarg, o.dmac)) return die("bad --dmac"); break;
		case 's': o.src = optarg; break;
		case 'D': o.dst = optarg; break;
		case 'p': o.dport = atoi(optarg); break;
		case 'f': o.flows = atoi(optarg); break;
		case 'z': o.size = atoi(optarg); break;
		case 't': o.seconds = atof(optarg); break;
		case 'w': o.warmup = atof(optarg); break;
		case 'k': o.skb = 1; break;
		case 'b': o.base_port = atoi(optarg); break;
		case 'c': o.cpu = atoi(optarg); break;
		default: return die("bad option");
		}
	}
	if (o.seconds <= 0 || o.seconds > 60)
		return die("--seconds must be in (0, 60]");
	if (!o.dev)
		return die("missing --dev");
	if (!strcmp(argv[1], "gen"))
		return run_gen(&o);
	if (!strcmp(argv[1], "sink"))
		return attach_for(&o, 1);
	if (!strcmp(argv[1], "fwd"))
		return attach_for(&o, 0);
	return die("unknown mode (gen, sink or fwd)");
}
