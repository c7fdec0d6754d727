/*
 * ocsp.c: a peer's certificates checked by OCSP once its handshake is done.
 *
 * OpenSSL 3.0 cannot pause a server's handshake in certificate
 * verification (SSL_set_retry_verify is client-only), so the check comes
 * after SSL_do_handshake succeeds, with the session still handshaking: the
 * program sees the connection only once every certificate is good.  The
 * exchange with the responder is one non-blocking HTTP/1.0 POST, stepped
 * from wherever the handshake is stepped, on the responder's socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "common/deadline.h"
#include "common/log.h"
#include "engine/ocsp.h"
#include "engine/ocsp_cache.h"
#include "engine/ocsp_http.h"
#include "engine/ocsp_req.h"
#include "engine/ocsp_resp.h"
#include "engine/session.h"

struct ocsp_check {
	STACK_OF(X509)	*chain;		/* the peer's, leaf first, anchor last */
	int		 next;		/* chain[next] is checked now ... */
	int		 end;		/* ... up to chain[end - 1] */
	int		 asking;	/* an exchange for chain[next] is in flight */
	int		 stapled;	/* the server's staple was looked at */
	struct ocsp_http http;
	struct timespec	 deadline;	/* of the exchange */
};

/*
 * The peer's chain as verified; a resumed session has none, so it is
 * built again from the stored certificate against the context's store.
 */
static STACK_OF(X509) *
peer_chain(SSL *ssl)
{
	STACK_OF(X509) *v = SSL_get0_verified_chain(ssl);
	X509_STORE_CTX *xs;
	X509 *leaf;

	if (v != NULL && sk_X509_num(v) > 0)
		return X509_chain_up_ref(v);
	if ((leaf = SSL_get0_peer_certificate(ssl)) == NULL ||
	    (xs = X509_STORE_CTX_new()) == NULL)
		return NULL;
	v = NULL;
	if (X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)), leaf,
	    SSL_get_peer_cert_chain(ssl)) && X509_verify_cert(xs) == 1)
		v = X509_STORE_CTX_get1_chain(xs);
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	return v;
}

/* Sends the request for chain[next]; 0, or -1 with why. */
static int
ask(struct session *s, struct ocsp_check *o, char *why, size_t len)
{
	X509 *cert = sk_X509_value(o->chain, o->next);
	X509 *issuer = sk_X509_value(o->chain, o->next + 1);
	struct timespec t = { s->rule->ocsp_timeout, 0 };
	unsigned char *der = NULL;
	char *url;
	int n, r = -1;

	if ((url = ocsp_req_url(s->rule, cert)) == NULL) {
		snprintf(why, len, "no OCSP responder for the certificate (no AIA, no "
		    "ocsp_responder)");
		return -1;
	}
	if ((n = ocsp_req_der(cert, issuer, &der)) == -1)
		goto nomem;
	if (ocsp_http_start(&o->http, url, der, (size_t)n, why, len) == -1)
		goto out;
	o->asking = 1;
	o->deadline = deadline_after(&t);
	/* The exchange's own deadline gives the verdict (ocsp_require decides), not the handshake's. */
	t.tv_sec++;
	t = deadline_after(&t);
	if (deadline_before(&s->deadline, &t))
		s->deadline = t;
	r = 0;
	goto out;
 nomem:
	snprintf(why, len, "OCSP request: %s", strerror(ENOMEM));
 out:
	OPENSSL_free(der);
	free(url);
	return r;
}

/* What the DER response says of chain[next]; the answer is cached if definite. */
static enum ocsp_status
judge(struct session *s, struct ocsp_check *o, const unsigned char *der, size_t len,
    struct ocsp_answer *a)
{
	X509 *cert = sk_X509_value(o->chain, o->next);
	X509_STORE *trust = ocsp_resp_trust(SSL_get_SSL_CTX(s->ssl));
	OCSP_CERTID *id;

	if ((id = OCSP_cert_to_id(NULL, cert, sk_X509_value(o->chain, o->next + 1))) == NULL) {
		ERR_clear_error();
		a->status = OCSP_ST_BAD;
		snprintf(a->why, sizeof(a->why), "OCSP request: %s", strerror(ENOMEM));
		return a->status;
	}
	ocsp_resp_check(der, len, id, o->chain, trust, a);
	OCSP_CERTID_free(id);
	ocsp_cache_put(cert, a);
	return a->status;
}

/*
 * No definite answer for chain[next]: refused (-1), or with ocsp_require =
 * false admitted with a warning (0).
 */
static int
indefinite(struct session *s, struct ocsp_check *o, const char *reason, char *why,
    size_t len)
{
	char peer[64];

	if (s->rule->ocsp_require) {
		snprintf(why, len, "%s", reason);
		return -1;
	}
	log_warn("rule=%s peer=%s: no definite OCSP answer (%s); admitted: ocsp_require "
	    "= false", s->rule->name, session_peerstr(s, peer, sizeof(peer)), reason);
	o->next++;
	return 0;
}

