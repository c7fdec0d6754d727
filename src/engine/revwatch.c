/*
 * revwatch.c: open connections whose peer's certificate becomes revoked are
 * cut, as Istio's ztunnel does: the handshake proved the peer once, and a
 * revocation must not wait for the connection to end.
 *
 * No thread: once a second, from whichever of the program's waits comes
 * first (session_sweep_idle), the watched connections are looked at.  A
 * rule whose files changed (tlsholder_get rebuilds it, at most once a
 * second) has its open peers verified again against the new CRLs; with
 * ocsp on, a peer whose certificate the cache knows revoked is cut too,
 * and once the cached answer for it goes stale (its nextUpdate) the
 * responder is asked again: the same non-blocking exchange as at the
 * handshake (ocsp_step), stepped from here every REFRESH_MS while it runs.
 * The cut is close_notify, then both directions shut: the program reads
 * end of file, writes get EPIPE.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "common/deadline.h"
#include "common/lockstat.h"
#include "common/log.h"
#include "engine/ocsp.h"
#include "engine/ocsp_cache.h"
#include "engine/revwatch.h"
#include "engine/tlsctx.h"

#define REFRESH_MAX	16	/* OCSP refreshes at once; more wait for the next second */
#define REFRESH_MS	20	/* how often those in flight are stepped */
#define RETRY_S		30	/* after a refresh without a definite answer */
#define HOLDERS_MAX	64	/* rules whose files are looked at before a pass */

static pthread_mutex_t	 watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session	*watched;
static int		 nwatched;
static long long	 next_ms;
static struct session	*refreshing[REFRESH_MAX];	/* an OCSP refresh in flight */
static int		 nrefresh;
static long long	 next_step_ms;

void
revwatch_add(struct session *s)
{
	struct tlsholder *h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s->ssl));

	if (s->rev_on || (s->rule->crl_file == NULL && s->rule->ocsp == OCSP_OFF))
		return;
	s->rev_gen = h != NULL ? __atomic_load_n(&h->gen, __ATOMIC_RELAXED) : 0;
	plock(&watch_lock);
	if ((s->rev_next = watched) != NULL)
		watched->rev_prevp = &s->rev_next;
	watched = s;
	s->rev_prevp = &watched;
	s->rev_on = 1;
	__atomic_store_n(&nwatched, nwatched + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&watch_lock);
}

/* watch_lock held. */
static void
refresh_remove(struct session *s)
{
	int i;

	for (i = 0; i < nrefresh; i++)
		if (refreshing[i] == s) {
			refreshing[i] = refreshing[nrefresh - 1];
			__atomic_store_n(&nrefresh, nrefresh - 1, __ATOMIC_RELAXED);
			return;
		}
}

/* 1 if a refresh for cert is in flight already (another connection with it); watch_lock held. */
static int
refresh_has(X509 *cert)
{
	int i;

	for (i = 0; i < nrefresh; i++)
		if (X509_cmp(SSL_get0_peer_certificate(refreshing[i]->ssl), cert) == 0)
			return 1;
	return 0;
}

/*
 * Steps s's refresh; 1 if it ended with the certificate revoked.  watch_lock
 * and s->lock held.  Without a definite answer the connection stays (the
 * handshake admitted it) and the responder is asked again RETRY_S later.
 */
static int
refresh_locked(struct session *s)
{
	char why[256], peer[64];
	int r = ocsp_step(s, why, sizeof(why));

	if (r > 0)
		return 0;
	ocsp_free(s->ocsp);
	s->ocsp = NULL;
	refresh_remove(s);
	if (ocsp_cache_get(SSL_get0_peer_certificate(s->ssl)) == OCSP_ST_REVOKED)
		return 1;
	if (ocsp_cache_get(SSL_get0_peer_certificate(s->ssl)) == -1) {
		s->rev_retry = deadline_now_sec() + RETRY_S;
		log_debug("rule=%s peer=%s: OCSP refresh of an open connection: %s; asking again "
		    "in %ds", s->rule->name, session_peerstr(s, peer, sizeof(peer)),
		    r == STEP_FAILED ? why : "no definite answer", RETRY_S);
	}
	return 0;
}

void
revwatch_forget(struct session *s)
{
	if (!s->rev_on)
		return;
	plock(&watch_lock);
	if ((*s->rev_prevp = s->rev_next) != NULL)
		s->rev_next->rev_prevp = s->rev_prevp;
	s->rev_on = 0;
	__atomic_store_n(&nwatched, nwatched - 1, __ATOMIC_RELAXED);
	refresh_remove(s);
	pthread_mutex_unlock(&watch_lock);
}

/* Only revocation counts here: an expiry or a new CA is for the next handshake. */
static int
revoked_cb(int ok, X509_STORE_CTX *x)
{
	if (!ok && X509_STORE_CTX_get_error(x) == X509_V_ERR_CERT_REVOKED)
		*(int *)X509_STORE_CTX_get_app_data(x) = 1;
	return 1;
}

