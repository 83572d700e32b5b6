// SPDX-License-Identifier: MIT
/* addr.c - parsing and formatting of addresses, prefixes and numbers. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mape.h"

int mape_parse_ip6(const char *s, __u8 out[16], char *err)
{
	if (!s || inet_pton(AF_INET6, s, out) != 1) {
		snprintf(err, MAPE_ERRLEN, "bad IPv6 address '%s'", s ? s : "");
		return -EINVAL;
	}
	return 0;
}

int mape_parse_ip4(const char *s, __u32 *out, char *err)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1) {
		snprintf(err, MAPE_ERRLEN, "bad IPv4 address '%s'", s ? s : "");
		return -EINVAL;
	}
	*out = ntohl(a.s_addr);
	return 0;
}

int mape_parse_uint(const char *what, const char *s, unsigned long max, unsigned long *out,
		    char *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		goto bad;
	/* decimal, or hex with 0x (PSIDs); never octal: "040" is forty */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		v = strtoul(s + 2, &end, 16);
	else
		v = strtoul(s, &end, 10);
	if (end == s || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && end == s + 2))
		goto bad;
	if (errno || *end || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	snprintf(err, MAPE_ERRLEN, "bad %s '%s': must be an integer 0..%lu", what, s ? s : "",
		 max);
	return -EINVAL;
}

void mape_mask_prefix6(__u8 a[16], unsigned int len)
{
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int bits = len > i * 8 ? len - i * 8 : 0;

		if (bits < 8)
			a[i] &= (__u8)(0xff00 >> bits);
	}
}

/* "addr/len"; len defaults to nothing: a prefix needs its length. */
int mape_parse_prefix6(const char *s, struct mape_prefix *p, char *err)
{
	char buf[64];
	const char *slash = s ? strchr(s, '/') : NULL;
	unsigned long len;

	if (!slash || (size_t)(slash - s) >= sizeof(buf)) {
		snprintf(err, MAPE_ERRLEN, "bad IPv6 prefix '%s': want ADDR/LEN", s ? s : "");
		return -EINVAL;
	}
	memcpy(buf, s, slash - s);
	buf[slash - s] = 0;
	if (inet_pton(AF_INET6, buf, p->addr) != 1) {
		snprintf(err, MAPE_ERRLEN, "bad IPv6 prefix '%s': bad address", s);
		return -EINVAL;
	}
	if (mape_parse_uint("prefix length", slash + 1, 128, &len, err)) {
		snprintf(err, MAPE_ERRLEN, "bad IPv6 prefix '%s': length must be 0..128", s);
		return -EINVAL;
	}
	p->len = len;
	mape_mask_prefix6(p->addr, p->len);
	return 0;
}

int mape_parse_prefix4(const char *s, __u32 *addr, unsigned int *len, char *err)
{
	char buf[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	unsigned long l;

	if (!slash || (size_t)(slash - s) >= sizeof(buf)) {
		snprintf(err, MAPE_ERRLEN, "bad IPv4 prefix '%s': want ADDR/LEN", s ? s : "");
		return -EINVAL;
	}
	memcpy(buf, s, slash - s);
	buf[slash - s] = 0;
	if (mape_parse_ip4(buf, addr, err) ||
	    mape_parse_uint("prefix length", slash + 1, 32, &l, err)) {
		snprintf(err, MAPE_ERRLEN, "bad IPv4 prefix '%s'", s);
		return -EINVAL;
	}
	*len = l;
	*addr &= mape_mask32(l);
	return 0;
}

void mape_fmt_ip6(const __u8 a[16], char *buf, size_t len)
{
	if (!inet_ntop(AF_INET6, a, buf, len))
		snprintf(buf, len, "?");
}

void mape_fmt_ip4(__u32 ipv4, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ipv4 >> 24, (ipv4 >> 16) & 0xff, (ipv4 >> 8) & 0xff,
		 ipv4 & 0xff);
}
