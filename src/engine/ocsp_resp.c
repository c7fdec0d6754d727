/* ocsp_resp.c: whether an OCSP response vouches for one certificate. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "engine/ocsp_resp.h"

static int	trust_idx = -1;
static pthread_once_t trust_once = PTHREAD_ONCE_INIT;

static void
trust_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	X509_STORE_free(ptr);
}

static void
trust_init(void)
{
	trust_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, trust_free);
}

int
ocsp_resp_setup(SSL_CTX *ctx, const struct rule *r)
{
	STACK_OF(X509_OBJECT) *objs;
	X509_STORE *trust;
	X509 *x;
	int i;

	pthread_once(&trust_once, trust_init);
	/*
	 * The responder's signature is checked against the CAs alone: the
	 * context's store also demands CRLs, which a delegated OCSP signer
	 * (or the root signing for itself) need not be covered by.
	 */
	if (trust_idx < 0 || (trust = X509_STORE_new()) == NULL)
		return -1;
	objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if ((x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i))) != NULL &&
		    !X509_STORE_add_cert(trust, x)) {
			X509_STORE_free(trust);
			return -1;
		}
	if (!SSL_CTX_set_ex_data(ctx, trust_idx, trust)) {
		X509_STORE_free(trust);
		return -1;
	}
	if (r->kind == RULE_CLIENT)
		SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp);
	return 0;
}

X509_STORE *
ocsp_resp_trust(SSL_CTX *ctx)
{
	return trust_idx < 0 ? NULL : SSL_CTX_get_ex_data(ctx, trust_idx);
}

X509 *
ocsp_resp_issuer(X509 *cert, STACK_OF(X509) *chain, X509_STORE *store)
{
	X509_STORE_CTX *x;
	X509 *issuer = NULL;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_check_issued(sk_X509_value(chain, i), cert) == X509_V_OK) {
			issuer = sk_X509_value(chain, i);
			X509_up_ref(issuer);
			return issuer;
		}
	if ((x = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_CTX_init(x, store, cert, NULL) == 1 &&
	    X509_STORE_CTX_get1_issuer(&issuer, x, cert) != 1)
		issuer = NULL;
	X509_STORE_CTX_free(x);
	return issuer;
}

static enum ocsp_status
answer(struct ocsp_answer *a, enum ocsp_status st, const char *fmt, const char *arg)
{
	a->status = st;
	snprintf(a->why, sizeof(a->why), fmt, arg);
	return st;
}

/* The last OpenSSL error in words, clearing the queue. */
static const char *
last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	snprintf(buf, len, "%s", e && ERR_reason_error_string(e) ?
	    ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
	return buf;
}

enum ocsp_status
ocsp_resp_check(const unsigned char *der, size_t len, OCSP_CERTID *id,
    STACK_OF(X509) *untrusted, X509_STORE *trust, struct ocsp_answer *a)
{
	const unsigned char *p = der;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs = NULL;
	struct tm tm;
	char err[128];
	int st, reason = -1;

	memset(a, 0, sizeof(*a));
	a->until = time(NULL) + OCSP_DEFAULT_TTL;
	resp = len > 0x7fffffff ? NULL : d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (resp == NULL || p != der + len) {
		OCSP_RESPONSE_free(resp);
		ERR_clear_error();
		return answer(a, OCSP_ST_BAD, "%s", "OCSP response is not DER");
	}
	if ((st = OCSP_response_status(resp)) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		answer(a, OCSP_ST_BAD, "OCSP responder answered \"%s\"",
		    OCSP_response_status_str(st));
		goto out;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		answer(a, OCSP_ST_BAD, "%s", "OCSP response is not a basic response");
		goto out;
	}
	if (OCSP_basic_verify(bs, untrusted, trust, 0) <= 0) {
		answer(a, OCSP_ST_BAD, "OCSP response signature not trusted: %s",
		    last_error(err, sizeof(err)));
		goto out;
	}
	if (!OCSP_resp_find_status(bs, id, &st, &reason, &revtime, &thisupd, &nextupd)) {
		answer(a, OCSP_ST_BAD, "%s", "OCSP response has no status for this certificate");
		goto out;
	}
	if (!OCSP_check_validity(thisupd, nextupd, OCSP_LEEWAY, -1)) {
		answer(a, OCSP_ST_BAD, "OCSP response is outside its validity window: %s",
		    last_error(err, sizeof(err)));
		goto out;
	}
	if (thisupd != NULL && ASN1_TIME_to_tm(thisupd, &tm))
		a->this_update = timegm(&tm);
	if (nextupd != NULL && ASN1_TIME_to_tm(nextupd, &tm))
		a->until = a->next_update = timegm(&tm);
	switch (st) {
	case V_OCSP_CERTSTATUS_GOOD:
		answer(a, OCSP_ST_GOOD, "%s", "good");
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		answer(a, OCSP_ST_REVOKED, "%s", "certificate revoked (OCSP)");
		break;
	default:
		answer(a, OCSP_ST_UNKNOWN, "%s", "OCSP responder does not know the certificate");
		break;
	}
 out:
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	return a->status;
}
