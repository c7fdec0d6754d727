/* crl.c: a rule's certificate revocation lists: loading, coverage of the chain, expiry. */
#include <limits.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "engine/crl.h"
#include "engine/identity.h"
#include "engine/tlsctx.h"

STACK_OF(X509_CRL) *
crl_read(const struct filedata *f)
{
	STACK_OF(X509_CRL) *v = sk_X509_CRL_new_null();
	BIO *b = BIO_new_mem_buf(f->buf, (int)f->len);
	X509_CRL *crl;
	int ok = 0;

	if (v == NULL || b == NULL)
		goto out;
	ERR_set_mark();
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_CRL_push(v, crl)) {
			X509_CRL_free(crl);
			break;
		}
	/* The end of the file reads as "no start line"; anything else is damage. */
	ok = crl == NULL && ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE;
	if (ok)
		ERR_pop_to_mark();
	else
		ERR_clear_last_mark();
 out:
	BIO_free(b);
	if (!ok) {
		sk_X509_CRL_pop_free(v, X509_CRL_free);
		v = NULL;
	}
	return v;
}

void
crl_info(X509_CRL *crl, struct crlinfo *ci)
{
	const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);

	identity_name(X509_CRL_get_issuer(crl), ci->issuer, sizeof(ci->issuer));
	ci->next_update[0] = '\0';
	ci->days_left = INT_MAX;
	ci->expired = 0;
	if (next == NULL)
		return;
	tlsctx_time_str(next, ci->next_update, sizeof(ci->next_update));
	ci->days_left = tlsctx_days_until(next);
	ci->expired = X509_cmp_current_time(next) <= 0;
}

int
crl_load(SSL_CTX *ctx, const struct config *c, const struct rule *r,
    const char *kind, const struct filedata *f, char *err, size_t errlen)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_CRL) *crls;
	struct crlinfo ci;
	X509_CRL *crl;
	char why[256];
	int i, rv = -1;

	if (r->crl_file == NULL)
		return 0;
	if ((crls = crl_read(f)) == NULL || sk_X509_CRL_num(crls) == 0) {
		snprintf(err, errlen, "%s: %s \"%s\": crl_file %s: %s", c->path, kind,
		    r->name, r->crl_file, crls != NULL ? "no CRL found" :
		    tlsctx_errstr(why, sizeof(why)));
		goto out;
	}
	for (i = 0; i < sk_X509_CRL_num(crls); i++) {
		crl = sk_X509_CRL_value(crls, i);
		/*
		 * OpenSSL would refuse every peer the CRL covers, one
		 * handshake at a time; a stale list is the operator's to
		 * renew, so say so once, at load.
		 */
		crl_info(crl, &ci);
		if (ci.expired) {
			snprintf(err, errlen, "%s: %s \"%s\": crl_file %s: the CRL of "
			    "issuer=%s has expired (nextUpdate %s)", c->path, kind, r->name,
			    r->crl_file, ci.issuer, ci.next_update);
			goto out;
		}
		if (X509_STORE_add_crl(st, crl) != 1) {
			snprintf(err, errlen, "%s: %s \"%s\": crl_file %s: %s", c->path,
			    kind, r->name, r->crl_file, tlsctx_errstr(why, sizeof(why)));
			goto out;
		}
	}
	X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK |
	    (r->crl_check == CRL_CHECK_CHAIN ? X509_V_FLAG_CRL_CHECK_ALL : 0));
	rv = 0;
 out:
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return rv;
}
