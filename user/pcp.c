// SPDX-License-Identifier: MIT
/*
 * pcp.c - NAT-PMP (RFC 6886) and PCP (RFC 6887) for LAN hosts, on top of
 * the port mappings of pmap.c. Both ask for the same thing (an inbound
 * port for the sender's own address); what differs is the wire format,
 * so one server answers both and a mapping made by one is renewed or
 * removed by the other.
 *
 * PCP as served here: MAP (the suggested port honoured when it is in the
 * set and free, else another port of the set; PREFER_FAILURE makes that a
 * failure), ANNOUNCE, THIRD_PARTY only naming the sender itself; PEER and
 * FILTER are answered UNSUPP_OPCODE and UNSUPP_OPTION.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "pcp.h"

/* NAT-PMP result codes (RFC 6886 §3.5) */
enum { NATPMP_OK, NATPMP_BAD_VERSION, NATPMP_REFUSED, NATPMP_NET_FAILURE, NATPMP_NO_RESOURCES,
       NATPMP_BAD_OPCODE };
/* PCP result codes (RFC 6887 §7.4) */
enum { PCP_SUCCESS, PCP_UNSUPP_VERSION, PCP_NOT_AUTHORIZED, PCP_MALFORMED_REQUEST,
       PCP_UNSUPP_OPCODE, PCP_UNSUPP_OPTION, PCP_MALFORMED_OPTION, PCP_NETWORK_FAILURE,
       PCP_NO_RESOURCES, PCP_UNSUPP_PROTOCOL, PCP_USER_EX_QUOTA, PCP_CANNOT_PROVIDE_EXTERNAL,
       PCP_ADDRESS_MISMATCH };
enum { PCP_OP_ANNOUNCE, PCP_OP_MAP, PCP_OP_PEER };
enum { PCP_OPT_THIRD_PARTY = 1, PCP_OPT_PREFER_FAILURE = 2, PCP_OPT_FILTER = 3 };

#define PCP_HDR 24
#define PCP_MAP_LEN 36
#define PCP_MAX 1100
#define ERR_LIFETIME_SHORT 30		/* s: a failure that may pass soon */
#define ERR_LIFETIME_LONG 1800		/* s: one that will not */

