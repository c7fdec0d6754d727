/*
 * ocsp_cache.c: definite OCSP answers, kept per certificate until they go
 * stale, so that a busy server asks once per certificate and not once per
 * connection.  Keyed by the certificate's SHA-1 fingerprint, which OpenSSL
 * computed when it decoded the certificate: a lookup hashes nothing, and
 * needs no issuer (a resumed session has none at hand).  Process-wide: a
 * status is a fact about a certificate, whichever rule asked; a forked
 * worker starts with its parent's answers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/lockstat.h"
#include "engine/ocsp_cache.h"
#include "engine/session.h"

#define PROBE	8		/* slots looked at per lookup */

struct entry {
	unsigned char	 fp[20];
	time_t		 until;		/* 0: free */
	int		 status;
};

static pthread_mutex_t	 cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry	*cache;		/* OCSP_CACHE_SIZE, once an answer came */

static int
fingerprint(X509 *cert, unsigned char fp[20])
{
	unsigned int n = 0;

	return X509_digest(cert, EVP_sha1(), fp, &n) == 1 && n == 20 ? 0 : -1;
}

static unsigned
slot(const unsigned char fp[20])
{
	unsigned h;

	memcpy(&h, fp, sizeof(h));
	return h % OCSP_CACHE_SIZE;
}

int
ocsp_cache_get(X509 *cert)
{
	unsigned char fp[20];
	time_t now = time(NULL);
	unsigned i, at;
	int st = -1;

	if (__atomic_load_n(&cache, __ATOMIC_ACQUIRE) == NULL || fingerprint(cert, fp) == -1)
		return -1;
	plock(&cache_lock);
	for (i = 0, at = slot(fp); i < PROBE; i++, at = (at + 1) % OCSP_CACHE_SIZE)
		if (cache[at].until > now && memcmp(cache[at].fp, fp, sizeof(fp)) == 0) {
			st = cache[at].status;
			break;
		}
	pthread_mutex_unlock(&cache_lock);
	return st;
}

void
ocsp_cache_put(X509 *cert, const struct ocsp_answer *a)
{
	unsigned char fp[20];
	unsigned i, at, use;

	if ((a->status != OCSP_ST_GOOD && a->status != OCSP_ST_REVOKED) ||
	    a->until <= time(NULL) || fingerprint(cert, fp) == -1)
		return;
	plock(&cache_lock);
	if (cache == NULL)
		__atomic_store_n(&cache, calloc(OCSP_CACHE_SIZE, sizeof(*cache)), __ATOMIC_RELEASE);
	if (cache == NULL) {
		pthread_mutex_unlock(&cache_lock);
		return;
	}
	/* The same certificate's slot, else the one going stale first. */
	use = slot(fp);
	for (i = 0, at = use; i < PROBE; i++, at = (at + 1) % OCSP_CACHE_SIZE) {
		if (memcmp(cache[at].fp, fp, sizeof(fp)) == 0) {
			use = at;
			break;
		}
		if (cache[at].until < cache[use].until)
			use = at;
	}
	memcpy(cache[use].fp, fp, sizeof(fp));
	cache[use].status = a->status;
	cache[use].until = a->until;
	pthread_mutex_unlock(&cache_lock);
}

void
ocsp_cache_atfork(int phase)
{
	if (phase == SWEEP_PREPARE)
		plock(&cache_lock);
	else
		pthread_mutex_unlock(&cache_lock);	/* the child's thread took it in PREPARE */
}