static int
revoked(char *why, size_t len)
{
	snprintf(why, len, "certificate revoked (OCSP)");
	return STEP_FAILED;
}

/* The server's staple, when it sent one for our leaf: 1 if it settled the leaf. */
static int
staple(struct session *s, struct ocsp_check *o, struct ocsp_answer *a)
{
	const unsigned char *p;
	long n;
	char peer[64];

	o->stapled = 1;
	if (s->is_server || o->next != 0 ||
	    (n = SSL_get_tlsext_status_ocsp_resp(s->ssl, &p)) <= 0 || p == NULL)
		return 0;
	if (judge(s, o, p, (size_t)n, a) == OCSP_ST_GOOD || a->status == OCSP_ST_REVOKED)
		return 1;
	/* Stale or for another certificate: the responder may still know. */
	log_debug("rule=%s peer=%s: stapled OCSP response not used: %s", s->rule->name,
	    session_peerstr(s, peer, sizeof(peer)), a->why);
	return 0;
}

int
ocsp_step(struct session *s, char *why, size_t len)
{
	struct ocsp_check *o = s->ocsp;
	struct ocsp_answer a;
	const unsigned char *body;
	size_t blen;
	X509 *leaf;
	int r, n;

	if (o == NULL) {
		if (s->rule->ocsp == OCSP_OFF)
			return STEP_DONE;
		if ((leaf = SSL_get0_peer_certificate(s->ssl)) == NULL) {
			snprintf(why, len, "no peer certificate to check by OCSP");
			return STEP_FAILED;
		}
		/* The common case, a known leaf: no chain, no allocation. */
		if (s->rule->ocsp == OCSP_LEAF && (r = ocsp_cache_get(leaf)) != -1)
			return r == OCSP_ST_GOOD ? STEP_DONE : revoked(why, len);
		if ((o = calloc(1, sizeof(*o))) == NULL) {
			snprintf(why, len, "OCSP check: %s", strerror(ENOMEM));
			return STEP_FAILED;
		}
		o->http.fd = -1;
		s->ocsp = o;
		if ((o->chain = peer_chain(s->ssl)) == NULL) {
			snprintf(why, len, "peer chain cannot be rebuilt for the OCSP check");
			return STEP_FAILED;
		}
		n = sk_X509_num(o->chain);
		o->end = s->rule->ocsp == OCSP_LEAF ? 1 : n - 1;
		/* A certificate trusted by itself (no issuer above it) cannot be asked about. */
		if (n < 2 && indefinite(s, o, "no issuer certificate to ask OCSP about",
		    why, len) == -1)
			return STEP_FAILED;
		if (o->end > n - 1)
			o->end = n - 1;
	}
	while (o->next < o->end) {
		if (!o->asking) {
			if ((r = ocsp_cache_get(sk_X509_value(o->chain, o->next))) != -1) {
				if (r == OCSP_ST_REVOKED)
					return revoked(why, len);
				o->next++;
				continue;
			}
			if (!o->stapled && staple(s, o, &a)) {
				if (a.status == OCSP_ST_REVOKED)
					return revoked(why, len);
				o->next++;
				continue;
			}
			if (ask(s, o, a.why, sizeof(a.why)) == -1) {
				if (indefinite(s, o, a.why, why, len) == -1)
					return STEP_FAILED;
				continue;
			}
		}
		a.status = OCSP_ST_BAD;
		r = ocsp_http_step(&o->http, a.why, sizeof(a.why));
		if (r > 0 && !deadline_passed(&o->deadline))
			return r;
		if (r > 0)
			snprintf(a.why, sizeof(a.why), "OCSP responder did not answer within %ds",
			    s->rule->ocsp_timeout);
		else if (r == 0 && (body = ocsp_http_body(&o->http, &blen, a.why,
		    sizeof(a.why))) != NULL)
			judge(s, o, body, blen, &a);
		ocsp_http_close(&o->http);
		o->asking = 0;
		if (a.status == OCSP_ST_REVOKED)
			return revoked(why, len);
		if (a.status == OCSP_ST_GOOD) {
			o->next++;
			o->stapled = 1;
			continue;
		}
		if (indefinite(s, o, a.why, why, len) == -1)
			return STEP_FAILED;
	}
	ocsp_free(o);
	s->ocsp = NULL;
	return STEP_DONE;
}

int
ocsp_fd(const struct session *s)
{
	return s->ocsp != NULL && s->ocsp->asking ? s->ocsp->http.fd : -1;
}

int
ocsp_ms_left(const struct session *s)
{
	return s->ocsp == NULL || !s->ocsp->asking ? -1 : deadline_ms(&s->ocsp->deadline);
}

void
ocsp_free(struct ocsp_check *o)
{
	if (o == NULL)
		return;
	ocsp_http_close(&o->http);
	sk_X509_pop_free(o->chain, X509_free);
	free(o);
}