static void put16(__u8 *p, unsigned int v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void put32(__u8 *p, __u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static unsigned int get16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

static __u32 get32(const __u8 *p)
{
	return (__u32)get16(p) << 16 | get16(p + 2);
}

/* ::ffff:a.b.c.d (host order a); 1 when it is one */
static int mapped4(const __u8 *p, __u32 *a)
{
	static const __u8 pre[12] = { [10] = 0xff, [11] = 0xff };

	if (memcmp(p, pre, 12))
		return 0;
	*a = get32(p + 12);
	return 1;
}

static void put_mapped4(__u8 *p, __u32 a)
{
	memset(p, 0, 10);
	p[10] = p[11] = 0xff;
	put32(p + 12, a);
}

/* ---- NAT-PMP ---- */

static size_t natpmp(struct mape_pmap *pm, __u32 src, const __u8 *in, size_t len, __u8 *out)
{
	unsigned int op = in[1], res = NATPMP_OK, port, want, life, got = 0;
	char err[MAPE_ERRLEN];
	__u16 ext = 0;

	out[0] = 0;
	out[1] = 128 + op;
	put32(out + 4, mape_pmap_epoch(pm));
	if (op == 0) {
		__u32 a = mape_pmap_ipv4(pm);

		put16(out + 2, a ? NATPMP_OK : NATPMP_NET_FAILURE);
		put32(out + 8, a);
		return 12;
	}
	if (op != 1 && op != 2) {
		put16(out + 2, NATPMP_BAD_OPCODE);
		return 8;
	}
	if (len < 12)
		return 0;
	port = get16(in + 4);
	want = get16(in + 6);
	life = get32(in + 8);
	if (!life) {
		/* a delete: one port, or all of the client's (port 0) */
		if (mape_pmap_unmap(pm, op == 1 ? MAPE_FWD_UDP : MAPE_FWD_TCP, src, port, 0, 0,
				    NULL, err) < -1)
			res = NATPMP_NET_FAILURE;
	} else if (!port) {
		res = NATPMP_REFUSED;
	} else {
		struct mape_pmap_req q = {
			.origin = MAPE_FWD_NATPMP, .proto = op == 1 ? MAPE_FWD_UDP : MAPE_FWD_TCP,
			.host = src, .port = port, .want = want, .lifetime = life,
			.comment = "NAT-PMP",
		};

		switch (mape_pmap_map(pm, &q, &ext, &got, err)) {
		case MAPE_PMAP_OK:
			break;
		case MAPE_PMAP_NOT_UP:
		case MAPE_PMAP_FAILED:
			res = NATPMP_NET_FAILURE;
			break;
		case MAPE_PMAP_QUOTA:
		case MAPE_PMAP_NO_PORT:
			res = NATPMP_NO_RESOURCES;
			break;
		default:
			res = NATPMP_REFUSED;
		}
	}
	put16(out + 2, res);
	put16(out + 8, port);
	put16(out + 10, res == NATPMP_OK ? ext : 0);
	put32(out + 12, res == NATPMP_OK ? got : 0);
	return 16;
}

/* ---- PCP ---- */

struct pcp_opts {
	int prefer_failure, third_party;
	size_t echo_len;
	__u8 echo[64];		/* the options processed, echoed in the answer */
};

/* The options after the opcode's part: a PCP result code. */
static int pcp_options(const __u8 *p, size_t len, int op, __u32 src, struct pcp_opts *o)
{
	while (len) {
		unsigned int code, olen;
		size_t padded;

		if (len < 4)
			return PCP_MALFORMED_OPTION;
		code = p[0];
		olen = get16(p + 2);
		padded = 4 + ((olen + 3) & ~3u);
		if (padded > len)
			return PCP_MALFORMED_OPTION;
		if (code == PCP_OPT_THIRD_PARTY && op != PCP_OP_ANNOUNCE) {
			__u32 a;

			if (olen != 16)
				return PCP_MALFORMED_OPTION;
			/* only the sender's own address: no mappings for others */
			if (!mapped4(p + 4, &a) || a != src || o->third_party++)
				return PCP_NOT_AUTHORIZED;
		} else if (code == PCP_OPT_PREFER_FAILURE && op == PCP_OP_MAP) {
			if (olen || o->prefer_failure++)
				return PCP_MALFORMED_OPTION;
		} else if (code < 128) {
			/* FILTER and anything else that must be understood */
			return PCP_UNSUPP_OPTION;
		} else {
			p += padded;
			len -= padded;
			continue;	/* optional to process: ignored */
		}
		if (o->echo_len + padded <= sizeof(o->echo)) {
			memcpy(o->echo + o->echo_len, p, padded);
			o->echo_len += padded;
		}
		p += padded;
		len -= padded;
	}
	return PCP_SUCCESS;
}

/* An error answer: the request copied, then the header's fields set. */
static size_t pcp_error(struct mape_pmap *pm, const __u8 *in, size_t len, __u8 *out, int res,
			unsigned int lifetime)
{
	size_t have = len > PCP_MAX ? PCP_MAX : len;

	len = have & ~(size_t)3;
	if (len < PCP_HDR)
		len = PCP_HDR;
	memset(out, 0, len);
	memcpy(out, in, have < len ? have : len);
	out[0] = 2;
	out[1] = in[1] | 0x80;
	out[2] = 0;
	out[3] = res;
	put32(out + 4, lifetime);
	put32(out + 8, mape_pmap_epoch(pm));
	memset(out + 12, 0, 12);
	return len;
}

static int pcp_res_of(enum mape_pmap_res r, unsigned int *lifetime)
{
	*lifetime = ERR_LIFETIME_SHORT;
	switch (r) {
	case MAPE_PMAP_OK:
		return PCP_SUCCESS;
	case MAPE_PMAP_NOT_UP:
	case MAPE_PMAP_FAILED:
		return PCP_NETWORK_FAILURE;
	case MAPE_PMAP_NOT_IN_SET:
	case MAPE_PMAP_TAKEN:
		return PCP_CANNOT_PROVIDE_EXTERNAL;
	case MAPE_PMAP_QUOTA:
		return PCP_USER_EX_QUOTA;
	case MAPE_PMAP_NO_PORT:
		return PCP_NO_RESOURCES;
	default:
		*lifetime = ERR_LIFETIME_LONG;
		return PCP_NOT_AUTHORIZED;
	}
}

/* The suggested external address: none (:: or ::ffff:0.0.0.0) or ours. */
static int suggested_ok(const __u8 *p, __u32 ours)
{
	static const __u8 zero[16];
	__u32 a;

	return !memcmp(p, zero, 16) || (mapped4(p, &a) && (!a || a == ours));
}

static size_t pcp(struct mape_pmap *pm, __u32 src, const __u8 *in, size_t len, __u8 *out)
{
	unsigned int op = in[1] & 0x7f, life, got = 0, proto, port, want, res, elife;
	struct pcp_opts o = { 0 };
	char err[MAPE_ERRLEN];
	__u32 client, ours;
	size_t n;
	__u16 ext = 0;

	if (in[0] != 2)
		return pcp_error(pm, in, len, out, PCP_UNSUPP_VERSION, ERR_LIFETIME_LONG);
	if (len < PCP_HDR || len > PCP_MAX || (len & 3))
		return pcp_error(pm, in, len, out, PCP_MALFORMED_REQUEST, ERR_LIFETIME_LONG);
	if (!mapped4(in + 8, &client) || client != src)
		return pcp_error(pm, in, len, out, PCP_ADDRESS_MISMATCH, ERR_LIFETIME_LONG);
	if (op != PCP_OP_ANNOUNCE && op != PCP_OP_MAP)
		return pcp_error(pm, in, len, out, PCP_UNSUPP_OPCODE, ERR_LIFETIME_LONG);
	n = op == PCP_OP_MAP ? PCP_HDR + PCP_MAP_LEN : PCP_HDR;
	if (len < n)
		return pcp_error(pm, in, len, out, PCP_MALFORMED_REQUEST, ERR_LIFETIME_LONG);
	res = pcp_options(in + n, len - n, op, src, &o);
	if (res)
		return pcp_error(pm, in, len, out, res, ERR_LIFETIME_LONG);
	memset(out, 0, PCP_HDR);
	out[0] = 2;
	out[1] = 0x80 | op;
	put32(out + 8, mape_pmap_epoch(pm));
	if (op == PCP_OP_ANNOUNCE)
		return PCP_HDR;
	/* MAP */
	life = get32(in + 4);
	proto = in[PCP_HDR + 12];
	port = get16(in + PCP_HDR + 16);
	want = get16(in + PCP_HDR + 18);
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return pcp_error(pm, in, len, out, PCP_UNSUPP_PROTOCOL, ERR_LIFETIME_LONG);
	if (!port && life)	/* "all ports" of a protocol: not from a port set */
		return pcp_error(pm, in, len, out, PCP_UNSUPP_PROTOCOL, ERR_LIFETIME_LONG);
	ours = mape_pmap_ipv4(pm);
	memcpy(out + PCP_HDR, in + PCP_HDR, PCP_MAP_LEN);
	if (!life) {
		int r = mape_pmap_unmap(pm, proto == IPPROTO_TCP ? MAPE_FWD_TCP : MAPE_FWD_UDP, src,
					port, 0, 0, in + PCP_HDR, err);

		res = r == -1 ? PCP_NOT_AUTHORIZED : r < 0 ? PCP_NETWORK_FAILURE : PCP_SUCCESS;
		elife = res ? ERR_LIFETIME_SHORT : 0;
	} else if (o.prefer_failure && !suggested_ok(in + PCP_HDR + 20, ours)) {
		res = PCP_CANNOT_PROVIDE_EXTERNAL;
		elife = ERR_LIFETIME_SHORT;
	} else {
		struct mape_pmap_req q = {
			.origin = MAPE_FWD_PCP, .host = src, .port = port, .want = want,
			.exact = o.prefer_failure, .lifetime = life, .comment = "PCP",
			.nonce = in + PCP_HDR,
			.proto = proto == IPPROTO_TCP ? MAPE_FWD_TCP : MAPE_FWD_UDP,
		};

		res = pcp_res_of(mape_pmap_map(pm, &q, &ext, &got, err), &elife);
		if (!res)
			elife = got;
	}
	if (res)
		return pcp_error(pm, in, len, out, res, elife);
	put32(out + 4, elife);
	if (life) {
		put16(out + PCP_HDR + 18, ext);
		put_mapped4(out + PCP_HDR + 20, ours);
	}
	n = PCP_HDR + PCP_MAP_LEN;
	memcpy(out + n, o.echo, o.echo_len);
	return n + o.echo_len;
}

size_t mape_pcp_answer(struct mape_pmap *pm, __u32 src, const __u8 *in, size_t len, __u8 *out,
		       size_t cap)
{
	if (len < 2 || cap < PCP_MAX)
		return 0;
	if (in[0] == 0 && !(in[1] & 0x80))
		return natpmp(pm, src, in, len, out);
	if (in[0] == 2 && (in[1] & 0x80))
		return 0;	/* an answer (another server's announcement): not ours */
	if (in[0] == 0)
		return 0;
	return pcp(pm, src, in, len, out);
}

/* ---- the sockets ---- */

int mape_pcp_open(struct mape_pcp *s, struct mape_pmap *pm, const unsigned int *ifindex, int n,
		  char *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(MAPE_PCP_PORT) };
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->pm = pm;
	for (int i = 0; i < n && s->n < MAPE_PCP_MAX_IFS; i++) {
		char name[IF_NAMESIZE] = "";
		struct ip_mreqn mr = { .imr_ifindex = ifindex[i] };
		int fd;

		if (!if_indextoname(ifindex[i], name)) {
			snprintf(err, MAPE_ERRLEN, "LAN interface %u: %s", ifindex[i],
				 strerror(errno));
			mape_pcp_close(s);
			return -ENODEV;
		}
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, strlen(name)) ||
		    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			int e = errno;

			snprintf(err, MAPE_ERRLEN, "NAT-PMP/PCP on %s (UDP %d): %s", name,
				 MAPE_PCP_PORT, strerror(e));
			if (fd >= 0)
				close(fd);
			mape_pcp_close(s);
			return -e;
		}
		s->fd[s->n] = fd;
		s->ifindex[s->n++] = ifindex[i];
	}
	return 0;
}

