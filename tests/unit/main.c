/* SPDX-License-Identifier: MIT */
/* Runs every registered unit test; the closing line counts them. */
#include <stdarg.h>
#include <stdlib.h>
#include "test.h"

static struct test_case *head, **tail = &head;
static int cur_failed;

void test_register(struct test_case *tc)
{
	/* constructors run in file order: append to keep it */
	*tail = tc;
	tail = &tc->next;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed++;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	for (struct test_case *tc = head; tc; tc = tc->next) {
		if (only && !strstr(tc->name, only))
			continue;
		cur_failed = 0;
		tc->fn();
		if (cur_failed) {
			printf("FAIL %s\n", tc->name);
			failed++;
		} else {
			printf("ok   %s\n", tc->name);
			passed++;
		}
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
