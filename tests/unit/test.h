/* SPDX-License-Identifier: MIT */
/*
 * test.h - a tiny host unit-test harness. TEST(name) { ... } registers a
 * test through a constructor; CHECK* record a failure with file:line and go
 * on, so one run reports every broken expectation. main.c runs them all and
 * ends with "N passed, N failed".
 */
#ifndef MAPE_TEST_H
#define MAPE_TEST_H

#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TEST(n)                                                                \
	static void test_##n(void);                                            \
	static struct test_case tc_##n = { #n, test_##n, NULL };               \
	__attribute__((constructor)) static void reg_##n(void)                 \
	{                                                                      \
		test_register(&tc_##n);                                        \
	}                                                                      \
	static void test_##n(void)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);     \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long _a = (long long)(a), _b = (long long)(b);            \
		if (_a != _b)                                                  \
			test_fail(__FILE__, __LINE__, "%s == %lld, want %s == %lld", \
				  #a, _a, #b, _b);                             \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *_a = (a), *_b = (b);                               \
		if (!_a || !_b || strcmp(_a, _b) != 0)                         \
			test_fail(__FILE__, __LINE__, "%s == \"%s\", want \"%s\"", \
				  #a, _a ? _a : "(null)", _b ? _b : "(null)");  \
	} while (0)

/* Expect substring sub in string s (error messages). */
#define CHECK_HAS(s, sub)                                                      \
	do {                                                                   \
		const char *_s = (s), *_u = (sub);                             \
		if (!_s || !strstr(_s, _u))                                    \
			test_fail(__FILE__, __LINE__, "\"%s\" lacks \"%s\"",   \
				  _s ? _s : "(null)", _u);                     \
	} while (0)

#endif