void mape_pcp_close(struct mape_pcp *s)
{
	for (int i = 0; i < s->n; i++)
		close(s->fd[i]);
	s->n = 0;
}

void mape_pcp_input(struct mape_pcp *s, int i)
{
	__u8 in[PCP_MAX + 4], out[PCP_MAX + 64];
	char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];

	for (int k = 0; k < 64; k++) {
		struct sockaddr_in from;
		struct iovec iov = { in, sizeof(in) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct in_pktinfo *pi = NULL;
		ssize_t n = recvmsg(s->fd[i], &mh, 0);
		size_t len;

		if (n < 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
				pi = (struct in_pktinfo *)CMSG_DATA(c);
		/* only what came in on this LAN, from a unicast source */
		if (from.sin_family != AF_INET || (pi && pi->ipi_ifindex != (int)s->ifindex[i]) ||
		    !from.sin_addr.s_addr || IN_MULTICAST(ntohl(from.sin_addr.s_addr)))
			continue;
		len = mape_pcp_answer(s->pm, ntohl(from.sin_addr.s_addr), in, n, out, sizeof(out));
		if (!len)
			continue;
		/* answer from the address the request went to */
		iov = (struct iovec){ out, len };
		mh = (struct msghdr){ .msg_name = &from, .msg_namelen = sizeof(from),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		if (pi && !IN_MULTICAST(ntohl(pi->ipi_addr.s_addr))) {
			struct cmsghdr *c;

			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
			((struct in_pktinfo *)CMSG_DATA(c))->ipi_spec_dst = pi->ipi_addr;
		}
		sendmsg(s->fd[i], &mh, MSG_NOSIGNAL);
	}
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

void mape_pcp_announce(struct mape_pcp *s)
{
	s->announce_left = 10;		/* RFC 6886 §3.2.1: ten, from 250 ms doubling */
	s->announce_gap = 250;
	s->announce_next = mono_ms();
}

int mape_pcp_tick(struct mape_pcp *s)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(MAPE_PCP_CLIENT_PORT),
				  .sin_addr.s_addr = htonl(0xe0000001) };
	long long now = mono_ms();
	__u8 m[PCP_HDR];
	__u32 a;

	if (!s->announce_left)
		return -1;
	if (now < s->announce_next)
		return (int)(s->announce_next - now);
	a = mape_pmap_ipv4(s->pm);
	for (int i = 0; i < s->n; i++) {
		/* NAT-PMP: the external address answer */
		memset(m, 0, sizeof(m));
		m[1] = 128;
		put16(m + 2, a ? NATPMP_OK : NATPMP_NET_FAILURE);
		put32(m + 4, mape_pmap_epoch(s->pm));
		put32(m + 8, a);
		sendto(s->fd[i], m, 12, MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof(to));
		/* PCP: an ANNOUNCE answer with the epoch */
		memset(m, 0, sizeof(m));
		m[0] = 2;
		m[1] = 0x80 | PCP_OP_ANNOUNCE;
		put32(m + 8, mape_pmap_epoch(s->pm));
		sendto(s->fd[i], m, PCP_HDR, MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof(to));
	}
	s->announce_left--;
	s->announce_next = now + s->announce_gap;
	s->announce_gap *= 2;
	return s->announce_left ? (int)s->announce_gap / 2 : -1;
}
