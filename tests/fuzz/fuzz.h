/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share (make fuzz;
 * docs/testing.md, "Fuzzing"). Each target feeds one parser of user input
 * what libFuzzer makes of its seed corpus (tests/fuzz/corpus/TARGET), and
 * then uses what the parser accepted the way mapectl would, so that a
 * value a parser lets through but the next step cannot take shows up too.
 * A crash, a sanitizer report (ASan, UBSan) or a leak is a failure.
 */
#ifndef MAPE_FUZZ_H
#define MAPE_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The input as a C string (the parsers take NUL-terminated text). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s) {
		memcpy(s, data, size);
		s[size] = 0;
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
