/* crl.c: a rule's certificate revocation lists: loading, coverage of the chain, expiry. */
#include <stdio.h>

#include <openssl/x509_vfy.h>

#include "engine/crl.h"
#include "engine/tlsctx.h"

int
crl_load(SSL_CTX *ctx, const struct config *c, const struct rule *r,
    const char *kind, const struct filedata *f, char *err, size_t errlen)
{
	char why[256];
	int n;

	if (r->crl_file == NULL)
		return 0;
	if ((n = tlsctx_load_trust(ctx, f, 0, 0)) <= 0) {
		snprintf(err, errlen, "%s: %s \"%s\": crl_file %s: %s", c->path, kind,
		    r->name, r->crl_file, n == 0 ? "no CRL found" :
		    tlsctx_errstr(why, sizeof(why)));
		return -1;
	}
	X509_STORE_set_flags(SSL_CTX_get_cert_store(ctx), X509_V_FLAG_CRL_CHECK);
	return 0;
}
