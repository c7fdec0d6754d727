/*
 * staple_fetch.c: ocsp_stapling: a server fetches its own certificate's status, off the handshake path.
 *
 * No thread and no wait: the exchange is ocsp_http's non-blocking POST,
 * stepped by the rule's listener from the program's own accept, poll and
 * epoll calls, its socket and the time of the next step in the listener's
 * set.  Handshakes never wait for it: before the first answer they go out
 * unstapled, as nginx's do.  The answer is checked as an ocsp_staple_file
 * is (staple_check) and stapled by the same callback (staple.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/deadline.h"
#include "common/lockstat.h"
#include "common/log.h"
#include "engine/ocsp_http.h"
#include "engine/ocsp_req.h"
#include "engine/ocsp_resp.h"
#include "engine/staple.h"
#include "engine/staple_fetch.h"
#include "engine/tlsctx.h"

#define FETCH_EVERY_MAX	3600	/* seconds from one fetch to the next, at most */
#define FETCH_RETRY	10	/* seconds before the first retry after a failure ... */
#define FETCH_RETRY_MAX	300	/* ... doubling up to this */

struct staple_fetch {
	struct ocsp_http http;		/* fd -1: no exchange in flight */
	const void	*owner;		/* who steps the exchange (a listener) */
	char		*url;		/* the responder asked last */
	X509		*cert;		/* the certificate asked about last (a reference) */
	struct timespec	 deadline;	/* of the exchange in flight (ocsp_timeout) */
	struct timespec	 next;		/* when the next fetch starts; zero: at once */
	int		 retry;		/* seconds to the next try after a failure; 0: none failed */
};

static int
retry_first(void)
{
	const char *e = getenv(STAPLE_RETRY_ENV);
	long n;
	char *end;

	if (e == NULL || (n = strtol(e, &end, 10)) < 1 || n > FETCH_RETRY_MAX || *end != '\0')
		return FETCH_RETRY;
	return (int)n;
}

/* h->lock held. */
static struct staple_fetch *
fetch_get(struct tlsholder *h)
{
	struct staple_fetch *f;

	if (h->fetch == NULL && (f = calloc(1, sizeof(*f))) != NULL) {
		f->http.fd = -1;
		h->fetch = f;
	}
	return h->fetch;
}

static const char *
fetch_url(const struct staple_fetch *f, char *buf, size_t len)
{
	return f->url ? ocsp_req_urlstr(f->url, buf, len) : "its responder";
}

/* No good answer: the previous staple stays until its nextUpdate (not once revoked); h->lock held. */
static void
fetch_failed(struct tlsholder *h, struct staple_fetch *f, const char *why, int revoked)
{
	struct timespec t = { f->retry ? f->retry : retry_first(), 0 };
	char url[256], keep[96];

	if (revoked) {
		staple_free(h->stapled);
		h->stapled = NULL;
	}
	if (h->stapled != NULL)
		snprintf(keep, sizeof(keep), "stapling the previous response until its "
		    "nextUpdate %s", staple_until_str(h->stapled));
	else
		snprintf(keep, sizeof(keep), "stapling nothing");
	log_warn("rule=%s: OCSP staple not fetched from %s: %s; %s; next try in %lds",
	    h->rule->name, fetch_url(f, url, sizeof(url)), why, keep, (long)t.tv_sec);
	f->next = deadline_after(&t);
	f->retry = t.tv_sec * 2 > FETCH_RETRY_MAX ? FETCH_RETRY_MAX : (int)t.tv_sec * 2;
}

/* s is good: stapled from the next handshake, fetched again halfway to its nextUpdate; h->lock held. */
static void
fetch_good(struct tlsholder *h, struct staple_fetch *f, struct staple *s)
{
	struct timespec t = { (staple_until(s) - time(NULL)) / 2, 0 };
	char url[256];

	if (t.tv_sec > FETCH_EVERY_MAX)
		t.tv_sec = FETCH_EVERY_MAX;
	if (t.tv_sec < 1)
		t.tv_sec = 1;
	staple_free(h->stapled);
	h->stapled = s;
	f->next = deadline_after(&t);
	f->retry = 0;
	log_info("rule=%s: OCSP staple fetched from %s: good, nextUpdate %s; next fetch in %lds",
	    h->rule->name, fetch_url(f, url, sizeof(url)), staple_until_str(s), (long)t.tv_sec);
}

