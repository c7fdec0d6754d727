/* staple_fetch.h: ocsp_stapling: a server fetches its own certificate's status, off the handshake path. */
#ifndef MTLSSHIM_STAPLE_FETCH_H
#define MTLSSHIM_STAPLE_FETCH_H

#include <time.h>

struct tlsholder;

/* Tests only: the first retry after a failed fetch, in seconds (1..300; default 10). */
#define STAPLE_RETRY_ENV	"MTLSSHIM_TEST_STAPLE_RETRY"

/*
 * Moves the fetch of h's staple on without blocking (ocsp_stapling; else
 * nothing): starts one when due, steps the one in flight if owner started
 * it (or its deadline passed: owner takes it over), checks the answer as
 * an ocsp_staple_file is checked and makes it h->stapled, or keeps the
 * previous one and logs one warning.  Returns the exchange's socket, which
 * owner must watch for *events (POLLIN/POLLOUT), or -1; *due: when to be
 * called again at the latest (CLOCK_MONOTONIC, absolute; zero: not needed).
 * Takes h->lock.  Only the process that stepped an exchange steps it on:
 * a fork child drops its copy (tlsholder_staple_atfork_child).
 */
int	 tlsholder_staple_step(struct tlsholder *h, const void *owner, int *events,
	    struct timespec *due);
/*
 * In a fork child: an exchange in flight is the parent's; the child's copy
 * of its socket is closed and the child fetches for itself when its
 * listener is next serviced.  A staple the parent had is kept, and with it
 * the time of its refresh.
 */
void	 tlsholder_staple_atfork_child(struct tlsholder *h);

#endif
