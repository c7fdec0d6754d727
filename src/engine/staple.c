/* staple.c: a server rule's stapled OCSP response from ocsp_staple_file: checks at load, stapling. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "common/lockstat.h"
#include "common/log.h"
#include "engine/ocsp_req.h"
#include "engine/ocsp_resp.h"
#include "engine/staple.h"
#include "engine/tlsctx.h"

#define STAPLE_LEEWAY	300	/* seconds of clock skew between us and the responder, at load */

/* A checked response: a context's (ocsp_staple_file, freed with it) or its holder's (fetched). */
struct staple {
	unsigned char	*der;
	size_t		 len;
	time_t		 next;		/* nextUpdate; 0: the response has none */
	char		 next_str[32];
	const struct rule *rule;	/* the configuration outlives every context */
	X509		*cert;		/* the certificate it vouches for */
	int		 fetched;	/* from the responder (ocsp_stapling), not the file */
	atomic_int	 expired;	/* the expiry has been logged */
};

static int		staple_idx = -1;
static pthread_once_t	staple_once = PTHREAD_ONCE_INIT;

void
staple_free(struct staple *s)
{
	if (s == NULL)
		return;
	free(s->der);
	X509_free(s->cert);
	free(s);
}

static void
staple_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	staple_free(ptr);
}

/* Our own ex_data index: the program's OpenSSL use keeps its own. */
static void
staple_idx_init(void)
{
	staple_idx = SSL_CTX_get_ex_new_index(0, "mtlsshim staple", NULL, NULL, staple_ex_free);
}

/*
 * A copy of s's response for the handshake of ssl, which OpenSSL frees
 * with it.  Past its nextUpdate, nothing (a checking client would refuse
 * it), logged once; nothing either for another certificate than ssl's.
 */
