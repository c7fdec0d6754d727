/* sweep.h: OpenSSL's buffers stay with busy sessions and leave idle ones. */
#ifndef MTLSSHIM_SWEEP_H
#define MTLSSHIM_SWEEP_H

#include "session.h"

extern unsigned	 sweep_gen;

void		 sweep_add(struct session *);

/* A session did I/O; its lock held.  A store and a test on the fast path. */
static inline void
sweep_touch(struct session *s)
{
	__atomic_store_n(&s->idle_gen, __atomic_load_n(&sweep_gen, __ATOMIC_RELAXED),
	    __ATOMIC_RELAXED);
	if (s->idle_prevp == NULL)
		sweep_add(s);
}

/* The session is being freed. */
void		 sweep_forget(struct session *);
/* Called after each data call, outside any session lock: a sweep if one is due. */
void		 sweep_maybe(void);

#endif
