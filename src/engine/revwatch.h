/* revwatch.h: open connections whose peer's certificate becomes revoked are cut. */
#ifndef MTLSSHIM_REVWATCH_H
#define MTLSSHIM_REVWATCH_H

#include "engine/session.h"

/* How often the open connections are looked at (ms): within 2 s of a change, as promised. */
#define REVWATCH_MS	1000

/* s is open, its rule checks revocation (crl_file or ocsp); s->lock held. */
void	 revwatch_add(struct session *);
/* s is being freed. */
void	 revwatch_forget(struct session *);
/*
 * From the program's waits (session_sweep_idle): runs the check when due.
 * -1 if no connection is watched, else the milliseconds until the next.
 */
int	 revwatch_tick(void);
/* fork: SWEEP_PREPARE, SWEEP_PARENT or SWEEP_CHILD. */
void	 revwatch_atfork(int phase);

#endif
