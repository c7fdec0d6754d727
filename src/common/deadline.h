/* deadline.h: monotonic deadlines for the waits the shim does on a program's behalf. */
#ifndef MTLSSHIM_DEADLINE_H
#define MTLSSHIM_DEADLINE_H

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

#endif
