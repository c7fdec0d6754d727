/* sweep.h: OpenSSL's buffers stay with busy sessions and leave idle ones. */
#ifndef MTLSSHIM_SWEEP_H
#define MTLSSHIM_SWEEP_H

#include "engine/session.h"

extern unsigned	 sweep_gen;
extern unsigned	 sweep_used;

void		 sweep_add(struct session *);

/*
 * OpenSSL may allocate the session's buffers now; its lock held.  A load
 * and a test; once per sweep period, a store and a count of the warm
 * sessions used, so that a sweep that would find them all busy need not
 * look (nor take the list's lock).
 */
static inline void
sweep_touch(struct session *s)
{
	unsigned gen = __atomic_load_n(&sweep_gen, __ATOMIC_RELAXED);

	if (__atomic_load_n(&s->idle_gen, __ATOMIC_RELAXED) != gen) {
		__atomic_store_n(&s->idle_gen, gen, __ATOMIC_RELAXED);
		if (s->warm)
			__atomic_fetch_add(&sweep_used, 1, __ATOMIC_RELAXED);
	}
	if (!s->warm && !s->held)
		sweep_add(s);
}

/* The program reads or writes: a session held by a partial record may be swept again. */
static inline void
sweep_touch_data(struct session *s)
{
	s->held = 0;
	sweep_touch(s);
}

/* The session is being freed. */
void		 sweep_forget(struct session *);
/* After each data call, outside any session lock: a sweep if one is due; errno kept. */
void		 sweep_maybe(void);

#endif
