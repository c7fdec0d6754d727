/* check.h: the unit tests' one assertion, counting passes and failures per test program. */
#ifndef MTLSSHIM_UNIT_CHECK_H
#define MTLSSHIM_UNIT_CHECK_H

#include <stdio.h>

static int passed, failed;

/* Counts cond; on failure prints where, the condition and the printf-style message. */
#define CHECK(cond, ...) do { \
	if (cond) { \
		passed++; \
	} else { \
		failed++; \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

#endif
