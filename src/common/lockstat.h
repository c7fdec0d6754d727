/* lockstat.h: a counting build's tally of process-wide lock acquisitions (make bench). */
#ifndef MTLSSHIM_LOCKSTAT_H
#define MTLSSHIM_LOCKSTAT_H

#include <pthread.h>

/*
 * Every lock shared by all of a process's connections (the tables, the
 * engine loader, a rule's context), as opposed to one connection's or one
 * epoll set's own, is taken with plock.  Built with -DMTLSSHIM_LOCKSTAT,
 * each acquisition adds one to a 64-bit counter at the start of the file
 * named by $MTLSSHIM_LOCKSTAT, shared by every process that maps it, so a
 * benchmark can divide the growth by its requests.  Otherwise plock is
 * pthread_mutex_lock.
 */
#ifdef MTLSSHIM_LOCKSTAT
#define LOCKSTAT_ENV	"MTLSSHIM_LOCKSTAT"
void	lockstat_count(void);
#else
#define lockstat_count()	((void)0)
#endif

static inline int
plock(pthread_mutex_t *m)
{
	lockstat_count();
	return pthread_mutex_lock(m);
}

#endif