/* Asks about leaf; 0, or -1 with the failure logged and the retry set.  h->lock held. */
static int
fetch_start(struct tlsholder *h, struct staple_fetch *f, X509 *leaf, const void *owner)
{
	struct timespec t = { h->rule->ocsp_timeout, 0 };
	unsigned char *der = NULL;
	char why[256];
	X509 *issuer;
	int n = -1, found;

	free(f->url);
	X509_free(f->cert);
	X509_up_ref(leaf);
	f->cert = leaf;
	if ((f->url = ocsp_req_url(h->rule, leaf)) == NULL) {
		fetch_failed(h, f, "no OCSP responder (no AIA, no ocsp_responder)", 0);
		return -1;
	}
	if ((found = (issuer = staple_issuer(h->ctx, leaf)) != NULL))
		n = ocsp_req_der(leaf, issuer, &der);
	X509_free(issuer);
	ERR_clear_error();
	if (n == -1)
		snprintf(why, sizeof(why), "OCSP request: %s", found ? strerror(ENOMEM) :
		    "no issuer for cert_file");
	else if (ocsp_http_start(&f->http, f->url, der, (size_t)n, why, sizeof(why)) == 0) {
		OPENSSL_free(der);
		f->owner = owner;
		f->deadline = deadline_after(&t);
		log_debug("rule=%s: fetching the OCSP staple", h->rule->name);
		return 0;
	}
	OPENSSL_free(der);
	fetch_failed(h, f, why, 0);
	return -1;
}

/* The exchange ended (r: ocsp_http_step's, POLLIN/POLLOUT once its time is up); h->lock held. */
static void
fetch_finish(struct tlsholder *h, struct staple_fetch *f, int r, char *why, size_t whylen)
{
	X509_STORE *trust = ocsp_resp_trust(h->ctx);
	const unsigned char *body;
	struct staple *s = NULL;
	size_t blen;
	int revoked = 0;

	if (r > 0)
		snprintf(why, whylen, "OCSP responder did not answer within %ds",
		    h->rule->ocsp_timeout);
	else if (r == 0 && (body = ocsp_http_body(&f->http, &blen, why, whylen)) != NULL)
		s = staple_check(h->ctx, trust ? trust : SSL_CTX_get_cert_store(h->ctx), h->rule,
		    body, blen, OCSP_DEFAULT_TTL, &revoked, why, whylen);
	ocsp_http_close(&f->http);
	f->owner = NULL;
	if (s != NULL)
		fetch_good(h, f, s);
	else
		fetch_failed(h, f, why, revoked);
}

int
tlsholder_staple_step(struct tlsholder *h, const void *owner, int *events, struct timespec *due)
{
	struct staple_fetch *f;
	char why[512];
	X509 *leaf;
	int fd = -1, r;

	memset(due, 0, sizeof(*due));
	*events = 0;
	if (!h->rule->ocsp_stapling)
		return -1;
	plock(&h->lock);
	if (h->ctx == NULL || (f = fetch_get(h)) == NULL ||
	    (leaf = SSL_CTX_get0_certificate(h->ctx)) == NULL)
		goto out;
	/* A new certificate (rotation): its own status, at once; the old one's is not stapled to it. */
	if (f->cert != NULL && X509_cmp(f->cert, leaf) != 0) {
		ocsp_http_close(&f->http);
		staple_free(h->stapled);
		h->stapled = NULL;
		memset(&f->next, 0, sizeof(f->next));
		f->retry = 0;
		X509_free(f->cert);
		f->cert = NULL;
	}
	for (;;) {
		if (f->http.fd < 0 && (!deadline_passed(&f->next) ||
		    fetch_start(h, f, leaf, owner) == -1)) {
			*due = f->next;
			break;
		}
		/* Another listener's exchange, unless that one stopped stepping it. */
		if (f->owner != owner && !deadline_passed(&f->deadline)) {
			*due = f->deadline;
			break;
		}
		f->owner = owner;
		r = ocsp_http_step(&f->http, why, sizeof(why));
		if (r > 0 && !deadline_passed(&f->deadline)) {
			fd = f->http.fd;
			*events = r;
			*due = f->deadline;
			break;
		}
		fetch_finish(h, f, r, why, sizeof(why));
	}
 out:
	pthread_mutex_unlock(&h->lock);
	return fd;
}

void
tlsholder_staple_atfork_child(struct tlsholder *h)
{
	struct staple_fetch *f = h->fetch;

	if (f == NULL || f->http.fd < 0)
		return;
	ocsp_http_close(&f->http);
	f->owner = NULL;
	memset(&f->next, 0, sizeof(f->next));
}
