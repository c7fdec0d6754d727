/* ownstatus.c: check's look at a rule's own certificate status: its OCSP responder, its staple. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>

#include "cli/ownstatus.h"
#include "common/deadline.h"
#include "engine/ocsp_req.h"
#include "engine/staple.h"
#include "engine/tlsctx.h"

/* t (0: none, buf "") in words in buf; the whole days until it. */
static int
ownstatus_when(time_t t, char *buf, size_t len)
{
	ASN1_TIME *at;
	int days;

	buf[0] = '\0';
	if (t == 0 || (at = ASN1_TIME_set(NULL, t)) == NULL)
		return 0;
	tlsctx_time_str(at, buf, len);
	days = tlsctx_days_until(at);
	ASN1_TIME_free(at);
	return days;
}

/* Whole milliseconds left until d, for poll. */
static int
ownstatus_ms_left(const struct timespec *d)
{
	struct timespec l = deadline_left(d);

	return (int)(l.tv_sec * 1000 + (l.tv_nsec + 999999) / 1000000);
}

/* A TCP connection to host:port made before d: its descriptor, or -1 with why in o->error. */
static int
ownstatus_connect(struct ownocsp *o, const char *host, const char *port,
    const struct timespec *d)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct pollfd p;
	socklen_t sl;
	int fd = -1, e = 0, n;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((n = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(o->error, sizeof(o->error), "%s: %s", host, gai_strerror(n));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1) {
			e = errno;
			continue;
		}
		e = 0;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 && (e = errno) == EINPROGRESS) {
			p.fd = fd;
			p.events = POLLOUT;
			sl = sizeof(e);
			if ((n = poll(&p, 1, ownstatus_ms_left(d))) == 0)
				e = ETIMEDOUT;
			else if (n == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
				e = errno;
		}
		if (e != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd == -1)
		snprintf(o->error, sizeof(o->error), "cannot connect: %s", strerror(e));
	return fd;
}

/*
 * POSTs req to o->url (http:// only, no proxy: as the library asks) and
 * returns a copy of the response body (*len bytes; OPENSSL_free it), or
 * NULL with why in o->error.  The launcher runs without the preload, so
 * this is a plain exchange that blocks, bounded by timeout seconds in all.
 */
static unsigned char *
ownstatus_post(struct ownocsp *o, OCSP_REQUEST *req, int timeout, size_t *len)
{
	struct timespec t = { timeout, 0 }, d = deadline_after(&t);
	char *host = NULL, *port = NULL, *path = NULL, *body, why[128];
	OSSL_HTTP_REQ_CTX *rctx = NULL;
	unsigned char *der = NULL;
	BIO *sock = NULL;
	struct pollfd p;
	int tls = 0, fd, n = -1;
	long blen;

	if (OSSL_HTTP_parse_url(o->url, &tls, NULL, &host, &port, NULL, &path, NULL,
	    NULL) != 1 || tls) {
		snprintf(o->error, sizeof(o->error), "not an http:// URL");
		goto out;
	}
	if ((fd = ownstatus_connect(o, host, port, &d)) == -1)
		goto out;
	if ((sock = BIO_new_socket(fd, BIO_CLOSE)) == NULL) {
		close(fd);
		goto nomem;
	}
	if ((rctx = OSSL_HTTP_REQ_CTX_new(sock, sock, 0)) == NULL ||
	    !OSSL_HTTP_REQ_CTX_set_request_line(rctx, 1, NULL, NULL, path) ||
	    !OSSL_HTTP_REQ_CTX_add1_header(rctx, "Host", host) ||
	    !OSSL_HTTP_REQ_CTX_set_expected(rctx, "application/ocsp-response", 1, 0, 0) ||
	    !OSSL_HTTP_REQ_CTX_set1_req(rctx, "application/ocsp-request",
	    ASN1_ITEM_rptr(OCSP_REQUEST), (const ASN1_VALUE *)req))
		goto nomem;
	while ((n = OSSL_HTTP_REQ_CTX_nbio(rctx)) == -1 && !deadline_passed(&d)) {
		p.fd = fd;
		p.events = BIO_should_write(sock) ? POLLOUT : POLLIN;
		if (poll(&p, 1, ownstatus_ms_left(&d)) == -1 && errno != EINTR)
			break;
	}
	if (n == -1)
		snprintf(o->error, sizeof(o->error), "no answer within %ds", timeout);
	else if (n != 1)
		snprintf(o->error, sizeof(o->error), "bad HTTP answer: %s",
		    tlsctx_errstr(why, sizeof(why)));
	else if ((blen = BIO_get_mem_data(OSSL_HTTP_REQ_CTX_get0_mem_bio(rctx), &body)) <= 0)
		snprintf(o->error, sizeof(o->error), "empty HTTP answer");
	else if ((der = OPENSSL_memdup(body, (size_t)blen)) == NULL)
		goto nomem;
	else
		*len = (size_t)blen;
	goto out;
 nomem:
	snprintf(o->error, sizeof(o->error), "OCSP request: %s", strerror(ENOMEM));
 out:
	OSSL_HTTP_REQ_CTX_free(rctx);
	BIO_free(sock);
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	ERR_clear_error();
	return der;
}

