/* startcache.h: remembers that a configuration and its files passed the start-up checks. */
#ifndef MTLSSHIM_STARTCACHE_H
#define MTLSSHIM_STARTCACHE_H

#include <time.h>

#include "common/config.h"

/*
 * Loading every certificate and key costs a process several milliseconds
 * before main(), whether or not it ever opens a matched socket; every
 * command a shimmed shell runs pays it.  Once a configuration has passed,
 * its stamp (the files' identity, size and change times, and our uid) is
 * kept in a per-user directory; a later process with the same stamp may
 * build its contexts on first use instead.  The cache is no security
 * boundary: a forged entry only moves a failure from start-up to the
 * first connection, which still fails closed.
 */

/* 1 if c passed the checks with exactly these files and nothing expires soon. */
int	startcache_hit(const struct config *c);
/* Records that c passed; recheck_after: when expiry warnings become due again. */
void	startcache_store(const struct config *c, time_t recheck_after);

#endif