static int
staple_give(SSL *ssl, struct staple *s)
{
	X509 *cert = SSL_get_certificate(ssl);
	unsigned char *p;

	if (s == NULL || (s->cert != cert && (cert == NULL || X509_cmp(s->cert, cert) != 0)))
		return SSL_TLSEXT_ERR_NOACK;
	if (s->next != 0 && time(NULL) > s->next) {
		if (atomic_exchange(&s->expired, 1))
			;
		else if (s->fetched)
			log_warn("rule=%s: the OCSP staple fetched from its responder expired at "
			    "%s (its nextUpdate); stapling nothing until a fetch succeeds",
			    s->rule->name, s->next_str);
		else
			log_warn("rule=%s: ocsp_staple_file %s expired at %s (its nextUpdate); "
			    "stapling nothing until the file is replaced", s->rule->name,
			    s->rule->ocsp_staple_file, s->next_str);
		return SSL_TLSEXT_ERR_NOACK;
	}
	if ((p = OPENSSL_memdup(s->der, s->len)) == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_set_tlsext_status_ocsp_resp(ssl, p, (long)s->len) != 1) {
		OPENSSL_free(p);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

/*
 * A client sent status_request: the context's staple (ocsp_staple_file),
 * else the one its holder fetched (ocsp_stapling).
 */
static int
staple_cb(SSL *ssl, void *arg)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	struct staple *s = SSL_CTX_get_ex_data(ctx, staple_idx);
	struct tlsholder *h;
	int r;

	if (s != NULL || (h = SSL_CTX_get_app_data(ctx)) == NULL)
		return staple_give(ssl, s);
	plock(&h->lock);
	r = staple_give(ssl, h->stapled);
	pthread_mutex_unlock(&h->lock);
	return r;
}

X509 *
staple_issuer(SSL_CTX *ctx, X509 *leaf)
{
	STACK_OF(X509) *chain = NULL;

	SSL_CTX_get0_chain_certs(ctx, &chain);
	return ocsp_resp_issuer(leaf, chain, SSL_CTX_get_cert_store(ctx));
}

/* The single response about leaf, whichever hash algorithm its certificate id uses; or NULL. */
static OCSP_SINGLERESP *
staple_find(OCSP_BASICRESP *bs, X509 *leaf, X509 *issuer)
{
	OCSP_SINGLERESP *one;
	OCSP_CERTID *id;
	ASN1_OBJECT *alg;
	const EVP_MD *md;
	int i, same;

	for (i = 0; i < OCSP_resp_count(bs); i++) {
		one = OCSP_resp_get0(bs, i);
		if (OCSP_id_get0_info(NULL, &alg, NULL, NULL,
		    (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(one)) != 1 ||
		    (md = EVP_get_digestbyobj(alg)) == NULL ||
		    (id = OCSP_cert_to_id(md, leaf, issuer)) == NULL)
			continue;
		same = OCSP_id_cmp(id, OCSP_SINGLERESP_get0_id(one)) == 0;
		OCSP_CERTID_free(id);
		if (same)
			return one;
	}
	return NULL;
}

/* OCSP_basic_verify's reason, with the certificate check's own ("Verify error:...") if any. */
static const char *
staple_verify_error(char *buf, size_t len)
{
	const char *data = NULL;
	char detail[256] = "", why[256];
	int flags = 0;

	if (ERR_peek_last_error_data(&data, &flags) != 0 && (flags & ERR_TXT_STRING) &&
	    data != NULL && *data != '\0')
		snprintf(detail, sizeof(detail), " (%s)", data);
	snprintf(buf, len, "%s%s", tlsctx_errstr(why, sizeof(why)), detail);
	return buf;
}

/* t as seconds since the epoch (0: none) and as text in buf. */
static time_t
staple_time(const ASN1_GENERALIZEDTIME *t, char *buf, size_t len)
{
	struct tm tm;

	snprintf(buf, len, "none");
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return timegm(&tm);
}

struct staple *
staple_check(SSL_CTX *ctx, X509_STORE *trust, const struct rule *r, const unsigned char *der,
    size_t len, time_t ttl, int *revoked, char *why, size_t whylen)
{
	const unsigned char *p = der;
	X509 *leaf = SSL_CTX_get0_certificate(ctx), *issuer = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	STACK_OF(X509) *chain = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_SINGLERESP *one;
	struct staple *s = NULL, *ok = NULL;
	char ossl[256], t1[32], t2[32];
	int st, valid;

	*revoked = 0;
	ERR_set_mark();
	if (len > 0x7fffffff || (resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    p != der + len)
		snprintf(why, whylen, "not a DER OCSP response (openssl ocsp -respout)");
	else if ((st = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
		snprintf(why, whylen, "the response status is \"%s\", not successful",
		    OCSP_response_status_str(st));
	else if ((bs = OCSP_response_get1_basic(resp)) == NULL)
		snprintf(why, whylen, "not a basic OCSP response");
	else if ((issuer = staple_issuer(ctx, leaf)) == NULL)
		snprintf(why, whylen, "the issuer of cert_file %s is in neither cert_file "
		    "nor ca_file %s", r->cert_file, r->ca_file);
	else if ((one = staple_find(bs, leaf, issuer)) == NULL)
		snprintf(why, whylen, "the response is not about cert_file %s", r->cert_file);
	else if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1 ||
	    OCSP_basic_verify(bs, chain, trust, 0) <= 0)
		snprintf(why, whylen, "its signature does not verify against ca_file %s: %s",
		    r->ca_file, staple_verify_error(ossl, sizeof(ossl)));
	else if ((st = OCSP_single_get0_status(one, NULL, NULL, &thisupd, &nextupd)) !=
	    V_OCSP_CERTSTATUS_GOOD) {
		*revoked = st == V_OCSP_CERTSTATUS_REVOKED;
		snprintf(why, whylen, "it says cert_file %s is %s", r->cert_file,
		    OCSP_cert_status_str(st));
	}
	/* Leeway for a responder's clock ahead of ours; none past nextUpdate: it would never go out. */
	else if (!(valid = OCSP_check_validity(thisupd, nextupd, STAPLE_LEEWAY, -1)) ||
	    (nextupd != NULL && X509_cmp_current_time(nextupd) <= 0)) {
		staple_time(thisupd, t1, sizeof(t1));
		staple_time(nextupd, t2, sizeof(t2));
		snprintf(why, whylen, "%s (thisUpdate %s, nextUpdate %s)",
		    valid ? "status expired" : tlsctx_errstr(ossl, sizeof(ossl)),
		    t1, t2);
	} else if ((s = calloc(1, sizeof(*s))) == NULL || (s->der = malloc(len)) == NULL)
		snprintf(why, whylen, "%s", strerror(ENOMEM));
	else {
		memcpy(s->der, der, len);
		s->len = len;
		s->next = staple_time(nextupd, s->next_str, sizeof(s->next_str));
		if (s->next == 0 && ttl > 0) {
			struct tm tm;
			time_t t = time(NULL) + ttl;

			s->next = t;
			gmtime_r(&t, &tm);
			strftime(s->next_str, sizeof(s->next_str), "%Y-%m-%d %H:%M:%S UTC", &tm);
		}
		s->rule = r;
		X509_up_ref(leaf);
		s->cert = leaf;
		ok = s;
		s = NULL;
	}
	staple_free(s);
	X509_free(issuer);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_pop_to_mark();
	return ok;
}

time_t
staple_until(const struct staple *s)
{
	return s->next;
}

const char *
staple_until_str(const struct staple *s)
{
	return s->next_str;
}

int
staple_load(SSL_CTX *ctx, const struct config *c, const struct rule *r, const char *kind,
    const struct filedata *f, char *err, size_t errlen)
{
	struct staple *s;
	char why[512], ossl[256];
	int revoked;

	if (r->ocsp_staple_file == NULL)
		return 0;
	pthread_once(&staple_once, staple_idx_init);
	/* Before crl_load: the context's store is ca_file alone, what the signer must chain to. */
	if ((s = staple_check(ctx, SSL_CTX_get_cert_store(ctx), r, (const unsigned char *)f->buf,
	    f->len, 0, &revoked, why, sizeof(why))) != NULL) {
		if (SSL_CTX_set_ex_data(ctx, staple_idx, s) == 1) {
			SSL_CTX_set_tlsext_status_cb(ctx, staple_cb);
			return 0;
		}
		snprintf(why, sizeof(why), "%s", tlsctx_errstr(ossl, sizeof(ossl)));
		staple_free(s);
	}
	snprintf(err, errlen, "%s: %s \"%s\": ocsp_staple_file %s: %s", c->path, kind,
	    r->name, r->ocsp_staple_file, why);
	return -1;
}

int
staple_setup_fetch(SSL_CTX *ctx, const struct config *c, const struct rule *r, const char *kind,
    char *err, size_t errlen)
{
	X509 *leaf = SSL_CTX_get0_certificate(ctx), *issuer;
	char *url;

	if (!r->ocsp_stapling)
		return 0;
	pthread_once(&staple_once, staple_idx_init);
	if ((url = ocsp_req_url(r, leaf)) == NULL) {
		snprintf(err, errlen, "%s: %s \"%s\": ocsp_stapling: cert_file %s names no OCSP "
		    "responder (no http:// OCSP URL in its AIA); set ocsp_responder", c->path,
		    kind, r->name, r->cert_file);
		return -1;
	}
	free(url);
	if ((issuer = staple_issuer(ctx, leaf)) == NULL) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: %s \"%s\": ocsp_stapling: the issuer of cert_file %s "
		    "is in neither cert_file nor ca_file %s", c->path, kind, r->name,
		    r->cert_file, r->ca_file);
		return -1;
	}
	X509_free(issuer);
	SSL_CTX_set_tlsext_status_cb(ctx, staple_cb);
	return 0;
}

time_t
staple_next_update(SSL_CTX *ctx)
{
	struct staple *s;

	pthread_once(&staple_once, staple_idx_init);
	if ((s = SSL_CTX_get_ex_data(ctx, staple_idx)) == NULL)
		return 0;
	return s->next;
}
