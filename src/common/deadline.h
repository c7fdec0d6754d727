/* deadline.h: monotonic deadlines for the waits the shim does on a program's behalf. */
#ifndef MTLSSHIM_DEADLINE_H
#define MTLSSHIM_DEADLINE_H

#include <limits.h>
#include <time.h>

/* Monotonic seconds: once-a-second rechecks and rate limits. */
static inline time_t
deadline_now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

/* now + t */
static inline struct timespec
deadline_after(const struct timespec *t)
{
	struct timespec d;

	clock_gettime(CLOCK_MONOTONIC, &d);
	d.tv_sec += t->tv_sec;
	d.tv_nsec += t->tv_nsec;
	if (d.tv_nsec >= 1000000000L) {
		d.tv_sec++;
		d.tv_nsec -= 1000000000L;
	}
	return d;
}

/* Time left until d, never negative. */
static inline struct timespec
deadline_left(const struct timespec *d)
{
	struct timespec now, l;

	clock_gettime(CLOCK_MONOTONIC, &now);
	l.tv_sec = d->tv_sec - now.tv_sec;
	l.tv_nsec = d->tv_nsec - now.tv_nsec;
	if (l.tv_nsec < 0) {
		l.tv_sec--;
		l.tv_nsec += 1000000000L;
	}
	if (l.tv_sec < 0)
		l.tv_sec = l.tv_nsec = 0;
	return l;
}

static inline int
deadline_passed(const struct timespec *d)
{
	struct timespec l = deadline_left(d);

	return l.tv_sec == 0 && l.tv_nsec == 0;
}

/* Milliseconds until d, rounded up so that 0 means it has passed. */
static inline int
deadline_ms(const struct timespec *d)
{
	struct timespec l = deadline_left(d);
	long ms = l.tv_sec * 1000 + (l.tv_nsec + 999999) / 1000000;

	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* 1 if a comes before b. */
static inline int
deadline_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Monotonic milliseconds from the coarse clock (a few ms of grain): periodic work. */
static inline long long
deadline_coarse_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * Periodic work from whichever thread comes first: 1 if *next (ms) is due at
 * now and this caller moved it period on, so that one thread runs it.
 */
static inline int
deadline_claim(long long *next, long long now, int period)
{
	long long due = __atomic_load_n(next, __ATOMIC_RELAXED);

	return now >= due && __atomic_compare_exchange_n(next, &due, now + period, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

#endif