void
ownstatus_ocsp(struct ownocsp *o, const struct rule *r, X509 *cert, STACK_OF(X509) *chain)
{
	X509_STORE *trust = NULL;
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;
	struct ocsp_answer a;
	X509 *issuer = NULL;
	unsigned char *der = NULL;
	size_t len = 0;

	memset(o, 0, sizeof(*o));
	o->status = OCSP_ST_BAD;
	if ((o->url = ocsp_req_url(r, cert)) == NULL)
		goto out;
	if ((trust = X509_STORE_new()) == NULL || X509_STORE_load_file(trust, r->ca_file) != 1) {
		snprintf(o->error, sizeof(o->error), "ca_file %s cannot be loaded", r->ca_file);
		goto out;
	}
	if ((issuer = ocsp_resp_issuer(cert, chain, trust)) == NULL) {
		snprintf(o->error, sizeof(o->error), "the issuer of cert_file %s is in neither "
		    "cert_file nor ca_file %s", r->cert_file, r->ca_file);
		goto out;
	}
	if ((req = OCSP_REQUEST_new()) == NULL ||
	    (id = OCSP_cert_to_id(NULL, cert, issuer)) == NULL ||
	    OCSP_request_add0_id(req, id) == NULL) {
		OCSP_CERTID_free(id);	/* req's once added */
		snprintf(o->error, sizeof(o->error), "OCSP request: %s", strerror(ENOMEM));
		goto out;
	}
	if ((der = ownstatus_post(o, req, r->ocsp_timeout, &len)) == NULL)
		goto out;
	o->status = ocsp_resp_check(der, len, id, chain, trust, &a);
	if (o->status == OCSP_ST_BAD)
		snprintf(o->error, sizeof(o->error), "%s", a.why);
	ownstatus_when(a.this_update, o->this_update, sizeof(o->this_update));
	o->days_left = ownstatus_when(a.next_update, o->next_update, sizeof(o->next_update));
 out:
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	X509_free(issuer);
	X509_STORE_free(trust);
	ERR_clear_error();
}

void
ownstatus_free(struct ownocsp *o)
{
	free(o->url);
	o->url = NULL;
}

const char *
ownstatus_name(enum ocsp_status st)
{
	switch (st) {
	case OCSP_ST_GOOD:
		return "good";
	case OCSP_ST_REVOKED:
		return "revoked";
	case OCSP_ST_UNKNOWN:
		return "unknown";
	default:
		return "error";
	}
}

void
ownstatus_staple(struct ownstaple *s, const struct rule *r, SSL_CTX *ctx)
{
	memset(s, 0, sizeof(*s));
	if (r->ocsp_staple_file == NULL || ctx == NULL)
		return;
	s->have = 1;
	s->days_left = ownstatus_when(staple_next_update(ctx), s->next_update,
	    sizeof(s->next_update));
}