/* 1 if the CRLs of ctx (the rule's current context) revoke the peer of ssl. */
static int
crl_revokes(SSL_CTX *ctx, SSL *ssl)
{
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *xs;
	int revoked = 0;

	if (leaf == NULL || (xs = X509_STORE_CTX_new()) == NULL)
		return 0;
	if (X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(ctx), leaf,
	    SSL_get_peer_cert_chain(ssl))) {
		X509_STORE_CTX_set_app_data(xs, &revoked);
		X509_STORE_CTX_set_verify_cb(xs, revoked_cb);
		(void)X509_verify_cert(xs);
	}
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	return revoked;
}

/* 1 if s must be cut; watch_lock and s->lock held. */
static int
revoked_locked(struct session *s)
{
	struct tlsholder *h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s->ssl));
	SSL_CTX *ctx;
	unsigned gen;
	X509 *leaf;
	int r = 0;

	if (s->rule->ocsp != OCSP_OFF && (leaf = SSL_get0_peer_certificate(s->ssl)) != NULL) {
		if ((r = ocsp_cache_get(leaf)) == OCSP_ST_REVOKED)
			return 1;
		/* Stale: ask again, once for all the connections with this certificate. */
		if (r == -1 && s->ocsp == NULL && nrefresh < REFRESH_MAX &&
		    deadline_now_sec() >= s->rev_retry && !refresh_has(leaf)) {
			refreshing[nrefresh] = s;
			__atomic_store_n(&nrefresh, nrefresh + 1, __ATOMIC_RELAXED);
			if (refresh_locked(s))
				return 1;
		}
		r = 0;
	}
	if (s->rule->crl_file == NULL || h == NULL)
		return 0;
	/* Looks at the files once a second, rebuilding the context when they changed. */
	if ((ctx = tlsholder_get(h)) == NULL)
		return 0;
	if ((gen = __atomic_load_n(&h->gen, __ATOMIC_RELAXED)) != s->rev_gen) {
		s->rev_gen = gen;
		r = crl_revokes(ctx, s->ssl);
	}
	SSL_CTX_free(ctx);
	return r;
}

/*
 * A session busy in another thread is looked at next time (trylock: the
 * lock order elsewhere is session, then this list).  One that a fork
 * handed on is cut by the process that uses it.
 */
static void
revwatch_run(void)
{
	struct tlsholder *hs[HOLDERS_MAX], *h;
	struct session *s, *next;
	int cut = 0, nh = 0, i;

	/*
	 * The rules' files are looked at first, with no lock of ours held: a
	 * changed file rebuilds its context (tlsholder_get), which is slow, and
	 * the pass below then finds it done this second.
	 */
	plock(&watch_lock);
	for (s = watched; s != NULL && nh < HOLDERS_MAX; s = s->rev_next) {
		if (s->rule->crl_file == NULL ||
		    (h = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s->ssl))) == NULL)
			continue;
		for (i = 0; i < nh && hs[i] != h; i++)
			;
		if (i == nh)
			hs[nh++] = h;
	}
	pthread_mutex_unlock(&watch_lock);
	for (i = 0; i < nh; i++)
		SSL_CTX_free(tlsholder_get(hs[i]));
	plock(&watch_lock);
	for (s = watched; s != NULL; s = next) {
		next = s->rev_next;
		if (pthread_mutex_trylock(&s->lock) != 0)
			continue;
		if (s->state == SS_OPEN && !s->closed && !s->rd_err && (!s->forked || s->used) &&
		    !(s->shut_wr && s->rd_eof) && revoked_locked(s)) {
			session_cut_locked(s, "peer certificate revoked");
			cut++;
		}
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&watch_lock);
	if (cut > 0)
		log_debug("revocation check: %d connection%s cut", cut, cut == 1 ? "" : "s");
}

/* The refreshes in flight, every REFRESH_MS. */
static void
refresh_run(void)
{
	struct session *s;
	int i;

	plock(&watch_lock);
	for (i = nrefresh - 1; i >= 0; i--) {
		if (i >= nrefresh || pthread_mutex_trylock(&(s = refreshing[i])->lock) != 0)
			continue;
		if (s->ocsp == NULL || s->state != SS_OPEN || s->closed)
			refresh_remove(s);
		else if (refresh_locked(s))
			session_cut_locked(s, "peer certificate revoked");
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&watch_lock);
}

int
revwatch_tick(void)
{
	long long now, due;
	int saved = errno;

	if (__atomic_load_n(&nwatched, __ATOMIC_RELAXED) == 0)
		return -1;
	now = deadline_coarse_ms();
	if (__atomic_load_n(&nrefresh, __ATOMIC_RELAXED) > 0 &&
	    deadline_claim(&next_step_ms, now, REFRESH_MS))
		refresh_run();
	if (deadline_claim(&next_ms, now, REVWATCH_MS))
		revwatch_run();
	due = __atomic_load_n(&next_ms, __ATOMIC_RELAXED);
	errno = saved;
	if (__atomic_load_n(&nrefresh, __ATOMIC_RELAXED) > 0 && due - now > REFRESH_MS)
		due = now + REFRESH_MS;
	/* The coarse clock ticks every few ms: never a busy loop on a due check. */
	return due - now < 5 ? 5 : due - now > REVWATCH_MS ? REVWATCH_MS : (int)(due - now);
}

void
revwatch_atfork(int phase)
{
	if (phase == SWEEP_PREPARE)
		plock(&watch_lock);
	else
		pthread_mutex_unlock(&watch_lock);
}
