/* ocsp_cache.h: definite OCSP answers, kept per certificate until they go stale. */
#ifndef MTLSSHIM_OCSP_CACHE_H
#define MTLSSHIM_OCSP_CACHE_H

#include <time.h>
#include <openssl/x509.h>

#include "engine/ocsp_resp.h"

/* Answers kept; beyond, the one going stale first makes room. */
#define OCSP_CACHE_SIZE	1024

/* The status cached for cert, if it is still fresh: OCSP_ST_GOOD or OCSP_ST_REVOKED; else -1. */
int	 ocsp_cache_get(X509 *cert);
/* Keeps a good or revoked answer for cert until a->until; others are not kept. */
void	 ocsp_cache_put(X509 *cert, const struct ocsp_answer *a);
/* fork: SWEEP_PREPARE, SWEEP_PARENT or SWEEP_CHILD (the child keeps the answers). */
void	 ocsp_cache_atfork(int phase);

#endif
